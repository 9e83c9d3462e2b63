"""Fairness per subgroup: a job's test predictions scored per genetic ancestry, sex, age band and hospital region.

Every job scores its test predictions per group (fairlearn's ``MetricFrame`` splits the rows and calls the
metric per group) and logs the table (``fairness.json``) with the worst group's score (``worst_group_<by>``)
and the largest gap between groups (``gap_<by>``). :func:`fairness_table` gathers a model's jobs from the
tracking store for ``oncobench results --by``, with percentile-bootstrap intervals.

Groups, from the store's clinical table (tcga-pancan and tcga-mini both carry these columns):

- ``ancestry``: ``eigenstrat``, the EIGENSTRAT genetic-ancestry call of Yuan et al. 2018 (EA European, AA African,
  EAA East Asian, NA Native American, OA other);
- ``sex``: ``sex`` (FEMALE / MALE);
- ``age``: ``age`` at diagnosis in years, in the bands of :data:`AGE_BANDS`;
- ``site``: ``region`` of the tissue source site's hospital (US census regions Northeast / Midwest / South /
  West, Europe, Canada, Other), from the TSS centre table.

A patient whose attribute is not recorded is in the group ``unknown``: scored and shown, never the worst group
nor part of a gap. A group is too small to score in a job (:func:`too_small`) with fewer than
:data:`MIN_PATIENTS` test patients, fewer than :data:`MIN_EVENTS` events (survival) or a single true class
(classification); it is marked, not scored.

Per-group metrics: classification scores the task's primary metric (F1 averages over the classes present in the
group's labels or predictions, scikit-learn's default, so classes the group lacks do not count as zeros) and the
AUROC; survival scores Harrell's C and Uno's C, the latter with the job's training outcomes for the censoring
weights and the whole test fold's truncation time, so every group of a fold is cut at the same time.

References
----------
Yuan J et al. Comprehensive characterization of the genomic ancestry of TCGA. Cancer Cell 34(4):549-560, 2018.
Weerts H et al. Fairlearn: assessing and improving fairness of AI systems. JMLR 24(257):1-8, 2023.
Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993 (percentile intervals).
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from oncobench.benchmark.evaluator import ID, LOWER_IS_BETTER
from oncobench.datasets.errors import OncoBenchError

if TYPE_CHECKING:
    from oncobench.benchmark.tasks import Split, Task

log = logging.getLogger(__name__)

ATTRIBUTES: dict[str, str] = {"ancestry": "eigenstrat", "sex": "sex", "age": "age", "site": "region"}
# Age at diagnosis, years: [low, high). Three bands keep groups scoreable in a test fold of one cohort.
AGE_BANDS: tuple[tuple[float, float, str], ...] = ((0.0, 50.0, "<50"), (50.0, 65.0, "50-64"), (65.0, math.inf, ">=65"))
UNKNOWN = "unknown"
MIN_PATIENTS = 10
MIN_EVENTS = 5
N_BOOT = 200
KINDS = ("classification", "binary", "survival")
COLUMNS = ["group", "n", "events", "metric", "value", "ci_low", "ci_high", "too_small", "jobs_scored", "jobs"]


class FairnessError(OncoBenchError, ValueError):
    """A fairness table cannot be made (unknown attribute, no such column, no finished jobs)."""


def group_metrics(task: Task) -> tuple[str, ...]:
    """The metrics scored per group: the primary first (survival: Uno's and Harrell's C; classification: + AUROC)."""
    if task.kind == "survival":
        return ("harrell_c", "uno_c") if task.spec.primary == "harrell_c" else ("uno_c", "harrell_c")
    return tuple(dict.fromkeys((task.spec.primary, "auroc")))


def subgroups(task: Task, ids: Sequence[str], by: str) -> np.ndarray:
    """Each patient's group for attribute ``by`` (:data:`ATTRIBUTES`), in ``ids`` order; missing -> ``unknown``."""
    if by not in ATTRIBUTES:
        raise FairnessError(f"unknown subgroup attribute {by!r}; expected one of {', '.join(ATTRIBUTES)}")
    column = ATTRIBUTES[by]
    clinical = task.dataset.clinical
    if column not in clinical.columns:
        raise FairnessError(f"{task.dataset.id}: the clinical table has no column {column!r} (needed for --by {by}); "
                            f"it has {clinical.columns[:12]}")
    lookup = dict(zip(clinical["patient_id"].to_list(), clinical[column].to_list()))
    values = [lookup.get(p) for p in ids]
    if by == "age":
        return np.array([_age_band(v) for v in values], dtype=object)
    return np.array([UNKNOWN if v is None or str(v).strip() == "" else str(v) for v in values], dtype=object)


def _age_band(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    for low, high, name in AGE_BANDS:
        if low <= float(value) < high:
            return name
    return UNKNOWN


@dataclass(frozen=True)
class JobScorer:
    """One job's test predictions as row-index metrics: ``metric(rows) -> float`` for any subset of rows."""

    task: Task
    ids: tuple[str, ...]
    metrics: dict[str, Callable[[np.ndarray], float]]
    event: np.ndarray | None  # survival: events per row
    labels: np.ndarray | None  # classification: true class per row

    def too_small(self, rows: np.ndarray) -> bool:
        """A group under the minimum: fewer than MIN_PATIENTS rows, MIN_EVENTS events, or one true class."""
        if len(rows) < MIN_PATIENTS:
            return True
        if self.event is not None:
            return int(self.event[rows].sum()) < MIN_EVENTS
        return len(set(self.labels[rows].tolist())) < 2

    def events(self, rows: np.ndarray) -> int | None:
        return None if self.event is None else int(self.event[rows].sum())

    def score(self, name: str, rows: np.ndarray) -> float:
        """The metric on ``rows``; NaN where it is undefined there (e.g. no event before Uno's tau)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # sklearn on a resample missing a class
                warnings.simplefilter("ignore", RuntimeWarning)  # sksurv's 0/0 on a resample without a comparable pair
                return float(self.metrics[name](rows))
        except ValueError as exc:
            log.debug("%s undefined on %d rows: %s", name, len(rows), exc)
            return math.nan


def job_scorer(task: Task, split: Split, frame: pl.DataFrame) -> JobScorer:
    """The per-row metrics of a job's test predictions (rows sorted by patient ID)."""
    from oncobench.benchmark.evaluator import evaluation_times
    from oncobench.benchmark.metrics.classification import classification_metrics
    from oncobench.benchmark.metrics.survival import harrell_c, uno_c

    if task.kind not in KINDS:
        raise FairnessError(f"task {task.name} is {task.kind}: fairness per subgroup scores classification, binary "
                            "and survival predictions")
    frame = frame.sort(ID)
    ids = tuple(frame[ID].to_list())
    metrics: dict[str, Callable[[np.ndarray], float]] = {}
    if task.kind == "survival":
        event, time = task.outcome(ids)
        train_event, train_time = task.outcome(split.train)
        risk = frame["risk"].to_numpy().astype(np.float64)
        tau = float(evaluation_times(task, split)[-1])  # the fold's, so all its groups are truncated alike
        metrics["uno_c"] = lambda r: uno_c(time[r], event[r], risk[r], train_time, train_event, tau=tau)
        metrics["harrell_c"] = lambda r: harrell_c(time[r], event[r], risk[r])
        return JobScorer(task, ids, {m: metrics[m] for m in group_metrics(task)}, event, None)
    labels = task.labels(ids)
    proba = frame.select([f"proba_{c}" for c in task.classes]).to_numpy().astype(np.float64)
    index = {c: j for j, c in enumerate(task.classes)}
    truth = np.array([index[v] for v in labels])
    guess = proba.argmax(axis=1)  # the evaluator's rule: first class on ties
    n_classes = len(task.classes)
    for name in group_metrics(task):
        if name in ("macro_f1", "weighted_f1"):
            metrics[name] = lambda r, n=name: _f1(truth[r], guess[r], n_classes, weighted=n == "weighted_f1")
        elif name == "auroc":
            metrics[name] = lambda r: _auroc(truth[r], proba[r])
        else:
            metrics[name] = lambda r, n=name: classification_metrics(labels[r], proba[r], task.classes)[n]
    return JobScorer(task, ids, metrics, None, labels)


def _f1(truth: np.ndarray, guess: np.ndarray, n_classes: int, weighted: bool = False) -> float:
    """Macro (or support-weighted) F1 over the classes present in ``truth`` or ``guess``: scikit-learn's
    ``f1_score`` with its default labels and ``zero_division=0``, in numpy (it runs once per bootstrap resample)."""
    tp = np.bincount(truth[truth == guess], minlength=n_classes).astype(np.float64)
    support = np.bincount(truth, minlength=n_classes).astype(np.float64)
    predicted = np.bincount(guess, minlength=n_classes).astype(np.float64)
    present = (support + predicted) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
    if weighted:
        return float((f1 * support).sum() / support.sum()) if support.sum() else 0.0
    return float(f1[present].mean())


def _auroc(truth: np.ndarray, proba: np.ndarray) -> float:
    """The evaluator's AUROC (binary: of the second class; more classes: mean one-vs-rest AUC over the classes with
    positives and negatives), as the Mann-Whitney statistic with average ranks for ties (= roc_auc_score)."""
    from scipy.stats import rankdata

    columns = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    aucs = []
    for j in columns:
        positive = truth == j
        n_pos = int(positive.sum())
        n_neg = len(truth) - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = rankdata(proba[:, j])
        aucs.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    if not aucs:
        raise ValueError("AUROC undefined: the group's labels hold a single class")
    return float(np.mean(aucs))


@dataclass(frozen=True)
class GroupScore:
    group: str
    n: int
    events: int | None
    too_small: bool
    values: dict[str, float]


def score_groups(scorer: JobScorer, groups: np.ndarray) -> list[GroupScore]:
    """Each group's metrics on one job's test rows, through fairlearn's ``MetricFrame`` (too-small groups: NaN)."""
    from fairlearn.metrics import MetricFrame

    rows = np.arange(len(scorer.ids))
    small = {g: scorer.too_small(rows[groups == g]) for g in sorted(set(groups.tolist()))}

    def per_group(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
        # MetricFrame hands each group's slice of y_true; y_true is the row index, so the metric sees those rows
        def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
            r = np.asarray(y_true, dtype=np.intp)
            return math.nan if scorer.too_small(r) else scorer.score(name, r)
        return metric

    frame = MetricFrame(metrics={m: per_group(m) for m in scorer.metrics}, y_true=rows, y_pred=rows,
                        sensitive_features=pd.Series(groups, name="group"))
    table = frame.by_group
    return [GroupScore(g, int((groups == g).sum()), scorer.events(rows[groups == g]), small[g],
                       {m: float(table.loc[g, m]) for m in scorer.metrics}) for g in small]


@dataclass(frozen=True)
class Gap:
    """The worst and best scoreable known groups of a metric and the difference best - worst."""

    metric: str
    worst_group: str | None
    worst: float
    best_group: str | None
    best: float
    gap: float
    ci_low: float = math.nan
    ci_high: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def _extremes(values: Mapping[str, float], metric: str) -> tuple[str | None, str | None]:
    """(worst, best) group among known groups with a finite value."""
    scored = {g: v for g, v in values.items() if g != UNKNOWN and not math.isnan(v)}
    if not scored:
        return None, None
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    order = sorted(scored, key=lambda g: (sign * scored[g], g))
    return order[0], order[-1]


def gap(values: Mapping[str, float], metric: str) -> Gap:
    """Worst group, best group and ``|best - worst|`` (NaN gap with fewer than two scoreable known groups)."""
    worst, best = _extremes(values, metric)
    if worst is None:
        return Gap(metric, None, math.nan, None, math.nan, math.nan)
    diff = abs(values[best] - values[worst]) if worst != best else math.nan
    return Gap(metric, worst, values[worst], best, values[best], diff)


def job_fairness(task: Task, split: Split, frame: pl.DataFrame,
                 attributes: Sequence[str] = tuple(ATTRIBUTES)) -> dict[str, Any]:
    """A job's fairness record (logged as ``fairness.json``): per attribute the groups with n, events,
    too_small and each metric, and the primary metric's worst group and gap. Attributes the dataset lacks are
    left out (logged at INFO)."""
    scorer = job_scorer(task, split, frame)
    primary = next(iter(scorer.metrics))
    out: dict[str, Any] = {"primary": primary, "min_patients": MIN_PATIENTS, "min_events": MIN_EVENTS,
                           "age_bands": [name for _, _, name in AGE_BANDS], "by": {}}
    for by in attributes:
        try:
            groups = subgroups(task, scorer.ids, by)
        except FairnessError as exc:
            log.info("%s: no fairness by %s (%s)", task.name, by, exc)
            continue
        scores = score_groups(scorer, groups)
        g = gap({s.group: s.values[primary] for s in scores}, primary)
        out["by"][by] = {"attribute": ATTRIBUTES[by], "groups": [
            {"group": s.group, "n": s.n, "events": s.events, "too_small": s.too_small,
             **{m: (None if math.isnan(v) else v) for m, v in s.values.items()}} for s in scores], **g.to_dict()}
    return out


def job_fairness_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """``worst_group_<by>`` and ``gap_<by>`` of a job's record (only those defined)."""
    out = {}
    for by, r in record.get("by", {}).items():
        if r.get("worst") is not None:
            out[f"worst_group_{by}"] = float(r["worst"])
        if r.get("gap") is not None:
            out[f"gap_{by}"] = float(r["gap"])
    return out


# ---- a model's jobs together: results --by, the HTML report, the leaderboard ---------------------------------

@dataclass
class FairnessResult:
    """Per (group, metric): n and events (distinct test patients over the jobs), the mean over the jobs in which
    the group was scoreable, its bootstrap interval; and per metric the worst group and the gap with its interval."""

    task: str
    model: str
    by: str
    table: pd.DataFrame
    gaps: dict[str, Gap] = field(default_factory=dict)
    n_boot: int = N_BOOT
    jobs: int = 0


def fairness_from_predictions(task: Task, jobs: Sequence[tuple[Split, pl.DataFrame]], by: str, *, model: str = "",
                              n_boot: int = N_BOOT, seed: int = 0) -> FairnessResult:
    """Per-group scores of a model's jobs, each job's test predictions with its split.

    A group's value is the mean over the jobs in which it was scoreable. Intervals: percentile bootstrap
    (``n_boot`` resamples, ``seed``): each job's test patients are resampled with replacement within each group,
    every group is re-scored, and the gap of a resample is the difference between the two groups that are the
    best and the worst on the data (fixed), so its interval can include 0; ``max - min`` could not.
    """
    scorers = [job_scorer(task, split, frame) for split, frame in jobs]
    if not scorers:
        raise FairnessError(f"task {task.name}: no finished jobs of {model or 'this model'} to score per group")
    metrics = list(scorers[0].metrics)
    per_job = []  # [(scorer, groups, {group: GroupScore})]
    for scorer in scorers:
        groups = subgroups(task, scorer.ids, by)
        per_job.append((scorer, groups, {s.group: s for s in score_groups(scorer, groups)}))
    names = sorted({g for _, _, scores in per_job for g in scores}, key=lambda g: (g == UNKNOWN, g))
    members: dict[str, set[str]] = {g: set() for g in names}
    event_ids: dict[str, set[str]] = {g: set() for g in names}
    for scorer, groups, _ in per_job:
        for i, (pid, g) in enumerate(zip(scorer.ids, groups)):
            members[g].add(pid)
            if scorer.event is not None and scorer.event[i]:
                event_ids[g].add(pid)
    estimate = {m: {g: _mean([s[g].values[m] for _, _, s in per_job if g in s and not s[g].too_small]) for g in names}
                for m in metrics}
    replicates = _bootstrap(per_job, names, metrics, n_boot, seed)
    rows, gaps = [], {}
    for m in metrics:
        g = gap(estimate[m], m)
        if g.worst_group is not None and g.best_group != g.worst_group:
            sign = -1.0 if m in LOWER_IS_BETTER else 1.0
            diff = sign * (replicates[m][g.best_group] - replicates[m][g.worst_group])
            g = Gap(m, g.worst_group, g.worst, g.best_group, g.best, g.gap, *_percentile(diff))
        gaps[m] = g
        for name in names:
            scored = sum(1 for _, _, s in per_job if name in s and not s[name].too_small)
            low, high = _percentile(replicates[m][name])
            rows.append({"group": name, "n": len(members[name]),
                         "events": len(event_ids[name]) if scorers[0].event is not None else None,
                         "metric": m, "value": estimate[m][name], "ci_low": low, "ci_high": high,
                         "too_small": scored == 0, "jobs_scored": scored, "jobs": len(per_job)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs = {"gaps": {m: g.to_dict() for m, g in gaps.items()}, "n_boot": n_boot, "by": by,
                   "attribute": ATTRIBUTES[by]}
    return FairnessResult(task.name, model, by, table, gaps, n_boot, len(per_job))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _percentile(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) < 2:
        return math.nan, math.nan
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _bootstrap(per_job: list, names: list[str], metrics: list[str], n_boot: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Per metric and group: ``n_boot`` replicates of the group's mean over jobs (NaN where none was defined)."""
    rng = np.random.default_rng(seed)
    out = {m: {g: np.full(n_boot, math.nan) for g in names} for m in metrics}
    if n_boot <= 0:
        return out
    sums = {m: {g: np.zeros(n_boot) for g in names} for m in metrics}
    counts = {m: {g: np.zeros(n_boot) for g in names} for m in metrics}
    for scorer, groups, scores in per_job:
        rows = np.arange(len(scorer.ids))
        for g in names:  # fixed order: the same seed gives the same resamples
            if g not in scores or scores[g].too_small:
                continue
            members = rows[groups == g]
            draws = rng.integers(0, len(members), size=(n_boot, len(members)))
            for b in range(n_boot):
                sample = members[draws[b]]
                for m in metrics:
                    v = scorer.score(m, sample)
                    if not math.isnan(v):
                        sums[m][g][b] += v
                        counts[m][g][b] += 1
    for m in metrics:
        for g in names:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[m][g] = np.where(counts[m][g] > 0, sums[m][g] / np.maximum(counts[m][g], 1), math.nan)
    return out


def _model_jobs(task: Task, home: Path | None, model: str | None = None) -> dict[str, list[tuple[Split, pl.DataFrame]]]:
    """Each model's finished jobs (or only ``model``'s) as (split, test predictions), in job order."""
    from oncobench.benchmark.tracking import Tracker

    tracker = Tracker(home)
    runs = tracker.job_runs(task.name, task.dataset.id)
    chosen = [r for r in runs if model is None or r.data.tags.get("model") == model]
    if not chosen:
        models = sorted({r.data.tags.get("model", "") for r in runs})
        raise FairnessError(f"task {task.name} on {task.dataset.id}: no finished runs"
                            + (f" of model {model!r}" if model else "")
                            + (f"; it has {', '.join(models)}" if models else f" (oncobench run --task {task.name})"))
    jobs: dict[str, list[tuple[Split, pl.DataFrame]]] = {}
    for run in sorted(chosen, key=lambda r: r.data.tags["job_key"]):
        p = run.data.params
        with tempfile.TemporaryDirectory() as tmp:
            frame = pl.read_parquet(tracker.client.download_artifacts(run.info.run_id, "predictions.parquet", tmp))
        jobs.setdefault(run.data.tags["model"], []).append((task.get_split(int(p["fold"]), int(p["repeat"])), frame))
    return jobs


def _check_by(by: str) -> None:
    if by not in ATTRIBUTES:
        raise FairnessError(f"unknown subgroup attribute {by!r}; expected one of {', '.join(ATTRIBUTES)}")


def fairness_result(task: Task, model: str, by: str, home: Path | None = None, *, n_boot: int = N_BOOT) -> FairnessResult:
    """:func:`fairness_from_predictions` of a model's finished jobs in the tracking store."""
    _check_by(by)
    return fairness_from_predictions(task, _model_jobs(task, home, model)[model], by, model=model, n_boot=n_boot)


def fairness_results(task: Task, by: str, home: Path | None = None, *, n_boot: int = N_BOOT) -> list[FairnessResult]:
    """:func:`fairness_result` of every model with finished jobs on the task (``oncobench results --by``); [] when
    none has finished yet (the results table says so)."""
    _check_by(by)
    try:
        jobs = _model_jobs(task, home)
    except FairnessError:
        return []
    return [fairness_from_predictions(task, model_jobs, by, model=model, n_boot=n_boot)
            for model, model_jobs in sorted(jobs.items())]


def fairness_table(task: str, model: str, by: str, home: Path | None = None) -> pd.DataFrame:
    """A model's per-group scores on a task: columns group, n, events, metric, value, ci_low, ci_high,
    too_small (and jobs_scored, jobs); ``table.attrs["gaps"]`` holds per metric the worst group and the gap
    with its bootstrap interval."""
    from oncobench.benchmark.tasks import load_task

    return fairness_result(load_task(task), model, by, home).table


def format_fairness(task: Task, results: Sequence[FairnessResult]) -> str:
    """Per model: each group's n, events and scores with intervals, small groups marked, the worst group and gap."""
    if not results:
        return f"{task.name}: no finished runs to score per group"
    by = results[0].by
    lines = [(f"{task.name} on {task.dataset.id}: scores per {by} group ({ATTRIBUTES[by]}); mean over the jobs where "
              f"a group is scoreable, 95% percentile bootstrap CI ({results[0].n_boot} resamples within groups, seed 0)")]
    for res in results:
        metrics = list(dict.fromkeys(res.table["metric"]))
        head = f"{'group':<14}{'n':>6}{'events':>8}" + "".join(f"{m + ' [95% CI]':>28}" for m in metrics) + "  jobs"
        lines += ["", f"model {res.model} ({res.jobs} jobs)", head, "-" * len(head)]
        for group, part in res.table.groupby("group", sort=False):
            first = part.iloc[0]
            small = bool(first["too_small"])
            events = "" if first["events"] is None or pd.isna(first["events"]) else f"{int(first['events'])}"
            cells = "".join(f"{_cell(r):>28}" for _, r in part.iterrows())
            if small:
                cells = f"{'too small to score':>28}" + " " * 28 * (len(metrics) - 1)
            lines.append(f"{group:<14}{int(first['n']):>6}{events:>8}{cells}  {first['jobs_scored']}/{first['jobs']}"
                         + (" !" if small else ""))
        for m, g in res.gaps.items():
            if g.worst_group is None:
                lines.append(f"{m}: no known group is scoreable")
            elif g.best_group == g.worst_group:
                lines.append(f"{m}: worst group {g.worst_group} {g.worst:.3f}; one scoreable group, no gap")
            else:
                lines.append(f"{m}: worst group {g.worst_group} {g.worst:.3f}; largest gap {g.gap:.3f} "
                             f"({g.best_group} - {g.worst_group}) [95% CI {_num(g.ci_low)}, {_num(g.ci_high)}]")
    lines.append(f"! too small: fewer than {MIN_PATIENTS} test patients"
                 + (f" or {MIN_EVENTS} events" if task.kind == "survival" else " or a single true class")
                 + f" in every job; '{UNKNOWN}' (attribute not recorded) is never the worst group nor in a gap."
                 + (f" Age bands: {', '.join(n for _, _, n in AGE_BANDS)} years." if by == "age" else ""))
    return "\n".join(lines)


def _num(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _cell(row: pd.Series) -> str:
    return f"{_num(row['value'])} [{_num(row['ci_low'])}, {_num(row['ci_high'])}]"


def entry_gaps(task: Task, frames: Mapping[tuple[int, int], pl.DataFrame], attributes: Sequence[str] = tuple(ATTRIBUTES)
               ) -> dict[str, dict[str, Any]]:
    """A leaderboard entry's worst group and largest gap of the primary metric per attribute, re-scored from its
    stored per-(fold, seed) predictions (repeat 0), without intervals."""
    if task.kind not in KINDS or not frames:
        return {}
    jobs = [(task.get_split(fold, 0), frame) for (fold, _), frame in sorted(frames.items())]
    primary = group_metrics(task)[0]
    out = {}
    for by in attributes:
        try:
            res = fairness_from_predictions(task, jobs, by, n_boot=0)
        except FairnessError as exc:
            log.info("%s: no fairness by %s on the leaderboard (%s)", task.name, by, exc)
            continue
        out[by] = res.gaps[primary].to_dict()
    return out
