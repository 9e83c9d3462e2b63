"""The minimal viable modality set: a model fitted on every non-empty subset of a task's modalities.

The ablation is a grid of model specs (``NAME/MOD1+MOD2``, one per subset) run by the ordinary runner, so it is
seeded, uses the task's fixed folds, resumes, runs in parallel and on Ray like any other grid. From the finished
runs it reports each subset's score with its interval (:func:`oncobench.benchmark.aggregate.summarize_units`),
each modality's Shapley value of the primary metric and the smallest subset within one standard error of the
full set.

The value of the empty set is the task's **negative control** (``prior`` for classification, ``km`` for
survival: the score of a model that reads no modality), run on the same folds by the runner; every value is a
mean over the (repeat, fold) units that every subset and the control completed, so the Shapley values add up to
v(full) - v(empty) on one common set of folds.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from oncobench.benchmark.aggregate import summarize_units
from oncobench.benchmark.tasks import Task

log = logging.getLogger(__name__)

MAX_MODALITIES = 6  # 2^6 - 1 = 63 subsets; 7 would be 127 fits per fold and seed


class AblationError(ValueError):
    """An ablation that cannot be planned or scored (too many modalities, a spec that already names some)."""


def ablation_modalities(task: Task, modalities: Sequence[str] | None = None) -> tuple[str, ...]:
    """The players of the ablation: ``modalities`` (each offered by the task) or every modality the task offers
    (its inputs and the clinical block it offers), in the task's order; more than :data:`MAX_MODALITIES` refused."""
    offered = tuple(task.modalities)
    if modalities is None:
        chosen = offered
    else:
        unknown = [m for m in modalities if m not in offered]
        if unknown:
            raise AblationError(f"task {task.name} does not offer {unknown} on {task.dataset.id}; it offers {list(offered)}")
        chosen = tuple(m for m in offered if m in set(modalities))
    if not chosen:
        raise AblationError(f"task {task.name}: no modality to ablate")
    if len(chosen) > MAX_MODALITIES:
        raise AblationError(f"task {task.name} offers {len(chosen)} modalities ({', '.join(chosen)}): an ablation over "
                            f"more than {MAX_MODALITIES} would fit {2 ** len(chosen) - 1} subsets per fold and seed; "
                            f"choose at most {MAX_MODALITIES} with --modalities")
    return chosen


def subsets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset (2^k - 1), smallest first, each in the order of ``modalities``."""
    return [c for size in range(1, len(modalities) + 1) for c in itertools.combinations(modalities, size)]


def subset_spec(model: str, subset: Sequence[str]) -> str:
    """The runner's model spec restricted to ``subset``: ``coxnet`` + (rna, cnv) -> ``coxnet/rna+cnv``."""
    if "/" in model:
        raise AblationError(f"model spec {model!r} already names its modalities; give the model without '/...'")
    return f"{model}/{'+'.join(subset)}"


def shapley_values(players: Sequence[str], value: Mapping[frozenset[str], Any]) -> dict[str, Any]:
    """Exact Shapley values of a cooperative game given on every subset of ``players`` (the empty set included).

    phi_i = sum over S not containing i of |S|! (k - |S| - 1)! / k! * (v(S + i) - v(S)). The weights are exact
    fractions; with :class:`fractions.Fraction` values the result is exact and sums to v(N) - v(empty) exactly,
    with floats each value is one rounding away from it.

    References
    ----------
    Shapley LS. A value for n-person games. In: Contributions to the Theory of Games II, Annals of Mathematics
    Studies 28:307-317, 1953.
    """
    k = len(players)
    missing = [set(s) for size in range(k + 1) for s in itertools.combinations(players, size)
               if frozenset(s) not in value]
    if missing:
        raise AblationError(f"the value function lacks {len(missing)} subset(s), e.g. {sorted(missing[0])}")
    weights = [Fraction(math.factorial(s) * math.factorial(k - s - 1), math.factorial(k)) for s in range(k)]
    out: dict[str, Any] = {}
    for player in players:
        others = [p for p in players if p != player]
        total: Any = Fraction(0)
        for size in range(k):
            for s in itertools.combinations(others, size):
                coalition = frozenset(s)
                total += weights[size] * (_exact(value[coalition | {player}]) - _exact(value[coalition]))
        exact = all(isinstance(v, (int, Fraction)) for v in value.values())
        out[player] = total if exact else float(total)
    return out


def _exact(v: Any) -> Fraction:
    return v if isinstance(v, Fraction) else Fraction(v)  # a float converts exactly


def minimal_subset(scores: Mapping[tuple[str, ...], float], full: tuple[str, ...], full_se: float,
                   higher_is_better: bool = True) -> tuple[str, ...]:
    """The smallest subset whose score is within one standard error of the full set's (the one-SE rule of
    Breiman et al. 1984); among subsets of that size the best score, then the first in ``scores``' order.

    ``full_se``: the standard error of the full set's mean over folds (NaN, e.g. one fold: taken as 0, so only a
    subset at least as good as the full set qualifies).

    References
    ----------
    Breiman L, Friedman JH, Olshen RA, Stone CJ. Classification and Regression Trees. Wadsworth, 1984 (ch. 3.4).
    """
    if full not in scores or math.isnan(scores[full]):
        raise AblationError(f"no score for the full set {'+'.join(full)}")
    se = 0.0 if math.isnan(full_se) else full_se
    bound = scores[full] - se if higher_is_better else scores[full] + se
    ok = [(len(s), -v if higher_is_better else v, i, s) for i, (s, v) in enumerate(scores.items())
          if not math.isnan(v) and (v >= bound if higher_is_better else v <= bound)]
    return min(ok)[3]


@dataclass(frozen=True)
class SubsetScore:
    modalities: tuple[str, ...]
    spec: str
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    n: int
    n_seeds: int


@dataclass(frozen=True)
class AblationResult:
    """One ablation of a model on a task: every subset's score, Shapley values, the minimal subset."""

    task: str
    dataset: str
    model: str
    metric: str
    higher_is_better: bool
    modalities: tuple[str, ...]
    empty_model: str  # whose score is v(empty): the task's negative control
    empty: SubsetScore
    subsets: tuple[SubsetScore, ...]
    shapley: dict[str, float]
    full_se: float
    minimal: tuple[str, ...]
    units: tuple[tuple[int, int], ...]  # the (repeat, fold) units every value is a mean over
    seeds: tuple[int, ...]
    dropped_units: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    def score(self, modalities: Sequence[str]) -> SubsetScore:
        return next(s for s in self.subsets if s.modalities == tuple(modalities))

    @property
    def full(self) -> SubsetScore:
        return self.score(self.modalities)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> AblationResult:
        d = json.loads(text)

        def sub(x: dict[str, Any]) -> SubsetScore:
            return SubsetScore(**(x | {"modalities": tuple(x["modalities"])}))

        return cls(**(d | {"modalities": tuple(d["modalities"]), "empty": sub(d["empty"]),
                           "subsets": tuple(sub(x) for x in d["subsets"]), "minimal": tuple(d["minimal"]),
                           "units": tuple(tuple(u) for u in d["units"]), "seeds": tuple(d["seeds"]),
                           "dropped_units": tuple(tuple(u) for u in d["dropped_units"])}))


def ablation_grid(task: Task, model: str, modalities: Sequence[str] | None = None) -> list[str]:
    """The model specs of the ablation, one per non-empty subset (the runner adds the controls)."""
    return [subset_spec(model, s) for s in subsets(ablation_modalities(task, modalities))]


def run_ablation(task: Task, model: str, *, modalities: Sequence[str] | None = None, seeds: Sequence[int] = (0,),
                 folds: Sequence[int] | None = None, repeat: int = 0, n_jobs: int = 1, executor: str = "local",
                 address: str | None = None, force: bool = False, progress: bool = True,
                 home: Path | None = None) -> tuple[AblationResult, Any]:
    """Run (or resume) the ablation grid through the runner, then score it and save it in the home.

    Returns the result and the runner's report (failed jobs are listed there; subsets missing a fold leave that
    fold out of every value, see :func:`score_ablation`).
    """
    from oncobench.benchmark.runner import run_grid

    # the runner adds the negative control (v(empty)) and the clinical reference (for the paired tests that
    # `oncobench results` and `oncobench report` show beside every subset)
    report = run_grid([task], ablation_grid(task, model, modalities), seeds=seeds, folds=folds, repeats=[repeat],
                      n_jobs=n_jobs, force=force, controls=True, progress=progress, home=home, executor=executor,
                      address=address, robustness=False)
    chosen_folds = list(folds) if folds is not None else [f for r, f in task.folds if r == repeat]
    try:
        result = score_ablation(task, model, modalities=modalities, seeds=seeds,
                                units=[(repeat, f) for f in chosen_folds], home=home)
    except AblationError as exc:
        if report.failed:  # the cause is a failed job, not a grid never run
            key, error = report.failed[0]
            raise AblationError(f"{exc.args[0].split('; run')[0]}: {len(report.failed)} job(s) failed, e.g. "
                                f"{key}: {error}") from None
        raise
    save_ablation(result, home)
    return result, report


def score_ablation(task: Task, model: str, *, modalities: Sequence[str] | None = None, seeds: Sequence[int] = (0,),
                   units: Sequence[tuple[int, int]] | None = None, home: Path | None = None) -> AblationResult:
    """The ablation's figures from the finished runs in the tracking store (nothing is fitted here)."""
    from oncobench.benchmark.evaluator import LOWER_IS_BETTER
    from oncobench.benchmark.results import per_fold_table
    from oncobench.benchmark.runner import controls_for
    from oncobench.datasets.store import oncobench_home

    players = ablation_modalities(task, modalities)
    metric = task.spec.primary
    negative = controls_for(task)[0]
    specs = {s: subset_spec(model, s) for s in subsets(players)}
    # a home without a tracking store holds no runs; opening one would create it
    table = per_fold_table(task, home) if ((home or oncobench_home()) / "mlflow.db").is_file() else None
    wanted = set(specs.values()) | {negative}
    rows: dict[str, list[tuple[tuple[int, int], float]]] = {m: [] for m in wanted}
    if table is not None and not table.is_empty() and metric in table.columns:
        for r in table.iter_rows(named=True):
            unit = (r["repeat"], r["fold"])
            if r["model"] in wanted and r["seed"] in set(seeds) and (units is None or unit in set(units)):
                value = r[metric]
                if value is not None and not math.isnan(value):
                    rows[r["model"]].append((unit, value))
    absent = sorted(m for m, v in rows.items() if not v)
    if absent:
        raise AblationError(f"{task.name} on {task.dataset.id}: no finished {metric} for {', '.join(absent)}; run "
                            f"`oncobench ablate --task {task.name} --model {model}` first")
    every = set(units) if units is not None else set().union(*({u for u, _ in v} for v in rows.values()))
    common = set.intersection(*({u for u, _ in v} for v in rows.values()))
    dropped = tuple(sorted(every - common))
    if dropped:
        log.warning("%s: folds %s are missing for some subset or the control (failed or not run); every ablation "
                    "value is a mean over the %d folds all of them completed", task.name, list(dropped), len(common))

    def summary(spec: str, mods: tuple[str, ...]) -> SubsetScore:
        s = summarize_units([(u, v) for u, v in rows[spec] if u in common], metric)
        return SubsetScore(mods, spec, s["mean"], s["sd"], s["ci_low"], s["ci_high"], int(s["n"]), int(s["n_seeds"]))

    scored = tuple(summary(spec, mods) for mods, spec in specs.items())
    empty = summary(negative, ())
    value: dict[frozenset[str], float] = {frozenset(s.modalities): s.mean for s in scored} | {frozenset(): empty.mean}
    full = scored[-1]
    full_se = full.sd / math.sqrt(full.n) if full.n > 1 else math.nan
    higher = metric not in LOWER_IS_BETTER
    return AblationResult(task.name, task.dataset.id, model, metric, higher, players, negative, empty, scored,
                          shapley_values(players, value), full_se,
                          minimal_subset({s.modalities: s.mean for s in scored}, players, full_se, higher),
                          tuple(sorted(common)), tuple(sorted(set(seeds))), dropped)


# ---- storage: one JSON (and its plot) per (task, dataset, model) in the home ----

def _stem(task: str, dataset: str, model: str) -> str:
    return "__".join(x.replace("@", "_").replace("/", "_").replace(":", "_") for x in (task, dataset, model))


def ablation_dir(home: Path | None = None) -> Path:
    from oncobench.datasets.store import oncobench_home

    return (home or oncobench_home()) / "ablations"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in one rename (a plain open, so the file gets the umask's permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_ablation(result: AblationResult, home: Path | None = None) -> Path:
    """Write the result as JSON and its plot as PNG under ``<home>/ablations/`` (each replaced in one rename)."""
    import io

    folder, stem = ablation_dir(home), _stem(result.task, result.dataset, result.model)
    buf = io.BytesIO()
    ablation_plot(result, buf)
    atomic_write(folder / f"{stem}.png", buf.getvalue())  # not with_suffix: "tcga-mini_1.0__m" has a "suffix"
    atomic_write(folder / f"{stem}.json", result.to_json().encode())
    return folder / f"{stem}.json"


def saved_ablations(task: str, dataset: str, home: Path | None = None) -> list[AblationResult]:
    """Every ablation saved for the task on the dataset, most recent first."""
    folder = ablation_dir(home)
    if not folder.is_dir():
        return []
    prefix = _stem(task, dataset, "")
    paths = sorted(folder.glob(f"{prefix}*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    out = []
    for path in paths:
        result = AblationResult.from_json(path.read_text(encoding="utf-8"))
        if result.task == task and result.dataset == dataset:  # the prefix alone would match os-brca-site for os-brca
            out.append(result)
    return out


# ---- terminal and plot ----

def _label(mods: Sequence[str]) -> str:
    return "+".join(mods) if mods else "(none)"


def format_ablation(result: AblationResult, width: int = 30) -> str:
    """The subset table (score with 95 % CI over folds) and a text bar chart of the Shapley values."""
    def mark(mods: tuple[str, ...]) -> str:
        notes = ["minimal (within 1 SE of full)"] * (mods == result.minimal) + ["full set"] * (mods == result.modalities)
        return " <- " + "; ".join(notes) if notes else ""

    pad = max(len(_label(s.modalities)) for s in result.subsets) + 2
    lines = [(f"ablation of {result.model} on {result.task} ({result.dataset}): {result.metric} over folds "
              f"{', '.join(f'r{r}f{f}' for r, f in result.units)}, seeds {', '.join(map(str, result.seeds))}"),
             f"{'modalities':<{pad}}{'k':>2}{'mean':>8}{'sd':>8}{'95% CI':>18}{'folds':>7}", "-" * (pad + 43)]
    for s in [result.empty] + list(result.subsets):
        label = _label(s.modalities) if s.modalities else f"(none: {result.empty_model})"
        ci = "" if math.isnan(s.ci_low) else f"[{s.ci_low:.3f}, {s.ci_high:.3f}]"
        sd = "" if math.isnan(s.sd) else f"{s.sd:.3f}"
        lines.append(f"{label:<{pad}}{len(s.modalities):>2}{s.mean:>8.3f}{sd:>8}{ci:>18}{s.n:>7}"
                     + mark(s.modalities))
    full = result.full.mean
    se = "n/a (one fold)" if math.isnan(result.full_se) else f"{result.full_se:.3f}"
    lines += ["", (f"Shapley values of {result.metric} (sum {sum(result.shapley.values()):+.4f} = v(full) "
                   f"{full:.4f} - v(empty: {result.empty_model}) {result.empty.mean:.4f}); SE of the full set {se}")]
    top = max((abs(v) for v in result.shapley.values()), default=0.0) or 1.0
    name_pad = max(len(m) for m in result.modalities) + 2
    for m, v in sorted(result.shapley.items(), key=lambda kv: -kv[1]):
        bar = ("█" if v >= 0 else "░") * max(1 if v else 0, round(abs(v) / top * width))
        lines.append(f"{m:<{name_pad}}{v:+.4f} {bar}")
    lines.append(f"minimal subset: {_label(result.minimal)} ({result.score(result.minimal).mean:.3f} vs full "
                 f"{full:.3f}; one-SE rule)")
    return "\n".join(lines)


def ablation_plot(result: AblationResult, target: Path | IO[bytes]) -> Path | IO[bytes]:
    """Two panels: Shapley value per modality (bars) and every subset's mean with its 95 % CI (full set and the
    one-SE band marked, the minimal subset highlighted)."""
    # not pyplot: the leaderboard server draws in threads
    from matplotlib.figure import Figure

    literal = {"parse_math": False, "usetex": False}
    n = len(result.subsets) + 1
    fig = Figure(figsize=(11, max(3.0, 0.22 * n + 1.4)))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    items = sorted(result.shapley.items(), key=lambda kv: kv[1])
    ax1.barh(range(len(items)), [v for _, v in items], color=["tab:blue" if v >= 0 else "tab:red" for _, v in items])
    ax1.set_yticks(range(len(items)))
    ax1.set_yticklabels([m for m, _ in items], **literal)
    ax1.axvline(0, color="black", lw=0.8)
    ax1.set_xlabel(f"Shapley value of {result.metric}")
    ax1.set_title(f"sum = v(full) - v({result.empty_model}) = {result.full.mean - result.empty.mean:+.3f}", fontsize=9)
    rows = [result.empty] + list(result.subsets)
    for i, s in enumerate(rows):
        y = n - 1 - i
        color = "tab:green" if s.modalities == result.minimal else ("grey" if not s.modalities else "tab:blue")
        if not math.isnan(s.ci_low):
            ax2.errorbar([s.mean], [y], xerr=[[s.mean - s.ci_low], [s.ci_high - s.mean]], fmt="o", color=color,
                         capsize=2, ms=4)
        else:
            ax2.plot([s.mean], [y], "o", color=color, ms=4)
    full = result.full.mean
    se = 0.0 if math.isnan(result.full_se) else result.full_se
    ax2.axvline(full, color="black", lw=0.8)
    ax2.axvspan(full - se, full + se, color="black", alpha=0.08, label="full set ± 1 SE")
    ax2.set_yticks(range(n))
    ax2.set_yticklabels([_label(s.modalities) if s.modalities else f"none ({result.empty_model})" for s in reversed(rows)],
                        fontsize=7, **literal)
    ax2.set_xlabel(f"{result.metric}: mean and 95% CI over {len(result.units)} folds; minimal subset in green")
    ax2.legend(fontsize=7, loc="best")
    fig.suptitle(f"{result.model} on {result.task} ({result.dataset})", fontsize=10, **literal)
    fig.tight_layout()
    fig.savefig(target, dpi=90, format="png")
    return target

