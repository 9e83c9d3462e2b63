"""The benchmark runner: tasks x models x folds x seeds, one MLflow run per job, aggregates per (task, model).

Finished jobs are skipped on re-run (matched by job key and config hash); ``force`` runs them again; runs
left behind by a killed process are marked KILLED and re-run. Jobs fit and predict in this process or, with
``n_jobs > 1``, in worker processes (joblib); scoring and logging happen in one writer thread of this process,
the only writer of the tracking store.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from oncobench.baselines.registry import IncompatibleModelError, parse_model_spec
from oncobench.benchmark.aggregate import summarize_metrics
from oncobench.benchmark.job import Job, Predicted, fit_predict, model_inputs, score
from oncobench.benchmark.tasks import Task

if TYPE_CHECKING:
    from oncobench.benchmark.tracking import Tracker

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    planned: int = 0
    skipped: int = 0
    ran: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)


def controls_for(task: Task) -> list[str]:
    """The negative control and the clinical reference shown beside every result of a task.

    A task without a usable clinical reference (no clinical covariates, no reference model for its kind, a
    fold without clinical training data) is said so in a warning, never passed over in silence.
    """
    negative = {"classification": "prior", "binary": "prior", "survival": "km"}.get(task.kind, "random")
    reference, why = task.clinical_reference()
    if reference is None:
        log.warning("task %s: no clinical reference runs beside its models: %s", task.name, why)
        return [negative]
    return [negative, reference]


def plan(tasks: Sequence[Task], models: Sequence[str], seeds: Sequence[int] = (0,), folds: Sequence[int] | None = None,
         repeats: Sequence[int] = (0,), controls: bool = True, robustness: bool | None = None) -> list[tuple[Task, Job]]:
    """Every (task, job) of the grid; unknown or incompatible models raise before anything runs.

    ``robustness``: score the missing-modality protocol (default: for the deep models, which handle missing
    modalities natively or by masks).
    """
    from oncobench.baselines.registry import DEEP_MODELS

    jobs = []
    for task in tasks:
        names = list(models) + ([c for c in controls_for(task) if c not in models] if controls else [])
        for name in names:
            info, _ = parse_model_spec(name)
            if task.kind not in info.kinds:
                raise IncompatibleModelError(f"model {info.name!r} supports {', '.join(info.kinds)} tasks; "
                                             f"task {task.name} is {task.kind}")
            model_inputs(task, name)
        available = task.folds
        for name in names:
            for repeat in repeats:
                task_folds = [f for r, f in available if r == repeat]
                if not task_folds:
                    raise ValueError(f"task {task.name}: no repeat {repeat}; it has repeats {sorted({r for r, _ in available})}")
                chosen = task_folds if folds is None else list(folds)
                unknown = sorted(set(chosen) - set(task_folds))
                if unknown:
                    raise ValueError(f"task {task.name}: no folds {unknown} in repeat {repeat}; it has {task_folds}")
                robust = robustness if robustness is not None else name.partition(":")[0] in DEEP_MODELS
                robust = robust and len(task.modalities) > 1 and task.kind != "clustering"
                for fold in chosen:
                    for seed in seeds:
                        jobs.append((task, Job(task.name, name, repeat, fold, seed, task.dataset.id, task.scheme, robust)))
    return jobs


@lru_cache(maxsize=16)
def _worker_task(name: str, dataset_path: str, scheme: str) -> Task:
    """The task rebuilt in a worker process from the very dataset folder the driver opened."""
    from dataclasses import replace

    from oncobench.benchmark.tasks import task_spec
    from oncobench.datasets.dataset import Dataset

    spec = task_spec(name)
    return Task(spec if spec.scheme == scheme else replace(spec, scheme=scheme), Dataset(dataset_path))


def _work(job: Job, task: Task | None = None, dataset_path: str = "") -> tuple[Job, Predicted | None, str | None]:
    try:
        task = task or _worker_task(job.task, dataset_path, job.scheme)
        return job, fit_predict(task, job), None
    except Exception as exc:  # one failing job must not stop the grid; it is reported and exits non-zero
        log.debug("job %s failed", job.key(), exc_info=True)
        return job, None, f"{type(exc).__name__}: {exc}"


def run_grid(tasks: Sequence[Task], models: Sequence[str], *, seeds: Sequence[int] = (0,),
             folds: Sequence[int] | None = None, repeats: Sequence[int] = (0,), n_jobs: int = 1, force: bool = False,
             controls: bool = True, progress: bool = True, home: Path | None = None, executor: str = "local",
             address: str | None = None, robustness: bool | None = None) -> RunReport:
    """Run (or resume) the grid and log every job; returns what ran, was skipped or failed."""
    from tqdm.auto import tqdm

    from oncobench.benchmark.tracking import Tracker

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    grid = plan(tasks, models, seeds, folds, repeats, controls, robustness)
    tracker = Tracker(home)
    report = RunReport(planned=len(grid), tasks=list(tasks))
    todo: list[Job] = []
    by_name = {t.name: t for t in tasks}
    for task in tasks:
        tracker.close_unfinished(task)
    done = {t.name: tracker.finished(t) for t in tasks}
    for task, job in grid:
        prior = done[task.name].get(job.key())
        if prior is not None and not force and prior.tags.get("config_hash") == job.config_hash(task.dataset.id):
            report.skipped += 1
        else:
            todo.append(job)
    if report.skipped:
        log.info("%d of %d jobs already finished; skipped (use --force to run them again)", report.skipped, len(grid))
    bar = tqdm(total=len(todo), desc="benchmark", unit="job", disable=not progress)
    writer = _Writer(tracker, by_name, report)
    try:
        for job, predicted, error in _execute(todo, by_name, n_jobs, executor, address):
            bar.update(1)
            if error is not None:
                report.failed.append((job.key(), error))
                log.error("job %s failed: %s", job.key(), error)
                continue
            writer.put(job, predicted)
    finally:
        writer.close()  # everything fitted so far is scored and logged, even on Ctrl-C
        bar.close()
    _log_aggregates(tracker, tasks, grid)
    return report


class _Writer:
    """Scores finished jobs and logs them to MLflow in one background thread, while the next job fits.

    One thread, so the tracking store still has a single writer; a job counts as done only once its
    run is logged FINISHED.
    """

    def __init__(self, tracker: "Tracker", tasks: dict[str, Task], report: RunReport) -> None:
        self.tracker, self.tasks, self.report = tracker, tasks, report
        self.parents: dict[tuple[str, str], str] = {}
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="oncobench-mlflow-writer", daemon=True)
        self.thread.start()

    def put(self, job: Job, predicted: Predicted) -> None:
        self.queue.put((job, predicted))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            job, predicted = item
            task = self.tasks[job.task]
            try:
                output = score(task, job, predicted)
            except Exception as exc:  # a refused prediction fails this job only
                self.report.failed.append((job.key(), f"{type(exc).__name__}: {exc}"))
                log.error("job %s failed: %s", job.key(), exc)
                continue
            key = (job.task, job.model)
            if key not in self.parents:
                self.parents[key] = self.tracker.parent(task, job.model)
            self.tracker.log_job(task, job, output, self.parents[key])
            self.report.ran += 1


EXECUTORS = ("local", "ray")


def _execute(todo: list[Job], tasks: dict[str, Task], n_jobs: int, executor: str = "local",
             address: str | None = None) -> Iterable[tuple[Job, Predicted | None, str | None]]:
    if executor == "ray":
        yield from _execute_ray(todo, tasks, address)
        return
    if n_jobs <= 1 or len(todo) <= 1:
        for job in todo:
            yield _work(job, tasks[job.task])
        return
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_work)(job, None, str(tasks[job.task].dataset.path)) for job in todo)


def _log_aggregates(tracker: "Tracker", tasks: Sequence[Task], grid: list[tuple[Task, Job]]) -> None:
    for task in tasks:
        finished = tracker.finished(task)
        for model in sorted({job.model for t, job in grid if t is task}):
            rows = [r.test for key, r in finished.items() if r.tags.get("model") == model]
            if rows:
                tracker.log_aggregates(tracker.parent(task, model), summarize_metrics(rows), len(rows))


def _execute_ray(todo: list[Job], tasks: dict[str, Task], address: str | None) -> Iterable[tuple[Job, Predicted | None, str | None]]:
    """Each job as a Ray task; workers read the dataset folder by path (shared or network storage on a cluster).

    Results (predictions, small) come back to this process, which scores and logs them like local jobs,
    so metrics are identical to the local executor's for the same seeds.
    """
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install 'oncobench[ray]'") from None
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(_work)
        pending = {remote.remote(job, None, str(tasks[job.task].dataset.path)): job for job in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # a lost worker or node: this job fails, the grid goes on
                    yield job, None, f"{type(exc).__name__}: {exc}"
    finally:
        if started:
            ray.shutdown()
