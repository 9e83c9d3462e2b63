"""Omics imputation: seeded exact masks, no leakage from test patients, MAE/RMSE by hand, a real run.

Hand values: the tiny-matrix metrics are worked out in the comments; the mean imputer's MAE is the mean absolute
training-standardised value of the hidden entries (the mean imputer fills 0 in z space), computed here from the
dataset's matrix with numpy, not through the evaluator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from oncobench.baselines.imputers import (
    KNNModalityImputer,
    MeanImputer,
    SVDModalityImputer,
)
from oncobench.benchmark.imputation import hidden_mask, mask_seed, split_mask
from oncobench.benchmark.job import fit_predict, run_job
from oncobench.benchmark.metrics.imputation import imputation_metrics
from oncobench.benchmark.runner import plan, run_grid
from oncobench.benchmark.tasks import (
    ModalityBlock,
    Task,
    TaskSpec,
    load_task,
    task_spec,
)

IDS = [f"TCGA-XX-{i:04d}" for i in range(40)]


@pytest.mark.parametrize("rate,p", [(0.3, 1558), (0.5, 383), (0.7, 10)])
def test_mask_hides_exactly_the_rate_of_each_patient(rate: float, p: int) -> None:
    mask = hidden_mask(IDS, p, rate, seed=7)
    assert mask.shape == (40, p) and mask.dtype == bool
    assert (mask.sum(axis=1) == round(rate * p)).all()  # 0.3 * 1558 = 467.4 -> 467; 0.5 * 383 = 191.5 -> 192; 7


def test_mask_is_seeded_and_differs_by_fold_rate_and_patient_not_by_neighbours() -> None:
    seed = mask_seed("impute-rna-brca-30", "tcga-pancan@1.0", 0, 0, 0.3)
    assert seed == mask_seed("impute-rna-brca-30", "tcga-pancan@1.0", 0, 0, 0.3)  # crc32: same in every process
    again = hidden_mask(IDS, 200, 0.3, seed)
    assert np.array_equal(hidden_mask(IDS, 200, 0.3, seed), again)
    other_fold = hidden_mask(IDS, 200, 0.3, mask_seed("impute-rna-brca-30", "tcga-pancan@1.0", 0, 1, 0.3))
    assert (other_fold != again).any(axis=1).all()  # every patient gets another mask in another fold
    other_repeat = hidden_mask(IDS, 200, 0.3, mask_seed("impute-rna-brca-30", "tcga-pancan@1.0", 1, 0, 0.3))
    assert (other_repeat != again).any(axis=1).all()
    assert not np.array_equal(again[0], again[1])  # patients differ
    # a patient's mask does not depend on who else is scored or in which order
    assert np.array_equal(hidden_mask(IDS[::-1][:5], 200, 0.3, seed), again[::-1][:5])


def test_mask_refuses_rates_that_hide_nothing_or_everything() -> None:
    with pytest.raises(ValueError, match="outside"):
        hidden_mask(IDS, 10, 1.0, 0)
    with pytest.raises(ValueError, match="hides 0"):
        hidden_mask(IDS, 3, 0.1, 0)
    with pytest.raises(ValueError, match="missing_rate"):
        TaskSpec(name="x", kind="imputation", target="rna", modalities=("rna",), description="", primary="mae")


def test_mae_and_rmse_by_hand_on_a_tiny_matrix() -> None:
    truth = np.array([[1.0, 10.0, 0.0], [3.0, 30.0, 5.0]])
    pred = np.array([[2.0, 16.0, 9.0], [3.0, 20.0, -1.0]])
    hidden = np.array([[True, True, False], [False, True, True]])
    center, scale = np.array([0.0, 10.0, 0.0]), np.array([2.0, 5.0, 1.0])
    # standardised errors over hidden entries: (2-1)/2 = 0.5; (16-10)/5 = 1.2; (20-30)/5 = -2; (-1-5)/1 = -6
    # (the unhidden (0, 2) error 9 and (1, 0) error 0 are not scored)
    # MAE = (0.5 + 1.2 + 2 + 6) / 4 = 2.425; RMSE = sqrt((0.25 + 1.44 + 4 + 36) / 4) = sqrt(10.4225) = 3.2284...
    got = imputation_metrics(truth, pred, hidden, center, scale)
    assert got["mae"] == pytest.approx(2.425, abs=1e-12)
    assert got["rmse"] == pytest.approx(math.sqrt(10.4225), abs=1e-12)
    assert got["n_hidden"] == 4


def test_imputers_fill_only_hidden_entries_from_training_statistics() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, size=(30, 6))
    test = rng.normal(5.0, 2.0, size=(4, 6))
    shown = test.copy()
    shown[0, 1] = shown[2, 3] = shown[3, 0] = np.nan
    mean = MeanImputer().fit({"rna": train})
    assert np.allclose(mean.center_, train.sum(axis=0) / 30)  # the scaler's mean: the training mean, by hand
    assert np.allclose(mean.scale_, np.sqrt(((train - train.sum(axis=0) / 30) ** 2).sum(axis=0) / 30))
    out = mean.predict({"rna": shown})
    assert out[0, 1] == pytest.approx(train[:, 1].mean()) and out[3, 0] == pytest.approx(train[:, 0].mean())
    observed = ~np.isnan(shown)
    for imputer in (mean, KNNModalityImputer(n_neighbors=3).fit({"rna": train}),
                    SVDModalityImputer(ranks=(2,)).fit({"rna": train})):
        filled = imputer.predict({"rna": shown})
        assert np.isfinite(filled).all() and np.allclose(filled[observed], test[observed])


@pytest.fixture(scope="module")
def mini_task() -> Task:
    return load_task("impute-rna-brca-50", dataset="tcga-mini")


def test_predictions_never_see_the_hidden_test_values(mini_task: Task) -> None:
    """Hidden test entries set to 1e9 in the task's matrix: every imputer's predictions stay the same; the same
    change on a training patient does change them (the check can see a leak)."""
    task = mini_task
    split = task.get_split(0, 0)
    hidden = split_mask(task, split, split.test)
    full = task.features(task.patients, ["rna"])["rna"]
    rows = [task.patients.index(p) for p in split.test]
    for model in ("impute-mean", "impute-knn", "impute-svd", "impute-iterative"):
        job = plan([task], [model], folds=[0], controls=False)[0][1]
        base = fit_predict(task, job).test.drop("patient_id").to_numpy()
        poisoned = full.values.copy()
        block = poisoned[rows]
        block[hidden] = 1e9
        poisoned[rows] = block
        task._cache["rna"] = ModalityBlock(poisoned, full.features, full.present)
        try:
            again = fit_predict(task, job).test.drop("patient_id").to_numpy()
        finally:
            task._cache["rna"] = full
        assert np.array_equal(base[hidden], again[hidden]), model
        train_row = task.patients.index(split.train[0])
        poisoned = full.values.copy()
        poisoned[train_row] = 1e9
        task._cache["rna"] = ModalityBlock(poisoned, full.features, full.present)
        try:
            moved = fit_predict(task, job).test.drop("patient_id").to_numpy()
        finally:
            task._cache["rna"] = full
        assert not np.allclose(base[hidden], moved[hidden]), model


def test_mean_imputer_mae_is_the_hand_computed_one(mini_task: Task) -> None:
    """The mean imputer fills the training mean, i.e. 0 in training-z units: its MAE over the hidden entries is the
    mean |z| of the hidden truth, with the training mean and sd (ddof 0) computed here from the raw matrix."""
    task = mini_task
    split = task.get_split(0, 0)
    values, features = task.dataset.matrix("rna", list(split.train))
    cols = [features.index(f) for f in task.target_features]
    train = values[:, cols].astype(np.float64)
    test = task.dataset.matrix("rna", list(split.test))[0][:, cols].astype(np.float64)
    mu = train.sum(axis=0) / len(train)
    sd = np.sqrt(((train - mu) ** 2).sum(axis=0) / len(train))
    sd[sd == 0] = 1.0
    z = np.abs((test - mu) / sd)[split_mask(task, split, split.test)]
    out = run_job(task, plan([task], ["impute-mean"], folds=[0], controls=False)[0][1])
    assert out.test.metrics["mae"] == pytest.approx(z.mean(), rel=1e-9)
    assert out.test.metrics["rmse"] == pytest.approx(np.sqrt((z**2).mean()), rel=1e-9)
    assert out.test.n == len(split.test) and out.test.metrics["n_hidden"] == z.size


@pytest.mark.realdata
def test_runner_runs_an_imputation_task_on_real_data(pancan, tmp_path) -> None:
    """impute-rna-luad-30 fold 0 through the runner: KNN beside the mean control, logged and aggregated."""
    from oncobench.benchmark.results import results_table

    task = Task(task_spec("impute-rna-luad-30"), pancan)
    assert task.info()["missing_rate"] == 0.3 and task.inputs == ("rna",)
    report = run_grid([task], ["impute-knn"], folds=[0], progress=False, home=tmp_path)
    assert report.failed == [] and report.ran == 2  # impute-knn and the impute-mean control
    rows = {r["model"]: r for r in results_table(task, tmp_path).iter_rows(named=True)}
    assert set(rows) == {"impute-knn", "impute-mean"}
    # neighbours among LUAD training patients recover hidden RNA better than the training mean
    assert rows["impute-knn"]["mae_mean"] < rows["impute-mean"]["mae_mean"]


@pytest.mark.realdata
def test_cross_modal_task_scores_mean_by_hand(pancan11) -> None:
    """methylation-from-rna-brca: the mean baseline's standardised MAE is the mean |z| of every test entry."""
    task = Task(task_spec("methylation-from-rna-brca"), pancan11)
    split = task.get_split(0, 0)
    train = task.translation_target(split.train).values.astype(np.float64)
    test = task.translation_target(split.test).values.astype(np.float64)
    assert ((test >= 0) & (test <= 1)).all()  # beta values
    z = np.abs((test - train.mean(axis=0)) / train.std(axis=0))
    out = run_job(task, plan([task], ["impute-mean"], folds=[0], controls=False)[0][1])
    assert out.test.metrics["mae"] == pytest.approx(z.mean(), rel=1e-9)
    assert out.test.metrics["rmse"] == pytest.approx(np.sqrt((z**2).mean()), rel=1e-9)


def test_task_card_takes_an_imputation_task() -> None:
    from oncobench.benchmark.task_cards import parse_task_table

    spec, problems = parse_task_table({"name": "imp", "kind": "imputation", "target": "rna", "dataset": "tcga-mini",
                                        "missing_rate": 0.4}, "card")
    assert problems == [] and spec.missing_rate == 0.4 and spec.primary == "mae"
    _, problems = parse_task_table({"name": "imp", "kind": "imputation", "target": "rna", "dataset": "tcga-mini"}, "card")
    assert any("missing_rate" in p for p in problems)
