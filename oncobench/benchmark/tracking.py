"""MLflow tracking: one run per job, one parent run per (task, model) with the aggregates.

The store is a local SQLite file in the OncoBench home (no server). Only the driver process writes to it
(MLflow's SQLite schema migration is not safe when several processes open a fresh store at once).
Open the same runs in the MLflow UI with ``mlflow ui --backend-store-uri sqlite:///$ONCOBENCH_HOME/mlflow.db``.
"""

from __future__ import annotations

import logging
import os
import platform
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from oncobench.datasets.errors import OncoBenchError
from oncobench.datasets.store import oncobench_home

if TYPE_CHECKING:
    from oncobench.benchmark.job import Job, JobOutput
    from oncobench.benchmark.tasks import Task

log = logging.getLogger(__name__)

LIBRARIES = ("oncobench", "numpy", "scikit-learn", "scikit-survival", "xgboost", "polars", "duckdb", "mlflow", "torch")


class TrackingStoreError(OncoBenchError):
    """The tracking store cannot be opened (corrupted or not an MLflow database)."""


def tracking_uri(home: Path | None = None) -> str:
    return f"sqlite:///{(home or oncobench_home()) / 'mlflow.db'}"


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def _check_sqlite(path: Path) -> None:
    if not path.exists():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise TrackingStoreError(f"{path}: not a readable SQLite database ({exc}); expected the MLflow tracking store. "
                                 f"Move it aside (your runs are in it if it was only truncated) and run again.") from None
    if tables and not {"runs", "experiments"} <= tables:
        raise TrackingStoreError(f"{path}: SQLite file without MLflow's runs/experiments tables (found {sorted(tables)[:5]}); "
                                 "expected the MLflow tracking store")


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    job_key: str
    test: dict[str, float]
    valid: dict[str, float]
    tags: dict[str, str]


class Tracker:
    """The runner's only door to MLflow."""

    def __init__(self, home: Path | None = None) -> None:
        home = home or oncobench_home()
        home.mkdir(parents=True, exist_ok=True)
        self.db = home / "mlflow.db"
        self.artifacts = home / "mlartifacts"
        _check_sqlite(self.db)
        os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # else it prints its schema migration at INFO
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow.tracking import MlflowClient

        try:
            self.client = MlflowClient(tracking_uri=tracking_uri(home))
            self.client.search_experiments(max_results=1)
        except Exception as exc:
            raise TrackingStoreError(f"{self.db}: MLflow cannot open the tracking store ({type(exc).__name__}: "
                                     f"{str(exc)[:200]}); move the file aside and run again") from None

    @staticmethod
    def experiment_name(task: str, dataset_id: str) -> str:
        return f"{task} on {dataset_id}"

    def experiment_id(self, task: str, dataset_id: str, create: bool = True) -> str | None:
        name = self.experiment_name(task, dataset_id)
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        if not create:
            return None
        return self.client.create_experiment(name, artifact_location=(self.artifacts / name.replace(" ", "_")).as_uri(),
                                             tags={"task": task, "dataset": dataset_id})

    def _runs(self, experiment_id: str, filter_string: str) -> list[Any]:
        runs, token = [], None
        while True:
            page = self.client.search_runs([experiment_id], filter_string=filter_string, max_results=5000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def finished(self, task: "Task") -> dict[str, FinishedRun]:
        """Finished job runs of a task by job key (the latest one when a job was forced again)."""
        out: dict[str, FinishedRun] = {}
        for run in self.job_runs(task.name, task.dataset.id):
            m = run.data.metrics
            out[run.data.tags["job_key"]] = FinishedRun(
                run.info.run_id, run.data.tags["job_key"],
                {k[5:]: v for k, v in m.items() if k.startswith("test_")},
                {k[6:]: v for k, v in m.items() if k.startswith("valid_")}, dict(run.data.tags))
        return out

    def close_unfinished(self, task: "Task") -> int:
        """Mark runs left RUNNING by a killed process as KILLED; their jobs run again."""
        exp = self.experiment_id(task.name, task.dataset.id, create=False)
        if exp is None:
            return 0
        stale = self._runs(exp, "attributes.status = 'RUNNING'")
        for run in stale:
            self.client.set_terminated(run.info.run_id, status="KILLED")
        if stale:
            log.warning("%s: %d run(s) left unfinished by an interrupted process marked KILLED; their jobs run again",
                        task.name, len(stale))
        return len(stale)

    def parent(self, task: "Task", model: str) -> str:
        """The (task, model) parent run, created on first use."""
        exp = self.experiment_id(task.name, task.dataset.id)
        found = self._runs(exp, f"tags.oncobench_level = 'model' and tags.model = '{model}'")
        if found:
            return found[0].info.run_id
        run = self.client.create_run(exp, run_name=model, tags={
            "oncobench_level": "model", "task": task.name, "model": model, "dataset": task.dataset.id})
        self.client.set_terminated(run.info.run_id, status="FINISHED")
        return run.info.run_id

    def log_job(self, task: "Task", job: "Job", output: "JobOutput", parent_id: str) -> str:
        """One MLflow run for a finished job: params, test/valid metrics, provenance tags, predictions artifact."""
        from mlflow.entities import Metric, Param

        exp = self.experiment_id(task.name, task.dataset.id)
        now = int(time.time() * 1000)
        res = output.test
        tags = {
            "oncobench_level": "job", "mlflow.parentRunId": parent_id, "job_key": job.key(), "task": task.name,
            "model": job.model, "dataset": task.dataset.id, "dataset_content_sha256": task.dataset.content_hash,
            "split_sha256": res.split_sha256, "predictions_sha256": res.predictions_sha256,
            "config_hash": job.config_hash(task.dataset.id), "evaluator_version": res.evaluator_version,
            **{f"version.{k}": v for k, v in library_versions().items()},
        }
        run = self.client.create_run(exp, run_name=f"{job.model} r{job.repeat} f{job.fold} s{job.seed}", tags=tags)
        rid = run.info.run_id
        params = {"task": task.name, "model": job.model, "repeat": job.repeat, "fold": job.fold, "seed": job.seed,
                  "scheme": task.scheme, "kind": task.kind, "modalities": ",".join(task.modalities)}
        metrics = {f"test_{k}": v for k, v in res.metrics.items()}
        if output.valid is not None:
            metrics |= {f"valid_{k}": v for k, v in output.valid.metrics.items()}
        metrics |= {"n_test": res.n, "fit_seconds": output.fit_seconds, "predict_seconds": output.predict_seconds,
                    "runtime_seconds": output.total_seconds}
        if res.n_events is not None:
            metrics["n_test_events"] = res.n_events
        metrics |= output.extra  # model-reported: parameter count, epochs run, robustness scores
        params |= {f"hp.{k}": v for k, v in output.best_params.items()}  # tuned in the training fold
        if output.n_failed_candidates is not None:
            metrics["tuning_failed_candidates"] = output.n_failed_candidates
        self.client.log_batch(
            rid, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in params.items()], tags=[], synchronous=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "predictions.parquet"
            output.predictions.write_parquet(path)
            self.client.log_artifact(rid, str(path))
        self.client.set_terminated(rid, status="FINISHED")
        return rid

    def log_aggregates(self, parent_id: str, summary: dict[str, dict[str, float]], n_jobs: int) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = []
        for name, s in summary.items():
            for stat in ("mean", "sd", "ci_low", "ci_high"):
                value = s[stat]
                if value == value:  # MLflow stores NaN, but a missing metric reads better than NaN in the UI
                    metrics.append(Metric(f"{name}_{stat}", float(value), now, 0))
        self.client.log_batch(parent_id, metrics=metrics, tags=[RunTag("n_jobs", str(n_jobs))], synchronous=True)

    def job_runs(self, task_name: str, dataset_id: str) -> list[Any]:
        """Finished job runs, the latest per job key (a forced re-run replaces, never doubles, a job)."""
        exp = self.experiment_id(task_name, dataset_id, create=False)
        if exp is None:
            return []
        runs = self._runs(exp, "tags.oncobench_level = 'job' and attributes.status = 'FINISHED'")
        latest = {}
        for run in sorted(runs, key=lambda r: (r.info.start_time, r.info.end_time or 0)):
            latest[run.data.tags["job_key"]] = run
        return list(latest.values())

    def experiments(self) -> Iterable[tuple[str, str]]:
        """(task, dataset) of every experiment in the store."""
        for exp in self.client.search_experiments():
            if "task" in exp.tags:
                yield exp.tags["task"], exp.tags["dataset"]
