"""Tasks without code: task cards, the catalog's ``tasks`` table, and every command seeing a declared task.

The end-to-end tests run the real CLI in subprocesses on one home (a worker process, ``results``,
``leaderboard``, ``submit``, ``leaderboard export`` each in a fresh process that knows the task only through
the catalog). Golden patient counts are recomputed here from the dataset's clinical and presence tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from oncobench.benchmark.task_cards import (TaskCardError, add_task_card, read_task_card,
                                            register_card_tasks)
from oncobench.benchmark.task_store import (TaskDefinitionError, all_task_specs, remove_task, spec_from_json,
                                            spec_to_json, store_tasks, stored_spec)
from oncobench.benchmark.tasks import TASKS, TaskSpec, load_task, task_spec
from oncobench.datasets.dataset import load_dataset

ROOT = Path(__file__).resolve().parents[1]

CARD = """\
[[tasks]]
name = "stage-card"
dataset = "tcga-mini"
kind = "binary"
target = "stage"
modalities = ["mirna", "clinical"]
cohorts = ["blca", "kirc", "luad", "paad", "skcm", "stad", "ucec"]  # tcga-mini's miRNA cohorts: a declared modality must be measured in every cohort of a task
label_map = {I = "early", II = "early", III = "late", IV = "late"}
primary = "auroc"
secondary = ["accuracy", "macro_f1"]
covariates = ["age", "is_female"]
description = "Stage III-IV vs I-II from miRNA and age and sex"

[[tasks]]
name = "pfi-card"
dataset = "tcga-mini"
kind = "survival"
target = "PFI"
modalities = ["rna"]
cohorts = ["brca", "kirc", "luad", "lusc"]
primary = "harrell_c"
"""


def cli(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``oncobench ARGS`` in a fresh process on ``home`` (this checkout's code)."""
    env = os.environ | {"ONCOBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "oncobench.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True)
    if ok:
        assert proc.returncode == 0, f"oncobench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def expected_patients() -> dict[str, int]:
    """The two card tasks' patient counts, computed from the clinical and presence tables directly."""
    ds = load_dataset("tcga-mini")
    table = ds.clinical.join(ds.presence, on="patient_id")
    stage = table.filter(pl.col("cohort").is_in(["blca", "kirc", "luad", "paad", "skcm", "stad", "ucec"]) & pl.col("stage").is_in(["I", "II", "III", "IV"])
                         & (pl.col("mirna") | pl.col("clinical")))
    pfi = table.filter(pl.col("cohort").is_in(["brca", "kirc", "luad", "lusc"]) & pl.col("rna")
                       & pl.col("pfi").is_not_null() & (pl.col("pfi_time") > 0))
    return {"stage-card": stage.height, "pfi-card": pfi.height}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "home"
    monkeypatch.setenv("ONCOBENCH_HOME", str(out))
    return out


# ---- card validation ---------------------------------------------------------------------------------------
BAD_CARD = """\
[[tasks]]
name = "bad-one"
dataset = "tcga-mini"
kind = "survival"
target = "PFI"
primary = "auroc"
horizon_days = 5

[[tasks]]
name = "bad-two"
dataset = "tcga-mini"
kind = "binari"
target = "stage"

[[tasks]]
name = "bad-three"
dataset = "no-such-dataset"
kind = "classification"
target = "stage"

[[tasks]]
name = "bad-four"
dataset = "tcga-mini"
kind = "classification"
target = "stadium"
scheme = "porpoise5"
covariates = ["age", "bmi"]

[[tasks]]
name = "bad-five"
dataset = "tcga-mini"
kind = "binary"
target = "sex"
label_map = {MALE = "m", FEMAL = "f"}
modalities = "rna"
"""


def test_card_reports_every_problem_in_one_pass(home: Path, tmp_path: Path) -> None:
    card = tmp_path / "bad.toml"
    card.write_text(BAD_CARD)
    with pytest.raises(TaskCardError) as info:
        read_task_card(card)
    err = info.value
    assert err.problems == [
        "tasks[0] ('bad-one'): unknown key 'horizon_days' (did you mean 'horizon'?); expected keys: name, dataset, "
        "kind, target, description, modalities, cohorts, scheme, primary, secondary, label_map, horizon, "
        "min_class_size, covariates, reference, logrank_endpoint, missing_rate",
        "tasks[0] ('bad-one').primary: unknown metric 'auroc' for a survival task (did you mean 'uno_c'?); "
        "expected one of uno_c, "
        "harrell_c, td_auc, ibs",
        "tasks[1] ('bad-two').kind: unknown kind 'binari' (did you mean 'binary'?); expected one of "
        "classification, binary, survival, clustering, translation, imputation",
        "tasks[2] ('bad-three').dataset: dataset 'no-such-dataset' is not built or does not open (no dataset "
        "'no-such-dataset'; known: " + err.problems[3].split("known: ", 1)[-1],
        "tasks[3] ('bad-four').target: tcga-mini@1.0 has no clinical column 'stadium'; "
        "for a survival target use an endpoint (OS, DSS, DFI, PFI, OS-PORPOISE)",
        "tasks[3] ('bad-four').scheme: tcga-mini@1.0 has no split scheme 'porpoise5'; it has kfold, holdout, "
        "site, porpoise",
        "tasks[3] ('bad-four').covariates: ['bmi'] are not clinical-modality features of tcga-mini@1.0; it has "
        "age, is_female, stage_group, grade",
        "tasks[4] ('bad-five').modalities: expected a list of strings, found 'rna'",
    ]
    assert err.problems[3].endswith("); build it first (oncobench datasets build)")
    # bad-five's label map is only checked once its modalities key is fixed: fix it and see the next problem
    card.write_text(BAD_CARD.replace('modalities = "rna"', 'modalities = ["rna"]'))
    with pytest.raises(TaskCardError) as info:
        read_task_card(card)
    assert info.value.problems[-1] == (
        "tasks[4] ('bad-five').label_map: labels ['FEMAL'] do not occur in column 'sex' of tcga-mini@1.0; "
        "its values: FEMALE, MALE")
    assert len(info.value.problems) == 8
    assert str(info.value).startswith(f"task card {card}: 8 problems\n  - tasks[0] ('bad-one'): unknown key")


def test_tasks_add_cli_refuses_a_bad_card_and_stores_nothing(home: Path, tmp_path: Path) -> None:
    card = tmp_path / "bad.toml"
    card.write_text(BAD_CARD + "\n" + CARD)  # two good tasks among the bad ones: all or nothing
    proc = cli(home, "tasks", "add", str(card), ok=False)
    assert proc.returncode == 2
    assert f"oncobench: error: task card {card}: 8 problems" in proc.stderr
    assert "unknown kind 'binari'" in proc.stderr and "no split scheme 'porpoise5'" in proc.stderr
    assert stored_spec("stage-card") is None and stored_spec("pfi-card") is None


def test_single_task_card_and_structure_problems(home: Path, tmp_path: Path) -> None:
    card = tmp_path / "one.toml"
    card.write_text('name = "sex-mini"\ndataset = "tcga-mini"\nkind = "binary"\ntarget = "sex"\n'
                    'modalities = ["mirna"]\ncohorts = ["blca", "kirc", "luad", "paad", "skcm", "stad", "ucec"]\nmin_class_size = 0\n')
    with pytest.raises(TaskCardError) as info:
        read_task_card(card)
    assert info.value.problems == ["task ('sex-mini').min_class_size: expected a positive integer, found 0"]
    card.write_text('kind = "survival"\ntarget = "OS"\nname = "bad name"\nlabel_map = {a = "b"}\n')
    with pytest.raises(TaskCardError) as info:
        read_task_card(card)
    assert info.value.problems == [
        "task ('bad name'): missing key 'dataset' (a string)",
        "task ('bad name').name: expected letters, digits, '.', '_' or '-' (a file and URL name), found 'bad name'",
        "task ('bad name').label_map: only classification, binary and clustering tasks have labels; this task is survival",
    ]
    card.write_text('name = "x"\n[[tasks]]\nname = "y"\n')
    with pytest.raises(TaskCardError) as info:
        read_task_card(card)
    assert info.value.problems[0] == ("top level: unknown keys ['name']; a card holds either one task's keys or "
                                      "[[tasks]] tables")
    card.write_text('name = "x\n')
    with pytest.raises(TaskCardError, match=r"not valid TOML"):
        read_task_card(card)


def test_binary_card_needs_two_classes(home: Path, tmp_path: Path) -> None:
    card = tmp_path / "one.toml"
    card.write_text('name = "one-class"\ndataset = "tcga-mini"\nkind = "binary"\ntarget = "stage"\n'
                    'label_map = {I = "early", II = "early"}\nmodalities = ["mirna"]\ncohorts = ["blca", "kirc", "luad", "paad", "skcm", "stad", "ucec"]\n')
    with pytest.raises(TaskCardError) as info:
        read_task_card(card)
    assert info.value.problems == [
        "task ('one-class'): a binary task needs 2 classes with at least 10 patients; tcga-mini@1.0 gives "
        "['early'] (map the labels with label_map)"]


# ---- the catalog -------------------------------------------------------------------------------------------
def test_every_builtin_spec_round_trips_through_json() -> None:
    from oncobench.benchmark import catalog  # noqa: F401

    for name, spec in TASKS.items():
        assert spec_from_json(name, spec_to_json(spec)) == spec, name


def test_store_refuses_builtin_names_and_silent_redefinition(home: Path, tmp_path: Path) -> None:
    card = tmp_path / "card.toml"
    card.write_text(CARD)
    assert not home.exists()
    assert stored_spec("stage-card") is None and not home.exists()  # reading never creates a home
    specs = add_task_card(card)
    assert [s.name for s in specs] == ["stage-card", "pfi-card"]
    assert stored_spec("stage-card") == specs[0] and task_spec("pfi-card") == specs[1]
    assert add_task_card(card) == specs  # the same definition again: a no-op
    changed = tmp_path / "changed.toml"
    changed.write_text(CARD.replace('primary = "harrell_c"', 'primary = "uno_c"'))
    with pytest.raises(TaskDefinitionError, match=r"task 'pfi-card' is already stored \(from task card .*card.toml\) "
                                                  r"with another definition; `oncobench tasks remove pfi-card` first"):
        add_task_card(changed)
    assert task_spec("pfi-card").primary == "harrell_c"
    add_task_card(changed, replace=True)
    assert task_spec("pfi-card").primary == "uno_c"
    with pytest.raises(TaskDefinitionError, match="'os-brca' is already registered in Python"):
        store_tasks([TaskSpec(name="os-brca", kind="survival", target="OS", modalities=(), description="",
                              primary="uno_c", dataset="tcga-mini")], source="test")
    remove_task("pfi-card")
    with pytest.raises(KeyError, match="unknown task 'pfi-card'"):
        task_spec("pfi-card")
    with pytest.raises(TaskDefinitionError, match=r"no stored task 'pfi-card'; stored: stage-card"):
        remove_task("pfi-card")


def test_dataset_card_tasks_take_the_cards_dataset(home: Path) -> None:
    tables = [{"name": "sex-from-mirna", "kind": "binary", "target": "sex", "modalities": ["mirna"], "cohorts": ["blca", "kirc", "luad", "paad", "skcm", "stad", "ucec"]}]
    specs = register_card_tasks(tables, dataset="tcga-mini", source="dataset card mini.toml")
    assert specs[0].dataset == "tcga-mini" and specs[0].primary == "auroc"
    assert specs[0].secondary == ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "log_loss")
    task = load_task("sex-from-mirna")
    ds = load_dataset("tcga-mini")
    n = ds.clinical.join(ds.presence, on="patient_id").filter(pl.col("mirna") & pl.col("sex").is_not_null()).height
    assert len(task.patients) == n and task.classes == ("FEMALE", "MALE")
    with pytest.raises(TaskCardError, match=r"task card dataset card mini.toml: 1 problem\n  - tasks\[0\] "
                                            r"\('x'\).target: tcga-mini@1.0 has no clinical column 'sexx'"):
        register_card_tasks([{"name": "x", "kind": "binary", "target": "sexx"}], dataset="tcga-mini",
                            source="dataset card mini.toml")


def test_covariates_restrict_the_clinical_reference(home: Path, tmp_path: Path) -> None:
    card = tmp_path / "card.toml"
    card.write_text(CARD)
    add_task_card(card)
    task = load_task("stage-card")
    assert task.feature_names["clinical"] == ("age", "is_female")  # stage_group would leak the target
    assert len(task.patients) == expected_patients()["stage-card"]


# ---- every command, every process --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ran_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with both card tasks added, run with --jobs 2, submitted to and exported (real CLI processes)."""
    home = tmp_path_factory.mktemp("cards") / "home"
    card = home.parent / "card.toml"
    card.write_text(CARD)
    out = cli(home, "tasks", "add", str(card)).stdout
    assert out.splitlines() == ["task stage-card (binary, target stage) on tcga-mini stored in the catalog",
                                "task pfi-card (survival, target PFI) on tcga-mini stored in the catalog"]
    run = cli(home, "run", "--task", "stage-card", "--models", "logreg", "--jobs", "2", "--repeats", "0", "--quiet")
    # logreg + the prior control + the clinical reference (clinical is among the modalities), 5 folds each
    assert "15 jobs: 15 ran, 0 already finished, 0 failed" in run.stdout
    run = cli(home, "run", "--task", "pfi-card", "--models", "coxnet", "--jobs", "2", "--repeats", "0", "--quiet")
    # coxnet + the km control + the clinical reference (clinical is offered beside the declared rna)
    assert "15 jobs: 15 ran, 0 already finished, 0 failed" in run.stdout
    cli(home, "submit", "--template", "stage-card", "--out", str(home.parent / "sub"))
    cli(home, "submit", "--task", "stage-card", "--predictions", str(home.parent / "sub"))
    cli(home, "leaderboard", "--task", "pfi-card")  # makes the finished runs leaderboard entries
    return home


def test_card_task_in_results_and_leaderboard(ran_home: Path) -> None:
    n = expected_patients()
    out = cli(ran_home, "results", "--task", "stage-card", "--task", "pfi-card").stdout
    assert f"stage-card on tcga-mini@1.0 (binary, scheme kfold, {n['stage-card']} patients)" in out
    assert f"pfi-card on tcga-mini@1.0 (survival, scheme kfold, {n['pfi-card']} patients)" in out
    methods = {line.split()[0] for line in out.splitlines() if " 5/5 " in line}
    assert methods == {"logreg", "prior", "clinical-logreg", "coxnet", "km", "clinical-cox"}
    board = cli(ran_home, "leaderboard", "--task", "stage-card").stdout
    ranked = {line.split()[1] for line in board.splitlines() if line[:4].strip().rstrip("=").isdigit()}
    assert ranked == {"logreg", "prior", "clinical-logreg", "my-method"}
    listing = cli(ran_home, "tasks", "list").stdout
    assert any(l.split()[:4] == ["stage-card", "binary", "tcga-mini", str(n["stage-card"])] for l in listing.splitlines())


def _site_and_api(home: Path, out: Path) -> tuple[set[str], dict[str, str], list[str], dict[str, int]]:
    """Exported page names, their HTML, the API's task list and each task's API status."""
    from fastapi.testclient import TestClient

    from oncobench.leaderboard.api import create_app

    proc = cli(home, "leaderboard", "export", "--out", str(out))
    pages = {p.name for p in out.glob("*.html")}
    html = {p.name: p.read_text() for p in out.glob("*.html")}
    with TestClient(create_app(home)) as client:
        tasks = [t["task"] for t in client.get("/api/tasks").json()]
        status = {name: client.get(f"/api/leaderboard/{name}").status_code for name in ("stage-card", "pfi-card")}
        entries = client.get("/api/leaderboard/stage-card").json()["entries"]
        assert {e["method"] for e in entries} == {"logreg", "prior", "clinical-logreg", "my-method"}
        assert client.get("/stage-card__tcga-mini_1.0.html").status_code == 200
    html["stderr"] = proc.stderr
    return pages, html, tasks, status


def test_card_task_in_site_and_api_and_a_broken_task_breaks_nothing(ran_home: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCOBENCH_HOME", str(ran_home))
    pages, html, tasks, status = _site_and_api(ran_home, tmp_path / "site")
    assert pages == {"index.html", "stage-card__tcga-mini_1.0.html", "pfi-card__tcga-mini_1.0.html"}
    assert tasks == ["pfi-card", "stage-card"] and status == {"stage-card": 200, "pfi-card": 200}
    assert "my-method" in html["stage-card__tcga-mini_1.0.html"] and "coxnet" in html["pfi-card__tcga-mini_1.0.html"]

    # 1. a corrupt stored row
    with duckdb.connect(str(ran_home / "catalog.duckdb")) as con:
        good = con.execute("SELECT spec FROM tasks WHERE name = 'pfi-card'").fetchone()[0]
        con.execute("UPDATE tasks SET spec = '{not json' WHERE name = 'pfi-card'")
    pages, html2, tasks, status = _site_and_api(ran_home, tmp_path / "site2")
    assert pages == {"index.html", "stage-card__tcga-mini_1.0.html"}
    assert html2["stage-card__tcga-mini_1.0.html"] == html["stage-card__tcga-mini_1.0.html"]
    assert "task pfi-card on tcga-mini@1.0 skipped (its definition does not load: stored task 'pfi-card' cannot " \
           "be loaded: Expecting property name" in html2["stderr"]
    assert tasks == ["stage-card"] and status == {"stage-card": 200, "pfi-card": 404}
    listing = cli(ran_home, "tasks", "list").stdout
    assert "broken: stored task 'pfi-card' cannot be loaded: Expecting property name enclosed in double quotes" in listing
    specs, broken = all_task_specs(ran_home)
    assert "stage-card" in specs and list(broken) == ["pfi-card"]

    # 2. an endpoint that vanished from the data (a valid row naming a target the dataset no longer has)
    gone = json.loads(good) | {"target": "PFI-GONE"}
    with duckdb.connect(str(ran_home / "catalog.duckdb")) as con:
        con.execute("UPDATE tasks SET spec = ? WHERE name = 'pfi-card'", [json.dumps(gone)])
    pages, html3, tasks, status = _site_and_api(ran_home, tmp_path / "site3")
    assert pages == {"index.html", "stage-card__tcga-mini_1.0.html"}
    assert html3["stage-card__tcga-mini_1.0.html"] == html["stage-card__tcga-mini_1.0.html"]
    assert "task pfi-card: tcga-mini@1.0 has no endpoint 'PFI-GONE'" in html3["stderr"]
    assert tasks == ["stage-card"] and status == {"stage-card": 200, "pfi-card": 404}
    listing = cli(ran_home, "tasks", "list").stdout
    assert "broken: task pfi-card: tcga-mini@1.0 has no endpoint 'PFI-GONE'" in listing

    cli(ran_home, "tasks", "remove", "pfi-card")
    assert "pfi-card" not in cli(ran_home, "tasks", "list").stdout


# ---- the same contract for Python users ----------------------------------------------------------------------
USER_MODULE = """\
from oncobench.benchmark.runner import run_grid
from oncobench.benchmark.tasks import TaskSpec, load_task, register_task

register_task(TaskSpec(name="my-sex-task", kind="binary", target="sex", modalities=("mirna",), dataset="tcga-mini",
                       cohorts=tuple(["blca", "kirc", "luad", "paad", "skcm", "stad", "ucec"]),
                       description="sex from miRNA", primary="auroc"), persist={persist})
report = run_grid([load_task("my-sex-task")], ["prior"], n_jobs=2, controls=False, progress=False)
print(report.ran, report.failed)
"""


def test_python_task_persisted_works_in_workers_and_every_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = tmp_path / "user_module.py"
    script.write_text(USER_MODULE.format(persist=True))
    env = os.environ | {"ONCOBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "5 []"  # five folds fitted in two worker processes, none failed
    assert "my-sex-task on tcga-mini@1.0 (binary" in cli(home, "results", "--task", "my-sex-task").stdout
    assert " prior " in cli(home, "leaderboard", "--task", "my-sex-task").stdout
    cli(home, "submit", "--template", "my-sex-task", "--out", str(tmp_path / "sub"))
    assert "accepted: my-method v1 on my-sex-task" in cli(home, "submit", "--task", "my-sex-task", "--predictions",
                                                          str(tmp_path / "sub")).stdout
    cli(home, "leaderboard", "export", "--out", str(tmp_path / "site"))
    assert (tmp_path / "site" / "my-sex-task__tcga-mini_1.0.html").is_file()


def test_python_task_not_persisted_never_breaks_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task only this process knows gets an entry; a later export skips it and writes every other page."""
    from oncobench.leaderboard.submission import submit, write_template

    home = tmp_path / "home"
    monkeypatch.setenv("ONCOBENCH_HOME", str(home))
    monkeypatch.setitem(TASKS, "only-here", TaskSpec(
        name="only-here", kind="binary", target="sex", modalities=("mirna",), dataset="tcga-mini", description="",
        cohorts=tuple(["blca", "kirc", "luad", "paad", "skcm", "stad", "ucec"]),
        primary="auroc"))
    for name in ("only-here", "pancan-type"):
        task = load_task(name, dataset="tcga-mini")
        submit(task, write_template(task, tmp_path / name))
    proc = cli(home, "leaderboard", "export", "--out", str(tmp_path / "site"))
    assert {p.name for p in (tmp_path / "site").glob("*.html")} == {"index.html", "pancan-type__tcga-mini_1.0.html"}
    assert "task only-here on tcga-mini@1.0 skipped (its definition does not load: unknown task 'only-here'" in proc.stderr
