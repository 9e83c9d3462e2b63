"""Fairness per subgroup on the embedded tcga-mini: planted gaps found, small groups marked, per-group values
equal to scikit-learn / lifelines / scikit-survival on the subgroup rows, a seeded bootstrap, and one real run
through the runner that logs fairness.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from lifelines.utils import concordance_index
from sklearn.metrics import f1_score, roc_auc_score
from sksurv.metrics import concordance_index_ipcw
from sksurv.util import Surv

from oncobench.benchmark import fairness as F
from oncobench.benchmark.evaluator import evaluation_times
from oncobench.benchmark.runner import run_grid
from oncobench.benchmark.tasks import Split, load_task
from oncobench.benchmark.tracking import Tracker
from oncobench.cli import main


@pytest.fixture(scope="module")
def pancan_type():
    return load_task("pancan-type", dataset="tcga-mini")


@pytest.fixture(scope="module")
def pfi_pancan():
    return load_task("pfi-pancan", dataset="tcga-mini")


def _clinical_column(task, column: str) -> dict[str, object]:
    """The attribute straight from the embedded clinical Parquet file (not through the module under test)."""
    table = pl.read_parquet(task.dataset.path / "clinical.parquet")
    return dict(zip(table["patient_id"].to_list(), table[column].to_list()))


def _planted(task, split: Split, sex: dict[str, object], rng: np.random.Generator) -> pl.DataFrame:
    """Perfect (one-hot true class) for MALE patients, random Dirichlet probabilities for everyone else."""
    ids = list(split.test)
    labels = task.labels(ids)
    k = len(task.classes)
    proba = rng.dirichlet(np.ones(k), len(ids))
    for i, (pid, label) in enumerate(zip(ids, labels)):
        if sex[pid] == "MALE":
            proba[i] = np.eye(k)[task.classes.index(label)]
    return pl.DataFrame({"patient_id": ids, **{f"proba_{c}": proba[:, j] for j, c in enumerate(task.classes)}})


def _planted_jobs(task, seed: int = 0) -> list[tuple[Split, pl.DataFrame]]:
    sex = _clinical_column(task, "sex")
    rng = np.random.default_rng(seed)
    return [(task.get_split(f, r), _planted(task, task.get_split(f, r), sex, rng)) for r, f in task.folds if r == 0]


def test_planted_gap_is_found_and_its_interval_excludes_zero(pancan_type) -> None:
    res = F.fairness_from_predictions(pancan_type, _planted_jobs(pancan_type), "sex", model="planted", n_boot=100)
    table = res.table[res.table["metric"] == "macro_f1"].set_index("group")
    # perfect for MALE: F1 exactly 1 in every fold
    assert table.loc["MALE", "value"] == 1.0 and table.loc["MALE", "ci_low"] == 1.0
    assert table.loc["FEMALE", "value"] < 0.5
    gap = res.gaps["macro_f1"]
    assert (gap.worst_group, gap.best_group) == ("FEMALE", "MALE")
    assert gap.gap == pytest.approx(1.0 - table.loc["FEMALE", "value"])
    assert gap.ci_low > 0.3 and gap.ci_high <= 1.0
    # group sizes: distinct test patients of each sex over the five folds = the clinical table's count
    sex = _clinical_column(pancan_type, "sex")
    tested = {p for r, f in pancan_type.folds if r == 0 for p in pancan_type.get_split(f, r).test}
    for group in ("FEMALE", "MALE"):
        assert table.loc[group, "n"] == sum(1 for p in tested if sex[p] == group)
    # a model perfect for everyone has no gap: 0, and every resample says so
    perfect = []
    for split, frame in _planted_jobs(pancan_type):
        truth = pancan_type.labels(frame["patient_id"].to_list())
        perfect.append((split, frame.with_columns([pl.Series(f"proba_{c}", (truth == c).astype(float))
                                                   for c in pancan_type.classes])))
    none = F.fairness_from_predictions(pancan_type, perfect, "sex", n_boot=20).gaps["macro_f1"]
    assert (none.gap, none.ci_low, none.ci_high) == (0.0, 0.0, 0.0)


def test_small_groups_are_marked_not_scored(pancan_type) -> None:
    jobs = _planted_jobs(pancan_type)
    res = F.fairness_from_predictions(pancan_type, jobs, "ancestry", n_boot=0)
    table = res.table[res.table["metric"] == "macro_f1"].set_index("group")
    ancestry = _clinical_column(pancan_type, "eigenstrat")
    tested = [p for split, _ in jobs for p in split.test]
    # NA (Native American): 5 patients in all of tcga-mini, under MIN_PATIENTS in any test fold
    assert table.loc["NA", "n"] == sum(1 for p in tested if ancestry[p] == "NA") < F.MIN_PATIENTS
    assert bool(table.loc["NA", "too_small"]) and np.isnan(table.loc["NA", "value"])
    assert table.loc["NA", "jobs_scored"] == 0
    assert res.gaps["macro_f1"].worst_group != "NA"
    assert "too small to score" in F.format_fairness(pancan_type, [res])
    # per job: a group under the minimum is marked in the record, its value null
    split, _ = jobs[0]
    record = F.job_fairness(pancan_type, *jobs[0])
    for g in record["by"]["ancestry"]["groups"]:
        members = [p for p in split.test if (ancestry[p] or F.UNKNOWN) == g["group"]]
        single_class = len(set(pancan_type.labels(members).tolist())) < 2
        assert g["n"] == len(members)
        assert g["too_small"] == (len(members) < F.MIN_PATIENTS or single_class)
        assert (g["macro_f1"] is None) == g["too_small"]
    # age bands are declared: every tested patient falls in one band by its recorded age
    age = _clinical_column(pancan_type, "age")
    bands = F.fairness_from_predictions(pancan_type, jobs, "age", n_boot=0).table
    young = bands[(bands["metric"] == "macro_f1") & (bands["group"] == "<50")]["n"].item()
    assert young == sum(1 for p in set(tested) if age[p] is not None and age[p] < 50)


def test_classification_values_equal_sklearn_on_the_subgroup_rows(pancan_type) -> None:
    split, frame = _planted_jobs(pancan_type, seed=3)[0]
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(len(pancan_type.classes)), frame.height)
    frame = frame.with_columns([pl.Series(f"proba_{c}", p[:, j]) for j, c in enumerate(pancan_type.classes)])
    record = F.job_fairness(pancan_type, split, frame, attributes=("sex",))
    sex = _clinical_column(pancan_type, "sex")
    ids = frame["patient_id"].to_list()
    labels = pancan_type.labels(ids)
    classes = list(pancan_type.classes)
    for g in record["by"]["sex"]["groups"]:
        rows = np.array([sex[i] == g["group"] for i in ids])
        assert g["n"] == rows.sum()
        truth = [classes.index(v) for v in labels[rows]]
        guess = p[rows].argmax(axis=1)
        assert g["macro_f1"] == pytest.approx(f1_score(truth, guess, average="macro", zero_division=0), abs=1e-12)
        # one-vs-rest AUROC averaged over the classes with positives and negatives in the group
        aucs = [roc_auc_score(np.array(truth) == j, p[rows][:, j]) for j in range(len(classes))
                if 0 < sum(np.array(truth) == j) < len(truth)]
        assert g["auroc"] == pytest.approx(np.mean(aucs), abs=1e-12)


def test_survival_values_equal_lifelines_and_sksurv_on_the_subgroup_rows(pfi_pancan) -> None:
    # one split with a large test side, so each sex has enough events to be scored
    ids = list(pfi_pancan.patients)
    train, test = tuple(ids[::3]), tuple(sorted(set(ids) - set(ids[::3])))
    split = Split(pfi_pancan.name, "custom", 0, 0, train, (), test, "0" * 64)
    rng = np.random.default_rng(0)
    risk = rng.normal(size=len(test))
    frame = pl.DataFrame({"patient_id": list(test), "risk": risk})
    record = F.job_fairness(pfi_pancan, split, frame, attributes=("sex",))
    sex = _clinical_column(pfi_pancan, "sex")
    event, time = pfi_pancan.outcome(test)
    train_event, train_time = pfi_pancan.outcome(train)
    tau = float(evaluation_times(pfi_pancan, split)[-1])
    scored = 0
    for g in record["by"]["sex"]["groups"]:
        rows = np.array([sex[i] == g["group"] for i in test])
        assert (g["n"], g["events"]) == (rows.sum(), event[rows].sum())
        if g["too_small"]:
            continue
        scored += 1
        assert g["harrell_c"] == pytest.approx(concordance_index(time[rows], -risk[rows], event[rows]), abs=1e-9)
        uno = concordance_index_ipcw(Surv.from_arrays(train_event, train_time), Surv.from_arrays(event[rows], time[rows]),
                                     risk[rows], tau=tau)[0]
        assert g["uno_c"] == pytest.approx(uno, abs=1e-12)
    assert scored == 2


def test_bootstrap_is_seeded_and_deterministic(pancan_type) -> None:
    jobs = _planted_jobs(pancan_type)
    a = F.fairness_from_predictions(pancan_type, jobs, "sex", n_boot=50, seed=7).table
    b = F.fairness_from_predictions(pancan_type, jobs, "sex", n_boot=50, seed=7).table
    c = F.fairness_from_predictions(pancan_type, jobs, "sex", n_boot=50, seed=8).table
    assert a.equals(b) and a.attrs == b.attrs
    assert not a["ci_low"].equals(c["ci_low"])
    assert list(a.columns[:8]) == ["group", "n", "events", "metric", "value", "ci_low", "ci_high", "too_small"]


def test_runner_logs_the_fairness_artifact_and_results_by_shows_it(tmp_path: Path, monkeypatch, pancan_type, capsys) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("ONCOBENCH_HOME", str(home))
    monkeypatch.setenv("ONCOBENCH_TUNING", "2,2,1")
    report = run_grid([pancan_type], ["logreg"], folds=[0], controls=False, progress=False)
    assert (report.ran, report.failed) == (1, [])
    tracker = Tracker(home)
    run, = tracker.job_runs(pancan_type.name, pancan_type.dataset.id)
    record = json.loads(Path(tracker.client.download_artifacts(run.info.run_id, "fairness.json", str(tmp_path))).read_text())
    preds = pl.read_parquet(tracker.client.download_artifacts(run.info.run_id, "predictions.parquet", str(tmp_path)))
    assert set(record["by"]) == {"ancestry", "sex", "age", "site"}
    sex = _clinical_column(pancan_type, "sex")
    ids = preds["patient_id"].to_list()
    truth = pancan_type.labels(ids)
    guess = np.array(pancan_type.classes)[preds.select([f"proba_{c}" for c in pancan_type.classes]).to_numpy().argmax(axis=1)]
    values = {}
    for g in record["by"]["sex"]["groups"]:
        rows = np.array([sex[i] == g["group"] for i in ids])
        assert g["n"] == rows.sum() and not g["too_small"]
        values[g["group"]] = f1_score(truth[rows], guess[rows], average="macro", zero_division=0)
        assert g["macro_f1"] == pytest.approx(values[g["group"]], abs=1e-12)
    metrics = run.data.metrics
    assert metrics["worst_group_sex"] == pytest.approx(min(values.values()), abs=1e-12)
    assert metrics["gap_sex"] == pytest.approx(max(values.values()) - min(values.values()), abs=1e-12)
    # the public table and the CLI read the same run back
    table = F.fairness_result(pancan_type, "logreg", "sex", home, n_boot=20).table
    got = table[table["metric"] == "macro_f1"].set_index("group")["value"].to_dict()
    assert got == pytest.approx(values, abs=1e-12)
    assert main(["results", "--task", "pancan-type", "--dataset", "tcga-mini", "--by", "sex"]) == 0
    out = capsys.readouterr().out
    assert "scores per sex group" in out and "largest gap" in out
    with pytest.raises(F.FairnessError, match="no finished runs of model 'svm'"):
        F.fairness_result(pancan_type, "svm", "sex", home)


def test_leaderboard_page_and_api_show_worst_group_and_gap(tmp_path: Path, monkeypatch, pancan_type) -> None:
    from fastapi.testclient import TestClient

    from oncobench.leaderboard.api import create_app
    from oncobench.leaderboard.db import LeaderboardDB
    from oncobench.leaderboard.scoring import score_submission
    from oncobench.leaderboard.site import _num
    from oncobench.leaderboard.views import page_name, render_task

    home = tmp_path / "home"
    monkeypatch.setenv("ONCOBENCH_HOME", str(home))
    jobs = _planted_jobs(pancan_type, seed=11)
    frames = {(split.fold, 0): frame for split, frame in jobs}
    with LeaderboardDB(home) as db:
        db.add(score_submission(pancan_type, frames, method="planted", status="verified",
                                meta={"authors": "t", "contact": "t@example.org"}), frames)
        page = render_task(pancan_type, db, None)
    expected = F.fairness_from_predictions(pancan_type, jobs, "sex", n_boot=0).gaps["macro_f1"]
    assert (expected.worst_group, expected.best_group) == ("FEMALE", "MALE")
    assert "<th title=" in page and ">worst group</th>" in page and ">largest gap</th>" in page
    assert f"sex FEMALE {_num(expected.worst)}" in page and f"sex {_num(expected.gap)}" in page
    with TestClient(create_app(home)) as client:
        body = client.get("/api/leaderboard/pancan-type", params={"dataset": pancan_type.dataset.id}).json()
        assert client.get(f"/{page_name(pancan_type)}.html").status_code == 200
    fairness = body["entries"][0]["fairness"]["sex"]
    assert fairness["worst_group"] == "FEMALE" and fairness["gap"] == pytest.approx(expected.gap, abs=1e-12)


def test_age_bands_and_missing_attributes_are_explicit() -> None:
    from types import SimpleNamespace

    clinical = pl.DataFrame({"patient_id": ["a", "b", "c", "d", "e"], "age": [49.9, 50.0, 64.9, 65.0, None],
                             "sex": ["MALE", None, "FEMALE", " ", "MALE"]})
    task = SimpleNamespace(dataset=SimpleNamespace(clinical=clinical, id="cards@1"))
    ids = ["e", "d", "c", "b", "a"]
    assert F.subgroups(task, ids, "age").tolist() == [F.UNKNOWN, ">=65", "50-64", "50-64", "<50"]
    assert F.subgroups(task, ids, "sex").tolist() == ["MALE", F.UNKNOWN, "FEMALE", F.UNKNOWN, "MALE"]
    with pytest.raises(F.FairnessError, match=r"cards@1: the clinical table has no column 'eigenstrat' \(needed for --by ancestry\)"):
        F.subgroups(task, ids, "ancestry")
    with pytest.raises(F.FairnessError, match="unknown subgroup attribute 'race'; expected one of ancestry, sex, age, site"):
        F.subgroups(task, ids, "race")
