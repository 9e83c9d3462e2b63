"""Tuning: one declared budget, inner CV on the training rows only, numerical failures skipped and counted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from oncobench.baselines.fusion import EarlyFusion
from oncobench.baselines.registry import build_model, list_models
from oncobench.baselines.survival import Coxnet
from oncobench.baselines.tuning import (
    BUDGET,
    SPACES,
    TunedModel,
    TuningBudget,
    budget_from_env,
    describe,
    inner_splits,
)


def _outcome(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    return np.array(list(zip(event.astype(bool), time.astype(float))), dtype=[("event", "?"), ("time", "<f8")])


class _Recorder(BaseEstimator):
    """A dict-of-modalities model that records the rows it is fitted on; its risk is ``w * x``."""

    fits: list[np.ndarray] = []

    def __init__(self, w: float = 1.0) -> None:
        self.w = w

    def fit(self, X: dict[str, np.ndarray], y: np.ndarray) -> "_Recorder":
        _Recorder.fits.append(X["rna"][:, 0].copy())
        return self

    def predict(self, X: dict[str, np.ndarray]) -> np.ndarray:
        return self.w * X["rna"][:, 0]


def test_budget_is_declared_once_and_spent_exactly() -> None:
    rng = np.random.default_rng(0)
    n = 60
    x = rng.standard_normal(n)
    y = _outcome(rng.random(n) < 0.7, np.exp(-x) * 100 + rng.random(n))
    X = {"rna": x[:, None]}
    budget = TuningBudget(n_candidates=4, n_splits=3, n_repeats=2)
    _Recorder.fits = []
    model = TunedModel(_Recorder(), {"w": [-1.0, -0.5, 0.5, 1.0, 2.0]}, "survival", budget, 0).fit(X, y)
    # 4 candidates x 3 folds x 2 repeats inner fits, then one refit on every training row
    assert len(_Recorder.fits) == budget.inner_fits + 1 == 25
    assert sorted(_Recorder.fits[-1].tolist()) == sorted(x.tolist())
    assert all(len(f) == 40 for f in _Recorder.fits[:-1])  # 2/3 of the 60 rows in each inner fit
    # risk = w * x with time decreasing in x: every positive w ranks perfectly, a negative one inversely
    assert model.best_params_["w"] > 0 and model.best_score_ == pytest.approx(1.0)
    assert model.n_failed_candidates_ == 0
    assert json.loads(json.dumps(model.best_params_)) == model.best_params_


def test_every_tuned_model_gets_the_same_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONCOBENCH_TUNING", raising=False)  # the suite runs with a smaller one (conftest)
    models = list_models()
    assert set(SPACES) == {"logreg", "svm", "rf", "xgboost", "knn", "coxnet", "rsf", "xgboost-cox", "clinical-logreg",
                           "clinical-cox", "ridge", "knn-regressor"}
    for name in SPACES:
        info = models[name]
        model = info.build(info.kinds[0], 3)
        assert isinstance(model, TunedModel) and model.budget is None and model.random_state == 3
        assert model.space is SPACES[name]
        assert describe(name).endswith(BUDGET.describe())
    assert describe("km") == "not tuned"
    assert BUDGET == TuningBudget(4, 3, 2) and BUDGET.describe() == (
        "4 candidates x 3-fold inner CV repeated 2x (24 inner fits + 1 refit; Cox-type models + 3 calibration fits), "
        "training fold only")


def test_budget_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCOBENCH_TUNING", "10,5,2")
    assert budget_from_env() == TuningBudget(10, 5, 2)
    monkeypatch.setenv("ONCOBENCH_TUNING", "ten")
    with pytest.raises(ValueError, match="ONCOBENCH_TUNING='ten': expected three integers"):
        budget_from_env()
    monkeypatch.setenv("ONCOBENCH_TUNING", "3,1,1")
    with pytest.raises(ValueError, match="need candidates >= 1, splits >= 2, repeats >= 1"):
        budget_from_env()


def test_inner_splits_are_repeated_and_stratified() -> None:
    event = np.array([1] * 12 + [0] * 24)
    y = _outcome(event, np.arange(36.0) + 1)
    splits = inner_splits(y, "survival", TuningBudget(2, 3, 2), 0)
    assert len(splits) == 6
    for fit_rows, held in splits:
        assert len(held) == 12 and event[held].sum() == 4  # every inner test fold keeps the event share
        assert not set(fit_rows) & set(held)
    first, second = splits[:3], splits[3:]
    assert [sorted(h.tolist()) for _, h in first] != [sorted(h.tolist()) for _, h in second]
    labels = np.array(["a"] * 9 + ["b"] * 18)
    for _, held in inner_splits(labels, "classification", TuningBudget(2, 3, 1), 0):
        assert (labels[held] == "a").sum() == 3


def _separable(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Death order given exactly by one feature: the unpenalised Cox MLE does not exist."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1))
    time = np.argsort(np.argsort(-x[:, 0])) + 1.0
    return {"rna": x}, _outcome(np.ones(n), time)


def test_arithmetic_error_in_inner_cv_skips_the_candidate_and_is_counted() -> None:
    X, y = _separable(30, 0)
    budget = TuningBudget(n_candidates=2, n_splits=3, n_repeats=1)
    splits = inner_splits(y, "survival", budget, 0)
    # the premise: at a vanishing penalty the path fit overflows on one inner training set ...
    outcomes = []
    for fit_rows, _ in splits:
        try:
            EarlyFusion(Coxnet(alpha_ratio=1e-10)).fit({"rna": X["rna"][fit_rows]}, y[fit_rows])
            outcomes.append("ok")
        except ArithmeticError as exc:
            assert "weights are too large" in str(exc)
            outcomes.append("overflow")
    assert "overflow" in outcomes
    # ... yet tuning over that penalty and a sane one finishes, skips the failing one and counts it
    model = TunedModel(EarlyFusion(Coxnet()), {"estimator__alpha_ratio": [1e-10, 0.3]}, "survival", budget, 0).fit(X, y)
    assert model.n_failed_candidates_ == 1
    assert model.best_params_ == {"alpha_ratio": 0.3}
    risk = model.predict(X)
    assert np.isfinite(risk).all() and np.corrcoef(risk, X["rna"][:, 0])[0, 1] > 0.99


def test_all_candidates_failing_falls_back_to_defaults() -> None:
    X, y = _separable(30, 0)
    budget = TuningBudget(n_candidates=1, n_splits=3, n_repeats=1)
    model = TunedModel(EarlyFusion(Coxnet(alpha_ratio=0.3)), {"estimator__alpha_ratio": [1e-10]}, "survival", budget,
                       0).fit(X, y)
    assert model.n_failed_candidates_ == 1 and model.best_params_ == {}
    assert model.best_estimator_.estimator_.alpha_ratio == 0.3


@pytest.mark.parametrize("spec", ["coxnet", "coxnet:late-cox"])
def test_tuned_survival_model_reports_choice(spec: str) -> None:
    rng = np.random.default_rng(1)
    n = 90
    x = rng.standard_normal((n, 3))
    y = _outcome(rng.random(n) < 0.7, rng.exponential(100 * np.exp(-x[:, 0])))
    model = build_model(spec, "survival", 0).fit({"rna": x, "cnv": rng.standard_normal((n, 2))}, y)
    assert isinstance(model.n_failed_candidates_, int) and model.n_failed_candidates_ == 0
    keys = {"alpha_ratio"} if spec == "coxnet" else {"rna.alpha_ratio", "cnv.alpha_ratio"}
    assert set(model.best_params_) == keys
    assert all(0.03 <= v <= 0.5 for v in model.best_params_.values())


def test_chosen_hyperparameters_are_logged_per_job(tmp_path) -> None:
    from oncobench.benchmark.results import per_fold_table
    from oncobench.benchmark.runner import run_grid
    from oncobench.benchmark.tasks import load_task
    from oncobench.benchmark.tracking import Tracker

    task = load_task("pfi-pancan", dataset="tcga-mini")
    report = run_grid([task], ["coxnet"], folds=[0], controls=False, progress=False, home=tmp_path)
    assert report.failed == [] and report.ran == 1
    (run,) = Tracker(tmp_path).job_runs(task.name, task.dataset.id)
    alpha_ratio = float(run.data.params["hp.alpha_ratio"])
    assert 0.03 <= alpha_ratio <= 0.5
    assert run.data.metrics["tuning_failed_candidates"] == 0.0
    assert run.data.params["tuning_budget"] == budget_from_env().key()
    # the same choice as fitting the registered model on that fold by hand
    split = task.get_split(0, 0)
    X = {m: b.values for m, b in task.features(split.train).items()}
    model = build_model("coxnet", "survival", 0).fit(X, task.target(split.train))
    assert model.best_params_ == {"alpha_ratio": pytest.approx(alpha_ratio, rel=1e-12)}
    assert per_fold_table(task, tmp_path).height == 1


def test_budget_is_part_of_a_tuned_jobs_config_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A result tuned with another budget is another result: re-running with it must not skip the job."""
    from oncobench.benchmark.job import Job

    tuned, control = Job("t", "coxnet/rna", 0, 0, 0), Job("t", "km", 0, 0, 0)
    monkeypatch.setenv("ONCOBENCH_TUNING", "2,2,1")
    small = tuned.config_hash("d@1"), control.config_hash("d@1")
    monkeypatch.setenv("ONCOBENCH_TUNING", "4,3,2")
    large = tuned.config_hash("d@1"), control.config_hash("d@1")
    assert small[0] != large[0] and small[1] == large[1]


def test_declared_budget_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    from oncobench.baselines.tuning import declared_budget

    monkeypatch.setenv("ONCOBENCH_TUNING", "3,2,1")
    with declared_budget(TuningBudget(2, 2, 1)):
        assert budget_from_env() == TuningBudget(2, 2, 1)
    assert budget_from_env() == TuningBudget(3, 2, 1)
