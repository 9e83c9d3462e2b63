"""Hypothesis properties of the evaluator over generated prediction tables, for every task kind.

- Valid tables (any probabilities on the simplex, any non-constant risk, any integer clusters, any finite
  translation values; float32 or float64, polars, pandas or a mapping, rows and columns in any order) score
  without error, every metric stays in its range, and the result does not depend on row or column order.
- Invalid tables (missing, extra, duplicate or null IDs; NaN, Inf or null values; probabilities outside [0, 1] or
  not summing to 1; missing, renamed, unknown, text or boolean columns; constant risk; non-integer clusters;
  columns of unequal length, text mixed into a pandas column, some but not all survival-probability columns) raise the evaluator's own :class:`PredictionError` subclass for that problem, never
  a bare KeyError/ValueError from numpy or polars.

Tasks: the embedded tcga-mini for 6-class classification (pancan-type) and clustering (oncotree-clustering), and
``tests/synthetic.tiny_content`` (60 patients) for binary, survival and translation. Examples are derandomized so
a CI run is reproducible; ``pytest --hypothesis-show-statistics`` reports how many ran.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncobench.benchmark.evaluator import (
    ID,
    ColumnError,
    ConstantRiskError,
    DuplicateIDError,
    EvaluationResult,
    ExtraIDError,
    MissingIDError,
    NonFiniteError,
    PredictionError,
    ProbabilityError,
    evaluate,
    evaluation_times,
    survival_columns,
)
from oncobench.benchmark.tasks import Split, Task, TaskSpec, load_task
from oncobench.datasets.build import write_dataset
from oncobench.datasets.dataset import Dataset
from synthetic import tiny_content

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
KINDS = ["classification", "binary", "survival", "clustering", "translation"]
UNIT = {"accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auroc", "harrell_c", "uno_c", "td_auc", "nmi",
        "logrank_p"}
"""Metrics that lie in [0, 1] (or are nan where undefined, e.g. AUROC of a fold holding one class)."""


# ---- tasks --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Task]:
    home = tmp_path_factory.mktemp("evaluator-properties-home")
    tiny = Dataset(write_dataset(tiny_content(name="tiny-prop", version="1"), home=home))

    def spec(name: str, kind: str, target: str, primary: str, modalities: tuple[str, ...] = ()) -> TaskSpec:
        return TaskSpec(name=name, kind=kind, target=target, modalities=modalities, description="property test task",
                        primary=primary, dataset="tiny-prop")

    return {
        "classification": load_task("pancan-type", dataset="tcga-mini"),
        "binary": Task(spec("prop-binary", "binary", "cancer_type", "auroc"), tiny),
        "survival": Task(spec("prop-os", "survival", "OS", "uno_c"), tiny),
        "clustering": load_task("oncotree-clustering", dataset="tcga-mini"),
        "translation": Task(spec("prop-rna", "translation", "rna", "pearson_mean", ("pathology",)), tiny),
    }


_SPLITS: dict[tuple[str, int, int], Split] = {}


def _split(task: Task, repeat: int, fold: int) -> Split:
    key = (task.name, repeat, fold)
    if key not in _SPLITS:
        _SPLITS[key] = task.get_split(fold, repeat)
    return _SPLITS[key]


# ---- valid tables ---------------------------------------------------------------------------------------------

FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
WEIGHT = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_subnormal=True))


@st.composite
def proba_rows(draw: st.DrawFn, n: int, k: int) -> np.ndarray:
    """``n`` rows on the probability simplex: one-hot, uniform, or normalised non-negative weights."""
    rows = []
    for _ in range(n):
        choice = draw(st.sampled_from(["weights", "one-hot", "uniform"]))
        if choice == "one-hot":
            row = np.zeros(k)
            row[draw(st.integers(0, k - 1))] = 1.0
        elif choice == "uniform":
            row = np.full(k, 1.0 / k)
        else:
            w = np.array(draw(st.lists(WEIGHT, min_size=k, max_size=k)))
            if w.sum() == 0 or not np.isfinite(w.sum()):
                w[draw(st.integers(0, k - 1))] = 1.0
            row = w / w.sum()
        rows.append(row)
    return np.array(rows)


@st.composite
def valid_tables(draw: st.DrawFn, task: Task) -> tuple[Split, pl.DataFrame]:
    """A split of ``task`` and a valid prediction table for its test patients."""
    repeat, fold = draw(st.sampled_from(task.folds[:5]))
    split = _split(task, repeat, fold)
    ids = list(split.test)
    n = len(ids)
    dtype = draw(st.sampled_from([pl.Float64, pl.Float32]))
    cols: dict[str, Any] = {ID: ids}
    if task.kind in ("classification", "binary"):
        p = draw(proba_rows(n, len(task.classes)))
        if dtype == pl.Float32:  # float32 rounding must stay inside the sum tolerance
            p = p.astype(np.float32)
        cols |= {f"proba_{c}": pl.Series(p[:, j]) for j, c in enumerate(task.classes)}
    elif task.kind == "survival":
        risk = np.array(draw(st.lists(FINITE, min_size=n, max_size=n)))
        if np.ptp(risk) == 0:
            risk[draw(st.integers(0, n - 1))] += 1.0
        cols["risk"] = pl.Series(risk, dtype=dtype if np.ptp(risk.astype(np.float32)) > 0 else pl.Float64)
        if draw(st.booleans()):
            times = evaluation_times(task, split)
            surv = draw(st.lists(st.lists(st.floats(0.0, 1.0), min_size=len(times), max_size=len(times)),
                                 min_size=n, max_size=n))
            cols |= {c: pl.Series(np.array(surv)[:, j], dtype=dtype) for j, c in enumerate(survival_columns(times))}
    elif task.kind == "clustering":
        cluster_dtype, labels = draw(st.sampled_from([
            (pl.Int64, st.one_of(st.integers(0, 4), st.integers(-(2**63), 2**63 - 1))),
            (pl.UInt64, st.one_of(st.integers(0, 4), st.integers(0, 2**64 - 1))),
            (pl.Int8, st.integers(-128, 127)),
            (pl.Float64, st.integers(-(2**53), 2**53)),  # whole numbers stored as floats
        ]))
        cols["cluster"] = pl.Series(draw(st.lists(labels, min_size=n, max_size=n)), dtype=cluster_dtype)
    else:
        for feature in task.target_features:
            cols[feature] = pl.Series(draw(st.lists(FINITE, min_size=n, max_size=n)), dtype=dtype)
    return split, pl.DataFrame(cols)


def _as_input(frame: pl.DataFrame, form: str) -> Any:
    if form == "pandas":
        return frame.to_pandas()
    if form == "pandas-indexed":
        return frame.to_pandas().set_index(ID)
    if form == "mapping":
        return {c: frame[c].to_list() for c in frame.columns}
    return frame


def _same(a: EvaluationResult, b: EvaluationResult) -> bool:
    """Equal results, nan metrics included (nan != nan)."""
    fields = {k: getattr(a, k) for k in a.__dataclass_fields__ if k != "metrics"}
    if fields != {k: getattr(b, k) for k in b.__dataclass_fields__ if k != "metrics"} or set(a.metrics) != set(b.metrics):
        return False
    return all(a.metrics[k] == b.metrics[k] or (math.isnan(a.metrics[k]) and math.isnan(b.metrics[k])) for k in a.metrics)


def _assert_in_range(kind: str, metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        assert isinstance(value, float), name
        if name in UNIT:
            assert math.isnan(value) or 0.0 <= value <= 1.0, (name, value)
        elif name == "ari":
            assert -1.0 <= value <= 1.0, (name, value)
        elif name == "silhouette":  # undefined (nan) with one cluster or one patient per cluster
            assert math.isnan(value) or -1.0 <= value <= 1.0, (name, value)
        elif name in ("pearson_mean", "spearman_mean", "pearson_median"):
            assert math.isnan(value) or -1.0 <= value <= 1.0, (name, value)
        elif name in ("log_loss", "mse_mean", "ibs", "mae", "rmse"):
            assert math.isnan(value) or 0.0 <= value < math.inf, (name, value)
        elif name == "n_features_defined":
            assert value == int(value) and value >= 0
        else:
            raise AssertionError(f"metric {name!r} of a {kind} task has no range in this test")
    never_nan = {"classification": ["accuracy", "macro_f1", "log_loss"], "binary": ["accuracy", "macro_f1", "log_loss"],
                 "survival": ["harrell_c"], "clustering": ["nmi", "ari"], "translation": ["mse_mean"]}[kind]
    assert all(not math.isnan(metrics[m]) for m in never_nan), metrics


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_valid_tables_score_in_range_whatever_the_row_order(tasks: dict[str, Task], kind: str, data: st.DataObject) -> None:
    task = tasks[kind]
    split, frame = data.draw(valid_tables(task), label="table")
    result = evaluate(task, frame, split)
    assert result.n == len(split.test) and result.kind == kind
    assert set(result.metrics) >= {task.spec.primary}
    _assert_in_range(kind, dict(result.metrics))
    if kind == "survival":
        event, _ = task.outcome(split.test)
        assert result.n_events == int(event.sum())
        assert ("ibs" in result.metrics) == any(c.startswith("surv_") for c in frame.columns)
    order = data.draw(st.randoms(use_true_random=False), label="order")
    rows = list(range(frame.height))
    order.shuffle(rows)
    columns = list(frame.columns)
    order.shuffle(columns)
    form = data.draw(st.sampled_from(["polars", "pandas", "pandas-indexed", "mapping"]), label="form")
    assert _same(evaluate(task, _as_input(frame[rows].select(columns), form), split), result)


# ---- invalid tables -------------------------------------------------------------------------------------------


def _value_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != ID]


def _set_cell(frame: pl.DataFrame, column: str, row: int, value: Any) -> pl.DataFrame:
    values = frame[column].cast(pl.Float64).to_list()
    values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=pl.Float64))


Mutation = Callable[[st.DrawFn, Task, Split, pl.DataFrame], Any]


def _drop_row(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.int_range(pl.len()) != draw(st.integers(0, frame.height - 1)))


def _empty(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.head(0)


def _null_id(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    ids = frame[ID].to_list()
    ids[draw(st.integers(0, len(ids) - 1))] = None
    return frame.with_columns(pl.Series(ID, ids, dtype=pl.String))


def _extra_train_id(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    row = frame.head(1).with_columns(pl.lit(draw(st.sampled_from(list(split.train)))).alias(ID))
    return pl.concat([frame, row])


def _extra_unknown_id(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    pid = draw(st.text(min_size=0, max_size=12).filter(lambda s: s not in set(split.test)))
    return pl.concat([frame, frame.head(1).with_columns(pl.lit(pid).alias(ID))])


def _duplicate_row(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    row = draw(st.integers(0, frame.height - 1))
    return pl.concat([frame, frame[row:row + 1]])


def _non_finite(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    column = draw(st.sampled_from(_value_columns(frame)))
    value = draw(st.sampled_from([float("nan"), float("inf"), float("-inf"), None]))
    return _set_cell(frame, column, draw(st.integers(0, frame.height - 1)), value)


def _missing_column(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    required = [c for c in _value_columns(frame) if not c.startswith("surv_")]
    return frame.drop(draw(st.sampled_from(required)))


def _renamed_column(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    column = draw(st.sampled_from([ID, *_value_columns(frame)]))
    name = draw(st.text(min_size=1, max_size=10).filter(lambda s: s not in frame.columns))
    return frame.rename({column: name})


def _unknown_column(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    """Any other column, including ``surv_<t>`` at times that are not the split's evaluation times."""
    taken = set(frame.columns)
    if task.kind == "survival":
        taken |= set(survival_columns(evaluation_times(task, split)))
    name = draw(st.one_of(st.text(min_size=1, max_size=10), st.floats(1, 1e4).map(lambda t: f"surv_{t:g}"))
                .filter(lambda s: s not in taken))
    return frame.with_columns(pl.lit(0.5).alias(name))


def _text_column(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    column = draw(st.sampled_from(_value_columns(frame)))
    return frame.with_columns(pl.col(column).cast(pl.String))


def _boolean_column(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    column = draw(st.sampled_from(_value_columns(frame)))
    return frame.with_columns((pl.col(column) > 0).alias(column))


def _off_simplex(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    """One row scaled away from sum 1 (beyond the tolerance), or one probability pushed below 0 or above 1."""
    row = draw(st.integers(0, frame.height - 1))
    columns = _value_columns(frame)
    if draw(st.booleans()):
        factor = draw(st.one_of(st.floats(0.0, 1 - 1e-5), st.floats(1 + 1e-5, 10.0)))
        out = frame.with_columns(pl.col(columns).cast(pl.Float64))
        return out.with_columns([pl.when(pl.int_range(pl.len()) == row).then(pl.col(c) * factor).otherwise(pl.col(c))
                                 .alias(c) for c in columns])
    return _set_cell(frame, draw(st.sampled_from(columns)), row,
                     draw(st.one_of(st.floats(-1e6, -1e-9), st.floats(1 + 1e-9, 1e6))))


def _constant_risk(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit(draw(FINITE)).alias("risk"))


def _survival_outside_unit(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    cols = survival_columns(evaluation_times(task, split))
    frame = frame.with_columns([pl.col(c) if c in frame.columns else pl.lit(0.5).alias(c) for c in cols])
    value = draw(st.one_of(st.floats(-1e3, -1e-9), st.floats(1 + 1e-9, 1e3)))
    return _set_cell(frame, draw(st.sampled_from(cols)), draw(st.integers(0, frame.height - 1)), value)


def _fractional_cluster(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    value = draw(st.one_of(st.floats(-1e6, 1e6).filter(lambda v: v != int(v)), st.sampled_from([1e19, -1e300, 1e300])))
    return _set_cell(frame, "cluster", draw(st.integers(0, frame.height - 1)), value)


def _partial_survival_columns(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    cols = survival_columns(evaluation_times(task, split))
    keep = draw(st.lists(st.sampled_from(cols), min_size=1, max_size=len(cols) - 1, unique=True))
    return frame.drop([c for c in cols if c in frame.columns]).with_columns([pl.lit(0.5).alias(c) for c in keep])


def _mixed_pandas_column(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> Any:
    """A pandas table whose value column mixes text with numbers (object dtype), as read from a sloppy CSV."""
    pdf = frame.to_pandas()
    column = draw(st.sampled_from(_value_columns(frame)))
    pdf[column] = pdf[column].astype(object)
    pdf.loc[draw(st.integers(0, frame.height - 1)), column] = draw(st.sampled_from(["high", "0.5", "", "NA"]))
    return pdf


def _ragged_mapping(draw: st.DrawFn, task: Task, split: Split, frame: pl.DataFrame) -> dict[str, list]:
    mapping = {c: frame[c].to_list() for c in frame.columns}
    column = draw(st.sampled_from(list(mapping)))
    mapping[column] = mapping[column][: draw(st.integers(0, frame.height - 1))]
    return mapping


COMMON: dict[str, tuple[Mutation, type[PredictionError]]] = {
    "drop-row": (_drop_row, MissingIDError),
    "empty": (_empty, MissingIDError),
    "null-id": (_null_id, MissingIDError),
    "extra-train-id": (_extra_train_id, ExtraIDError),
    "extra-unknown-id": (_extra_unknown_id, ExtraIDError),
    "duplicate-row": (_duplicate_row, DuplicateIDError),
    "non-finite": (_non_finite, NonFiniteError),
    "missing-column": (_missing_column, ColumnError),
    "renamed-column": (_renamed_column, ColumnError),
    "unknown-column": (_unknown_column, ColumnError),
    "text-column": (_text_column, ColumnError),
    "boolean-column": (_boolean_column, ColumnError),
    "ragged-mapping": (_ragged_mapping, ColumnError),
    "mixed-pandas-column": (_mixed_pandas_column, ColumnError),
}
BY_KIND: dict[str, dict[str, tuple[Mutation, type[PredictionError]]]] = {
    "classification": {"off-simplex": (_off_simplex, ProbabilityError)},
    "binary": {"off-simplex": (_off_simplex, ProbabilityError)},
    "survival": {"constant-risk": (_constant_risk, ConstantRiskError),
                 "survival-outside-unit": (_survival_outside_unit, ProbabilityError),
                 "partial-survival-columns": (_partial_survival_columns, ColumnError)},
    "clustering": {"fractional-cluster": (_fractional_cluster, ColumnError)},
    "translation": {},
}


def _cases(kind: str) -> dict[str, tuple[Mutation, type[PredictionError]]]:
    return COMMON | BY_KIND[kind]


@pytest.mark.parametrize(("kind", "mutation"), [(k, m) for k in KINDS for m in _cases(k)])
@settings(PROPERTY, max_examples=25)
@given(data=st.data())
def test_invalid_tables_raise_the_evaluators_own_error(tasks: dict[str, Task], kind: str, mutation: str,
                                                       data: st.DataObject) -> None:
    task = tasks[kind]
    mutate, expected = _cases(kind)[mutation]
    split, frame = data.draw(valid_tables(task), label="table")
    bad = mutate(data.draw, task, split, frame)
    with pytest.raises(PredictionError) as info:
        evaluate(task, bad, split)
    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    assert str(info.value)  # a message that says what is wrong
