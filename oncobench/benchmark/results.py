"""The results of a task read back from the tracking store: the aggregated table with paired comparisons,
per-fold scores with tuned hyperparameters, the robustness protocol and a per-cohort re-scoring."""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from oncobench.baselines.registry import parse_model_spec
from oncobench.benchmark import compare
from oncobench.benchmark.aggregate import format_summary, summarize, summarize_units
from oncobench.benchmark.evaluator import ID, LOWER_IS_BETTER, survival_columns
from oncobench.benchmark.metrics.survival import harrell_c, uno_c
from oncobench.benchmark.tasks import Split, Task

log = logging.getLogger(__name__)


def model_role(model: str) -> str:
    try:
        info, _ = parse_model_spec(model.partition("/")[0])  # NAME[:FUSION][/MODS]: the role is the model's
    except KeyError:
        return "model"
    return "control" if info.is_control else "clinical reference" if info.is_clinical_reference else "model"


def _registered_modalities(model: str) -> tuple[str, ...] | None:
    try:
        info, _ = parse_model_spec(model.partition("/")[0])
    except KeyError:
        return None
    return info.modalities


def _jobs(task: Task, home: Path | None) -> list[Any]:
    from oncobench.benchmark.tracking import Tracker

    return Tracker(home).job_runs(task.name, task.dataset.id)


def _job_rows(task: Task, runs: list[Any]) -> pl.DataFrame:
    rows = []
    for run in runs:
        p, m = run.data.params, run.data.metrics
        rows.append({"model": run.data.tags["model"], "repeat": int(p["repeat"]), "fold": int(p["fold"]),
                     "seed": int(p["seed"]), "n": m.get("n_test"), "events": m.get("n_test_events")}
                    | {k[5:]: v for k, v in m.items() if k.startswith("test_")}
                    | {k: v for k, v in sorted(p.items()) if k.startswith("hp.")})
    if not rows:
        return pl.DataFrame()
    return pl.DataFrame(rows, infer_schema_length=None).sort(["model", "repeat", "fold", "seed"])


class SplitSizes:
    """n_test / n_train of a set of (repeat, fold) units, from the task's stored splits (read once per unit)."""

    def __init__(self, task: Task) -> None:
        self.task, self.sizes = task, {}

    def __call__(self, units: list[tuple[int, int]]) -> float:
        for unit in units:
            if unit not in self.sizes:
                split = self.task.get_split(unit[1], unit[0])
                self.sizes[unit] = (len(split.test), len(split.train))
        return float(np.mean([self.sizes[u][0] for u in units]) / np.mean([self.sizes[u][1] for u in units]))


def results_table(task: Task, home: Path | None = None, *, n_boot: int = 1000) -> pl.DataFrame:
    """One row per model, ranked by the primary metric: jobs, seeds, folds completed, mean / sd / 95 % CI of
    every test metric, and paired comparisons against the clinical reference, the best baseline and the best
    single-modality model (``vs_<ref>_*``, see :func:`oncobench.benchmark.compare.comparison_columns`).

    The mean of a model with failed folds is over its own folds (``folds_done < folds_expected``); its
    comparisons use the folds both models completed. A task with one test split (holdout) gets bootstrap
    intervals instead of fold tests: ``<primary>_boot_low/high`` and ``vs_<ref>_boot_low/high/p``.
    """
    runs = _jobs(task, home)
    jobs = _job_rows(task, runs)
    if jobs.is_empty():
        return pl.DataFrame()
    primary = task.spec.primary
    metrics = [primary] + [m for m in task.spec.secondary if m != primary]
    scores = compare.fold_scores(jobs, primary) if primary in jobs.columns else pl.DataFrame(
        schema={"model": pl.String, "repeat": pl.Int64, "fold": pl.Int64, "score": pl.Float64, "seeds": pl.UInt32})
    done = compare.completion(scores)
    expected = scores.select(compare.UNIT).unique().height
    rows = []
    for model, group in jobs.group_by("model", maintain_order=True):
        model = str(model[0])
        n_done, _ = done.get(model, (0, expected))
        row = {"model": model, "role": model_role(model),
               "class": compare.modality_class(model, task.inputs, _registered_modalities(model)),
               "jobs": group.height, "seeds": group["seed"].n_unique(), "folds_done": n_done, "folds_expected": expected}
        units = list(zip(group["repeat"].to_list(), group["fold"].to_list()))
        for m in metrics:
            s = summarize_units(zip(units, group[m].to_list() if m in group.columns else []), m)
            row |= {f"{m}_mean": s["mean"], f"{m}_sd": s["sd"], f"{m}_ci_low": s["ci_low"], f"{m}_ci_high": s["ci_high"]}
        row["mean"] = row[f"{primary}_mean"]
        rows.append(row)
    higher = primary not in LOWER_IS_BETTER
    rows = compare.comparison_columns(rows, scores, higher, SplitSizes(task))
    if len(task.folds) == 1:
        rows = _bootstrap_columns(task, runs, rows, n_boot, home)
    frame = pl.DataFrame(rows, infer_schema_length=None).drop("mean")
    return frame.sort(f"{primary}_mean", descending=higher, nulls_last=True)


def per_fold_table(task: Task, home: Path | None = None) -> pl.DataFrame:
    """One row per finished job: model, repeat, fold, seed, n and events of the test fold, every test metric
    and the tuned hyperparameters (MLflow params ``hp.*``)."""
    return _job_rows(task, _jobs(task, home))


LOW_EVENTS = 10


def format_per_fold(task: Task, table: pl.DataFrame) -> str:
    metrics = [task.spec.primary] + [m for m in task.spec.secondary if m in table.columns and m != task.spec.primary]
    hps = [c for c in table.columns if c.startswith("hp.")]
    head = f"{'model':<26}{'repeat':>7}{'fold':>5}{'seed':>5}{'n':>6}{'events':>7}" + "".join(f"{m:>{max(14, len(m) + 2)}}" for m in metrics)
    head += "  tuned hyperparameters" if hps else ""
    lines = [head, "-" * len(head)]
    low = 0
    for r in table.iter_rows(named=True):
        events = r.get("events")
        flag = events is not None and events < LOW_EVENTS
        low += flag
        n_text = "" if r.get("n") is None else f"{int(r['n'])}"
        e_text = "" if events is None else f"{int(events)}" + ("!" if flag else "")
        line = f"{r['model']:<26}{r['repeat']:>7}{r['fold']:>5}{r['seed']:>5}{n_text:>6}{e_text:>7}"
        line += "".join(f"{_fmt(r.get(m)):>{max(14, len(m) + 2)}}" for m in metrics)
        tuned = ", ".join(f"{h[3:]}={r[h]}" for h in hps if r.get(h) is not None)
        lines.append(line + (f"  {tuned}" if tuned else ""))
    if low:
        lines.append(f"! {low} job(s) scored on a test fold with fewer than {LOW_EVENTS} events: their survival "
                     "metrics are unstable (wide intervals, few comparable pairs)")
    return "\n".join(lines)


def robustness_table(task: Task, home: Path | None = None) -> pl.DataFrame:
    """Per model: the full-data primary score and each missing-modality condition's, averaged over jobs."""
    from oncobench.benchmark.tracking import Tracker

    rows: dict[str, dict[str, list[float]]] = {}
    for run in Tracker(home).job_runs(task.name, task.dataset.id):
        metrics = run.data.metrics
        robust = {k[7:]: v for k, v in metrics.items() if k.startswith("robust_")}
        if not robust:
            continue
        row = rows.setdefault(run.data.tags["model"], {})
        row.setdefault("full data", []).append(metrics.get(f"test_{task.spec.primary}", math.nan))
        for k, v in robust.items():
            row.setdefault(k, []).append(v)
    if not rows:
        return pl.DataFrame()
    out = [{"model": m, **{k: summarize(v)["mean"] for k, v in cond.items()}, "jobs": len(cond["full data"])}
           for m, cond in sorted(rows.items())]
    return pl.DataFrame(out)


def format_robustness(task: Task, table: pl.DataFrame) -> str:
    """The robustness curves as a table: the primary metric with modalities removed (mean over jobs)."""
    conditions = [c for c in table.columns if c not in ("model", "jobs")]
    head = f"{'model':<26}" + "".join(f"{c:>20}" for c in conditions)
    lines = [f"missing-modality protocol, {task.spec.primary} (mean over jobs): full data, each modality removed, "
             "random fractions of (patient, modality) removed", head, "-" * len(head)]
    for r in table.iter_rows(named=True):
        lines.append(f"{r['model']:<26}" + "".join(f"{_fmt(r.get(c)):>20}" for c in conditions))
    return "\n".join(lines)


def _bootstrap_columns(task: Task, runs: list[Any], rows: list[dict[str, Any]], n_boot: int,
                       home: Path | None) -> list[dict[str, Any]]:
    """Holdout: percentile bootstrap (test patients resampled, seed 0) of each model's primary score and of its
    difference from each reference, on the one test split; seeds' predictions are averaged in score."""
    from oncobench.benchmark.tracking import Tracker

    (repeat, fold), = task.folds
    split = task.get_split(fold, repeat)
    frames: dict[str, list[pl.DataFrame]] = {}
    client = Tracker(home).client
    for run in runs:
        frames.setdefault(run.data.tags["model"], []).append(_predictions(client, run.info.run_id))
    ids = tuple(sorted(split.test))
    if any(f[ID].to_list() != list(ids) for fs in frames.values() for f in fs):  # resample rows must pair up
        log.warning("%s: a predictions artifact does not hold exactly the test patients; no bootstrap", task.name)
        return rows
    scorers = {m: [primary_scorer(task, split, f) for f in fs] for m, fs in frames.items()}
    if any(s is None for fs in scorers.values() for s in fs):
        return rows

    def mean_score(model: str) -> Callable[[np.ndarray], float]:
        return lambda r: float(np.mean([s(r) for s in scorers[model]]))

    # every model scored on the same resamples: a difference's replicates are differences of paired replicates
    replicates = compare.bootstrap_scores({m: mean_score(m) for m in scorers}, len(ids), n_boot=n_boot)
    every = np.arange(len(ids))
    estimate = {m: mean_score(m)(every) for m in scorers}
    out = []
    for row in rows:
        model = row["model"]
        b = compare.percentile_interval(estimate[model], replicates[model])
        row = row | {f"{task.spec.primary}_boot_low": b.low, f"{task.spec.primary}_boot_high": b.high}
        for key in compare.REFERENCES:
            ref = row[f"vs_{key}_model"]
            if ref is None or ref == model or ref not in scorers:
                row |= {f"vs_{key}_boot_low": math.nan, f"vs_{key}_boot_high": math.nan, f"vs_{key}_boot_p": math.nan}
                continue
            d = compare.percentile_interval(estimate[model] - estimate[ref], replicates[model] - replicates[ref], null=0.0)
            row |= {f"vs_{key}_diff": d.estimate, f"vs_{key}_boot_low": d.low, f"vs_{key}_boot_high": d.high,
                    f"vs_{key}_boot_p": d.p}
        out.append(row)
    return out


def _predictions(client: Any, run_id: str) -> pl.DataFrame:
    """A job's logged predictions artifact (the exact table the evaluator scored), sorted by patient."""
    with tempfile.TemporaryDirectory() as tmp:
        return pl.read_parquet(client.download_artifacts(run_id, "predictions.parquet", tmp)).sort(ID)


def primary_scorer(task: Task, split: Split, frame: pl.DataFrame) -> Callable[[np.ndarray], float] | None:
    """``rows -> primary metric`` of a job's test predictions on a subset (with repeats) of its rows.

    The evaluator refuses duplicate IDs, so a bootstrap resample is scored with the metric functions directly:
    the same functions, the split's training outcomes for IPCW weights and its evaluation-time grid.
    None for kinds without a per-patient score (clustering, translation).
    """
    from oncobench.benchmark import metrics as M
    from oncobench.benchmark.evaluator import evaluation_times

    ids = frame[ID].to_list()
    primary = task.spec.primary
    if task.kind in ("classification", "binary"):
        labels = task.labels(ids)
        proba = frame.select([f"proba_{c}" for c in task.classes]).to_numpy().astype(np.float64)
        if primary in ("macro_f1", "weighted_f1"):
            # the evaluator's definition (argmax, first class on ties; F1 over every task class, zero_division=0)
            # without its other metrics: AUROC on every resample would cost 50x more
            from sklearn.metrics import f1_score

            index = {c: j for j, c in enumerate(task.classes)}
            truth = np.array([index[v] for v in labels])
            guess = proba.argmax(axis=1)
            average = primary.removesuffix("_f1")
            return lambda rows: float(f1_score(truth[rows], guess[rows], labels=list(range(len(index))),
                                               average=average, zero_division=0))
        return lambda rows: M.classification_metrics(labels[rows], proba[rows], task.classes)[primary]
    if task.kind != "survival":
        return None
    event, time = task.outcome(ids)
    train_event, train_time = task.outcome(split.train)
    risk = frame["risk"].to_numpy().astype(np.float64)
    grid = evaluation_times(task, split)
    if primary == "uno_c":
        return lambda rows: uno_c(time[rows], event[rows], risk[rows], train_time, train_event, tau=float(grid[-1]))
    if primary == "harrell_c":
        return lambda rows: harrell_c(time[rows], event[rows], risk[rows])
    cols = [c for c in survival_columns(grid) if c in frame.columns]
    surv = frame.select(cols).to_numpy().astype(np.float64) if len(cols) == len(grid) else None
    return lambda rows: M.survival_metrics(time[rows], event[rows], risk[rows], train_time, train_event, times=grid,
                                           surv_prob=None if surv is None else surv[rows])[primary]


def by_cohort_table(task: Task, home: Path | None = None) -> pl.DataFrame:
    """Each job's saved predictions re-scored per cohort: one row per (model, cohort) with the mean of every
    metric over jobs, test patients and events per job, and how many jobs a cohort's metric was undefined in.

    A cohort's test patients are scored by the evaluator against the job's own training patients (IPCW
    weights); the survival-probability columns are left out (the evaluation-time grid of a subset differs
    from the fold's, so the integrated Brier score is not given per cohort).
    """
    from oncobench.benchmark.tracking import Tracker

    runs = _jobs(task, home)
    cohort_of = dict(task.dataset.clinical.select("patient_id", "cohort").iter_rows())
    client = Tracker(home).client
    scored: dict[tuple[str, str], list[dict[str, float]]] = {}
    undefined: dict[tuple[str, str], int] = {}
    for run in runs:
        p = run.data.params
        split = task.get_split(int(p["fold"]), int(p["repeat"]))
        frame = _predictions(client, run.info.run_id)
        frame = frame.select([c for c in frame.columns if not c.startswith("surv_")])
        frame = frame.with_columns(pl.col(ID).replace_strict(cohort_of, default=None).alias("_cohort"))
        for (cohort,), part in frame.group_by("_cohort"):
            key = (run.data.tags["model"], str(cohort))
            sub = Split(split.task, split.scheme, split.repeat, split.fold, split.train, (), tuple(part[ID].to_list()),
                        split.sha256)
            try:
                with warnings.catch_warnings():  # sklearn warns about one-class cohorts; the metrics are defined
                    warnings.simplefilter("ignore", UserWarning)
                    result = task.evaluate(part.drop("_cohort"), split=sub)
            except ValueError as exc:  # e.g. no event among a cohort's few test patients: undefined there
                log.debug("%s %s: %s", key, run.data.tags["job_key"], exc)
                undefined[key] = undefined.get(key, 0) + 1
                continue
            scored.setdefault(key, []).append(dict(result.metrics) | {"n": result.n, "events": result.n_events})
    rows = []
    for (model, cohort) in sorted(set(scored) | set(undefined)):
        values = scored.get((model, cohort), [])
        names = sorted({k for v in values for k in v})
        rows.append({"model": model, "cohort": cohort, "jobs": len(values), "undefined": undefined.get((model, cohort), 0)}
                    | {k: summarize(v.get(k, math.nan) for v in values)["mean"] for k in names})
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def format_by_cohort(task: Task, table: pl.DataFrame, metric: str | None = None) -> str:
    """Models x cohorts: the mean of ``metric`` (default: the primary) over jobs, re-scored per cohort."""
    metric = metric or task.spec.primary
    if table.is_empty():
        return f"{task.name}: no finished runs to re-score per cohort"
    if metric not in table.columns:
        return f"{task.name}: {metric} is undefined in every cohort"
    cohorts = sorted(set(table["cohort"].to_list()))
    cell = {(r["model"], r["cohort"]): r for r in table.iter_rows(named=True)}
    models = list(dict.fromkeys(table["model"].to_list()))
    head = f"{'model':<26}" + "".join(f"{c:>10}" for c in cohorts)
    lines = [f"{task.name}: {metric} per cohort (each job's predictions re-scored on its test patients of that "
             "cohort; mean over jobs)", head, "-" * len(head)]
    for m in models:
        lines.append(f"{m:<26}" + "".join(f"{_fmt(cell[(m, c)].get(metric)) if (m, c) in cell else '':>10}" for c in cohorts))
    first = models[0]
    for label, key in (("test n / job", "n"), ("events / job", "events")):
        if key in table.columns and table[key].is_not_nan().any():
            lines.append(f"{label:<26}" + "".join(
                f"{_fmt(cell[(first, c)].get(key), 1) if (first, c) in cell else '':>10}" for c in cohorts))
    skipped = int(table["undefined"].sum())
    if skipped:
        lines.append(f"({skipped} (job, cohort) scores undefined, e.g. no event or one class among that cohort's test "
                     "patients; left out of the means)")
    return "\n".join(lines)


def _cell_test(r: dict[str, Any], key: str, holdout: bool) -> str:
    """``+0.012 (0.31, 0.44)`` = mean difference (corrected-t p, Wilcoxon p); holdout: ``+0.012 [-0.03, 0.05]``."""
    diff = r.get(f"vs_{key}_diff")
    if diff is None or math.isnan(diff):
        return "—" if r.get(f"vs_{key}_model") in (None, r["model"]) else "no common fold"
    if holdout:
        return f"{diff:+.3f} [{_fmt(r.get(f'vs_{key}_boot_low'))}, {_fmt(r.get(f'vs_{key}_boot_high'))}] p {_p(r.get(f'vs_{key}_boot_p'))}"
    common = "" if r[f"vs_{key}_n"] == r["folds_expected"] else f" on {r[f'vs_{key}_n']}"
    return f"{diff:+.3f} ({_p(r.get(f'vs_{key}_p_t'))}, {_p(r.get(f'vs_{key}_p_w'))}){common}"


def format_results(task: Task, table: pl.DataFrame) -> str:
    """The table as text: a header (best single modality, clinical reference, does a fusion beat both), then per
    model its folds completed, primary mean ± sd [95 % CI], secondary means and the paired comparisons."""
    if table.is_empty():
        return f"{task.name} on {task.dataset.id}: no finished runs yet (oncobench run --task {task.name})"
    primary = task.spec.primary
    holdout = f"{primary}_boot_low" in table.columns
    secondary = [m for m in task.spec.secondary if f"{m}_mean" in table.columns and m != primary]
    rows = list(table.iter_rows(named=True))
    refs = {k: rows[0].get(f"vs_{k}_model") for k in ("clinical", "best")}
    test_head = "Δ [95% bootstrap CI] p" if holdout else "Δ (p_t, p_W)"
    width = 34 if holdout else 26
    head = (f"{'model':<26}{'role':<20}{'jobs':>5}{'folds':>8}  {primary + ' (mean ± sd [95% CI])':<40}"
            + "".join(f"{m:>{max(12, len(m) + 2)}}" for m in secondary)
            + f"  {'vs clinical ' + test_head:<{width}}  {'vs best ' + test_head:<{width}}")
    verdict = compare.verdict([r | {"mean": r[f"{primary}_mean"]} for r in rows], primary not in LOWER_IS_BETTER)
    lines = [f"{task.name} on {task.dataset.id} ({task.kind}, scheme {task.scheme}, {len(task.patients)} patients)",
             verdict.text(primary), head, "-" * len(head)]
    for r in rows:
        s = {k: r[f"{primary}_{k}"] for k in ("mean", "sd", "ci_low", "ci_high")}
        s = {k: (math.nan if v is None else v) for k, v in s.items()}
        if holdout:
            s["ci_low"], s["ci_high"] = r[f"{primary}_boot_low"], r[f"{primary}_boot_high"]
        folds = f"{r['folds_done']}/{r['folds_expected']}" + ("*" if r["folds_done"] < r["folds_expected"] else "")
        cells = "".join(f"{_fmt(r[f'{m}_mean']):>{max(12, len(m) + 2)}}" for m in secondary)
        lines.append(f"{r['model']:<26}{r['role']:<20}{r['jobs']:>5}{folds:>8}  {format_summary(s):<40}{cells}"
                     f"  {_cell_test(r, 'clinical', holdout):<{width}}  {_cell_test(r, 'best', holdout):<{width}}")
    notes = [f"vs clinical = against {refs['clinical'] or '(no clinical reference run)'}; "
             f"vs best = against {refs['best'] or '(none)'} (best non-control model by mean)."]
    if holdout:
        notes.append("One test split: the CI is a percentile bootstrap over test patients (1000 resamples, seed 0), "
                     "Δ = model - reference on the same resamples with its bootstrap p.")
    else:
        notes.append("Δ = mean per-fold difference model - reference (seeds averaged within each fold first); p_t: "
                     "corrected resampled t-test (Nadeau & Bengio 2003); p_W: Wilcoxon signed-rank (>= 0.0625 with 5 folds).")
    if any(r["folds_done"] < r["folds_expected"] for r in rows):
        notes.append("* failed folds: the mean is over the folds it completed; its comparisons use only the folds both "
                     "models completed ('on k').")
    return "\n".join(lines + notes)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2g}" if value >= 0.001 else "<0.001"


def cross_task_scores(tasks: list[Task], home: Path | None = None) -> tuple[pl.DataFrame, dict[str, bool], list[str]]:
    """Tasks x models: each model's mean primary score (seeds averaged within folds, then folds averaged).

    Only models that completed every fold run on a task count there, and only models counted on every task
    are kept (Friedman's test needs complete blocks). Returns (table with a ``task`` column, whether higher is
    better per task, the models left out).
    """
    per_task: dict[str, dict[str, float]] = {}
    higher: dict[str, bool] = {}
    ran: set[str] = set()
    for task in tasks:
        jobs = _job_rows(task, _jobs(task, home))
        primary = task.spec.primary
        if jobs.is_empty() or primary not in jobs.columns:
            continue
        scores = compare.fold_scores(jobs, primary)
        done = compare.completion(scores)
        means = scores.group_by("model").agg(pl.col("score").mean())
        ran |= set(means["model"].to_list())
        label = f"{task.name} ({task.dataset.id})"
        per_task[label] = {m: v for m, v in zip(means["model"], means["score"]) if done[m][0] == done[m][1]}
        higher[label] = primary not in LOWER_IS_BETTER
    table, _ = compare.complete_block(per_task)
    return table, higher, sorted(ran - set(table.columns))  # left out: missing on some task, or folds failed there


def rank_tasks(names: list[str] | None, dataset: str | None, scheme: str | None, png: Path,
               home: Path | None = None) -> str:
    """Mean ranks of the models across tasks and, with 5+ tasks and 3+ models, the CD diagram written to ``png``."""
    from oncobench.benchmark.task_store import loadable_tasks
    from oncobench.benchmark.tasks import load_task
    from oncobench.benchmark.tracking import Tracker

    if names:
        tasks = [load_task(n, dataset=dataset, scheme=scheme) for n in names]
    else:
        pairs = sorted(Tracker(home).experiments())
        tasks = loadable_tasks([(t, d) for t, d in pairs if dataset is None or d.split("@")[0] == dataset.split("@")[0]],
                               what="results --cd")
    table, higher, left_out = cross_task_scores(tasks, home)
    if table.is_empty() or table.width < 3:
        return f"mean ranks: fewer than two models ran every fold of every one of {len(tasks)} task(s)"
    text = compare.format_ranks(compare.mean_ranks(table, higher), table.height, left_out)
    try:
        _, cd = compare.critical_difference(table, png, higher)
    except ValueError as exc:
        return f"{text}\nno critical-difference diagram: {exc}"
    return f"{text}\ncritical-difference diagram (Friedman + Nemenyi, CD = {cd:.2f}) written to {png}"
