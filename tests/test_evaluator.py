"""The evaluator: refusals, ID keying, the immutable result, hand-computed metrics, schema, splits.

Synthetic tasks run on ``tests/synthetic.tiny_content`` (60 patients, rna for 50 and pathology for 50,
cohorts x/y = cancer types X/Y, endpoint OS); multi-class checks use the embedded ``tcga-mini``.
"""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import polars as pl
import pytest

from oncobench.benchmark.evaluator import (
    EVALUATOR_VERSION,
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
    evaluation_times,
    input_schema,
    predictions_sha256,
    survival_columns,
)
from oncobench.benchmark.metrics import survival as SM
from oncobench.benchmark.tasks import Split, Task, TaskSpec, load_task, split_sha256
from oncobench.datasets.build import write_dataset
from oncobench.datasets.dataset import Dataset
from oncobench.datasets.errors import SplitError
from synthetic import tiny_content

# ---- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    home = tmp_path_factory.mktemp("evaluator-home")
    return Dataset(write_dataset(tiny_content(name="tiny-eval", version="1"), home=home))


def _spec(name: str, kind: str, target: str, primary: str, **kw) -> TaskSpec:
    return TaskSpec(name=name, kind=kind, target=target, modalities=kw.pop("modalities", ()),
                    description="synthetic test task", primary=primary, dataset="tiny-eval", **kw)


@pytest.fixture(scope="module")
def clf(tiny: Dataset) -> Task:
    return Task(_spec("syn-type", "classification", "cancer_type", "macro_f1"), tiny)


@pytest.fixture(scope="module")
def surv(tiny: Dataset) -> Task:
    return Task(_spec("syn-os", "survival", "OS", "uno_c"), tiny)


@pytest.fixture(scope="module")
def pancan() -> Task:
    return load_task("pancan-type", dataset="tcga-mini")


def _perfect_proba(task: Task, split: Split) -> pl.DataFrame:
    labels = task.labels(split.test)
    cols = {ID: list(split.test)}
    for c in task.classes:
        cols[f"proba_{c}"] = (labels == c).astype(np.float64)
    return pl.DataFrame(cols)


def _risk_frame(task: Task, split: Split, risk: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({ID: list(split.test), "risk": np.asarray(risk, dtype=np.float64)})


def _set(frame: pl.DataFrame, row: int, **values: float) -> pl.DataFrame:
    """A copy of ``frame`` with the given columns changed at one row."""
    out = frame.clone()
    for col, v in values.items():
        s = out[col].to_numpy().astype(np.float64).copy()
        s[row] = v
        out = out.with_columns(pl.Series(col, s))
    return out


# ---- refusals: classification ----------------------------------------------------------------------------


def test_valid_classification_predictions_are_accepted(clf: Task) -> None:
    split = clf.get_split(0, 0)
    result = clf.evaluate(_perfect_proba(clf, split), split=split)
    assert result.n == 12


def test_missing_ids_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    dropped = frame[ID][3]
    with pytest.raises(MissingIDError, match=rf"1 test patients have no prediction, e\.g\. \['{dropped}'\]"):
        clf.evaluate(frame.filter(pl.col(ID) != dropped), split=split)


def test_extra_ids_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    outsider = split.train[0]
    extra = pl.DataFrame({ID: [outsider], "proba_X": [0.5], "proba_Y": [0.5]})
    with pytest.raises(ExtraIDError, match=rf"1 IDs are not test patients of syn-type repeat 0 fold 0, e\.g\. \['{outsider}'\]"):
        clf.evaluate(pl.concat([frame, extra]), split=split)


def test_duplicate_ids_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    with pytest.raises(DuplicateIDError, match=rf"1 patient IDs appear more than once, e\.g\. \['{frame[ID][0]}'\]"):
        clf.evaluate(pl.concat([frame, frame.head(1)]), split=split)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_probability_refused(clf: Task, bad: float) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    with pytest.raises(NonFiniteError, match=rf"column 'proba_Y' has 1 NaN/Inf values, e\.g\. patient {frame[ID][2]}"):
        clf.evaluate(_set(frame, 2, proba_Y=bad), split=split)


def test_non_finite_risk_refused(surv: Task) -> None:
    split = surv.get_split(0, 0)
    frame = _risk_frame(surv, split, np.arange(len(split.test)))
    with pytest.raises(NonFiniteError, match="column 'risk' has 1 NaN/Inf"):
        surv.evaluate(_set(frame, 0, risk=np.inf), split=split)
    with pytest.raises(NonFiniteError, match="column 'risk' has 1 NaN/Inf"):
        surv.evaluate(_set(frame, 5, risk=np.nan), split=split)


def test_null_value_refused_as_non_finite(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    frame = frame.with_columns(pl.when(pl.col(ID) == frame[ID][1]).then(None).otherwise(pl.col("proba_X")).alias("proba_X"))
    with pytest.raises(NonFiniteError, match="column 'proba_X' has 1 NaN/Inf"):
        clf.evaluate(frame, split=split)


def test_probability_below_zero_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    pid = frame[ID][4]
    with pytest.raises(ProbabilityError, match=rf"probability -0\.5 of patient {pid} in 'proba_X' is outside \[0, 1\]"):
        clf.evaluate(_set(frame, 4, proba_X=-0.5, proba_Y=0.5), split=split)


def test_probability_above_one_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    pid = frame[ID][4]
    with pytest.raises(ProbabilityError, match=rf"probability 1\.5 of patient {pid} in 'proba_Y' is outside \[0, 1\]"):
        clf.evaluate(_set(frame, 4, proba_X=0.0, proba_Y=1.5), split=split)


@pytest.mark.parametrize("delta", [0.2, -0.2, 2e-6, -2e-6])
def test_rows_not_summing_to_one_refused(clf: Task, delta: float) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    pid = frame[ID][7]
    with pytest.raises(ProbabilityError, match=rf"probabilities of patient {pid} sum to .*expected 1 \(tolerance 1e-06\)"):
        clf.evaluate(_set(frame, 7, proba_X=0.4, proba_Y=0.6 + delta), split=split)


def test_row_off_by_1e_9_accepted(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split)
    exact = clf.evaluate(frame, split=split)
    nudged = _set(frame, 7, proba_X=float(frame["proba_X"][7]) + 1e-9)
    result = clf.evaluate(nudged, split=split)
    assert result.n == 12
    assert result.metrics["accuracy"] == 1.0
    assert result.predictions_sha256 != exact.predictions_sha256  # the value itself is what gets hashed


def test_wrong_class_column_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split).rename({"proba_Y": "proba_Z"})
    with pytest.raises(ColumnError, match=r"class columns \['proba_X', 'proba_Z'\] do not match the task's classes; "
                                          r"expected exactly \['proba_X', 'proba_Y'\]"):
        clf.evaluate(frame, split=split)


def test_missing_class_column_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split).drop("proba_Y")
    with pytest.raises(ColumnError, match=r"class columns \['proba_X'\] do not match .* expected exactly \['proba_X', 'proba_Y'\]"):
        clf.evaluate(frame, split=split)


def test_extra_class_column_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split).with_columns(pl.lit(0.0).alias("proba_Z"))
    with pytest.raises(ColumnError, match=r"class columns \['proba_X', 'proba_Y', 'proba_Z'\] do not match"):
        clf.evaluate(frame, split=split)


def test_no_patient_id_column_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split).rename({ID: "id"})
    with pytest.raises(ColumnError, match="predictions have no 'patient_id' column"):
        clf.evaluate(frame, split=split)


def test_non_numeric_column_refused(clf: Task, surv: Task) -> None:
    split = clf.get_split(0, 0)
    frame = _perfect_proba(clf, split).with_columns(pl.col("proba_X").cast(pl.String))
    with pytest.raises(ColumnError, match="column 'proba_X' holds String, expected numbers"):
        clf.evaluate(frame, split=split)
    ssplit = surv.get_split(0, 0)
    sframe = _risk_frame(surv, ssplit, np.arange(12)).with_columns(pl.col("risk").cast(pl.String))
    with pytest.raises(ColumnError, match="column 'risk' holds String, expected numbers"):
        surv.evaluate(sframe, split=ssplit)


def test_not_a_table_refused(clf: Task) -> None:
    split = clf.get_split(0, 0)
    with pytest.raises(PredictionError, match="must be a polars/pandas DataFrame or a mapping of columns; got list"):
        clf.evaluate([[0.5, 0.5]] * 12, split=split)


# ---- refusals: survival ----------------------------------------------------------------------------------


def test_constant_risk_refused(surv: Task) -> None:
    split = surv.get_split(0, 0)
    with pytest.raises(ConstantRiskError, match=r"risk is constant \(0\.3\) over all 12 test patients"):
        surv.evaluate(_risk_frame(surv, split, np.full(12, 0.3)), split=split)


def test_missing_risk_column_refused(surv: Task) -> None:
    split = surv.get_split(0, 0)
    frame = pl.DataFrame({ID: list(split.test), "score": np.arange(12.0)})
    with pytest.raises(ColumnError, match=r"missing columns \['risk'\]"):
        surv.evaluate(frame, split=split)


def test_survival_probability_outside_unit_interval_refused(surv: Task) -> None:
    split = surv.get_split(0, 0)
    cols = survival_columns(evaluation_times(surv, split))
    frame = _risk_frame(surv, split, np.arange(12.0)).with_columns([pl.lit(0.5).alias(c) for c in cols])
    frame = _set(frame, 3, **{cols[0]: 1.2})
    with pytest.raises(ProbabilityError, match=r"surv_<t> columns\) must lie in \[0, 1\]"):
        surv.evaluate(frame, split=split)


def test_every_refusal_is_a_value_error() -> None:
    for cls in (MissingIDError, ExtraIDError, DuplicateIDError, NonFiniteError, ProbabilityError, ColumnError,
                ConstantRiskError):
        assert issubclass(cls, PredictionError) and issubclass(cls, ValueError)


# ---- keyed by ID, not position ---------------------------------------------------------------------------


def _noisy_proba(task: Task, split: Split, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(task.classes)), size=len(split.test))
    return pl.DataFrame({ID: list(split.test)} | {f"proba_{c}": p[:, j] for j, c in enumerate(task.classes)})


def test_shuffled_rows_give_identical_result(pancan: Task) -> None:
    split = pancan.get_split(0, 0)
    frame = _noisy_proba(pancan, split)
    base = pancan.evaluate(frame, split=split)
    for seed in (1, 2):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
        assert shuffled[ID].to_list() != frame[ID].to_list()
        result = pancan.evaluate(shuffled, split=split)
        assert result == base
        assert result.predictions_sha256 == base.predictions_sha256
    # column order does not matter either
    reordered = frame.select(list(reversed(frame.columns)))
    assert pancan.evaluate(reordered, split=split) == base
    # ... but the values do: rows matched by position would give a different result
    moved = frame.with_columns(pl.Series(ID, list(reversed(frame[ID].to_list()))))
    assert pancan.evaluate(moved, split=split).predictions_sha256 != base.predictions_sha256


def test_shuffled_survival_rows_give_identical_result(surv: Task) -> None:
    split = surv.get_split(0, 0)
    frame = _risk_frame(surv, split, np.random.default_rng(3).standard_normal(12))
    base = surv.evaluate(frame, split=split)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=5)
    assert surv.evaluate(shuffled, split=split) == base


def test_predictions_sha256_is_canonical() -> None:
    a = pl.DataFrame({ID: ["p2", "p1"], "risk": [0.25, 0.5]})
    b = pl.DataFrame({"risk": [0.5, 0.25], ID: ["p1", "p2"]})
    assert predictions_sha256(a) == predictions_sha256(b)
    assert predictions_sha256(a) != predictions_sha256(a.with_columns(pl.Series("risk", [0.25, 0.5000000001])))


def test_pandas_indexed_and_mapping_inputs_match_polars(pancan: Task) -> None:
    split = pancan.get_split(0, 0)
    frame = _noisy_proba(pancan, split)
    base = pancan.evaluate(frame, split=split)
    as_index = frame.to_pandas().set_index(ID)
    assert pancan.evaluate(as_index, split=split) == base
    assert pancan.evaluate(as_index.sample(frac=1.0, random_state=0), split=split) == base
    assert pancan.evaluate(frame.to_dict(as_series=False), split=split) == base


def test_pandas_with_id_column_matches_polars(pancan: Task) -> None:
    split = pancan.get_split(0, 0)
    frame = _noisy_proba(pancan, split)
    base = pancan.evaluate(frame, split=split)
    pdf = frame.to_pandas()
    assert pancan.evaluate(pdf, split=split) == base
    assert pancan.evaluate(pdf.sample(frac=1.0, random_state=0), split=split) == base


# ---- the result ------------------------------------------------------------------------------------------


def test_result_carries_provenance(clf: Task, tiny: Dataset) -> None:
    split = clf.get_split(1, 0)
    result = clf.evaluate(_perfect_proba(clf, split), split=split)
    assert result.task == "syn-type" and result.kind == "classification"
    assert result.dataset == tiny.id == "tiny-eval@1"
    assert result.scheme == "kfold" and (result.repeat, result.fold) == (0, 1)
    assert result.split_sha256 == split.sha256
    assert result.evaluator_version == EVALUATOR_VERSION == "1.0"
    assert result.n == len(split.test) == 12
    assert result.n_events is None
    assert result.primary == "macro_f1" and result.score == result.metrics["macro_f1"] == 1.0
    assert len(result.predictions_sha256) == 64


def test_survival_result_counts_test_events(surv: Task) -> None:
    for fold in range(3):
        split = surv.get_split(fold, 0)
        event, time = surv.outcome(split.test)
        result = surv.evaluate(_risk_frame(surv, split, -time), split=split)
        assert result.n == len(split.test)
        assert result.n_events == int(event.sum())
    split = surv.get_split(0, 0)
    assert surv.evaluate(_risk_frame(surv, split, np.arange(12.0)), split=split).n_events == 6  # golden: fold 0


def test_result_is_immutable(clf: Task) -> None:
    split = clf.get_split(0, 0)
    result = clf.evaluate(_perfect_proba(clf, split), split=split)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.n = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.metrics = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.metrics["accuracy"] = 0.0  # type: ignore[index]
    with pytest.raises(TypeError):
        del result.metrics["accuracy"]  # type: ignore[attr-defined]
    assert result.metrics["accuracy"] == 1.0 and result.n == 12


def test_result_does_not_share_the_callers_dict() -> None:
    metrics = {"auroc": 0.75}
    result = EvaluationResult(task="t", kind="binary", dataset="d@1", scheme="kfold", repeat=0, fold=0,
                              split_sha256="a" * 64, predictions_sha256="b" * 64, evaluator_version="1.0", n=10,
                              n_events=None, primary="auroc", metrics=metrics)
    metrics["auroc"] = 0.0
    assert result.score == 0.75


def test_result_pickles_equal(surv: Task) -> None:
    split = surv.get_split(0, 0)
    result = surv.evaluate(_risk_frame(surv, split, np.random.default_rng(1).standard_normal(12)), split=split)
    back = pickle.loads(pickle.dumps(result))
    assert back == result
    assert back is not result
    assert dict(back.metrics) == dict(result.metrics)
    with pytest.raises(TypeError):  # still read-only after the round trip
        back.metrics["uno_c"] = 1.0  # type: ignore[index]


def test_result_to_dict(clf: Task) -> None:
    split = clf.get_split(0, 0)
    result = clf.evaluate(_perfect_proba(clf, split), split=split)
    out = result.to_dict()
    assert type(out["metrics"]) is dict and out["metrics"]["accuracy"] == 1.0
    assert out["split_sha256"] == split.sha256 and out["n"] == 12


# ---- hand-computed metrics -------------------------------------------------------------------------------


def test_perfect_probabilities_score_one(clf: Task, pancan: Task) -> None:
    for task in (clf, pancan):
        split = task.get_split(0, 0)
        m = task.evaluate(_perfect_proba(task, split), split=split).metrics
        assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0
        assert m["macro_f1"] == 1.0 and m["weighted_f1"] == 1.0
        assert m["auroc"] == 1.0
        assert m["log_loss"] == 0.0


def test_uniform_probabilities_hand_computed(clf: Task) -> None:
    split = clf.get_split(0, 0)
    labels = clf.labels(split.test)
    frame = pl.DataFrame({ID: list(split.test), "proba_X": np.full(12, 0.5), "proba_Y": np.full(12, 0.5)})
    m = clf.evaluate(frame, split=split).metrics
    share_x = float(np.mean(labels == "X"))
    assert share_x == 0.5  # golden: stratified fold 0 holds 6 X and 6 Y
    # ties go to the first class: everyone predicted X
    assert m["accuracy"] == pytest.approx(share_x)
    assert m["macro_f1"] == pytest.approx((2 * share_x / (1 + share_x)) / 2)  # F1(X) = 2p/(p+1), F1(Y) = 0
    assert m["auroc"] == 0.5
    assert m["log_loss"] == pytest.approx(math.log(2))


def test_inverted_probabilities_hand_computed(clf: Task) -> None:
    split = clf.get_split(0, 0)
    perfect = _perfect_proba(clf, split)
    frame = perfect.with_columns(pl.col("proba_X").alias("proba_Y"), pl.col("proba_Y").alias("proba_X"))
    m = clf.evaluate(frame, split=split).metrics
    assert m["accuracy"] == 0.0 and m["macro_f1"] == 0.0 and m["auroc"] == 0.0
    assert m["log_loss"] == pytest.approx(-math.log(1e-15))


def test_risk_equal_to_minus_time_is_perfectly_concordant(surv: Task) -> None:
    split = surv.get_split(0, 0)
    event, time = surv.outcome(split.test)
    assert event.any()
    m = surv.evaluate(_risk_frame(surv, split, -time), split=split).metrics
    assert m["harrell_c"] == 1.0
    assert m["uno_c"] == pytest.approx(1.0)
    assert m["td_auc"] == pytest.approx(1.0)
    assert "ibs" not in m
    m = surv.evaluate(_risk_frame(surv, split, time), split=split).metrics
    assert m["harrell_c"] == 0.0


def test_ipcw_metrics_use_the_splits_training_outcomes(surv: Task) -> None:
    split = surv.get_split(0, 0)
    event, time = surv.outcome(split.test)
    train_event, train_time = surv.outcome(split.train)
    risk = np.random.default_rng(11).standard_normal(len(split.test))
    m = surv.evaluate(_risk_frame(surv, split, risk), split=split).metrics
    tau = float(evaluation_times(surv, split)[-1])
    expected = SM.uno_c(time, event, risk, train_time, train_event, tau=tau)
    assert m["uno_c"] == pytest.approx(expected, abs=1e-12)
    assert m["harrell_c"] == pytest.approx(SM.harrell_c(time, event, risk), abs=1e-12)
    # the censoring weights matter: the test outcomes in their place give another value
    wrong = SM.uno_c(time, event, risk, time, event, tau=tau)
    assert abs(wrong - expected) > 1e-6


# ---- input schema ----------------------------------------------------------------------------------------


def test_input_schema_classification(clf: Task, pancan: Task) -> None:
    schema = clf.input_schema()
    assert schema["id_column"] == ID and schema["kind"] == "classification" and schema["task"] == "syn-type"
    assert list(schema["required"]) == ["proba_X", "proba_Y"]
    assert schema["evaluator_version"] == EVALUATOR_VERSION
    assert list(pancan.input_schema()["required"]) == [f"proba_{c}" for c in
                                                       ("BLCA", "LUAD", "PAAD", "SKCM", "STAD", "UCEC")]


def test_input_schema_survival_clustering_translation(surv: Task, tiny: Dataset) -> None:
    assert list(surv.input_schema()["required"]) == ["risk"]
    assert list(surv.input_schema()["optional"]) == ["surv_<t>"]
    clus = Task(_spec("syn-clus", "clustering", "cancer_type", "nmi"), tiny)
    assert list(input_schema(clus)["required"]) == ["cluster"]
    trans = Task(_spec("syn-rna", "translation", "rna", "pearson_mean", modalities=("pathology",)), tiny)
    assert list(input_schema(trans)["required"]) == ["g1", "g2", "g3"]


def test_input_schema_with_split_lists_survival_columns(surv: Task) -> None:
    split = surv.get_split(0, 0)
    times = evaluation_times(surv, split)
    train_event, train_time = surv.outcome(split.train)
    event, time = surv.outcome(split.test)
    assert np.array_equal(times, SM.evaluation_times(train_time, train_event, time, event))
    assert np.allclose(times, [1268.72775893, 1502.26937921, 1775.00493096, 1907.14667879, 2206.10587965])  # golden
    schema = input_schema(surv, split)
    assert list(schema["optional"]) == survival_columns(times)
    assert survival_columns(times) == ["surv_1268.73", "surv_1502.27", "surv_1775", "surv_1907.15", "surv_2206.11"]


def test_survival_columns_add_ibs(surv: Task) -> None:
    split = surv.get_split(0, 0)
    times = evaluation_times(surv, split)
    event, time = surv.outcome(split.test)
    train_event, train_time = surv.outcome(split.train)
    risk = np.random.default_rng(2).standard_normal(12)
    base = _risk_frame(surv, split, risk)
    without = surv.evaluate(base, split=split).metrics
    assert "ibs" not in without
    prob = np.exp(-np.outer(np.exp(risk), times) / 3000.0)
    frame = base.with_columns([pl.Series(c, prob[:, j]) for j, c in enumerate(survival_columns(times))])
    with_ibs = surv.evaluate(frame, split=split).metrics
    expected = SM.survival_metrics(time, event, risk, train_time, train_event, times=times, surv_prob=prob)
    assert with_ibs["ibs"] == pytest.approx(expected["ibs"], abs=1e-12)
    assert 0.0 < with_ibs["ibs"] < 1.0
    assert {k: with_ibs[k] for k in without} == dict(without)  # the other metrics do not change


# ---- splits ----------------------------------------------------------------------------------------------


def test_split_roles_disjoint_within_task_and_sorted(clf: Task, pancan: Task) -> None:
    for task in (clf, pancan):
        for repeat, fold in task.folds[:5]:
            split = task.get_split(fold, repeat)
            train, valid, test = set(split.train), set(split.valid), set(split.test)
            assert not train & valid and not train & test and not valid & test
            assert train | valid | test <= set(task.patients)
            assert train and test
            for ids in (split.train, split.valid, split.test):
                assert list(ids) == sorted(ids)


def test_each_patient_tested_once_per_repeat(clf: Task) -> None:
    tested = []
    for fold in range(5):
        tested += clf.get_split(fold, 0).test
    assert sorted(tested) == sorted(clf.patients) and len(tested) == 60


def test_split_sha256_is_stable(pancan: Task, clf: Task, tiny: Dataset) -> None:
    a = pancan.get_split(0, 0)
    assert a.sha256 == pancan.get_split(0, 0).sha256 == load_task("pancan-type", dataset="tcga-mini").get_split(0, 0).sha256
    assert a.sha256 == "f9fb9d4edfa42bc28c2824dd4383fc0604085d73c8923de06721c5506ebbb49f"  # golden (stored split)
    assert (len(a.train), len(a.valid), len(a.test)) == (90, 15, 28)
    assert pancan.get_split(1, 0).sha256 != a.sha256
    assert a.sha256 == split_sha256("pancan-type", pancan.dataset.id, "kfold", 0, 0, a.train, a.valid, a.test)
    b = clf.get_split(0, 0)
    assert b.sha256 == Task(clf.spec, tiny).get_split(0, 0).sha256
    assert b.sha256 != clf.get_split(0, 1).sha256  # another repeat
    assert b.sha256 != Task(dataclasses.replace(clf.spec, name="other"), tiny).get_split(0, 0).sha256


def test_class_missing_from_training_raises_split_error(tiny: Dataset) -> None:
    patients = list(tiny.patients)
    rare = patients[0]
    label_map = {p: "common" for p in patients} | {rare: "rare"}
    task = Task(_spec("syn-rare", "classification", "patient_id", "macro_f1", label_map=label_map, min_class_size=1), tiny)
    assert task.classes == ("common", "rare")
    table = tiny.split_table("kfold").filter((pl.col("repeat") == 0) & (pl.col("role") == "test"))
    in_test = table.filter(pl.col("patient_id") == rare)["fold"].to_list()
    assert len(in_test) == 1
    with pytest.raises(SplitError, match=rf"task syn-rare: repeat 0 fold {in_test[0]}: classes \['rare'\] are in the test "
                                         "set but not in training"):
        task.get_split(in_test[0], 0)
    other = next(f for f in range(5) if f != in_test[0])
    split = task.get_split(other, 0)
    assert rare not in split.test
    assert any("classes ['rare']" in p for p in task.check())
