"""What the leaderboard shows: ranked rows per task, the terminal table and the static site."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from oncobench.benchmark.tasks import Task, load_task
from oncobench.leaderboard.db import LeaderboardDB
from oncobench.leaderboard.ranking import RankedRow, latest_versions, rank
from oncobench.leaderboard.scoring import protocol_key
from oncobench.benchmark.evaluator import EVALUATOR_VERSION
from oncobench.leaderboard import site

log = logging.getLogger(__name__)


def ranked(task: Task, db: LeaderboardDB, *, all_versions: bool = False) -> tuple[list[RankedRow], int]:
    """Ranked rows of the entries comparable with the task as it is now, and how many other entries exist."""
    entries = db.entries(task.name, task.dataset.id)
    key = (task.name, task.dataset.id, protocol_key(task), EVALUATOR_VERSION)
    comparable = [e for e in entries if e.comparability_key() == key]
    shown = comparable if all_versions else latest_versions(comparable)
    return rank(shown, task.spec.primary), len(entries) - len(comparable)


def task_summary(task: Task, rows: list[RankedRow]) -> dict[str, Any]:
    best = next((r.entry for r in rows if r.entry.role == "model"), None)
    return {"task": task.name, "dataset": task.dataset.id, "kind": task.kind, "primary": task.spec.primary,
            "secondary": list(task.spec.secondary), "scheme": task.scheme, "description": task.spec.description,
            "entries": len(rows), "best": f"{best.method} v{best.version}" if best else ""}


def km_groups(task: Task, db: LeaderboardDB, rows: list[RankedRow]) -> tuple[list[float], list[bool], list[bool], str] | None:
    """Test outcomes and high/low risk (above the fold's median risk) of the top model entry, pooled over folds."""
    top = next((r.entry for r in rows if r.entry.role == "model"), None)
    if top is None or task.kind != "survival":
        return None
    frames = db.predictions(top)
    time, event, high = [], [], []
    seed = min(top.seeds)
    for (fold, s), frame in sorted(frames.items()):
        if s != seed:
            continue
        risk = frame["risk"].to_numpy()
        e, t = task.outcome(frame["patient_id"].to_list())
        time += t.tolist()
        event += e.tolist()
        high += (risk > np.median(risk)).tolist()
    if not time:
        return None
    return time, event, high, f"{top.method} v{top.version}: test patients of every fold, seed {seed}"


def task_tasks(db: LeaderboardDB, home: Path | None = None) -> list[Task]:
    """The tasks with entries, on datasets built in the home; one whose definition or dataset no longer loads is
    logged and skipped (it never takes down the other pages)."""
    from oncobench.benchmark.task_store import loadable_tasks
    from oncobench.leaderboard.built import load_built_task

    return loadable_tasks(db.tasks(), what="leaderboard", load=lambda name, dataset: load_built_task(name, dataset, home))


PLOTS = {"folds": "Scores per fold", "km": "Kaplan-Meier curves of the top entry's risk groups",
         "ablation": "Minimal modality set: Shapley values and every subset (oncobench ablate)"}


def draw_plot(task: Task, db: LeaderboardDB, kind: str, rows: list[RankedRow], target: Path | BinaryIO | None) -> bool:
    """Draw the task's ``kind`` plot (see :data:`PLOTS`) to ``target``; False when the task has no such plot.

    ``target=None`` only says whether the plot exists (the server draws a plot when it is asked for, in memory).
    """
    if kind == "ablation":  # the most recent `oncobench ablate` of the task saved in this home (any fold count)
        from oncobench.benchmark.ablation import ablation_plot, saved_ablations

        saved = saved_ablations(task.name, task.dataset.id, home=db.root.parent)
        if saved and target is not None:
            ablation_plot(saved[0], target)
        return bool(saved)
    if not rows:
        return False
    if kind == "folds":
        if target is not None:
            site.fold_plot(rows, task.spec.primary, target)
        return True
    if kind == "km":
        km = km_groups(task, db, rows)
        if km is not None and target is not None:
            site.km_plot(*km[:3], target, km[3], unit=(task.endpoint or {}).get("unit", "days"))
        return km is not None
    return False


def render_task(task: Task, db: LeaderboardDB, plot_dir: Path | None, plot_prefix: str = "",
                ranking: tuple[list[RankedRow], int] | None = None) -> str:
    """The task's page; its plots are drawn into ``plot_dir`` (None: only linked, for the server to draw)."""
    rows, others = ranking if ranking is not None else ranked(task, db)
    plots: dict[str, str] = {}
    stem = page_name(task)
    for kind, title in PLOTS.items():
        target = None if plot_dir is None else plot_dir / f"{stem}_{kind}.png"
        if draw_plot(task, db, kind, rows, target):
            plots[title] = f"{plot_prefix}{stem}_{kind}.png"
    from oncobench.leaderboard.comparisons import label, paired_cells, verdict_text

    fairness = {label(r.entry): entry_fairness(task, db, r.entry) for r in rows}
    return site.task_page(task_summary(task, rows), rows, plots=plots, others=others, paired=paired_cells(task, rows),
                          fairness={k: v for k, v in fairness.items() if v}, verdict=verdict_text(task, rows) if rows else None)


_FAIRNESS: dict[tuple[str, str, str], dict[str, Any]] = {}  # entries never change: (task, dataset, predictions) -> gaps


def entry_fairness(task: Task, db: LeaderboardDB, entry: Any) -> dict[str, Any]:
    """The entry's worst group and largest gap per subgroup attribute, re-scored from its stored predictions
    (:func:`oncobench.benchmark.fairness.entry_gaps`); {} when the task's kind or dataset has none."""
    from oncobench.benchmark.fairness import entry_gaps

    key = (task.name, task.dataset.id, entry.predictions_sha256)
    if key not in _FAIRNESS:
        try:
            _FAIRNESS[key] = entry_gaps(task, db.predictions(entry))
        except (ValueError, KeyError) as exc:  # e.g. a fold with no event: no fairness cell, never a broken page
            log.info("%s %s: no fairness per subgroup (%s)", task.name, entry.method, exc)
            _FAIRNESS[key] = {}
    return _FAIRNESS[key]


def page_name(task: Task) -> str:
    return f"{task.name}__{task.dataset.id.replace('@', '_')}"


def export_site(out: Path, *, home: Path | None = None) -> Path:
    """Write the static site (index, one page + CSV + plots per task) to ``out``, replacing it in one rename.

    The finished runs of every task in the home's MLflow store are imported as baseline entries first, so the
    site shows every task with complete results.
    """
    from oncobench.leaderboard.baselines import import_all_baselines

    out = Path(out)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir(parents=True)
    try:
        with LeaderboardDB(home) as db:
            import_all_baselines(home=home, db=db)
            tasks = task_tasks(db, home)
            summaries, ranked_rows = [], {}
            for task in tasks:
                name = page_name(task)
                ranking = ranked(task, db)
                rows = ranking[0]
                ranked_rows[task] = rows
                (tmp / f"{name}.html").write_text(render_task(task, db, tmp, ranking=ranking), encoding="utf-8")
                (tmp / f"{name}.csv").write_text(site.leaderboard_csv(rows, task.spec.primary), encoding="utf-8")
                summaries.append(task_summary(task, rows) | {"page": name})
            from oncobench.leaderboard.comparisons import cross_task_section

            across = cross_task_section(ranked_rows, tmp)  # mean ranks and the CD diagram (PNG beside the index)
            from oncobench.benchmark.federated import federated_track

            federated = federated_track(home)
            if federated:  # the federated track: a section of the index and its rows as JSON
                across += site.federated_section(federated)
                (tmp / "federated.json").write_text(json.dumps(federated, indent=1), encoding="utf-8")
            (tmp / "index.html").write_text(site.index_page(summaries, link="{page}.html", extra=across), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def leaderboard_text(task: Task, *, home: Path | None = None) -> str:
    """Import the task's finished baseline runs, then the ranked terminal table."""
    from oncobench.leaderboard.baselines import import_baselines
    from oncobench.leaderboard.ranking import format_leaderboard

    with LeaderboardDB(home) as db:
        import_baselines(task, home=home, db=db)
        rows, others = ranked(task, db)
    text = format_leaderboard(task.name, task.dataset.id, rows, task.spec.primary)
    if others:
        text += f"\n({others} entries on another dataset version, split or evaluator version are not ranked here)"
    return text


def quick_leaderboard(dataset: str = "tcga-mini", *, home: Path | None = None) -> str:
    from oncobench.benchmark.quick import QUICK

    return "\n\n".join(leaderboard_text(load_task(name, dataset=dataset), home=home) for name in QUICK)
