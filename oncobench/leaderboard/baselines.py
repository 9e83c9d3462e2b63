"""Baseline entries from ``oncobench run`` results: the only leaderboard module that reads the MLflow store.

A (task, model) becomes a ``baseline`` entry once its runs cover every protocol fold (repeat 0) for each of its
seeds; the predictions artifacts are re-scored like any submission. Importing again is idempotent: identical
predictions are recognised by their hash and skipped. :func:`import_all_baselines` does this for every task of
the store, so the site and the server show every finished task, not only those someone looked at.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from oncobench.benchmark.results import model_role
from oncobench.benchmark.tasks import Task
from oncobench.datasets.errors import OncoBenchError
from oncobench.datasets.store import oncobench_home
from oncobench.leaderboard.db import LeaderboardBusyError, LeaderboardDB
from oncobench.leaderboard.entries import Entry, SubmissionError, combined_sha256
from oncobench.leaderboard.scoring import protocol_folds, score_submission

if TYPE_CHECKING:
    from oncobench.benchmark.tracking import Tracker

log = logging.getLogger(__name__)


def import_baselines(task: Task, *, home: Path | None = None, db: LeaderboardDB | None = None,
                     tracker: "Tracker | None" = None) -> list[Entry]:
    """Add every complete (task, model) of the tracking store as a baseline entry; returns the new entries.

    A model whose predictions the leaderboard refuses (a copy of another entry's, or no longer valid for the
    task) is logged and left out; the other models are still imported.
    """
    from oncobench.benchmark.tracking import Tracker

    tracker = tracker or Tracker(home)
    runs = [r for r in tracker.job_runs(task.name, task.dataset.id) if r.data.params.get("repeat") == "0"]
    by_model: dict[str, dict[tuple[int, int], object]] = {}
    for run in runs:
        by_model.setdefault(run.data.tags["model"], {})[(int(run.data.params["fold"]), int(run.data.params["seed"]))] = run
    folds = protocol_folds(task)
    db = db or LeaderboardDB(home)
    added = []
    for model, jobs in sorted(by_model.items()):
        seeds = sorted({s for _, s in jobs})
        complete = [s for s in seeds if all((f, s) in jobs for f in folds)]
        if not complete:
            log.info("%s: %s covers only some folds; not on the leaderboard yet", task.name, model)
            continue
        chosen = {(f, s): jobs[(f, s)] for f in folds for s in complete}
        combined = combined_sha256([chosen[k].data.tags["predictions_sha256"] for k in sorted(chosen)])
        if db.has_predictions(task.name, task.dataset.id, combined):
            continue
        frames, valid = {}, {}
        for key, run in chosen.items():
            local = tracker.client.download_artifacts(run.info.run_id, "predictions.parquet")
            frames[key] = pl.read_parquet(local)
            valid[key] = {k[6:]: v for k, v in run.data.metrics.items() if k.startswith("valid_")}
        meta = {"description": f"OncoBench baseline `{model}` run by `oncobench run`",
                "runtime_seconds": sum(r.data.metrics.get("runtime_seconds", 0.0) for r in chosen.values()),
                "hardware": "the machine that ran `oncobench run`"}
        try:
            entry = score_submission(task, frames, method=model, status="baseline", role=model_role(model), meta=meta,
                                     valid=valid, distinct_seeds=False)
            added.append(db.add(entry, frames))
        except SubmissionError as exc:
            log.warning("%s: baseline %s not imported: %s", task.name, model, "; ".join(exc.problems))
    return added


def import_all_baselines(*, home: Path | None = None, db: LeaderboardDB | None = None) -> list[Entry]:
    """:func:`import_baselines` for every (task, dataset) of the home's MLflow store whose dataset is built here.

    A home without a tracking store has nothing to import (and none is created). A task that cannot be opened
    (unknown, dataset not built here, unusable on it) is logged and skipped; the others are still imported.
    """
    from oncobench.benchmark.tracking import Tracker
    from oncobench.leaderboard.built import load_built_task

    home = home or oncobench_home()
    if not (home / "mlflow.db").is_file():
        return []
    tracker = Tracker(home)
    db = db or LeaderboardDB(home)
    added = []
    for task_name, dataset in sorted(set(tracker.experiments())):
        try:
            added += import_baselines(load_built_task(task_name, dataset, home), home=home, db=db, tracker=tracker)
        except LeaderboardBusyError:
            raise  # not a problem of this task's runs: a partial import would pass for a complete one
        except OncoBenchError as exc:  # unknown task, dataset not built here, task unusable on it ...
            log.warning("runs of %s on %s not imported: %s", task_name, dataset, exc)
    return added
