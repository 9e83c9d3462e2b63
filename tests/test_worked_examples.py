"""The README's two worked examples (issue 12, item 6), run as a user types them, checked against the raw files.

The commands are read from the README's fenced ``bash`` blocks that follow ``<!-- worked-example: acc -->`` and
``<!-- worked-example: paad -->``, so the
README and this test cannot drift. Each command runs as a real subprocess (``python -m oncobench.cli`` with
this checkout first on PYTHONPATH) in a fresh home, from a folder where ``examples/`` is this repository's and
``../shared/data/raw`` is replaced by ``$ONCOBENCH_RAW_DIR``. Every count asserted below is derived here from
the raw files, not from OncoBench.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sksurv.metrics import concordance_index_censored

REPO = Path(__file__).resolve().parents[1]
README_RAW = "../shared/data/raw"
ACC = "tcga_acc_miniacc_5assays/derived"
PAAD = "tcga_paad_wissel2023_6omics_survival/derived"
SUBSAMPLING = f"{PAAD}/paad_subsampling_100x_80_20.csv.gz"


def example_commands(name: str) -> list[str]:
    """The commands of the fenced bash block after ``<!-- worked-example: NAME -->`` (continuations joined)."""
    marker = f"<!-- worked-example: {name} -->"
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert marker in text, f"no {marker} in README.md"
    block = re.search(r"```bash\n(.*?)```", text[text.index(marker):], re.DOTALL)
    assert block is not None, f"README.md: no ```bash block after {marker}"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@dataclass
class Ran:
    command: str
    stdout: str


def _run_all(names: list[str], cwd: Path, home: Path, raw_dir: Path) -> dict[str, list[Ran]]:
    path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, ONCOBENCH_HOME=str(home), PYTHONPATH=path, MLFLOW_ENABLE_TELEMETRY="false")
    done: dict[str, list[Ran]] = {}
    for name in names:
        done[name] = []
        for command in example_commands(name):
            argv = shlex.split(command.replace(README_RAW, str(raw_dir.resolve())))
            assert argv[0] == "oncobench", f"not an oncobench command: {command}"
            proc = subprocess.run([sys.executable, "-m", "oncobench.cli", *argv[1:]], cwd=cwd, env=env,
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{command!r} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            done[name].append(Ran(command, proc.stdout))
    return done


@pytest.fixture(scope="module")
def worked(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Ran]], Path, Path]:
    """Both examples run in one fresh home (as one user would, one after the other); outputs, cwd and home."""
    cwd = tmp_path_factory.mktemp("user")
    (cwd / "examples").symlink_to(REPO / "examples")
    home = tmp_path_factory.mktemp("worked-home")
    return _run_all(["acc", "paad"], cwd, home, raw_dir), cwd, home


def _output(runs: list[Ran], start: str) -> str:
    found = [r.stdout for r in runs if r.command.startswith(start)]
    assert found, f"no command starting {start!r}"
    return "\n".join(found)


def _acc_truth(raw_dir: Path) -> pl.DataFrame:
    """ACC overall survival from colData: time = days to death, else days to last follow-up; event = vital status."""
    col = pl.read_csv(raw_dir / ACC / "colData.csv", null_values="NA")
    return col.select(pl.col("patientID").alias("patient_id"),
                      pl.coalesce("days_to_death", "days_to_last_followup").cast(pl.Float64).alias("time"),
                      pl.col("vital_status").alias("event"), pl.col("C1A.C1B").alias("subtype"))


def _paad_truth(raw_dir: Path) -> pl.DataFrame:
    return pl.read_csv(raw_dir / PAAD / "paad_clinical.csv.gz").select("patient_id", pl.col("time").cast(pl.Float64), pl.col("status").alias("event"))


def _survival_counts(truth: pl.DataFrame) -> tuple[int, int]:
    usable = truth.filter(pl.col("time").is_not_null() & pl.col("event").is_not_null() & (pl.col("time") > 0))
    return usable.height, int(usable["event"].sum())


def test_readme_commands_are_cli_only_and_cheap() -> None:
    acc, paad = example_commands("acc"), example_commands("paad")
    assert all(c.startswith("oncobench ") for c in acc + paad)  # no Python anywhere
    for verb in ("datasets build", "run ", "results ", "submit --template", "submit --task", "leaderboard --task",
                 "leaderboard export"):
        assert any(c.startswith(f"oncobench {verb}") for c in acc), verb
        assert any(c.startswith(f"oncobench {verb}") for c in paad), verb
    assert any(c.startswith("oncobench splits import") for c in paad)
    assert all(f"--raw-dir {README_RAW}" in c for c in acc + paad if "datasets build" in c)
    assert [c for c in paad if c.startswith("oncobench run")] == [
        "oncobench run --task paad-os-wissel --models coxnet --repeats 0,1,2"]  # 3 of the 100 subsamplings (CI)


@pytest.mark.realdata
def test_acc_build_counts_match_the_raw_files(worked, raw_dir: Path) -> None:
    runs = worked[0]["acc"]
    build = _output(runs, "oncobench datasets build")
    truth = _acc_truth(raw_dir)
    patients, events = _survival_counts(truth)
    assert (truth.height, patients, events) == (92, 91, 33)  # by hand: 92 rows, 1 with follow-up 0, 34 - 1 deaths
    assert f"tcga-acc-miniacc@1.0: {truth.height} patients;" in build
    assert f"endpoint OS: {patients} patients, {events} events (time in days)" in build
    # every assay: its aliquot columns collapse to patients (sampleMap), counted from the raw header
    sample_map = pl.read_csv(raw_dir / ACC / "sampleMap.csv")
    for mod, assay in [("rna", "RNASeq2GeneNorm"), ("cnv", "gistict"), ("protein", "RPPAArray"),
                       ("mutation", "Mutations"), ("mirna", "miRNASeqGene")]:
        header = (raw_dir / ACC / f"{assay}.csv").open().readline().strip().split(",")[1:]
        n_patients = len({h.strip('"')[:12] for h in header})
        n_features = sum(1 for _ in (raw_dir / ACC / f"{assay}.csv").open()) - 1
        assert f"{mod} {n_patients}x{n_features}" in build
        assert sample_map.filter(pl.col("assay") == assay)["primary"].n_unique() == n_patients
    assert "tasks stored: acc-os, acc-c1a-c1b" in build
    info = json.loads(_output(runs, "oncobench tasks info acc-c1a-c1b"))
    classes = truth.drop_nulls("subtype")["subtype"].value_counts()
    assert info["classes"] == dict(zip(classes["subtype"], classes["count"])) == {"C1A": 43, "C1B": 35}
    assert info["patients"] == 78 and info["dataset"] == "tcga-acc-miniacc@1.0"


@pytest.mark.realdata
def test_paad_build_and_imported_scheme_match_the_raw_files(worked, raw_dir: Path) -> None:
    runs, home = worked[0]["paad"], worked[2]
    truth = _paad_truth(raw_dir)
    patients, events = _survival_counts(truth)
    assert (truth.height, patients, events) == (81, 81, 48)
    build = _output(runs, "oncobench datasets build")
    assert f"tcga-paad-wissel@1.0: {truth.height} patients;" in build
    assert f"endpoint OS: {patients} patients, {events} events (time in days, converted from months)" in build
    raw = pl.read_csv(raw_dir / SUBSAMPLING)
    iters = sorted(raw["iter"].unique().to_list())
    roles = raw.group_by("iter", "set").len().group_by("set").agg(pl.col("len").unique())
    per_role = {r["set"]: r["len"] for r in roles.iter_rows(named=True)}
    assert len(iters) == 100 and per_role == {"train": [64], "test": [17]}
    imported = _output(runs, "oncobench splits import")
    assert f"split wissel100 (subsampling): {len(iters)} repeats x 1 folds from 1 files" in imported
    assert f"covers {truth.height} of the dataset's {truth.height} patients" in imported
    assert "patients per role and fold: test 17, train 64" in imported
    # the stored assignment is the file's: iteration i (in order) is repeat i-1, fold 0
    stored = pl.read_parquet(home / "datasets/tcga-paad-wissel/1.0+splits.wissel100/splits/wissel100.parquet")
    expected = raw.select(pl.col("patient_id"), pl.col("iter").replace_strict({it: k for k, it in enumerate(iters)}).alias("repeat"),
                          pl.col("set").alias("role"))
    got = stored.filter(pl.col("fold") == 0).select("patient_id", pl.col("repeat").cast(pl.Int64), "role")
    assert stored["fold"].unique().to_list() == [0]
    assert got.sort("repeat", "patient_id").equals(expected.sort("repeat", "patient_id"))
    assert (home / "datasets/tcga-paad-wissel/1.0/manifest.json").exists()  # the built version is kept
    assert "wissel100" not in json.loads((home / "datasets/tcga-paad-wissel/1.0/manifest.json").read_text())["splits"]


def _results_rows(text: str) -> dict[str, dict[str, str]]:
    """Task -> model -> role, from `results`' tables."""
    rows: dict[str, dict[str, str]] = {}
    task = None
    for line in text.splitlines():
        head = re.match(r"^(\S+) on \S+ \(", line)
        if head:
            task = head.group(1)
            rows[task] = {}
            continue
        row = re.match(r"^(\S+)\s+(model|control|clinical reference)\s+\d+\s+\d+/\d+", line)
        if row and task:
            rows[task][row.group(1)] = row.group(2)
    return rows


@pytest.mark.realdata
def test_results_list_models_beside_clinical_reference_and_control(worked) -> None:
    acc = _results_rows(_output(worked[0]["acc"], "oncobench results"))
    assert acc == {"acc-os": {"coxnet": "model", "clinical-cox": "clinical reference", "km": "control"},
                   "acc-c1a-c1b": {"logreg": "model", "clinical-logreg": "clinical reference", "prior": "control"}}
    paad_text = _output(worked[0]["paad"], "oncobench results")
    assert _results_rows(paad_text) == {"paad-os-wissel": {"coxnet": "model", "clinical-cox": "clinical reference", "km": "control"}}
    assert "paad-os-wissel on tcga-paad-wissel@1.0+splits.wissel100 (survival, scheme wissel100, 81 patients)" in paad_text
    assert re.search(r"^coxnet\s+model\s+3\s+3/3", paad_text, re.MULTILINE)  # repeats 0, 1, 2: one fold each


@pytest.mark.realdata
@pytest.mark.parametrize("example,task,dataset", [("acc", "acc-os", "tcga-acc-miniacc@1.0"),
                                                   ("paad", "paad-os-wissel", "tcga-paad-wissel@1.0+splits.wissel100")])
def test_submission_is_accepted_and_rescored(worked, raw_dir: Path, example: str, task: str, dataset: str) -> None:
    runs, cwd = worked[0][example], worked[1]
    accepted = _output(runs, "oncobench submit --task")
    found = re.search(rf"accepted: my-method v1 on {task} \({re.escape(dataset)}\), status verified; harrell_c ([0-9.]+) "
                      r"\(re-scored by OncoBench\)", accepted)
    assert found, accepted
    # re-score the template's predictions here, against the raw file's outcome (Harrell's C per fold, averaged)
    truth = _acc_truth(raw_dir) if example == "acc" else _paad_truth(raw_dir)
    folder = cwd / f"{example}-submission"
    scores = []
    for file in sorted(folder.glob("fold*_seed0.parquet")):
        fold = pl.read_parquet(file).join(truth, on="patient_id", how="left")
        assert fold["time"].null_count() == 0
        scores.append(concordance_index_censored(fold["event"].cast(bool).to_numpy(), fold["time"].to_numpy(),
                                                 fold["risk"].to_numpy())[0])
    assert len(scores) == (5 if example == "acc" else 1)
    assert float(found.group(1)) == pytest.approx(np.mean(scores), abs=5e-5)
    board = _output(runs, "oncobench leaderboard --task")
    assert re.search(r"my-method\s+1\s+verified\s+model", board)


@pytest.mark.realdata
def test_exported_site_has_every_task_page(worked) -> None:
    site = worked[1] / "site"
    pages = {"acc-os__tcga-acc-miniacc_1.0.html", "acc-c1a-c1b__tcga-acc-miniacc_1.0.html",
             "paad-os-wissel__tcga-paad-wissel_1.0+splits.wissel100.html"}
    assert pages <= {p.name for p in site.glob("*.html")}
    index = (site / "index.html").read_text(encoding="utf-8")
    for page in pages:
        assert page in index
        assert page.split("__")[0] in (site / page).read_text(encoding="utf-8")
    assert "my-method" in (site / "acc-os__tcga-acc-miniacc_1.0.html").read_text(encoding="utf-8")


@pytest.mark.realdata
def test_card_imports_splits_and_stores_a_task_on_them(raw_dir: Path, tmp_path: Path) -> None:
    """``[[splits.import]]`` and ``[[tasks]]`` in the dataset card: one build imports the scheme and stores the task."""
    card = tmp_path / "card.toml"
    card.write_text((REPO / "examples/paad/card.toml").read_text(encoding="utf-8").replace(
        'name = "tcga-paad-wissel"', 'name = "paad-card-splits"', 1) + f"""
[[splits.import]]
scheme = "wissel100"
layout = "subsampling"
path = "{SUBSAMPLING}"

[[tasks]]
name = "paad-os-card"
kind = "survival"
target = "OS"
scheme = "wissel100"
covariates = ["age", "sex"]
""", encoding="utf-8")
    home = tmp_path / "home"
    env = dict(os.environ, ONCOBENCH_HOME=str(home), MLFLOW_ENABLE_TELEMETRY="false",
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    cli = [sys.executable, "-m", "oncobench.cli"]
    built = subprocess.run([*cli, "datasets", "build", str(card), "--raw-dir", str(raw_dir)], env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "split wissel100 (subsampling): 100 repeats x 1 folds" in built.stdout
    assert "tasks stored: paad-os-card" in built.stdout
    info = subprocess.run([*cli, "tasks", "info", "paad-os-card"], env=env, capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    spec = json.loads(info.stdout)
    assert (spec["dataset"], spec["scheme"], spec["patients"]) == ("paad-card-splits@1.0", "wissel100", 81)
    stored = pl.read_parquet(home / "datasets/paad-card-splits/1.0/splits/wissel100.parquet")
    raw = pl.read_csv(raw_dir / SUBSAMPLING)
    assert stored.group_by("repeat", "role").len()["len"].sort().to_list() == \
        raw.group_by("iter", "set").len()["len"].sort().to_list()  # 100 x (64 train, 17 test)


_TINY = """name = "tiny"
version = "1"
[clinical]
path = "c.csv"
id_column = "patient"
[[endpoints]]
name = "OS"
time_column = "days"
event_column = "dead"
[[modalities]]
name = "clinical"
path = "c.csv"
orientation = "patients_x_features"
id_column = "patient"
select = ["patient", "age"]
"""


def _tiny_card(tmp_path: Path, tasks: str) -> Path:
    rows = [f"P{i},{40 + i % 30},{100 + 17 * i},{i % 3 == 0:d}" for i in range(40)]
    (tmp_path / "c.csv").write_text("patient,age,days,dead\n" + "\n".join(rows) + "\n")
    card = tmp_path / "card.toml"
    card.write_text(_TINY + tasks)
    return card


def test_card_tasks_key_must_hold_tables(tmp_path: Path) -> None:
    from oncobench.datasets.errors import InputFormatError
    from oncobench.datasets.sources.generic import read_card

    card = _tiny_card(tmp_path, "")
    card.write_text('tasks = ["os"]\n' + card.read_text())
    with pytest.raises(InputFormatError, match=r"\[\[tasks\]\] #1 is not a table"):
        read_card(card)
    card = _tiny_card(tmp_path, '[[tasks]]\nname = "t"\nkind = "survival"\ntarget = "OS"\n')
    assert read_card(card).tasks == ({"name": "t", "kind": "survival", "target": "OS"},)


def test_card_tasks_are_stored_at_build_and_checked_before_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from oncobench.benchmark.task_cards import TaskCardError
    from oncobench.benchmark.task_store import stored_spec
    from oncobench.cli import main
    from oncobench.benchmark.task_cards import build_card
    from oncobench.datasets.store import oncobench_home

    bad = _tiny_card(tmp_path, '[[tasks]]\nname = "tiny-os"\nkinds = "survival"\ntarget = "OS"\n'
                               '[[tasks]]\nname = "os-brca"\nkind = "survival"\ntarget = "OS"\n')
    with pytest.raises(TaskCardError) as caught:
        build_card(bad)
    assert caught.value.problems[0].startswith("tasks[0] ('tiny-os'): unknown key 'kinds' (did you mean 'kind'?)")
    assert caught.value.problems[-1] == "tasks[1] ('os-brca').name: 'os-brca' is a built-in task; choose another name"
    assert main(["datasets", "build", str(bad)]) == 2  # the CLI: one error line with every problem
    assert "3 problems" in capsys.readouterr().err
    assert not (oncobench_home() / "datasets" / "tiny").exists()  # refused before the build: the version is free
    good = _tiny_card(tmp_path, '[[tasks]]\nname = "tiny-os"\nkind = "survival"\ntarget = "OS"\ncovariates = ["age"]\n')
    assert main(["datasets", "build", str(good)]) == 0
    out = capsys.readouterr().out
    assert "endpoint OS: 40 patients, 14 events (time in days)" in out and "tasks stored: tiny-os" in out
    spec = stored_spec("tiny-os")
    assert (spec.dataset, spec.kind, spec.target, spec.covariates) == ("tiny", "survival", "OS", ("age",))
    changed = _tiny_card(tmp_path, '[[tasks]]\nname = "tiny-os"\nkind = "survival"\ntarget = "OS"\n')
    changed.write_text(changed.read_text().replace('version = "1"', 'version = "2"'))
    with pytest.raises(TaskCardError, match="task 'tiny-os' is already stored with another definition"):
        build_card(changed)
    assert not (oncobench_home() / "datasets" / "tiny" / "2").exists()
