"""MLflow tracking: one run per job, one parent run per (task, model) with the aggregates.

The store is a local SQLite file in the OncoBench home (no server). It is created (or its schema upgraded) in a
temporary file under a file lock and renamed into place, since MLflow's SQLite migrations are neither atomic nor
safe when several processes open a fresh store at once. Within a run, only the driver process writes to it;
several runs on one home share it (see ``oncobench.benchmark.claims``). Every run is tagged with the process that
made it, so only runs of dead processes are ever closed as KILLED.
Open the same runs in the MLflow UI with ``mlflow ui --backend-store-uri sqlite:///$ONCOBENCH_HOME/mlflow.db``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from filelock import FileLock

from oncobench.benchmark.claims import ProcessIdentity
from oncobench.datasets.errors import OncoBenchError
from oncobench.datasets.store import oncobench_home

if TYPE_CHECKING:
    import polars as pl

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


STORE_LOCK_SUFFIX = ".lock"  # mlflow.db.lock: held while the store is created or upgraded, and around get-or-create
SETUP_INFIX = ".setup-"  # mlflow.db.setup-<pid>: a store being built or upgraded; never the real one


def store_lock(db: Path) -> FileLock:
    return FileLock(db.with_name(db.name + STORE_LOCK_SUFFIX), thread_local=False)


@lru_cache(maxsize=1)
def _head_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


@lru_cache(maxsize=1)
def _mlflow_tables() -> frozenset[str]:
    """The tables of MLflow's current schema."""
    import mlflow.store.tracking.dbmodels.models  # noqa: F401  (registers the current tables on Base)
    from mlflow.store.db.base_sql_model import Base

    return frozenset(Base.metadata.tables)


@lru_cache(maxsize=1)
def _known_tables() -> frozenset[str]:
    """Every table name an MLflow store of any schema revision starts from or has now."""
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    return _mlflow_tables() | frozenset(InitialBase.metadata.tables) | {"alembic_version"}


@dataclass(frozen=True)
class _StoreState:
    tables: frozenset[str]
    revision: str | None
    runs: int
    experiments: int  # besides MLflow's Default experiment

    @property
    def ready(self) -> bool:
        return self.revision == _head_revision() and _mlflow_tables() <= self.tables


def _store_state(path: Path) -> _StoreState:
    """What an existing SQLite file holds, read without writing to it."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            tables = frozenset(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'"))
            count = lambda query: con.execute(query).fetchone()[0]  # noqa: E731
            revision = count("SELECT max(version_num) FROM alembic_version") if "alembic_version" in tables else None
            runs = count("SELECT count(*) FROM runs") if "runs" in tables else 0
            experiments = count("SELECT count(*) FROM experiments WHERE experiment_id != 0") if "experiments" in tables else 0
    except sqlite3.DatabaseError as exc:
        raise TrackingStoreError(f"{path}: not a readable SQLite database ({exc}); expected the MLflow tracking store. "
                                 f"Move it aside (your runs are in it if it was only truncated) and run again.") from None
    if tables and not tables & _known_tables():
        raise TrackingStoreError(f"{path}: SQLite file without MLflow's runs/experiments tables (found {sorted(tables)[:5]}); "
                                 "expected the MLflow tracking store")
    return _StoreState(tables, revision, runs, experiments)


def _migrate(path: Path, artifacts: Path) -> None:
    """Bring the SQLite file at ``path`` (new, or a copy of the store) to MLflow's current schema.

    MLflow's migrations on SQLite are not transactional (a kill midway leaves a half-migrated file), which is
    why this only ever runs on a file that is not yet the store.
    """
    from mlflow.store.db import utils
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{path}"
    engine = utils.create_sqlalchemy_engine_with_retry(uri)
    try:
        if not utils._all_tables_exist(engine):
            utils._initialize_tables(engine)
        elif utils._get_schema_version(engine) != _head_revision():
            utils._upgrade_db(engine)
    finally:
        engine.dispose()
    store = SqlAlchemyStore(uri, artifacts.as_uri())  # verifies the schema and adds MLflow's Default experiment
    store.engine.dispose()
    SqlAlchemyStore._engine_map.pop(uri, None)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_store(db: Path, artifacts: Path) -> None:
    """Make ``db`` a complete MLflow store, atomically: it either does not exist or is complete.

    The store is built (or an older schema upgraded) in a temporary file beside it, under a file lock, then renamed
    into place: a process killed meanwhile leaves only the temporary file, which the next one removes; concurrent
    first runs wait on the lock, and all but the first find the store ready.
    """
    with store_lock(db):
        for leftover in db.parent.glob(db.name + SETUP_INFIX + "*"):  # a killed setup's; only lock holders make them
            log.info("removing %s, left by an interrupted tracking-store setup", leftover)
            leftover.unlink()
        state = _store_state(db) if db.exists() else None
        if state is not None and state.ready:
            return
        tmp = db.with_name(f"{db.name}{SETUP_INFIX}{os.getpid()}")
        try:
            if state is None or (state.runs == 0 and state.experiments == 0):
                _migrate(tmp, artifacts)
                if state is not None:
                    log.warning("%s: replaced an incomplete tracking store left by an interrupted first-time setup "
                                "(it held no runs)", db)
            else:
                _upgrade_copy(db, tmp, artifacts, state)
            _fsync(tmp)
            os.replace(tmp, db)
            _fsync(db.parent)
            if state is not None:
                _reconnect(db)
        finally:
            for path in (tmp, tmp.with_name(tmp.name + "-journal")):
                path.unlink(missing_ok=True)


def _reconnect(db: Path) -> None:
    """Drop this process's pooled connections to a store file that was just replaced (they hold the old file)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = SqlAlchemyStore._engine_map.get(f"sqlite:///{db}")
    if engine is not None:
        engine.dispose()  # the next checkout opens the path again: the new file


def _known_revision(revision: str | None) -> bool:
    """Whether the installed MLflow's migrations know a schema revision (a newer MLflow's are unknown to it)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
    from mlflow.store.db.utils import _get_alembic_config

    if revision is None:
        return True
    try:
        return ScriptDirectory.from_config(_get_alembic_config(db_url="")).get_revision(revision) is not None
    except CommandError:
        return False


def _upgrade_copy(db: Path, tmp: Path, artifacts: Path, state: _StoreState) -> None:
    """Upgrade a copy of a store made by an older MLflow; the store itself stays as it is if that fails."""
    import mlflow

    kept = f"it holds {state.runs} MLflow run(s) and was left unchanged"
    if not _known_revision(state.revision):
        raise TrackingStoreError(f"{db}: written by a newer MLflow (schema revision {state.revision}, unknown to the "
                                 f"installed mlflow {mlflow.__version__}); {kept}. Install the MLflow that wrote it")
    src, dst = sqlite3.connect(f"file:{db}?mode=ro", uri=True), sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    try:
        _migrate(tmp, artifacts)
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        if "already exists" in error or "duplicate column" in error:  # a step done, but not recorded as done
            raise TrackingStoreError(
                f"{db}: an interrupted MLflow schema upgrade left it half-migrated (at revision {state.revision}): "
                f"upgrading it to {_head_revision()} fails ({error}); {kept}. Restore the copy you took before "
                "upgrading MLflow, or point ONCOBENCH_HOME at a new home to start a new store") from None
        raise TrackingStoreError(f"{db}: MLflow cannot upgrade it from schema revision {state.revision} to "
                                 f"{_head_revision()} ({error}); {kept}") from None
    log.warning("%s: tracking store upgraded from MLflow schema %s to %s", db, state.revision, _head_revision())


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
        self.home = home
        self.db = home / "mlflow.db"
        self.artifacts = home / "mlartifacts"
        os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # else it prints its schema migration at INFO
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow.tracking import MlflowClient

        ensure_store(self.db, self.artifacts)
        self.lock = store_lock(self.db)
        self._mutex = threading.Lock()  # the file lock is per process; this one orders this process's threads
        try:
            self.client = MlflowClient(tracking_uri=tracking_uri(home))
            self.client.search_experiments(max_results=1)
        except Exception as exc:
            raise TrackingStoreError(f"{self.db}: MLflow cannot open the tracking store ({type(exc).__name__}: "
                                     f"{str(exc)[:200]})") from None

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
        with self._mutex, self.lock:  # get-or-create, so two runs on one home make one experiment
            exp = self.client.get_experiment_by_name(name)
            if exp is not None:
                return exp.experiment_id
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
        """Mark runs left RUNNING by a process that is no longer alive as KILLED; their jobs run again.

        A run's process is named by its ``process.*`` tags; a RUNNING run of a live process (another ``oncobench
        run`` on this home) is left alone. Runs made before those tags existed count as left behind.
        """
        exp = self.experiment_id(task.name, task.dataset.id, create=False)
        if exp is None:
            return 0
        stale = []
        for run in self._runs(exp, "attributes.status = 'RUNNING'"):
            owner = ProcessIdentity.from_tags(run.data.tags)
            if owner is None or not owner.is_alive():
                stale.append(run)
        for run in stale:
            self.client.set_terminated(run.info.run_id, status="KILLED")
        if stale:
            log.warning("%s: %d run(s) left unfinished by an interrupted process marked KILLED; their jobs run again",
                        task.name, len(stale))
        return len(stale)

    def finished_job(self, task: "Task", job: "Job", since_ms: int | None = None) -> bool:
        """Whether the job (same config hash) has a FINISHED run, started at or after ``since_ms`` when given."""
        exp = self.experiment_id(task.name, task.dataset.id, create=False)
        if exp is None:
            return False
        query = (f"tags.config_hash = '{job.config_hash(task.dataset.id)}' and tags.oncobench_level = 'job' "
                 "and attributes.status = 'FINISHED'")
        if since_ms is not None:
            query += f" and attributes.start_time >= {since_ms}"
        return bool(self.client.search_runs([exp], filter_string=query, max_results=1))

    def parent(self, task: "Task", model: str) -> str:
        """The (task, model) parent run, created on first use (once, whichever run on this home comes first)."""
        exp = self.experiment_id(task.name, task.dataset.id)
        query = f"tags.oncobench_level = 'model' and tags.model = '{model}'"
        found = self._runs(exp, query)
        if found:
            return found[0].info.run_id
        with self._mutex, self.lock:
            found = self._runs(exp, query)
            if found:
                return found[0].info.run_id
            run = self.client.create_run(exp, run_name=model, tags={
                "oncobench_level": "model", "task": task.name, "model": model, "dataset": task.dataset.id,
                **ProcessIdentity.current().tags()})
            self.client.set_terminated(run.info.run_id, status="FINISHED")
            return run.info.run_id

    def log_frame(self, run_id: str, frame: "pl.DataFrame", name: str) -> None:
        """Upload ``frame`` as the Parquet artifact ``name`` of the run."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            frame.write_parquet(path)
            self.client.log_artifact(run_id, str(path))

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
            **{f"version.{k}": v for k, v in library_versions().items()}, **ProcessIdentity.current().tags(),
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
            from oncobench.baselines.tuning import budget_from_env

            metrics["tuning_failed_candidates"] = output.n_failed_candidates
            params["tuning_budget"] = budget_from_env().key()  # candidates,splits,repeats (the same for every model)
        self.client.log_batch(
            rid, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in params.items()], tags=[], synchronous=True)
        self.log_frame(rid, output.predictions, "predictions.parquet")
        if output.fairness is not None:  # per-subgroup scores (oncobench.benchmark.fairness)
            with tempfile.TemporaryDirectory() as tmp:
                fairness = Path(tmp) / "fairness.json"
                fairness.write_text(json.dumps(output.fairness, indent=1), encoding="utf-8")
                self.client.log_artifact(rid, str(fairness))
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
