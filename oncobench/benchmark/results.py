"""The aggregated results table of a task, read back from the tracking store."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from oncobench.baselines.registry import parse_model_spec
from oncobench.benchmark.aggregate import format_summary, summarize
from oncobench.benchmark.evaluator import LOWER_IS_BETTER
from oncobench.benchmark.tasks import Task


def model_role(model: str) -> str:
    try:
        info, _ = parse_model_spec(model)
    except KeyError:
        return "model"
    return "control" if info.is_control else "clinical reference" if info.is_clinical_reference else "model"


def results_table(task: Task, home: Path | None = None) -> pl.DataFrame:
    """One row per model: jobs, seeds, and mean / sd / 95 % CI of every test metric, ranked by the primary metric."""
    from oncobench.benchmark.tracking import Tracker

    runs = Tracker(home).job_runs(task.name, task.dataset.id)
    by_model: dict[str, list[dict[str, float]]] = {}
    seeds: dict[str, set[str]] = {}
    for run in runs:
        model = run.data.tags["model"]
        by_model.setdefault(model, []).append({k[5:]: v for k, v in run.data.metrics.items() if k.startswith("test_")})
        seeds.setdefault(model, set()).add(run.data.params.get("seed", "?"))
    rows = []
    primary = task.spec.primary
    metrics = [primary] + [m for m in task.spec.secondary if m != primary]
    for model, values in by_model.items():
        row = {"model": model, "role": model_role(model), "jobs": len(values), "seeds": len(seeds[model])}
        for m in metrics:
            s = summarize(v.get(m, math.nan) for v in values)
            row |= {f"{m}_mean": s["mean"], f"{m}_sd": s["sd"], f"{m}_ci_low": s["ci_low"], f"{m}_ci_high": s["ci_high"]}
        rows.append(row)
    if not rows:
        return pl.DataFrame()
    frame = pl.DataFrame(rows)
    return frame.sort(f"{primary}_mean", descending=primary not in LOWER_IS_BETTER, nulls_last=True)


def per_fold_table(task: Task, home: Path | None = None) -> pl.DataFrame:
    """One row per finished job: model, repeat, fold, seed and every test metric."""
    from oncobench.benchmark.tracking import Tracker

    rows = []
    for run in Tracker(home).job_runs(task.name, task.dataset.id):
        p = run.data.params
        rows.append({"model": run.data.tags["model"], "repeat": int(p["repeat"]), "fold": int(p["fold"]), "seed": int(p["seed"])}
                    | {k[5:]: v for k, v in run.data.metrics.items() if k.startswith("test_")})
    if not rows:
        return pl.DataFrame()
    return pl.DataFrame(rows).sort(["model", "repeat", "fold", "seed"])


def format_per_fold(task: Task, table: pl.DataFrame) -> str:
    metrics = [task.spec.primary] + [m for m in task.spec.secondary if m in table.columns]
    head = f"{'model':<26}{'repeat':>7}{'fold':>5}{'seed':>5}" + "".join(f"{m:>14}" for m in metrics)
    lines = [head, "-" * len(head)]
    for r in table.iter_rows(named=True):
        lines.append(f"{r['model']:<26}{r['repeat']:>7}{r['fold']:>5}{r['seed']:>5}" + "".join(f"{_fmt(r.get(m)):>14}" for m in metrics))
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


def format_results(task: Task, table: pl.DataFrame) -> str:
    """The table as text: primary metric mean ± sd [95 % CI], then secondary means; controls marked."""
    if table.is_empty():
        return f"{task.name} on {task.dataset.id}: no finished runs yet (oncobench run --task {task.name})"
    primary = task.spec.primary
    secondary = [m for m in task.spec.secondary if f"{m}_mean" in table.columns]
    head = f"{'model':<26}{'role':<20}{'jobs':>5}  {primary + ' (mean ± sd [95% CI])':<40}" + "".join(f"{m:>19}" for m in secondary)
    lines = [f"{task.name} on {task.dataset.id} ({task.kind}, scheme {task.scheme}, {len(task.patients)} patients)", head, "-" * len(head)]
    for r in table.iter_rows(named=True):
        s = {"mean": r[f"{primary}_mean"], "sd": r[f"{primary}_sd"], "ci_low": r[f"{primary}_ci_low"], "ci_high": r[f"{primary}_ci_high"]}
        s = {k: (math.nan if v is None else v) for k, v in s.items()}
        cells = "".join(f"{_fmt(r[f'{m}_mean']):>19}" for m in secondary)
        lines.append(f"{r['model']:<26}{r['role']:<20}{r['jobs']:>5}  {format_summary(s):<40}{cells}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"
