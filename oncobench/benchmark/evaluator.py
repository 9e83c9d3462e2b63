"""The evaluator: checks predictions against a task's split, scores them, returns an immutable result.

Predictions are tables keyed by ``patient_id`` (never matched by position):

- classification / binary: one ``proba_<class>`` column per task class, each row in [0, 1] summing to 1;
- survival: ``risk`` (higher = worse) and optionally ``surv_<t>`` survival probabilities at the split's
  evaluation times (:func:`survival_columns`), which add the integrated Brier score; the time-dependent AUC at
  1, 3 and 5 years (``td_auc_1y`` ...) is added where the endpoint's unit is known and the fold's follow-up
  allows it;
- clustering: ``cluster`` (integer);
- translation: one column per target feature;
- imputation: one column per target feature, the test patients' whole matrix with the hidden entries filled
  (only the hidden entries are scored, see :mod:`oncobench.benchmark.imputation`).

Survival metrics that need the censoring distribution (IPCW) take the training outcomes from the split,
never from the caller.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import polars as pl

from oncobench.benchmark.metrics.imputation import imputation_metrics, training_scale
from oncobench.datasets.errors import OncoBenchError

if TYPE_CHECKING:
    from oncobench.benchmark.tasks import Split, Task

log = logging.getLogger(__name__)

EVALUATOR_VERSION = "1.0"
ID = "patient_id"
PROBA_TOLERANCE = 1e-6


class PredictionError(OncoBenchError, ValueError):
    """Predictions the evaluator refuses; subclasses name the problem."""


class MissingIDError(PredictionError):
    pass


class ExtraIDError(PredictionError):
    pass


class DuplicateIDError(PredictionError):
    pass


class NonFiniteError(PredictionError):
    pass


class ProbabilityError(PredictionError):
    pass


class ColumnError(PredictionError):
    pass


class ConstantRiskError(PredictionError):
    pass


@dataclass(frozen=True)
class EvaluationResult:
    """One scored fold: metrics plus everything needed to say what exactly was scored."""

    task: str
    kind: str
    dataset: str
    scheme: str
    repeat: int
    fold: int
    split_sha256: str
    predictions_sha256: str
    evaluator_version: str
    n: int
    n_events: int | None
    primary: str
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))

    def __reduce__(self) -> tuple:  # MappingProxyType does not pickle; jobs cross process boundaries
        values = {k: getattr(self, k) for k in self.__dataclass_fields__} | {"metrics": dict(self.metrics)}
        return (_rebuild_result, (values,))

    @property
    def score(self) -> float:
        return self.metrics[self.primary]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"metrics": dict(self.metrics)}


def _rebuild_result(values: dict[str, Any]) -> "EvaluationResult":
    return EvaluationResult(**values)


def survival_columns(times: np.ndarray) -> list[str]:
    """Names of the optional survival-probability columns for evaluation times ``times``."""
    return [f"surv_{t:g}" for t in times]


def evaluation_times(task: "Task", split: "Split") -> np.ndarray:
    """The split's fixed time grid for time-dependent AUC and the integrated Brier score."""
    from oncobench.benchmark.metrics.survival import evaluation_times as grid

    train_event, train_time = task.outcome(split.train)
    test_event, test_time = task.outcome(split.test)
    return grid(train_time, train_event, test_time, test_event)


def survival_horizons(task: "Task") -> dict[str, float]:
    """``td_auc_1y/3y/5y`` horizons in the task endpoint's time unit (none when the manifest declares no unit)."""
    from oncobench.benchmark.metrics.survival import clinical_horizons

    unit = (task.endpoint or {}).get("unit")
    horizons = clinical_horizons(unit)
    if not horizons:
        log.info("task %s: endpoint time unit %r unknown: no time-dependent AUC at 1, 3, 5 years", task.name, unit)
    return horizons


def input_schema(task: "Task", split: "Split | None" = None) -> dict[str, Any]:
    """Machine-readable description of the predictions this task accepts."""
    schema: dict[str, Any] = {"task": task.name, "kind": task.kind, "id_column": ID, "evaluator_version": EVALUATOR_VERSION,
                              "rows": "exactly the split's test patients, once each"}
    if task.kind in ("classification", "binary"):
        schema["required"] = {f"proba_{c}": "float in [0, 1]" for c in task.classes}
        schema["constraints"] = [f"each row's probabilities sum to 1 (tolerance {PROBA_TOLERANCE})"]
    elif task.kind == "survival":
        schema["required"] = {"risk": "float, higher = worse prognosis, not constant"}
        if split is not None:
            schema["optional"] = {c: "float in [0, 1]: P(survival beyond t)" for c in survival_columns(evaluation_times(task, split))}
        else:
            schema["optional"] = {"surv_<t>": "survival probabilities at the split's evaluation times (see input_schema(task, split))"}
    elif task.kind == "clustering":
        schema["required"] = {"cluster": "integer cluster label"}
    else:
        schema["required"] = {f: "float" for f in task.target_features}
    schema["all_values"] = "finite (no NaN or Inf)"
    return schema


def _as_polars(predictions: Any) -> pl.DataFrame:
    import pyarrow as pa

    if isinstance(predictions, pl.DataFrame):
        return predictions
    try:
        if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):  # pandas
            # patient_id as a column: drop the positional index; as the index: make it the column
            return pl.from_pandas(predictions.reset_index(drop=ID in predictions.columns))
        if isinstance(predictions, Mapping):
            return pl.DataFrame(dict(predictions))
    except pl.exceptions.ShapeError:
        lengths = {str(k): len(v) if hasattr(v, "__len__") else 1 for k, v in predictions.items()}
        raise ColumnError(f"prediction columns differ in length {lengths}; expected one value per patient in every column") from None
    except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, OverflowError) as exc:  # e.g. a pandas column mixing text and numbers, or an integer beyond int64
        raise ColumnError(f"predictions cannot be read as a table of typed columns: {exc}") from None
    raise PredictionError(f"predictions must be a polars/pandas DataFrame or a mapping of columns; got {type(predictions).__name__}")


def predictions_sha256(frame: pl.DataFrame) -> str:
    """sha256 of the predictions in canonical form (rows by patient ID, columns by name), whatever the input order."""
    canon = frame.select(sorted(frame.columns)).sort(ID)
    buf = io.BytesIO()
    canon.write_csv(buf, float_precision=17)
    return hashlib.sha256(buf.getvalue()).hexdigest()


def check_predictions(task: "Task", frame: pl.DataFrame, split: "Split") -> pl.DataFrame:
    """Refuse malformed predictions; return them aligned to the sorted test IDs."""
    if ID not in frame.columns:
        raise ColumnError(f"predictions have no {ID!r} column; found {frame.columns[:8]}")
    frame = frame.with_columns(pl.col(ID).cast(pl.String))
    ids = frame[ID].to_list()
    dup = frame.group_by(ID).len().filter(pl.col("len") > 1)
    if dup.height:
        raise DuplicateIDError(f"{dup.height} patient IDs appear more than once, e.g. {sorted(dup[ID].to_list())[:3]}")
    expected = set(split.test)
    missing = sorted(expected - set(ids))
    if missing:
        raise MissingIDError(f"{len(missing)} test patients have no prediction, e.g. {missing[:3]}")
    extra = sorted(set(ids) - expected)
    if extra:
        raise ExtraIDError(f"{len(extra)} IDs are not test patients of {task.name} repeat {split.repeat} fold {split.fold}, e.g. {extra[:3]}")
    schema = input_schema(task)
    required = list(schema["required"])
    absent = [c for c in required if c not in frame.columns]
    if task.kind in ("classification", "binary"):
        found = sorted(c for c in frame.columns if c.startswith("proba_"))
        if absent or len(found) != len(required):
            raise ColumnError(f"class columns {found} do not match the task's classes; expected exactly {required}")
    elif absent:
        raise ColumnError(f"missing columns {absent[:5]}{' ...' if len(absent) > 5 else ''}; expected {required[:5]}{' ...' if len(required) > 5 else ''}")
    allowed = set(required) | {ID}
    if task.kind == "survival" and any(c.startswith("surv_") for c in frame.columns):
        # only the split's own evaluation times: other surv_<t> columns would be silently left out of the IBS
        surv_cols = survival_columns(evaluation_times(task, split))
        given = [c for c in surv_cols if c in frame.columns]
        if given and len(given) < len(surv_cols):
            raise ColumnError(f"survival probability columns {[c for c in surv_cols if c not in given]} are missing; "
                              f"give all of {surv_cols} or none")
        allowed |= set(surv_cols)
    unknown = [c for c in frame.columns if c not in allowed]
    if unknown:
        raise ColumnError(f"unexpected columns {unknown[:5]}; the task takes {ID}, {required[:5]}"
                          + (" and surv_<t> at the split's evaluation times (input_schema(task, split))"
                             if task.kind == "survival" else ""))
    frame = frame.sort(ID)
    value_cols = [c for c in frame.columns if c != ID]
    for c in value_cols:
        if not frame[c].dtype.is_numeric():
            raise ColumnError(f"column {c!r} holds {frame[c].dtype}, expected numbers")
        values = frame[c].cast(pl.Float64).to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise NonFiniteError(f"column {c!r} has {int(bad.sum())} NaN/Inf values, e.g. patient {frame[ID][row]} ({values[row]})")
    if task.kind in ("classification", "binary"):
        proba = frame.select(required).to_numpy().astype(np.float64)
        out = (proba < 0) | (proba > 1)
        if out.any():
            r, c = np.argwhere(out)[0]
            raise ProbabilityError(f"probability {proba[r, c]} of patient {frame[ID][int(r)]} in {required[c]!r} is outside [0, 1]")
        sums = proba.sum(axis=1)
        off = np.abs(sums - 1) > PROBA_TOLERANCE
        if off.any():
            r = int(np.flatnonzero(off)[0])
            raise ProbabilityError(f"probabilities of patient {frame[ID][r]} sum to {sums[r]!r}, expected 1 (tolerance {PROBA_TOLERANCE})")
    if task.kind == "clustering" and frame["cluster"].dtype.is_float():
        values = frame["cluster"].to_numpy()
        bad = (values != np.round(values)) | (np.abs(values) >= 2.0**63)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ColumnError(f"cluster label {values[row]!r} of patient {frame[ID][row]} is not an integer")
    if task.kind == "survival":
        risk = frame["risk"].cast(pl.Float64).to_numpy()
        if np.ptp(risk) == 0:
            raise ConstantRiskError(f"risk is constant ({risk[0]}) over all {len(risk)} test patients: it ranks no one")
        surv = [c for c in frame.columns if c.startswith("surv_")]
        if surv:
            values = frame.select(surv).to_numpy()
            if ((values < 0) | (values > 1)).any():
                raise ProbabilityError("survival probabilities (surv_<t> columns) must lie in [0, 1]")
    return frame


def clustering_space(task: "Task", split: "Split", ids: list[str]) -> np.ndarray:
    """The points a clustering's silhouette is measured on: the task's default inputs for ``ids``, each modality
    median-imputed and standardised with statistics of the split's training patients (as ``kmeans`` sees them).

    One space per task and split, whatever the model read, so silhouettes of different models compare; no
    statistic comes from the patients being scored.
    """
    from oncobench.baselines.preprocess import ModalityPreprocessor

    train = {m: b.values for m, b in task.features(split.train).items()}
    scored = {m: b.values for m, b in task.features(ids).items()}
    return ModalityPreprocessor().fit(train).transform(scored)


def evaluate(task: "Task", predictions: Any, split: "Split") -> EvaluationResult:
    """Check ``predictions`` for ``split``'s test patients and compute every metric of the task's kind."""
    from oncobench.benchmark import metrics as M

    frame = check_predictions(task, _as_polars(predictions), split)
    test = list(frame[ID].to_list())
    n_events = None
    if task.kind in ("classification", "binary"):
        proba = frame.select([f"proba_{c}" for c in task.classes]).to_numpy().astype(np.float64)
        metrics = M.classification_metrics(task.labels(test), proba, task.classes)
    elif task.kind == "survival":
        event, time = task.outcome(test)
        train_event, train_time = task.outcome(split.train)
        n_events = int(event.sum())
        times = evaluation_times(task, split)
        cols = survival_columns(times)
        surv = frame.select(cols).to_numpy().astype(np.float64) if all(c in frame.columns for c in cols) else None
        metrics = M.survival_metrics(time, event, frame["risk"].to_numpy().astype(np.float64), train_time, train_event,
                                     times=times, surv_prob=surv, horizons=survival_horizons(task))
    elif task.kind == "clustering":
        event, time = task.outcome(test)
        known = ~np.isnan(time)
        n_events = int(event[known].sum())
        cluster = frame["cluster"]  # integer labels of any width; whole floats (checked) as integers
        clusters = (cluster.cast(pl.Int64) if cluster.dtype.is_float() else cluster).to_numpy()
        labels = task.labels(test) if task.classes else None  # a task without reference labels: no NMI/ARI
        metrics = M.clustering_metrics(labels, clusters, X=clustering_space(task, split, test))
        if known.sum() > 1:
            metrics["logrank_p"] = M.clustering_metrics(None, clusters[known], time=time[known], event=event[known])["logrank_p"]
    elif task.kind == "imputation":
        from oncobench.benchmark.imputation import score_imputation

        metrics = score_imputation(task, frame, split)
    else:
        target = task.translation_target(test)
        pred = frame.select(list(target.features)).to_numpy().astype(np.float64)
        metrics, _ = M.translation_metrics(target.values.astype(np.float64), pred, target.features)
        # MAE / RMSE on values z-scored by the training patients: the imputation tasks' scale
        center, scale = training_scale(task.translation_target(split.train).values)
        everything = np.ones(pred.shape, dtype=bool)
        metrics |= {k: v for k, v in imputation_metrics(target.values, pred, everything, center, scale).items()
                    if k in ("mae", "rmse")}
    metrics = {k: float(v) for k, v in metrics.items()}
    return EvaluationResult(
        task=task.name, kind=task.kind, dataset=task.dataset.id, scheme=split.scheme, repeat=split.repeat,
        fold=split.fold, split_sha256=split.sha256, predictions_sha256=predictions_sha256(frame),
        evaluator_version=EVALUATOR_VERSION, n=len(test), n_events=n_events, primary=task.spec.primary, metrics=metrics,
    )


def is_better(primary: str, a: float, b: float) -> bool:
    """Whether score ``a`` beats ``b`` on ``primary`` (losses are lower-is-better)."""
    if math.isnan(a):
        return False
    if math.isnan(b):
        return True
    return a < b if primary in LOWER_IS_BETTER else a > b


LOWER_IS_BETTER = frozenset({"log_loss", "ibs", "mse_mean", "logrank_p", "mae", "rmse"})
