"""Tasks, runner and artefact controls on the real tcga-pancan (built once per session from $ONCOBENCH_RAW_DIR)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from oncobench.benchmark.job import Job, run_job
from oncobench.benchmark.results import per_fold_table, results_table
from oncobench.benchmark.runner import run_grid
from oncobench.benchmark.tasks import Task, task_spec

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def tasks(pancan):
    return lambda name: Task(task_spec(name), pancan)


def test_task_golden_counts(tasks) -> None:
    t = tasks("pancan-type")
    assert t.cohorts == ("blca", "luad", "paad", "skcm", "stad", "ucec")
    assert t.info()["classes"] == {"BLCA": 279, "LUAD": 390, "PAAD": 144, "SKCM": 191, "STAD": 294, "UCEC": 412}
    assert {m: len(f) for m, f in t.feature_names.items()} == {"mirna": 383, "pathology": 22, "clinical": 2}
    assert all(f.startswith("til:") for f in t.feature_names["pathology"])  # PathAI HIFs are cohort-specific: out
    assert tasks("brca-pam50").info()["classes"] == {"Basal": 152, "Her2": 69, "LumA": 452, "LumB": 185, "Normal": 56}
    os_brca = tasks("os-brca").info()
    assert (os_brca["patients"], os_brca["events"]) == (956, 130)
    assert tasks("metastasis-tcga").info()["classes"] == {"M0": 862, "M1": 58}
    porpoise = tasks("os-brca-porpoise")
    assert porpoise.scheme == "porpoise" and len(porpoise.folds) == 5
    assert porpoise.inputs == ("rna", "cnv", "mutation")  # PORPOISE's genomic inputs; clinical is offered beside them
    assert porpoise.modalities == ("rna", "cnv", "mutation", "clinical")
    for name in ("pancan-type", "brca-pam50", "os-brca", "pfi-pancan", "os-brca-porpoise", "pancan-type-site"):
        assert tasks(name).check() == [], name


def test_site_variant_keeps_hospitals_apart(tasks, pancan) -> None:
    t = tasks("pancan-type-site")
    hospital = dict(zip(pancan.clinical["patient_id"].to_list(), pancan.clinical["hospital"].to_list()))
    for repeat, fold in t.folds:
        s = t.get_split(fold, repeat)
        assert not {hospital[p] for p in s.train} & {hospital[p] for p in s.test + s.valid}


def _fold_f1(task: Task, features: dict[str, np.ndarray] | None, fold: int) -> float:
    split = task.get_split(fold, 0)

    def design(ids):
        blocks = task.features(ids)
        cols = [np.isnan(b.values).astype(float) for b in blocks.values()] + [b.present[:, None].astype(float) for b in blocks.values()]
        return np.hstack(cols)

    y = task.labels(split.train)
    model = LogisticRegression(max_iter=2000).fit(design(split.train), y)
    proba = model.predict_proba(design(split.test))
    frame = {"patient_id": list(split.test)} | {f"proba_{c}": proba[:, list(model.classes_).index(c)] for c in task.classes}
    return task.evaluate(frame, split=split).metrics["macro_f1"]


def test_missing_value_pattern_alone_does_no_better_than_the_control(tasks) -> None:
    """pancan-type's feature rules leave no missing-value or missing-modality pattern for a model to read the cohort from;
    without them (every modality, no comparability rule) the same pattern-only model reads it easily."""
    task = tasks("pancan-type")
    for fold in range(5):
        prior = run_job(task, Job(task.name, "prior", 0, fold, 0)).test.metrics["macro_f1"]
        assert _fold_f1(task, None, fold) == pytest.approx(prior, abs=0.01)
    naive = Task(replace(task.spec, name="pancan-type-naive", comparable=False, feature_prefix={},
                         modalities=("rna", "cnv", "mutation", "mirna", "pathology", "clinical")), task.dataset)
    prior = run_job(naive, Job(naive.name, "prior", 0, 0, 0)).test.metrics["macro_f1"]
    assert _fold_f1(naive, None, 0) > prior + 0.3


def test_per_cohort_scaling_leaves_no_trace_in_mirna(tasks) -> None:
    """miRNA is normalised per sample (every profile has mean 0, sd 1), so a model given only each patient's
    location and scale sees the same numbers for every cohort."""
    task = tasks("pancan-type")
    values = task.features(task.patients, ["mirna"])["mirna"].values.astype(np.float64)
    np.testing.assert_allclose(values.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(values.std(axis=1), 1, atol=1e-3)


def test_done_when_pancan_type_grid_and_porpoise_cindex(tasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncobench.baselines import tuning

    # CI-sized tuning budget (2 candidates x 2-fold): the full one made this grid ~20 min on two busy cores
    monkeypatch.setattr(tuning, "BUDGET", tuning.TuningBudget(n_candidates=2, n_splits=2, n_repeats=1))
    task = tasks("pancan-type")
    report = run_grid([task], ["logreg", "xgboost", "rf"], seeds=[0, 1], folds=[0], progress=False, home=tmp_path)
    assert report.failed == [] and report.ran == 10  # (3 models + prior + clinical-logreg) x 2 seeds
    table = results_table(task, tmp_path)
    scores = dict(zip(table["model"], table["macro_f1_mean"]))
    assert min(scores["logreg"], scores["xgboost"], scores["rf"]) > 0.9 > 0.15 > scores["prior"]
    porpoise = tasks("os-brca-porpoise")
    report = run_grid([porpoise], ["coxnet", "rsf"], progress=False, home=tmp_path)
    assert report.failed == [] and report.ran == 20  # (coxnet, rsf, km, clinical-cox) x PORPOISE's 5 folds
    folds = per_fold_table(porpoise, tmp_path)
    assert folds.filter(pl.col("model") == "coxnet")["fold"].sort().to_list() == [0, 1, 2, 3, 4]
    assert folds["uno_c"].is_finite().all() and folds["harrell_c"].is_finite().all()
    rows = {r["model"]: r for r in results_table(porpoise, tmp_path).iter_rows(named=True)}
    for model in ("coxnet", "rsf"):
        assert rows[model]["uno_c_mean"] > rows["km"]["uno_c_mean"]
