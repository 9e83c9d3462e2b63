"""Baselines: registry, the model contract on every kind, missing modalities, leakage, determinism, controls.

The contract runs on a synthetic 150-patient dataset built here (``_contract_content``): rna for patients
0-119 and pathology for 30-149, so 30 patients lack each modality; a few rna cells are unmeasured inside
measured rows; a latent factor drives cohort, survival and both modalities. It is larger than
``tests/synthetic.tiny_content`` so that every fold has events and every class in training.
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from oncobench.baselines import registry
from oncobench.baselines.fusion import EarlyFusion, LateFusion
from oncobench.baselines.preprocess import ModalityPreprocessor
from oncobench.baselines.tuning import TunedModel
from oncobench.baselines.registry import (
    MISSING_POLICIES,
    IncompatibleModelError,
    ModelNotFoundError,
    build_model,
    get_model,
    list_models,
    parse_model_spec,
    register_model,
)
from oncobench.benchmark import job as job_module
from oncobench.benchmark.evaluator import ID
from oncobench.benchmark.job import Job, model_inputs, run_job
from oncobench.benchmark.tasks import KINDS, Task, TaskSpec, load_task
from oncobench.datasets.build import DatasetContent, write_dataset
from oncobench.datasets.dataset import Dataset
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.splits import SplitSpec, draw_split

# ---- synthetic contract dataset --------------------------------------------------------------------------

N = 150
RNA_ROWS = range(0, 120)
PATH_ROWS = range(30, N)


def _contract_content(name: str, seed: int = 7) -> DatasetContent:
    rng = np.random.default_rng(seed)
    sites = ["A1", "B2", "C3", "D4", "E5", "F6", "G7", "H8"]
    patients = [f"TCGA-{sites[i % len(sites)]}-{i:04d}" for i in range(N)]
    cohort = np.array(["x", "y", "z"])[np.arange(N) % 3]
    latent = rng.standard_normal(N) + np.select([cohort == "y", cohort == "z"], [1.0, -1.0], 0.0)
    event_time = rng.exponential(1000 / np.exp(0.8 * latent))
    censor_time = rng.uniform(200, 4000, N)
    clinical = pl.DataFrame({
        "patient_id": patients, "cohort": cohort.tolist(), "cancer_type": [c.upper() for c in cohort],
        "tss_code": [p[5:7] for p in patients],
        "os": (event_time <= censor_time).astype(np.int8), "os_time": np.minimum(event_time, censor_time) + 1.0,
    })
    prov = Provenance(source="synthetic", files=(), transform="none", licence="CC0", citation="none",
                      comparable_across_cohorts=True)
    rna_idx, path_idx = np.array(RNA_ROWS), np.array(PATH_ROWS)
    rna = latent[rna_idx, None] * np.linspace(1.0, 0.1, 8) + rng.standard_normal((len(rna_idx), 8))
    rna[::7, 7] = np.nan  # unmeasured cells inside a measured modality
    path = 0.5 * latent[path_idx, None] + rng.standard_normal((len(path_idx), 4))
    blocks = {
        "rna": [FeatureBlock("rna", tuple(patients[i] for i in rna_idx), tuple(f"g{j}" for j in range(1, 9)),
                             rna.astype(np.float32), prov)],
        "pathology": [FeatureBlock("pathology", tuple(patients[i] for i in path_idx), ("p:a", "p:b", "p:c", "p:d"),
                                   path.astype(np.float32), prov)],
    }
    spec = SplitSpec("kfold", n_folds=5, n_repeats=1, seed=seed)
    kfold = draw_split(patients, [f"{c}|{e}" for c, e in zip(cohort, clinical["os"].to_list())], spec)
    return DatasetContent(name=name, version="1", clinical=clinical, blocks=blocks, splits={"kfold": (kfold, spec)},
                          split_checks={"kfold": {"labels": dict(zip(patients, cohort.tolist()))}},
                          card={"description": "synthetic contract-test dataset"},
                          endpoints=[{"name": "OS", "event": "os", "time": "os_time"}], labels=["cancer_type"])


SPECS = {
    "classification": TaskSpec(name="syn-type", kind="classification", target="cancer_type", modalities=(),
                               description="synthetic", primary="macro_f1", dataset="contract"),
    "binary": TaskSpec(name="syn-x", kind="binary", target="cancer_type", modalities=(), description="synthetic",
                       primary="auroc", dataset="contract", label_map={"X": "1", "Y": "0", "Z": "0"}),
    "survival": TaskSpec(name="syn-os", kind="survival", target="OS", modalities=(), description="synthetic",
                         primary="uno_c", dataset="contract"),
    "clustering": TaskSpec(name="syn-clusters", kind="clustering", target="cancer_type", modalities=(),
                           description="synthetic", primary="nmi", dataset="contract", logrank_endpoint="OS"),
    "translation": TaskSpec(name="syn-rna", kind="translation", target="rna", modalities=("pathology",),
                            description="synthetic", primary="pearson_mean", dataset="contract"),
    "imputation": TaskSpec(name="syn-impute", kind="imputation", target="rna", modalities=("rna",), missing_rate=0.3,
                           description="synthetic", primary="mae", secondary=("rmse",), dataset="contract"),
}

CORRELATIONS = {"pearson_mean", "spearman_mean", "pearson_median"}
EXPECTED_METRICS = {
    "classification": {"accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auroc", "log_loss"},
    "binary": {"accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auroc", "log_loss"},
    "survival": {"harrell_c", "uno_c", "td_auc"},
    "clustering": {"nmi", "ari", "logrank_p"},
    "translation": {"pearson_mean", "spearman_mean", "mse_mean", "pearson_median", "n_features_defined"},
    "imputation": {"mae", "rmse"},
}


@pytest.fixture(scope="module")
def contract_folder(tmp_path_factory: pytest.TempPathFactory):
    return write_dataset(_contract_content("contract"), home=tmp_path_factory.mktemp("baselines-home"))


@pytest.fixture(scope="module")
def contract_ds(contract_folder) -> Dataset:
    return Dataset(contract_folder)


@pytest.fixture(scope="module")
def tasks(contract_ds: Dataset) -> dict[str, Task]:
    return {kind: Task(spec, contract_ds) for kind, spec in SPECS.items()}


@pytest.fixture(scope="module")
def pancan_type() -> Task:
    return load_task("pancan-type", dataset="tcga-mini")


@pytest.fixture(scope="module")
def pfi_pancan() -> Task:
    return load_task("pfi-pancan", dataset="tcga-mini")


def test_contract_dataset_has_missing_modalities(tasks: dict[str, Task]) -> None:
    task = tasks["classification"]
    assert task.modalities == ("rna", "pathology") and len(task.patients) == N
    blocks = task.features(task.patients)
    assert int((~blocks["rna"].present).sum()) == 30 and int((~blocks["pathology"].present).sum()) == 30
    assert task.classes == ("X", "Y", "Z") and tasks["binary"].classes == ("0", "1")
    assert len(tasks["translation"].patients) == 90
    for t in tasks.values():
        assert t.check() == []
    split = task.get_split(0, 0)
    test_blocks = task.features(split.test)
    assert not test_blocks["rna"].present.all() and not test_blocks["pathology"].present.all()


# ---- registry --------------------------------------------------------------------------------------------


def test_every_model_has_metadata() -> None:
    models = list_models()
    assert {"logreg", "svm", "rf", "xgboost", "knn", "coxnet", "rsf", "xgboost-cox", "prior", "km", "random",
            "kmeans", "ridge", "clinical-logreg", "clinical-cox"} <= set(models)
    for name, info in models.items():
        assert info.name == name and ":" not in name
        assert info.summary.strip() and info.reference.strip() and info.modality_handling.strip()
        assert info.kinds and set(info.kinds) <= set(KINDS)
        assert info.missing in MISSING_POLICIES
        assert callable(info.factory)
        if info.is_clinical_reference:
            assert info.modalities == ("clinical",)


def test_unknown_model_suggests_and_never_substitutes() -> None:
    with pytest.raises(ModelNotFoundError, match=r"unknown model 'logreg2'; did you mean '?logreg'?[,?]") as exc:
        get_model("logreg2")
    assert isinstance(exc.value, KeyError)
    with pytest.raises(ModelNotFoundError, match=r"did you mean 'coxnet'[,?]"):
        build_model("coxnett", "survival", 0)
    with pytest.raises(ModelNotFoundError, match=r"did you mean '?svm'?\?"):
        parse_model_spec("svn:late-mean")
    with pytest.raises(ModelNotFoundError, match="unknown model 'zzzz'") as exc:
        get_model("zzzz")
    assert "did you mean" not in str(exc.value)


def test_unknown_model_through_run_job(tasks: dict[str, Task]) -> None:
    task = tasks["classification"]
    with pytest.raises(ModelNotFoundError, match="unknown model 'logreg2'"):
        run_job(task, Job(task.name, "logreg2", 0, 0, 0))


def test_unknown_fusion_suffix_raises() -> None:
    with pytest.raises(ModelNotFoundError, match=r"unknown fusion 'late-max' in 'logreg:late-max'; did you mean 'late-mean'\?"):
        parse_model_spec("logreg:late-max")
    with pytest.raises(ModelNotFoundError, match="unknown fusion 'bogus'"):
        build_model("logreg:bogus", "classification", 0)


def test_model_spec_parsing() -> None:
    info, fusion = parse_model_spec("coxnet:late-cox")
    assert info is get_model("coxnet") and fusion == "late-cox"
    assert parse_model_spec("logreg") == (get_model("logreg"), "early")
    late = build_model("logreg:late-stack", "classification", 3)
    assert isinstance(late, LateFusion) and (late.base, late.combine, late.random_state) == ("logreg", "stack", 3)
    tuned = build_model("logreg", "binary", 0)
    assert isinstance(tuned, TunedModel) and isinstance(tuned.model, EarlyFusion) and tuned.kind == "binary"
    # controls ignore the fusion suffix: they use no input
    assert type(build_model("prior:late-mean", "classification", 0)).__name__ == "PriorClassifier"


def test_incompatible_kind_raises(tasks: dict[str, Task]) -> None:
    with pytest.raises(IncompatibleModelError, match="model 'coxnet' supports survival tasks, not 'classification'"):
        build_model("coxnet", "classification", 0)
    with pytest.raises(IncompatibleModelError, match="model 'coxnet' supports survival tasks, not 'classification'"):
        build_model("coxnet:late-mean", "classification", 0)
    with pytest.raises(IncompatibleModelError, match="model 'logreg' supports classification, binary tasks, not 'survival'"):
        build_model("logreg", "survival", 0)
    with pytest.raises(IncompatibleModelError, match="late-cox combines risk scores; it needs a survival task"):
        build_model("logreg:late-cox", "classification", 0)
    with pytest.raises(IncompatibleModelError, match="late fusion combines per-modality predictions of classification or survival models, not 'clustering'"):
        build_model("kmeans:late-stack", "clustering", 0)
    task = tasks["classification"]
    with pytest.raises(IncompatibleModelError, match="model 'coxnet' supports survival tasks"):
        run_job(task, Job(task.name, "coxnet", 0, 0, 0))


@pytest.mark.parametrize("spec,kind", [("kmeans:late-mean", "clustering"), ("ridge:late-mean", "translation")])
def test_late_mean_refused_where_it_cannot_combine(spec: str, kind: str) -> None:
    with pytest.raises(IncompatibleModelError):
        build_model(spec, kind, 0)


def test_register_model_validates_metadata() -> None:
    list_models()  # built-ins loaded, so 'logreg' is taken
    before = dict(registry.MODELS)
    common = dict(summary="s", reference="r", modality_handling="m")
    with pytest.raises(ValueError, match="missing-modality policy 'zero'"):
        register_model("t-bad1", kinds=("binary",), missing="zero", **common)(lambda: None)
    with pytest.raises(ValueError, match=r"unknown task kinds \['regression'\]"):
        register_model("t-bad2", kinds=("regression",), missing="impute", **common)(lambda: None)
    with pytest.raises(ValueError, match="':' and '/' are reserved for the spec suffixes"):
        register_model("t:bad3", kinds=("binary",), missing="impute", **common)(lambda: None)
    with pytest.raises(ValueError, match="summary and reference are required"):
        register_model("t-bad4", summary="", reference="r", kinds=("binary",), modality_handling="m",
                       missing="impute")(lambda: None)
    with pytest.raises(ValueError, match="model 'logreg' is already registered"):
        register_model("logreg", kinds=("binary",), missing="impute", **common)(lambda: None)
    assert registry.MODELS == before


class _CentroidModel(BaseEstimator, ClassifierMixin):
    """A user model: nearest class centroid on the concatenated modalities (training-mean imputation)."""

    def __init__(self, random_state: int = 0, temperature: float = 1.0) -> None:
        self.random_state = random_state
        self.temperature = temperature

    def _stack(self, X: dict[str, np.ndarray]) -> np.ndarray:
        Z = np.hstack([np.asarray(X[m], dtype=np.float64) for m in sorted(X)])
        return np.where(np.isnan(Z), self.fill_, Z)

    def fit(self, X: dict[str, np.ndarray], y: np.ndarray) -> "_CentroidModel":
        Z = np.hstack([np.asarray(X[m], dtype=np.float64) for m in sorted(X)])
        self.fill_ = np.nanmean(Z, axis=0)
        Z = self._stack(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.centroids_ = np.array([Z[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict_proba(self, X: dict[str, np.ndarray]) -> np.ndarray:
        Z = self._stack(X)
        d = ((Z[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2) / self.temperature
        w = np.exp(-(d - d.min(axis=1, keepdims=True)))
        return w / w.sum(axis=1, keepdims=True)

    def predict(self, X: dict[str, np.ndarray]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


@pytest.fixture
def user_model():
    name = "test-centroid"
    assert name not in list_models()
    try:
        register_model(name, summary="Nearest class centroid (test plug-in)", reference="(test)",
                       kinds=("classification", "binary"), modality_handling="concatenation", missing="impute")(_CentroidModel)
        yield name
    finally:
        registry.MODELS.pop(name, None)
    assert name not in list_models()


def test_user_model_registered_and_run(user_model: str, tasks: dict[str, Task]) -> None:
    assert user_model in list_models()
    info = get_model(user_model)
    assert info.factory is _CentroidModel and info.kinds == ("classification", "binary")
    model = build_model(user_model, "classification", 5)
    assert isinstance(model, _CentroidModel) and model.random_state == 5
    for kind in ("classification", "binary"):
        task = tasks[kind]
        split = task.get_split(0, 0)
        out = run_job(task, Job(task.name, user_model, 0, 0, 0))
        assert out.test.n == len(split.test) and out.test.split_sha256 == split.sha256
        assert set(out.test.metrics) == EXPECTED_METRICS[kind]
        assert all(math.isfinite(v) for v in out.test.metrics.values())
    # it also runs under late fusion (one centroid model per modality)
    out = run_job(tasks["classification"], Job("syn-type", f"{user_model}:late-mean", 0, 0, 0))
    assert out.test.n == len(tasks["classification"].get_split(0, 0).test)


# ---- the contract: every model x every kind it supports x every fusion that applies ----------------------


def _cases() -> tuple[list, list]:
    runnable, restricted = [], []
    for name, info in list_models().items():
        for kind in info.kinds:
            fusions = ["early"]
            if not info.is_control and not info.reads_clinical:  # clinical-fusion is a late fusion itself
                if kind in ("classification", "binary"):
                    fusions += ["late-mean", "late-stack"]
                elif kind == "survival":
                    fusions += ["late-mean", "late-cox"]
            for fusion in fusions:
                spec = name if fusion == "early" else f"{name}:{fusion}"
                param = pytest.param(spec, kind, id=f"{spec}-{kind}")
                uses = ("clinical",) if info.reads_clinical else info.modalities  # the contract data has no clinical
                (restricted if uses is not None and not set(uses) & {"rna", "pathology"} else runnable).append(param)
    return runnable, restricted


RUNNABLE, RESTRICTED = _cases()


@pytest.fixture
def small_tuning_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract checks the model interface, not the search (tests/test_tuning.py): a 2 x 2-fold budget."""
    from oncobench.baselines import tuning

    monkeypatch.setattr(tuning, "BUDGET", tuning.TuningBudget(n_candidates=2, n_splits=2, n_repeats=1))


@pytest.mark.parametrize("spec,kind", RUNNABLE)
@pytest.mark.usefixtures("small_tuning_budget")
def test_contract(spec: str, kind: str, tasks: dict[str, Task]) -> None:
    task = tasks[kind]
    split = task.get_split(0, 0)
    out = run_job(task, Job(task.name, spec, 0, 0, 0))
    result = out.test
    assert (result.task, result.kind, result.split_sha256) == (task.name, kind, split.sha256)
    assert result.n == len(split.test)
    metrics = dict(result.metrics)
    assert EXPECTED_METRICS[kind] <= set(metrics) and task.spec.primary in metrics
    frame = out.predictions
    constant = kind == "translation" and all(frame[c].n_unique() == 1 for c in frame.columns if c != ID)
    for name, value in metrics.items():
        if constant and name in CORRELATIONS:  # e.g. the mean baseline: a constant prediction has no correlation
            assert math.isnan(value), f"{spec} on {kind}: {name} = {value} for a constant prediction"
            continue
        assert math.isfinite(value), f"{spec} on {kind}: {name} = {value}"
    if kind == "survival":
        assert result.n_events == int(task.outcome(split.test)[0].sum())
        # surv_<t> columns (hence the IBS) come exactly from models that predict survival curves
        assert ("ibs" in metrics) == hasattr(build_model(spec, kind, 0), "predict_survival")
        assert 0.0 <= metrics["ibs"] <= 1.0 if "ibs" in metrics else True
    schema = task.input_schema()
    assert ID in frame.columns and set(schema["required"]) <= set(frame.columns)
    assert frame.height == len(split.test) and sorted(frame[ID].to_list()) == list(split.test)
    if kind in ("classification", "binary"):
        proba = frame.select(list(schema["required"])).to_numpy()
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-9) and (proba >= 0).all()
    if kind == "clustering":
        assert frame["cluster"].dtype == pl.Int64
    # the evaluator gives the same result when handed the frame again (repr: NaN correlations compare equal)
    assert repr(task.evaluate(frame, split=split)) == repr(result)
    if out.valid is not None:
        assert out.valid.n == len(split.valid)


@pytest.mark.parametrize("spec,kind", RESTRICTED)
def test_contract_model_without_its_modalities_is_incompatible(spec: str, kind: str, tasks: dict[str, Task]) -> None:
    task = tasks[kind]
    info, _ = parse_model_spec(spec)
    message = rf"model '{info.name}' (reads|needs) \['clinical'\].* which task {task.name} does not provide"
    with pytest.raises(IncompatibleModelError, match=message):
        model_inputs(task, spec)
    with pytest.raises(IncompatibleModelError, match=message):
        run_job(task, Job(task.name, spec, 0, 0, 0))


def test_contract_covers_every_registered_model() -> None:
    covered = {p.values[0].partition(":")[0] for p in RUNNABLE + RESTRICTED}
    assert covered == set(list_models())
    assert {p.values[0] for p in RESTRICTED} >= {"clinical-logreg", "clinical-cox", "clinical-fusion"}


def test_clinical_references_read_only_clinical(pancan_type: Task, pfi_pancan: Task) -> None:
    assert model_inputs(pancan_type, "clinical-logreg") == ("clinical",)
    assert model_inputs(pancan_type, "logreg") == pancan_type.inputs
    for task, spec in ((pancan_type, "clinical-logreg"), (pfi_pancan, "clinical-cox")):
        split = task.get_split(0, 0)
        out = run_job(task, Job(task.name, spec, 0, 0, 0))
        assert out.test.n == len(split.test)
        assert all(math.isfinite(v) for v in out.test.metrics.values())


# ---- missing modalities: explicit, never a silent zero ---------------------------------------------------


def test_preprocessor_fills_absent_modality_with_training_median() -> None:
    nan = np.nan
    rna = np.array([[1, 10], [2, 20], [3, 30], [10, 200], [nan, nan]], dtype=np.float64)  # last: no rna
    path = np.array([[0.1], [0.2], [0.3], [0.4], [0.5]])
    pre = ModalityPreprocessor(top_k=None).fit({"rna": rna, "pathology": path})
    median, mean = np.array([2.5, 25.0]), np.array([4.0, 65.0])
    sd = np.array([math.sqrt(12.5), math.sqrt(6125.0)])
    assert np.allclose(pre.median_["rna"], median) and np.allclose(pre.mean_["rna"], mean)
    assert np.allclose(pre.scale_["rna"], sd)
    new_rna = np.array([[nan, nan], [nan, 20.0], [2.5, 25.0]])
    new_path = np.array([[0.3], [0.3], [0.3]])
    z = pre.transform({"rna": new_rna, "pathology": new_path})
    assert z.shape == (3, 2 + 1 + 1 + 1)
    expected_absent = (median - mean) / sd
    assert np.allclose(z[0, :2], expected_absent) and z[0, 2] == 0.0
    assert np.all(z[0, :2] != 0.0)  # the gap is the standardised median, not a zero
    # a patient measured exactly at the medians differs from an absent one only by the presence flag
    assert np.allclose(z[2, :2], z[0, :2]) and z[2, 2] == 1.0
    assert np.allclose(z[1, :2], [(2.5 - 4.0) / sd[0], (20.0 - 65.0) / sd[1]]) and z[1, 2] == 1.0
    assert pre.feature_names_out({"rna": ["g1", "g2"], "pathology": ["p"]}) == [
        "rna:g1", "rna:g2", "rna:present", "pathology:p", "pathology:present"]


def test_preprocessor_refuses_a_modality_no_training_patient_has() -> None:
    with pytest.raises(ValueError, match="modality 'rna': no training patient has it"):
        ModalityPreprocessor().fit({"rna": np.full((4, 2), np.nan), "pathology": np.ones((4, 1))})


def test_task_patient_without_rna_gets_standardised_medians(tasks: dict[str, Task]) -> None:
    task = tasks["classification"]
    split = task.get_split(0, 0)
    train = task.features(split.train)
    pre = ModalityPreprocessor(top_k=500).fit({m: b.values for m, b in train.items()})
    test = task.features(split.test)
    absent = np.flatnonzero(~test["rna"].present)
    assert absent.size > 0
    z = pre.transform({m: b.values for m, b in test.items()})
    k = len(pre.keep_["rna"])
    expected = (pre.median_["rna"] - pre.mean_["rna"]) / pre.scale_["rna"]
    for i in absent:
        assert np.allclose(z[i, :k], expected) and z[i, k] == 0.0
    assert np.all(z[~test["rna"].present, k] == 0.0) and np.all(z[test["rna"].present, k] == 1.0)
    assert not np.allclose(expected, 0.0)


# ---- leakage: fitted state depends only on the training fold ---------------------------------------------


def _fitted_state(model: EarlyFusion | TunedModel) -> dict[str, np.ndarray]:
    state = {}
    if isinstance(model, TunedModel):  # the choice made by inner-CV tuning is fitted state too
        state["best_params_"] = np.frombuffer(json.dumps(model.best_params_, sort_keys=True).encode(), dtype=np.uint8)
        model = model.best_estimator_
    pre = model.preprocessor_
    for m in pre.modalities_:
        for attr in ("median_", "mean_", "scale_", "keep_"):
            state[f"{m}.{attr}"] = np.asarray(getattr(pre, attr)[m])
    est = model.estimator_
    if hasattr(est, "coef_") and hasattr(est, "intercept_"):
        state["coef_"], state["intercept_"] = est.coef_, est.intercept_
    if hasattr(est, "model_"):  # Coxnet
        state["alpha_"], state["coef_"] = np.asarray(est.alpha_), np.asarray(est.model_.coef_)
        state["baseline_"] = np.asarray(est.breslow_.baseline_survival_.y)
    return state


def _identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a)


def _run_capturing(folder, spec: TaskSpec, model: str, altered: set[str], monkeypatch: pytest.MonkeyPatch):
    """run_job on a fresh Dataset whose matrices are changed (x * -3 + 7) for the ``altered`` patients."""
    ds = Dataset(folder)
    original = ds.matrix

    def matrix(modality, patients=None):
        values, features = original(modality, patients)
        rows = [i for i, p in enumerate(patients) if p in altered]
        values = np.array(values, copy=True)
        values[rows] = values[rows] * -3.0 + 7.0
        return values, features

    monkeypatch.setattr(ds, "matrix", matrix)
    built = []
    real_build = job_module.build_model
    monkeypatch.setattr(job_module, "build_model", lambda *a, **k: built.append(real_build(*a, **k)) or built[-1])
    out = run_job(Task(spec, ds), Job(spec.name, model, 0, 0, 0))
    return built[0], out


@pytest.mark.parametrize("kind,model", [("classification", "logreg"), ("survival", "coxnet")])
def test_fitted_state_ignores_test_and_valid_values(kind: str, model: str, contract_folder, tasks: dict[str, Task],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SPECS[kind]
    split = tasks[kind].get_split(0, 0)
    base_model, base_out = _run_capturing(contract_folder, spec, model, set(), monkeypatch)
    held_out = set(split.test) | set(split.valid)
    moved_model, moved_out = _run_capturing(contract_folder, spec, model, held_out, monkeypatch)
    base_state, moved_state = _fitted_state(base_model), _fitted_state(moved_model)
    assert {"rna.median_", "rna.keep_", "pathology.scale_", "coef_"} <= set(base_state)
    assert _identical(base_state, moved_state)
    # the change did reach the model: its test predictions differ
    assert moved_out.test.predictions_sha256 != base_out.test.predictions_sha256
    # ... and changing training values does change the fitted state (so the comparison above can fail)
    train_model, _ = _run_capturing(contract_folder, spec, model, set(split.train[:20]), monkeypatch)
    assert not _identical(base_state, _fitted_state(train_model))


def test_fitted_state_direct_fit_ignores_test_rows(tasks: dict[str, Task]) -> None:
    task = tasks["classification"]
    split = task.get_split(0, 0)
    X_train = {m: b.values for m, b in task.features(split.train).items()}
    X_test = {m: b.values for m, b in task.features(split.test).items()}
    y_train = task.target(split.train)
    first = build_model("logreg", "classification", 0).fit(X_train, y_train)
    p_first = first.predict_proba(X_test)
    changed = {m: v * 10.0 - 4.0 for m, v in X_test.items()}
    second = build_model("logreg", "classification", 0).fit(X_train, y_train)
    p_second = second.predict_proba(changed)
    assert _identical(_fitted_state(first), _fitted_state(second))
    assert not np.allclose(p_first, p_second)
    pre = ModalityPreprocessor(top_k=3).fit(X_train)
    pre_again = ModalityPreprocessor(top_k=3).fit(X_train)
    pre_again.transform(changed)
    for m in X_train:
        for attr in ("median_", "mean_", "scale_", "keep_"):
            assert getattr(pre, attr)[m].tobytes() == getattr(pre_again, attr)[m].tobytes()


def test_top_k_follows_training_variance(tasks: dict[str, Task]) -> None:
    task = tasks["classification"]
    split = task.get_split(0, 0)
    X = {m: b.values.astype(np.float64) for m, b in task.features(split.train).items()}
    pre = ModalityPreprocessor(top_k=3).fit(X)
    keep = pre.keep_["rna"].tolist()
    assert len(keep) == 3 and keep == sorted(keep)
    var = np.nanvar(X["rna"][task.features(split.train)["rna"].present], axis=0)
    assert set(keep) == set(np.argsort(-var)[:3].tolist())
    dropped = next(j for j in range(8) if j not in keep)
    boosted = {m: v.copy() for m, v in X.items()}
    boosted["rna"][:, dropped] *= 100.0
    assert dropped in ModalityPreprocessor(top_k=3).fit(boosted).keep_["rna"].tolist()


# ---- determinism -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["rf", "xgboost"])
@pytest.mark.usefixtures("small_tuning_budget")  # determinism of search + refit, at a CI-sized budget
def test_same_seed_same_result(model: str, pancan_type: Task) -> None:
    a = run_job(pancan_type, Job("pancan-type", model, 0, 0, 0))
    b = run_job(pancan_type, Job("pancan-type", model, 0, 0, 0))
    assert dict(a.test.metrics) == dict(b.test.metrics)
    assert a.test.predictions_sha256 == b.test.predictions_sha256
    assert a.predictions.equals(b.predictions)
    assert a.test.metrics["auroc"] > 0.9  # tcga-mini pancan-type is easy from miRNA


@pytest.mark.usefixtures("small_tuning_budget")
def test_other_seed_other_predictions(pancan_type: Task) -> None:
    a = run_job(pancan_type, Job("pancan-type", "rf", 0, 0, 0))
    c = run_job(pancan_type, Job("pancan-type", "rf", 0, 0, 1))
    assert a.test.predictions_sha256 != c.test.predictions_sha256
    assert a.test.split_sha256 == c.test.split_sha256


# ---- controls --------------------------------------------------------------------------------------------


def test_prior_predicts_training_frequencies(pancan_type: Task) -> None:
    split = pancan_type.get_split(0, 0)
    out = run_job(pancan_type, Job("pancan-type", "prior", 0, 0, 0))
    assert out.test.metrics["auroc"] == 0.5
    labels = pancan_type.labels(split.train)
    for c in pancan_type.classes:
        assert np.allclose(out.predictions[f"proba_{c}"].to_numpy(), np.mean(labels == c))


def test_km_control(pfi_pancan: Task) -> None:
    from sksurv.nonparametric import kaplan_meier_estimator

    split = pfi_pancan.get_split(0, 0)
    out = run_job(pfi_pancan, Job("pfi-pancan", "km", 0, 0, 0))
    m = out.test.metrics
    assert "ibs" in m and math.isfinite(m["ibs"]) and 0.0 < m["ibs"] < 1.0
    assert 0.3 <= m["harrell_c"] <= 0.7
    surv_cols = [c for c in out.predictions.columns if c.startswith("surv_")]
    assert surv_cols
    curves = out.predictions.select(surv_cols).to_numpy()
    assert np.all(curves == curves[0])  # one shared curve
    event, time = pfi_pancan.outcome(split.train)
    km_t, km_s = kaplan_meier_estimator(event, time)
    from oncobench.benchmark.evaluator import evaluation_times

    times = evaluation_times(pfi_pancan, split)
    expected = km_s[np.searchsorted(km_t, times, side="right") - 1]
    assert np.allclose(curves[0], expected)
