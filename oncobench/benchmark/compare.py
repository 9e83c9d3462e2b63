"""Paired comparisons of models on the same folds, bootstrap intervals on one test split, ranks across tasks.

Folds of one cross-validation share training patients, so per-fold scores are not independent: a plain paired
t-test over folds is far too liberal. The corrected resampled t-test inflates the variance of the mean
difference by ``n_test / n_train``; Wilcoxon's signed-rank test is the rank-based companion. Seeds share folds,
so they are averaged within each fold before any test (a seed is not an independent unit), and two models are
compared only on the folds both completed.

With five folds Wilcoxon's smallest two-sided p-value is 2 / 2^5 = 0.0625: it can never reach 0.05 there, which
is why the verdicts use the corrected t-test and Wilcoxon is shown beside it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import polars as pl
from scipy import stats

from oncobench.baselines.registry import DEEP_MODELS

log = logging.getLogger(__name__)

UNIT = ("repeat", "fold")


@dataclass(frozen=True)
class PairedTest:
    """A model against a reference on their common folds: ``diff`` = model - reference (metric units)."""

    model: str
    reference: str
    n_folds: int
    mean_diff: float
    t: float
    p_t: float
    p_wilcoxon: float


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile bootstrap interval (and, for differences, the two-sided bootstrap p-value of 0)."""

    estimate: float
    low: float
    high: float
    p: float
    n_boot: int
    n_failed: int


def corrected_resampled_ttest(diffs: Sequence[float], test_train_ratio: float) -> tuple[float, float]:
    """Nadeau and Bengio's corrected resampled t-test of a zero mean difference: (t, two-sided p).

    ``t = mean(d) / sqrt((1/J + n_test/n_train) * var(d))`` with ``var`` the sample variance (ddof=1) of the
    J per-fold differences and J - 1 degrees of freedom. For r-times repeated k-fold CV, J = r * k
    (Bouckaert and Frank's corrected repeated k-fold test). All-zero differences give (0, 1); a constant
    non-zero difference gives (+-inf, 0), the limit of the statistic.

    References
    ----------
    Nadeau C, Bengio Y. Inference for the generalization error. Machine Learning 52(3):239-281, 2003.

    Bouckaert RR, Frank E. Evaluating the replicability of significance tests for comparing learning algorithms.
    PAKDD 2004, LNCS 3056:3-12.
    """
    d = np.asarray(diffs, dtype=np.float64)
    j = len(d)
    if j < 2:
        return math.nan, math.nan
    if test_train_ratio <= 0 or not math.isfinite(test_train_ratio):
        raise ValueError(f"n_test / n_train must be a positive number, got {test_train_ratio}")
    mean, var = float(d.mean()), float(d.var(ddof=1))
    if var == 0:
        return (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    t = mean / math.sqrt((1 / j + test_train_ratio) * var)
    return t, float(2 * stats.t.sf(abs(t), df=j - 1))


def wilcoxon_p(diffs: Sequence[float]) -> float:
    """Two-sided p of Wilcoxon's signed-rank test of the per-fold differences (scipy; zero differences dropped).

    All-zero differences give 1.0 (no difference to rank); fewer than two non-zero differences give NaN.

    References
    ----------
    Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bulletin 1(6):80-83, 1945.

    Demsar J. Statistical comparisons of classifiers over multiple data sets. JMLR 7:1-30, 2006.
    """
    d = np.asarray(diffs, dtype=np.float64)
    if len(d) and not d.any():
        return 1.0
    if np.count_nonzero(d) < 2:
        return math.nan
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def fold_scores(per_fold: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Per (model, repeat, fold): the metric averaged over the seeds that finished it (undefined scores left out)."""
    return (per_fold.filter(pl.col(metric).is_not_null() & pl.col(metric).is_not_nan())
            .group_by(["model", *UNIT]).agg(pl.col(metric).mean().alias("score"), pl.col("seed").n_unique().alias("seeds"))
            .sort(["model", *UNIT]))


def common_folds(scores: pl.DataFrame, model: str, reference: str) -> pl.DataFrame:
    """The folds both models completed: ``repeat, fold, model_score, reference_score``."""
    a = scores.filter(pl.col("model") == model).select(*UNIT, pl.col("score").alias("model_score"))
    b = scores.filter(pl.col("model") == reference).select(*UNIT, pl.col("score").alias("reference_score"))
    return a.join(b, on=list(UNIT), how="inner").sort(list(UNIT))


def paired_test(scores: pl.DataFrame, model: str, reference: str,
                test_train_ratio: Callable[[list[tuple[int, int]]], float]) -> PairedTest:
    """Both tests on the common folds of ``model`` and ``reference``.

    ``test_train_ratio`` maps the common (repeat, fold) units to n_test / n_train (the mean test size over the
    mean training size of those folds).
    """
    pairs = common_folds(scores, model, reference)
    diffs = (pairs["model_score"] - pairs["reference_score"]).to_numpy()
    if len(diffs) == 0:
        return PairedTest(model, reference, 0, math.nan, math.nan, math.nan, math.nan)
    units = list(zip(pairs["repeat"].to_list(), pairs["fold"].to_list()))
    t, p = corrected_resampled_ttest(diffs, test_train_ratio(units)) if len(diffs) > 1 else (math.nan, math.nan)
    return PairedTest(model, reference, len(diffs), float(diffs.mean()), t, p, wilcoxon_p(diffs))


def completion(scores: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """Per model: (folds completed, folds any model completed) — the union over models is the expected set."""
    expected = scores.select(UNIT).unique().height
    done = scores.group_by("model").len()
    return {m: (n, expected) for m, n in zip(done["model"].to_list(), done["len"].to_list())}


def bootstrap_scores(scorers: Mapping[str, Callable[[np.ndarray], float]], n: int, *, n_boot: int = 1000,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Each scorer on the same ``n_boot`` resamples of ``n`` patients (with replacement, seeded): paired replicates.

    A resample where a metric is undefined (its scorer raises ValueError, e.g. no event) gives NaN there.
    """
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, n, size=(n_boot, n))
    out = {}
    for name, score in scorers.items():
        values = np.full(n_boot, np.nan)
        for i, rows in enumerate(samples):
            try:
                values[i] = score(rows)
            except ValueError:
                continue
        out[name] = values
    return out


def percentile_interval(estimate: float, replicates: np.ndarray, *, level: float = 0.95,
                        null: float | None = None) -> BootstrapInterval:
    """Percentile interval of bootstrap ``replicates`` (NaN = undefined resample, counted in ``n_failed``).

    With ``null`` given, ``p`` is the two-sided bootstrap p-value of the estimate differing from it:
    ``2 * min(P(b <= null), P(b >= null))``, at most 1.

    References
    ----------
    Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993 (ch. 13, 16).
    """
    b = replicates[np.isfinite(replicates)]
    failed = len(replicates) - len(b)
    if len(b) < 2:
        return BootstrapInterval(float(estimate), math.nan, math.nan, math.nan, len(replicates), failed)
    alpha = (1 - level) / 2
    low, high = np.quantile(b, [alpha, 1 - alpha])
    p = math.nan if null is None else float(min(1.0, 2 * min((b <= null).mean(), (b >= null).mean())))
    return BootstrapInterval(float(estimate), float(low), float(high), p, len(replicates), failed)


def bootstrap_interval(score: Callable[[np.ndarray], float], n: int, *, n_boot: int = 1000, seed: int = 0,
                       level: float = 0.95, null: float | None = None) -> BootstrapInterval:
    """Percentile bootstrap of ``score(rows)`` over ``n`` patients resampled with replacement (seeded);
    the estimate is ``score(np.arange(n))``. See :func:`bootstrap_scores` and :func:`percentile_interval`."""
    replicates = bootstrap_scores({"score": score}, n, n_boot=n_boot, seed=seed)["score"]
    return percentile_interval(score(np.arange(n)), replicates, level=level, null=null)


# ---- what a model spec reads (NAME[:FUSION][/MOD1+MOD2]) ---------------------------------------------------
def spec_parts(spec: str) -> tuple[str, str, tuple[str, ...] | None]:
    """``"coxnet:late-cox/rna+cnv"`` -> ("coxnet", "late-cox", ("rna", "cnv")); no ``/`` -> modalities None."""
    head, slash, mods = spec.partition("/")
    name, _, fusion = head.partition(":")
    return name, fusion or "early", (tuple(m for m in mods.split("+") if m) if slash else None)


FUSION_MODELS = ("clinical-fusion", *DEEP_MODELS)  # fusion by construction, unless a spec gives them one modality


def modality_class(spec: str, task_modalities: Sequence[str], registered: tuple[str, ...] | None = None) -> str:
    """``single`` (reads one modality), ``fusion`` (combines several) or ``model``.

    ``registered`` is the model's own restriction (a clinical-only reference reads ``("clinical",)``). A spec
    restricted to one modality is single whatever the model; late fusion, ``clinical-fusion`` and the deep
    fusion models are fusion unless so restricted; any other model is fusion when it reads two or more
    modalities (early fusion: concatenation) and single when it reads one.
    """
    name, fusion, mods = spec_parts(spec)
    reads = mods if mods is not None else (registered if registered is not None else tuple(task_modalities))
    if len(reads) == 1:
        return "single"
    if fusion != "early" or name in FUSION_MODELS or len(reads) >= 2:
        return "fusion"
    return "model"


@dataclass(frozen=True)
class Verdict:
    """The per-task header: best single modality, clinical reference, and whether a fusion beats both."""

    single: tuple[str, float] | None
    clinical: tuple[str, float] | None
    fusion: tuple[str, float] | None  # the best fusion by mean
    winners: tuple[str, ...]  # fusions better than both on the corrected t-test (p < alpha)
    alpha: float = 0.05
    test: str = "corrected t"

    def text(self, metric: str) -> str:
        def name(x: tuple[str, float] | None, missing: str) -> str:
            return f"{x[0]} {x[1]:.3f}" if x else missing

        parts = [f"best single modality: {name(self.single, 'none run (e.g. MODEL/rna)')}",
                 f"clinical reference: {name(self.clinical, 'none run')}"]
        if self.fusion is None:
            parts.append("fusion beats both: no fusion run")
        elif self.single is None or self.clinical is None:
            parts.append(f"fusion beats both: cannot tell without {'a single-modality run' if self.single is None else 'the clinical reference'}")
        elif self.winners:
            parts.append(f"fusion beats both ({self.test}, p < {self.alpha:g}): yes — {', '.join(self.winners)}")
        else:
            parts.append(f"fusion beats both ({self.test}, p < {self.alpha:g}): no (best fusion {name(self.fusion, '')})")
        return f"{metric}: " + "; ".join(parts)


REFERENCES = ("clinical", "best", "single")


def reference_models(rows: Sequence[Mapping[str, object]], higher_is_better: bool) -> dict[str, str | None]:
    """The models every row is compared with: the best clinical reference, the best baseline (best non-control
    model by mean among those that completed every fold, or among all when none did) and the best
    single-modality model. ``rows`` carry ``model``, ``role``, ``class``, ``mean``, ``folds_done``, ``folds_expected``.
    """
    sign = 1.0 if higher_is_better else -1.0

    def best(pred: Callable[[Mapping[str, object]], bool]) -> str | None:
        cand = [r for r in rows if pred(r) and r["mean"] is not None and not math.isnan(float(r["mean"]))]
        return str(max(cand, key=lambda r: sign * float(r["mean"]))["model"]) if cand else None

    complete = {r["model"] for r in rows if r["role"] != "control" and r["folds_done"] == r["folds_expected"]}
    return {"clinical": best(lambda r: r["role"] == "clinical reference"),
            "best": best(lambda r: r["role"] != "control" and (not complete or r["model"] in complete)),
            "single": best(lambda r: r["role"] == "model" and r["class"] == "single")}


def comparison_columns(rows: Sequence[Mapping[str, object]], scores: pl.DataFrame, higher_is_better: bool,
                       test_train_ratio: Callable[[list[tuple[int, int]]], float]) -> list[dict[str, object]]:
    """Each row plus ``vs_<ref>_{model,n,diff,p_t,p_w}`` for the references of :func:`reference_models`
    (NaN where the row is the reference itself or the reference was not run)."""
    refs = reference_models(rows, higher_is_better)
    out = []
    for r in rows:
        row = dict(r)
        for key, ref in refs.items():
            test = (paired_test(scores, str(r["model"]), ref, test_train_ratio) if ref is not None and ref != r["model"]
                    else PairedTest(str(r["model"]), ref or "", 0, math.nan, math.nan, math.nan, math.nan))
            row |= {f"vs_{key}_model": ref, f"vs_{key}_n": test.n_folds, f"vs_{key}_diff": test.mean_diff,
                    f"vs_{key}_p_t": test.p_t, f"vs_{key}_p_w": test.p_wilcoxon}
        out.append(row)
    return out


def verdict(rows: Sequence[Mapping[str, object]], higher_is_better: bool, alpha: float = 0.05) -> Verdict:
    """The header of a results table whose rows carry :func:`comparison_columns`.

    A fusion beats both when its mean difference against the best single-modality model and against the
    best clinical reference (each on their common folds) lies in the better direction with corrected-t
    p < ``alpha`` (on one test split: the paired bootstrap p, ``vs_<ref>_boot_p``).
    """
    boot = any("vs_single_boot_p" in r for r in rows)
    p_key = "boot_p" if boot else "p_t"
    sign = 1.0 if higher_is_better else -1.0
    by_name = {str(r["model"]): r for r in rows}
    refs = reference_models(rows, higher_is_better)

    def named(model: str | None) -> tuple[str, float] | None:
        return (model, float(by_name[model]["mean"])) if model else None

    fusions = [r for r in rows if r["role"] == "model" and r["class"] == "fusion" and r["mean"] is not None
               and not math.isnan(float(r["mean"]))]
    best_fusion = max(fusions, key=lambda r: sign * float(r["mean"]))["model"] if fusions else None
    winners = tuple(str(r["model"]) for r in fusions
                    if refs["single"] and refs["clinical"]
                    and all(_num(r.get(f"vs_{k}_{p_key}")) < alpha and sign * _num(r.get(f"vs_{k}_diff")) > 0
                            for k in ("single", "clinical")))
    return Verdict(named(refs["single"]), named(refs["clinical"]), named(best_fusion), winners, alpha,
                   "paired bootstrap" if boot else "corrected t")


def _num(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


# ---- across tasks: mean ranks and the critical-difference diagram -----------------------------------------
def complete_block(per_task: Mapping[str, Mapping[str, float]]) -> tuple[pl.DataFrame, list[str]]:
    """Tasks x models from ``{task: {model: score}}``, keeping the models scored on every task (Friedman's test
    needs complete blocks); returns the table (a ``task`` column, one column per model) and the models left out."""
    if not per_task:
        return pl.DataFrame(), []
    every = sorted(set.intersection(*(set(v) for v in per_task.values())))
    seen = set().union(*(set(v) for v in per_task.values()))
    table = pl.DataFrame([{"task": t, **{m: v[m] for m in every}} for t, v in per_task.items()])
    return table, sorted(seen - set(every))


def mean_ranks(table: pl.DataFrame, higher_is_better: Mapping[str, bool] | None = None) -> dict[str, float]:
    """Mean rank of each model column over the task rows (1 = best; ties get the average rank).

    ``table`` has a ``task`` column and one column per model (its mean primary score on that task, no nulls).

    References
    ----------
    Demsar J. Statistical comparisons of classifiers over multiple data sets. JMLR 7:1-30, 2006.
    """
    models = [c for c in table.columns if c != "task"]
    ranks = []
    for row in table.iter_rows(named=True):
        values = np.array([row[m] for m in models], dtype=np.float64)
        up = True if higher_is_better is None else higher_is_better.get(row["task"], True)
        ranks.append(stats.rankdata(-values if up else values))
    mean = np.mean(ranks, axis=0)
    return dict(sorted(zip(models, (float(v) for v in mean)), key=lambda kv: kv[1]))


def critical_difference(table: pl.DataFrame, path: Path, higher_is_better: Mapping[str, bool] | None = None,
                        alpha: float = 0.05) -> tuple[dict[str, float], float]:
    """Friedman test + Nemenyi critical difference over tasks (autorank) and its CD diagram as a PNG.

    Returns (mean ranks from autorank, critical difference). Needs at least 5 tasks and 3 models (autorank's
    minimum); scores of lower-is-better metrics are negated so that every row ranks best first.

    References
    ----------
    Demsar J. Statistical comparisons of classifiers over multiple data sets. JMLR 7:1-30, 2006.

    Herbold S. Autorank: a Python package for automated ranking of classifiers. JOSS 5(48):2173, 2020.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from autorank import autorank, plot_stats

    models = [c for c in table.columns if c != "task"]
    if table.height < 5 or len(models) < 3:
        raise ValueError(f"a critical-difference diagram needs at least 5 tasks and 3 models run on all of them; "
                         f"found {table.height} tasks and {len(models)} models")
    signs = [1.0 if higher_is_better is None or higher_is_better.get(t, True) else -1.0 for t in table["task"].to_list()]
    data = table.select(models).to_pandas().mul(signs, axis=0)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(models) + 1.5))
    # autorank prints its rank table from the Nemenyi grouping even with verbose=False, and its effect sizes
    # divide by a zero MAD on small tables (we use only the ranks and the CD): both kept inside this call
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = autorank(data, alpha=alpha, verbose=False, order="descending", force_mode="nonparametric")
        plot_stats(result, allow_insignificant=True, ax=ax)
    ax.set_title(f"mean rank over {table.height} tasks (Friedman p = {result.pvalue:.3g}; "
                 f"Nemenyi CD = {result.cd:.2f} at alpha {alpha:g})", fontsize=9)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    ranks = {str(k): float(v) for k, v in result.rankdf["meanrank"].items()}
    return ranks, float(result.cd)


def format_ranks(ranks: Mapping[str, float], n_tasks: int, left_out: Sequence[str] = ()) -> str:
    lines = [f"mean rank over {n_tasks} tasks (1 = best; models run on every task)"]
    lines += [f"  {r:6.2f}  {m}" for m, r in ranks.items()]
    if left_out:
        lines.append(f"  (left out, not run on every task: {', '.join(left_out)})")
    return "\n".join(lines)
