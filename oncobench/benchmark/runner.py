"""The benchmark runner: tasks x models x folds x seeds, one MLflow run per job, aggregates per (task, model).

Finished jobs are skipped on re-run (matched by job key and config hash); ``force`` runs them again; runs
left behind by a killed process are marked KILLED and re-run. Jobs fit and predict in this process or, with
``n_jobs > 1``, in worker processes (joblib); scoring and logging happen in one writer thread of this process.

Several runs on one home cooperate: each job is claimed (``oncobench.benchmark.claims``) just before it is
dispatched, so two runs split a grid instead of both running it; a run then waits for the jobs another live run
holds (and takes over those of a run that died), so that its aggregates are written once every fold exists.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from oncobench.baselines.registry import IncompatibleModelError, parse_model_spec
from oncobench.benchmark.aggregate import summarize_metrics
from oncobench.benchmark.job import Job, Predicted, fit_predict, model_inputs, score
from oncobench.benchmark.tasks import Task

if TYPE_CHECKING:
    from tqdm import tqdm

    from oncobench.benchmark.claims import JobClaims, ProcessIdentity
    from oncobench.benchmark.tracking import Tracker

log = logging.getLogger(__name__)

CLAIM_POLL_S = 1.0  # how often a run waiting for another run's jobs looks again


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
    negative = {"classification": "prior", "binary": "prior", "survival": "km", "imputation": "impute-mean"}.get(task.kind, "random")
    reference, why = task.clinical_reference()
    if reference is None:
        log.warning("task %s: no clinical reference runs beside its models: %s", task.name, why)
        return [negative]
    return [negative, reference]


# A task this small gets every repeat of its split scheme by default (repeated CV): one 5-fold pass over fewer
# than ~100 events moves the mean C by several hundredths from one fold draw to the next (issue 11).
SMALL_EVENTS = 100
SMALL_PATIENTS = 200


def small_task(task: Task) -> str | None:
    """Why ``task`` counts as small (fewer than SMALL_EVENTS events, or SMALL_PATIENTS patients), else None."""
    if task.kind == "survival":
        events = int(task.target(task.patients)["event"].sum())
        if events < SMALL_EVENTS:
            return f"{events} events"
    if len(task.patients) < SMALL_PATIENTS:
        return f"{len(task.patients)} patients"
    return None


def default_repeats(task: Task) -> tuple[int, ...]:
    """Repeat 0, or every repeat of the task's scheme when the task is small (:func:`small_task`)."""
    repeats = tuple(sorted({r for r, _ in task.folds}))
    if len(repeats) > 1 and small_task(task):
        return repeats
    return repeats[:1]


def plan(tasks: Sequence[Task], models: Sequence[str], seeds: Sequence[int] = (0,), folds: Sequence[int] | None = None,
         repeats: Sequence[int] | None = (0,), controls: bool = True, robustness: bool | None = None) -> list[tuple[Task, Job]]:
    """Every (task, job) of the grid; unknown or incompatible models raise before anything runs.

    ``repeats=None``: each task's :func:`default_repeats` (repeated CV for a small task). ``robustness``: score
    the missing-modality protocol (default: for the deep models, which handle missing modalities natively or by
    masks).
    """
    from oncobench.baselines.registry import DEEP_MODELS

    jobs = []
    asked = repeats
    for task in tasks:
        repeats = default_repeats(task) if asked is None else asked
        if asked is None and len(repeats) > 1:
            log.info("task %s is small (%s): every repeat of scheme %s (%d x %d folds; --repeats 0 for one)",
                     task.name, small_task(task), task.scheme, len(repeats), len({f for _, f in task.folds}))
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
                robust = robustness if robustness is not None else parse_model_spec(name)[0].name in DEEP_MODELS
                robust = robust and len(model_inputs(task, name)) > 1 and task.kind != "clustering"
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
             folds: Sequence[int] | None = None, repeats: Sequence[int] | None = (0,), n_jobs: int = 1, force: bool = False,
             controls: bool = True, progress: bool = True, home: Path | None = None, executor: str = "local",
             address: str | None = None, robustness: bool | None = None) -> RunReport:
    """Run (or resume) the grid and log every job; returns what ran, was skipped or failed."""
    from tqdm.auto import tqdm

    from oncobench.benchmark.claims import JobClaims
    from oncobench.benchmark.tracking import Tracker

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    grid = plan(tasks, models, seeds, folds, repeats, controls, robustness)
    started_ms = int(time.time() * 1000)  # with force, a job finished by another run after this counts as done
    tracker = Tracker(home)
    claims = JobClaims(tracker.home)
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
    writer = _Writer(tracker, by_name, report, claims)
    gate = _ClaimGate(tracker, claims, by_name, report, bar, started_ms if force else None)
    try:
        pending = todo
        while pending:
            for job, predicted, error in _execute(gate.claimed(pending), by_name, n_jobs, executor, address):
                bar.update(1)
                if error is not None:
                    claims.release(job.config_hash(by_name[job.task].dataset.id))
                    report.failed.append((job.key(), error))
                    log.error("job %s failed: %s", job.key(), error)
                    continue
                writer.put(job, predicted)
            pending = gate.wait_for_held()
    finally:
        writer.close()  # everything fitted so far is scored and logged, even on Ctrl-C
        claims.release_all()
        bar.close()
    _log_aggregates(tracker, tasks, grid)
    return report


class _ClaimGate:
    """Lets a job through to the executor only once this process has claimed it and no run has finished it.

    Jobs held by another live run are set aside; ``wait_for_held`` waits until their holders let go (finished,
    failed or died), then hands them back to be tried again.
    """

    def __init__(self, tracker: "Tracker", claims: "JobClaims", tasks: dict[str, Task], report: RunReport, bar: "tqdm",
                 since_ms: int | None) -> None:
        self.tracker, self.claims, self.tasks, self.report, self.bar = tracker, claims, tasks, report, bar
        self.since_ms = since_ms
        self.held: list[tuple[Job, "ProcessIdentity"]] = []
        self._taken_over = 0
        self._mutex = threading.Lock()  # joblib may pull jobs from another thread

    def claimed(self, jobs: Iterable[Job]) -> Iterator[Job]:
        self.held = []
        for job in jobs:
            task = self.tasks[job.task]
            config_hash = job.config_hash(task.dataset.id)
            holder = self.claims.claim(job.key(), config_hash)
            if holder is not None:
                self.held.append((job, holder))
                continue
            if self.claims.taken_over > self._taken_over:  # a dead run's claim: close the run it left half-logged
                self._taken_over = self.claims.taken_over
                self.tracker.close_unfinished(task)
            if self.tracker.finished_job(task, job, self.since_ms):  # another run finished it since we looked
                self.claims.release(config_hash)
                with self._mutex:
                    self.report.skipped += 1
                    self.bar.update(1)
                continue
            yield job

    def wait_for_held(self) -> list[Job]:
        """The held jobs, once at least one of them is no longer held by a live run ([] when none were held)."""
        if not self.held:
            return []
        holders = sorted({holder for _, holder in self.held}, key=lambda h: (h.host, h.pid))
        remote = [h for h in holders if h.host != self.claims.me.host]
        hint = (f" (a run on another host cannot be checked from here: if it is gone, delete its claim files in "
                f"{self.claims.dir})") if remote else ""
        log.warning("%d job(s) of this grid held by another run (%s); waiting for them, so that the aggregates "
                    "cover every fold%s", len(self.held), "; ".join(h.describe() for h in holders), hint)
        while all(self.claims.holder(job.config_hash(self.tasks[job.task].dataset.id)) is not None
                  for job, _ in self.held):
            time.sleep(CLAIM_POLL_S)
        return [job for job, _ in self.held]


class _Writer:
    """Scores finished jobs and logs them to MLflow in one background thread, while the next job fits.

    One thread, so the tracking store still has a single writer; a job counts as done only once its
    run is logged FINISHED.
    """

    def __init__(self, tracker: "Tracker", tasks: dict[str, Task], report: RunReport, claims: "JobClaims") -> None:
        self.tracker, self.tasks, self.report, self.claims = tracker, tasks, report, claims
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
                self.claims.release(job.config_hash(task.dataset.id))
                self.report.failed.append((job.key(), f"{type(exc).__name__}: {exc}"))
                log.error("job %s failed: %s", job.key(), exc)
                continue
            key = (job.task, job.model)
            if key not in self.parents:
                self.parents[key] = self.tracker.parent(task, job.model)
            self.tracker.log_job(task, job, output, self.parents[key])
            self.claims.release(job.config_hash(task.dataset.id))  # only once its run is FINISHED
            self.report.ran += 1


EXECUTORS = ("local", "ray")


def _execute(todo: Iterable[Job], tasks: dict[str, Task], n_jobs: int, executor: str = "local",
             address: str | None = None) -> Iterable[tuple[Job, Predicted | None, str | None]]:
    """Fit and predict each job as ``todo`` yields it (joblib pulls a few ahead; Ray takes them all at once)."""
    if executor == "ray":
        yield from _execute_ray(list(todo), tasks, address)
        return
    if n_jobs <= 1:
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
            runs = [r for r in finished.values() if r.tags.get("model") == model]
            if runs:
                units = [tuple(r.job_key.rsplit("|", 3)[1:3]) for r in runs]  # (r<repeat>, f<fold>): seeds share a fold
                tracker.log_aggregates(tracker.parent(task, model), summarize_metrics([r.test for r in runs], units),
                                       len(runs))


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
