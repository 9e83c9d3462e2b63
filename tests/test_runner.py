"""The runner and its MLflow tracking store on the embedded tcga-mini: skip, force, resume, determinism, bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import json
from pathlib import Path

import polars as pl
import pytest

from oncobench.baselines.registry import IncompatibleModelError, ModelNotFoundError
from oncobench.benchmark.aggregate import summarize
from oncobench.benchmark.results import format_results, results_table
from oncobench.benchmark.runner import plan, run_grid
from oncobench.benchmark.tasks import TaskNotFoundError, load_task
from oncobench.benchmark.tracking import Tracker, TrackingStoreError
from oncobench.cli import main


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def pancan_type_mini():
    return load_task("pancan-type", dataset="tcga-mini")


def _metrics(home: Path, task) -> dict[str, dict[str, float]]:
    return {r.job_key: r.test for r in Tracker(home).finished(task).values()}


def test_grid_logs_one_run_per_job_with_provenance(home: Path, pancan_type_mini) -> None:
    task = pancan_type_mini
    report = run_grid([task], ["logreg"], folds=[0, 1], seeds=[0], progress=False)
    # logreg + the negative control (prior) + the clinical reference, 2 folds each
    assert (report.planned, report.ran, report.skipped, report.failed) == (6, 6, 0, [])
    runs = Tracker(home).job_runs(task.name, task.dataset.id)
    assert sorted(r.data.tags["model"] for r in runs) == ["clinical-logreg"] * 2 + ["logreg"] * 2 + ["prior"] * 2
    run = next(r for r in runs if r.data.tags["model"] == "logreg" and r.data.params["fold"] == "0")
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["split_sha256"] == task.get_split(0, 0).sha256
    assert tags["dataset"] == "tcga-mini@1.0" and tags["dataset_content_sha256"] == task.dataset.content_hash
    assert len(tags["config_hash"]) == 64 and len(tags["predictions_sha256"]) == 64
    assert "version.scikit-learn" in tags and "version.mlflow" in tags
    assert params["seed"] == "0" and params["scheme"] == "kfold"
    assert {"test_macro_f1", "valid_macro_f1", "runtime_seconds", "fit_seconds", "n_test"} <= set(metrics)
    assert metrics["n_test"] == len(task.get_split(0, 0).test)
    # the predictions artifact is the exact table the evaluator scored
    local = Tracker(home).client.download_artifacts(run.info.run_id, "predictions.parquet", str(home.parent))
    preds = pl.read_parquet(local)
    assert preds["patient_id"].to_list() == list(task.get_split(0, 0).test)
    result = task.evaluate(preds, split=task.get_split(0, 0))
    assert result.metrics["macro_f1"] == metrics["test_macro_f1"]
    assert result.predictions_sha256 == tags["predictions_sha256"]
    # the parent run holds the aggregates of its children, unrounded
    parent = Tracker(home).client.get_run(tags["mlflow.parentRunId"])
    child_scores = [r.data.metrics["test_macro_f1"] for r in runs if r.data.tags["model"] == "logreg"]
    assert parent.data.metrics["macro_f1_mean"] == pytest.approx(summarize(child_scores)["mean"], abs=1e-12)
    assert parent.data.metrics["macro_f1_sd"] == pytest.approx(summarize(child_scores)["sd"], abs=1e-12)


def test_rerun_skips_force_reruns_and_metrics_are_identical(home: Path, pancan_type_mini) -> None:
    task = pancan_type_mini
    run_grid([task], ["rf"], folds=[0], seeds=[0, 1], controls=False, progress=False)
    first = _metrics(home, task)
    again = run_grid([task], ["rf"], folds=[0], seeds=[0, 1], controls=False, progress=False)
    assert (again.ran, again.skipped) == (0, 2)
    forced = run_grid([task], ["rf"], folds=[0], seeds=[0, 1], controls=False, force=True, progress=False)
    assert (forced.ran, forced.skipped) == (2, 0)
    assert _metrics(home, task) == first  # the same command twice gives identical metrics
    table = results_table(task)
    assert table.filter(pl.col("model") == "rf")["jobs"].item() == 2  # a forced job replaces, never doubles
    assert first["pancan-type|rf|r0|f0|s0"] != first["pancan-type|rf|r0|f0|s1"]  # the seed reaches the model


def test_parallel_workers_give_the_local_results(home: Path, pancan_type_mini, tmp_path: Path, monkeypatch) -> None:
    task = pancan_type_mini
    run_grid([task], ["logreg", "xgboost"], folds=[0, 1], controls=False, progress=False)
    serial = _metrics(home, task)
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "other"))
    run_grid([task], ["logreg", "xgboost"], folds=[0, 1], controls=False, n_jobs=2, progress=False, home=tmp_path / "other")
    assert _metrics(tmp_path / "other", task) == serial


def test_results_table_ranks_and_shows_controls(home: Path, pancan_type_mini) -> None:
    task = pancan_type_mini
    run_grid([task], ["logreg"], folds=[0, 1, 2], progress=False)
    table = results_table(task)
    assert table["model"].to_list()[0] == "logreg" and table["model"].to_list()[-1] == "prior"
    assert dict(zip(table["model"], table["role"])) == {"logreg": "model", "clinical-logreg": "clinical reference",
                                                        "prior": "control"}
    text = format_results(task, table)
    assert "macro_f1 (mean ± sd [95% CI])" in text and "control" in text
    scores = [r.test["macro_f1"] for r in Tracker(home).finished(task).values() if r.tags["model"] == "logreg"]
    s = summarize(scores)
    assert table.filter(pl.col("model") == "logreg")["macro_f1_ci_low"].item() == pytest.approx(s["ci_low"], abs=1e-12)


def test_bad_names_fail_before_anything_runs(home: Path, pancan_type_mini) -> None:
    with pytest.raises(TaskNotFoundError, match="did you mean 'pancan-type'"):
        load_task("pancan-typ", dataset="tcga-mini")
    with pytest.raises(ModelNotFoundError, match="did you mean 'xgboost'"):
        run_grid([pancan_type_mini], ["xgbost"], progress=False)
    with pytest.raises(IncompatibleModelError, match="supports survival tasks; task pancan-type is classification"):
        run_grid([pancan_type_mini], ["coxnet"], progress=False)
    with pytest.raises(ValueError, match=r"no folds \[7\]"):
        plan([pancan_type_mini], ["logreg"], folds=[7])
    assert not (home / "mlflow.db").exists()  # nothing was created


def test_cli_bad_input_exit_code_and_message(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", "logreg2", "--quiet"]) == 2
    assert "unknown model 'logreg2'; did you mean 'logreg'" in capsys.readouterr().err
    assert main(["run", "--task", "os-luad", "--dataset", "tcga-mini", "--models", "logreg", "--quiet"]) == 2
    assert "supports classification, binary tasks; task os-luad is survival" in capsys.readouterr().err


def test_corrupted_tracking_store_is_named(home: Path, pancan_type_mini, capsys) -> None:
    home.mkdir(parents=True)
    (home / "mlflow.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(TrackingStoreError, match=r"mlflow\.db: not a readable SQLite database"):
        run_grid([pancan_type_mini], ["logreg"], folds=[0], progress=False)
    assert main(["results", "--task", "pancan-type", "--dataset", "tcga-mini"]) == 2
    assert "mlflow.db: not a readable SQLite database" in capsys.readouterr().err
    assert (home / "mlflow.db").read_bytes() == b"this is not sqlite" * 100  # never overwritten


def _count_finished(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT count(*) FROM runs r JOIN tags t ON r.run_uuid = t.run_uuid "
                               "WHERE t.key = 'oncobench_level' AND t.value = 'job' AND r.status = 'FINISHED'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_run_resumes_cleanly(home: Path, pancan_type_mini) -> None:
    cmd = [sys.executable, "-m", "oncobench.cli", "run", "--task", "pancan-type", "--dataset", "tcga-mini",
           "--models", "logreg,rf", "--repeats", "0", "--quiet"]
    proc = subprocess.Popen(cmd, env=os.environ | {"ONCOBENCH_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = home / "mlflow.db"
    deadline = time.monotonic() + 300
    while _count_finished(db) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, f"the grid ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _count_finished(db)
    assert 3 <= done_before < 20  # 4 models x 5 folds planned
    report = run_grid([pancan_type_mini], ["logreg", "rf"], progress=False)
    assert report.skipped == done_before and report.ran == 20 - done_before and not report.failed
    runs = Tracker(home).job_runs(pancan_type_mini.name, pancan_type_mini.dataset.id)
    assert len(runs) == 20 and len({r.data.tags["job_key"] for r in runs}) == 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runs_show_in_the_mlflow_server(home: Path, pancan_type_mini) -> None:
    """The same store served by a real MLflow server (what `mlflow ui` shows), queried over its REST API."""
    run_grid([pancan_type_mini], ["logreg"], folds=[0], progress=False)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "mlflow server did not start"
                time.sleep(0.5)
        name = Tracker.experiment_name("pancan-type", "tcga-mini@1.0")
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={urllib.request.quote(name)}") as r:
            exp_id = json.load(r)["experiment"]["experiment_id"]
        body = json.dumps({"experiment_ids": [exp_id], "filter": "tags.oncobench_level = 'job'"}).encode()
        req = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            runs = json.load(r)["runs"]
        models = sorted(t["value"] for run in runs for t in run["data"]["tags"] if t["key"] == "model")
        assert models == ["clinical-logreg", "logreg", "prior"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_tasks_cli_lists_and_describes(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "list", "--dataset", "tcga-mini"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("pancan-type "))
    assert line.split()[1:4] == ["classification", "tcga-mini", "133"] and line.endswith("ok")
    assert "unusable here" in next(l for l in out.splitlines() if l.startswith("brca-pam50 "))
    assert main(["tasks", "info", "pancan-type", "--dataset", "tcga-mini"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["modalities"] == {"mirna": 383, "pathology": 22, "clinical": 2}
    assert info["cohorts"] == ["blca", "luad", "paad", "skcm", "stad", "ucec"]
    assert sorted(info["input_schema"]["required"]) == ["proba_BLCA", "proba_LUAD", "proba_PAAD", "proba_SKCM", "proba_STAD", "proba_UCEC"]


def test_small_tasks_get_repeated_cv_by_default(pancan_type_mini) -> None:
    from oncobench.benchmark.runner import SMALL_PATIENTS, default_repeats, small_task

    # tcga-mini's pancan-type: 133 patients (< SMALL_PATIENTS) and a kfold scheme with 2 repeats
    task = pancan_type_mini
    assert len(task.patients) == 133 < SMALL_PATIENTS and small_task(task) == "133 patients"
    assert default_repeats(task) == (0, 1)
    grid = plan([task], ["logreg"], repeats=None, controls=False)
    assert sorted({(j.repeat, j.fold) for _, j in grid}) == sorted(task.folds) and len(grid) == 2 * 5
    # an explicit repeat is taken as given
    assert {j.repeat for _, j in plan([task], ["logreg"], repeats=[1], controls=False)} == {1}


@pytest.mark.realdata
def test_large_and_small_real_tasks(pancan) -> None:
    from oncobench.benchmark.runner import default_repeats, small_task
    from oncobench.benchmark.tasks import Task, task_spec

    # os-paad: 166 patients in tcga-pancan (tasks list), kfold with 3 repeats -> repeated CV;
    # os-brca: 956 patients -> one pass (its events counted independently from the task's own outcomes)
    paad, brca = (Task(task_spec(n), pancan) for n in ("os-paad", "os-brca"))
    assert small_task(paad) is not None and default_repeats(paad) == (0, 1, 2)
    events = int(brca.target(brca.patients)["event"].sum())
    assert len(brca.patients) == 956 and events >= 100 and small_task(brca) is None and default_repeats(brca) == (0,)
