"""One job of the grid: fit a model on a split's training patients, predict valid and test, score both."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import polars as pl

from oncobench.baselines.registry import IncompatibleModelError, build_model, parse_model_spec, spec_modalities
from oncobench.benchmark.evaluator import ID, EvaluationResult, evaluation_times, survival_columns
from oncobench.benchmark.imputation import hide
from oncobench.benchmark.tasks import Split, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """(task, model, repeat, fold, seed): the unit the runner schedules, skips and logs."""

    task: str
    model: str
    repeat: int
    fold: int
    seed: int
    dataset: str | None = None
    scheme: str | None = None
    robustness: bool = False  # also score the missing-modality protocol (oncobench.benchmark.robustness)

    def key(self) -> str:
        return f"{self.task}|{self.model}|r{self.repeat}|f{self.fold}|s{self.seed}"

    def config_hash(self, dataset_id: str) -> str:
        """Hash of everything that determines the result (code version aside)."""
        fields = asdict(self)
        if not fields["robustness"]:  # keeps the hashes of runs made before the protocol existed
            del fields["robustness"]
        from oncobench.baselines.tuning import SPACES, budget_from_env

        if self.model.partition(":")[0].partition("/")[0] in SPACES:  # a tuned model: its budget changes the result
            fields["tuning"] = budget_from_env().key()
        payload = json.dumps(fields | {"dataset": dataset_id}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class JobOutput:
    test: EvaluationResult
    valid: EvaluationResult | None
    predictions: pl.DataFrame
    fit_seconds: float
    predict_seconds: float
    total_seconds: float
    extra: dict[str, float] = field(default_factory=dict)
    best_params: dict[str, Any] = field(default_factory=dict)  # hyperparameters chosen by inner-CV tuning
    n_failed_candidates: int | None = None  # tuning candidates skipped for numerical failure (None: not tuned)
    fairness: dict[str, Any] | None = None  # per-subgroup scores (oncobench.benchmark.fairness), logged as fairness.json


def model_inputs(task: Task, model: str) -> tuple[str, ...]:
    """The task modalities a model spec reads.

    ``NAME/MOD1+MOD2`` reads exactly those (each must be offered by the task); otherwise a clinical-only
    reference reads ``clinical``, a model that reads clinical covariates (``clinical-fusion``) reads the task's
    default inputs plus ``clinical``, and every other model the default inputs (:attr:`Task.inputs`).
    """
    info, _ = parse_model_spec(model)
    named = spec_modalities(model)
    if named is not None:
        unknown = [m for m in named if m not in task.modalities]
        if unknown:
            raise IncompatibleModelError(f"model spec {model!r}: task {task.name} does not offer {unknown} on "
                                         f"{task.dataset.id} (it offers {list(task.modalities)})")
        outside = [m for m in named if info.modalities is not None and m not in info.modalities]
        if outside:
            raise IncompatibleModelError(f"model spec {model!r}: {info.name} reads only {list(info.modalities)}, not {outside}")
        return named
    if info.modalities is not None:
        used = tuple(m for m in info.modalities if m in task.modalities)
        if not used:
            raise IncompatibleModelError(f"model {info.name!r} reads {list(info.modalities)}, which task {task.name} "
                                         f"does not provide (it offers {list(task.modalities)})")
        return used
    if info.reads_clinical:
        if "clinical" not in task.modalities:
            raise IncompatibleModelError(f"model {info.name!r} needs ['clinical'] beside the task's inputs, which task "
                                         f"{task.name} does not provide on {task.dataset.id} (it offers {list(task.modalities)})")
        return task.inputs + (() if "clinical" in task.inputs else ("clinical",))
    return task.inputs


def model_matrices(task: Task, ids: tuple[str, ...], modalities: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The patients' matrices of the modalities a model reads, in ``ids`` order (NaN rows: not measured)."""
    return {m: block.values for m, block in task.features(ids, modalities).items()}


def prediction_frame(task: Task, model: Any, X: Mapping[str, np.ndarray], ids: tuple[str, ...],
                     times: np.ndarray | None = None) -> pl.DataFrame:
    """A fitted model's outputs as the evaluator's table for ``ids``."""
    frame: dict[str, Any] = {ID: list(ids)}
    if task.kind in ("classification", "binary"):
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        classes = [str(c) for c in model.classes_]
        for c in task.classes:  # a class the training fold lacked gets probability 0
            frame[f"proba_{c}"] = proba[:, classes.index(c)] if c in classes else np.zeros(len(ids))
        total = sum(frame[f"proba_{c}"] for c in task.classes)
        for c in task.classes:
            frame[f"proba_{c}"] = frame[f"proba_{c}"] / total
    elif task.kind == "survival":
        frame["risk"] = np.asarray(model.predict(X), dtype=np.float64)
        if times is not None and len(times) and hasattr(model, "predict_survival"):
            surv = np.asarray(model.predict_survival(X, times), dtype=np.float64)
            for j, name in enumerate(survival_columns(times)):
                frame[name] = surv[:, j]
    elif task.kind == "clustering":
        frame["cluster"] = np.asarray(model.predict(X)).astype(np.int64)
    else:
        pred = np.asarray(model.predict(X), dtype=np.float64)
        for j, name in enumerate(task.target_features):
            frame[name] = pred[:, j]
    return pl.DataFrame(frame)


def fit_target(task: Task, ids: tuple[str, ...]) -> Any:
    """The target a model is fitted on (translation: an unmeasured value is the training mean)."""
    y = task.target(ids)
    if task.kind == "translation":  # an unmeasured target value is learned from the training mean, never 0
        y = np.where(np.isnan(y), np.nanmean(y, axis=0), y)
    return y


@dataclass(frozen=True)
class Predicted:
    """A fitted job's predictions, before scoring."""

    split: Split
    test: pl.DataFrame
    valid: pl.DataFrame | None
    valid_split: Split | None
    fit_seconds: float
    predict_seconds: float
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)
    robustness: dict[str, pl.DataFrame] = field(default_factory=dict)
    best_params: dict[str, Any] = field(default_factory=dict)
    n_failed_candidates: int | None = None


MODEL_FIGURES = {"n_params": "n_params_", "epochs_run": "epochs_run_", "train_seconds": "train_seconds_"}  # logged when a fitted model has them


def fit_predict(task: Task, job: Job) -> Predicted:
    """Fit on the training patients; predict the test (and validation) patients."""
    start = time.perf_counter()
    split: Split = task.get_split(job.fold, job.repeat)
    inputs = model_inputs(task, job.model)
    context = {"n_clusters": task.n_clusters} if task.kind == "clustering" else {}
    model = build_model(job.model, task.kind, job.seed, **context)
    X_train = model_matrices(task, split.train, inputs)
    y_train = fit_target(task, split.train)
    fit_kwargs = {}
    if split.valid and "X_valid" in inspect.signature(model.fit).parameters:
        # models that early-stop get the validation fold, never the test fold
        fit_kwargs = {"X_valid": model_matrices(task, split.valid, inputs), "y_valid": fit_target(task, split.valid)}
    t0 = time.perf_counter()
    model.fit(X_train, y_train, **fit_kwargs)
    fit_seconds = time.perf_counter() - t0
    times = evaluation_times(task, split) if task.kind == "survival" else None
    X_test = model_matrices(task, split.test, inputs)
    if task.kind == "imputation":  # the imputer sees each test patient's observed entries only
        X_test = hide(task, split, split.test, X_test)
    t0 = time.perf_counter()
    test_frame = prediction_frame(task, model, X_test, split.test, times)
    predict_seconds = time.perf_counter() - t0
    valid_frame = valid_split = None
    if split.valid:
        valid_split = Split(split.task, split.scheme, split.repeat, split.fold, split.train, (), split.valid, split.sha256)
        try:
            valid_times = evaluation_times(task, valid_split) if task.kind == "survival" else None
            X_valid = model_matrices(task, split.valid, inputs)
            if task.kind == "imputation":
                X_valid = hide(task, valid_split, split.valid, X_valid)
            valid_frame = prediction_frame(task, model, X_valid, split.valid, valid_times)
        except ValueError as exc:  # e.g. no event in a small validation fold: no time grid
            log.info("%s: no validation predictions (%s)", job.key(), exc)
    extra = {name: float(getattr(model, attr)) for name, attr in MODEL_FIGURES.items() if hasattr(model, attr)}
    robust = {}
    if job.robustness and task.kind != "clustering":
        from oncobench.benchmark.robustness import conditions

        robust = {name: prediction_frame(task, model, X, split.test, times)
                  for name, X in conditions(X_test, job.seed).items()}
    best_params = dict(getattr(model, "best_params_", None) or {})
    failed = getattr(model, "n_failed_candidates_", None)
    return Predicted(split, test_frame, valid_frame, valid_split, fit_seconds, predict_seconds,
                     time.perf_counter() - start, extra, robust, best_params, None if failed is None else int(failed))


def score(task: Task, job: Job, predicted: Predicted) -> JobOutput:
    """Evaluate a job's test (and validation) predictions."""
    start = time.perf_counter()
    test_result = task.evaluate(predicted.test, split=predicted.split)
    valid_result = None
    if predicted.valid is not None:
        try:
            valid_result = task.evaluate(predicted.valid, split=predicted.valid_split)
        except ValueError as exc:  # a small validation fold may have no events or one class: undefined
            log.info("%s: validation metrics undefined (%s)", job.key(), exc)
    extra = dict(predicted.extra)
    if predicted.robustness:
        from oncobench.benchmark.robustness import score_conditions

        extra |= score_conditions(task, predicted.robustness, predicted.split)
    fairness = None
    if task.kind in ("classification", "binary", "survival"):
        from oncobench.benchmark.fairness import job_fairness, job_fairness_metrics

        try:
            fairness = job_fairness(task, predicted.split, predicted.test)
            extra |= job_fairness_metrics(fairness)
        except (ValueError, KeyError) as exc:  # a dataset without the attributes must not fail the job
            log.warning("%s: no fairness table (%s)", job.key(), exc)
    total = predicted.seconds + time.perf_counter() - start
    return JobOutput(test_result, valid_result, predicted.test, predicted.fit_seconds, predicted.predict_seconds, total,
                     extra, predicted.best_params, predicted.n_failed_candidates, fairness)


def run_job(task: Task, job: Job) -> JobOutput:
    """Fit on train, predict valid (when the scheme has one) and test, evaluate both."""
    return score(task, job, fit_predict(task, job))
