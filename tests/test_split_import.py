"""Issue 12, items 3 and 5: published splits brought in (`splits import`), datasets extended and removed."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import polars as pl
import pytest

from oncobench.cli import main
from oncobench.datasets.dataset import load_dataset
from oncobench.datasets.errors import DatasetNotFoundError, InputFormatError, SplitError
from oncobench.datasets.split_import import import_splits, read_split_files
from oncobench.datasets.store import list_versions, read_manifest

IDS = [f"TCGA-AA-{i:04d}" for i in range(20)]


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))


@pytest.fixture
def toy(tmp_path: Path) -> str:
    """A 20-patient card dataset built into the test's home; returns its id."""
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "clinical.csv").write_text("patient,os,os_days,hospital\n" + "".join(
        f"{p},{i % 2},{100 + i},H{i % 5}\n" for i, p in enumerate(IDS)))
    (folder / "expr.tsv").write_text("gene\t" + "\t".join(IDS) + "\n" + "".join(
        f"G{g}\t" + "\t".join(str(g + i / 10) for i in range(20)) + "\n" for g in range(3)))
    (folder / "card.toml").write_text('name = "toy"\nversion = "1.0"\n[clinical]\npath = "clinical.csv"\nid_column = "patient"\n'
                                      '[[endpoints]]\nname = "OS"\ntime_column = "os_days"\nevent_column = "os"\n'
                                      '[[modalities]]\nname = "rna"\npath = "expr.tsv"\norientation = "features_x_patients"\n'
                                      'id_column = "gene"\n')
    assert main(["datasets", "build", str(folder / "card.toml")]) == 0
    return "toy@1.0"


# ------------------------------------------------------------------------------------------------ layouts
def test_fold_csv_layout_porpoise_style(tmp_path: Path, toy: str) -> None:
    files = []
    for k in range(2):
        test = IDS[k * 10:(k + 1) * 10]
        train = [p for p in IDS if p not in test]
        path = tmp_path / f"splits_{k}.csv"
        rows = [",train,val,test"] + [f"{i},{train[i] if i < len(train) else ''},,{test[i] if i < len(test) else ''}"
                                       for i in range(10)]
        path.write_text("\n".join(rows) + "\n")
        files.append(path)
    imported = read_split_files("fold-csv", files, patients=IDS)
    table = imported.table
    assert table.filter((pl.col("fold") == 1) & (pl.col("role") == "test"))["patient_id"].sort().to_list() == IDS[10:]
    assert table.height == 40 and imported.covered == 20


def test_long_layout_with_lowercase_dotted_ids_and_unknown_ids_counted(tmp_path: Path) -> None:
    rows = ["patient,repeat,fold,role"] + [f"{p.replace('-', '.')}-01A,0,0,{'test' if i < 5 else 'val' if i < 7 else 'train'}"
                                           for i, p in enumerate(IDS)] + ["TCGA-ZZ-9999,0,0,train", "TCGA-ZZ-9999,0,0,train"]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    imported = read_split_files("long", [path], patients=IDS)
    assert imported.unknown == {"TCGA-ZZ-9999": 2}
    counts = dict(imported.role_counts().select("role", "len").iter_rows())
    assert counts == {"test": 5, "valid": 2, "train": 13}
    assert "1 IDs not in the dataset left out (2 rows), e.g. ['TCGA-ZZ-9999']" in imported.report_lines("x")


def test_patient_in_two_roles_of_one_fold_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    path.write_text("iter,patient_id,set\n" + "".join(f"1,{p},{'test' if i < 4 else 'train'}\n" for i, p in enumerate(IDS))
                    + f"1,{IDS[0]},train\n")
    with pytest.raises(SplitError) as info:
        read_split_files("subsampling", [path], patients=IDS, name="toy/sub")
    assert str(info.value) == (f"toy/sub: patient {IDS[0]} is in test (sub.csv) and in train (sub.csv) of repeat 0 fold 0; "
                               "a patient may have one role per fold")


def test_only_unknown_ids_refused(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    path.write_text("iter,patient_id,set\n1,X1,train\n1,X2,test\n")
    with pytest.raises(SplitError, match="none of the 2 IDs in sub.csv is a patient of the dataset"):
        read_split_files("subsampling", [path], patients=IDS)


def test_unknown_role_named(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    path.write_text(f"iter,patient_id,set\n1,{IDS[0]},holdout\n")
    with pytest.raises(InputFormatError, match="sub.csv, row 2: unknown role 'holdout'"):
        read_split_files("subsampling", [path], patients=IDS)


# ------------------------------------------------------------------------------------------------ import into the store
def test_import_writes_a_new_version_and_leaves_the_old_one_alone(tmp_path: Path, toy: str) -> None:
    base = load_dataset(toy)
    before = json.loads((base.path / "manifest.json").read_text())
    path = tmp_path / "sub.csv"
    path.write_text("iter,patient_id,set\n" + "".join(
        f"{it},{p},{'test' if (i + it) % 5 == 0 else 'train'}\n" for it in (1, 2, 10) for i, p in enumerate(IDS)))
    assert main(["splits", "import", toy, "--scheme", "paper", "--layout", "subsampling", str(path)]) == 0
    new = load_dataset("toy@1.0+splits.paper")
    assert json.loads((base.path / "manifest.json").read_text()) == before  # the old version did not change
    assert load_dataset("toy").version == "1.0+splits.paper"  # the newest version
    entry = new.manifest["splits"]["paper"]
    assert entry["repeat_labels"] == ["1", "2", "10"] and entry["n_repeats"] == 3 and entry["n_folds"] == 1
    assert entry["files"][0]["name"] == "sub.csv" and len(entry["files"][0]["sha256"]) == 64
    assert new.manifest["derived_from"]["version"] == "1.0"
    # the drawn schemes are the very same files
    old_files = {f["name"]: f["sha256"] for f in base.manifest["files"]}
    new_files = {f["name"]: f["sha256"] for f in new.manifest["files"]}
    assert {k: v for k, v in new_files.items() if k != "splits/paper.parquet"} == old_files
    # repeat 2 (iter 10): test = i with (i + 10) % 5 == 0
    train, valid, test = new.split("paper", fold=0, repeat=2)
    assert test == sorted(p for i, p in enumerate(IDS) if i % 5 == 0) and valid == [] and len(train) == 16
    with pytest.raises(SplitError, match="already has a split scheme 'paper'"):
        import_splits("toy", "paper", "subsampling", [path])


def test_card_key_imports_splits_at_build(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "clinical.csv").write_text("patient,age\n" + "".join(f"{p},{50 + i}\n" for i, p in enumerate(IDS)))
    (folder / "expr.tsv").write_text("gene\t" + "\t".join(IDS) + "\nG0\t" + "\t".join(str(i) for i in range(20)) + "\n")
    for k in (1, 2):
        (folder / f"split_train_{k}.txt").write_text("\n".join(IDS[:15]) + "\n")
        (folder / f"split_test_{k}.txt").write_text("\n".join(IDS[15:]) + "\n")
    (folder / "card.toml").write_text(
        'name = "c"\nversion = "1"\n[clinical]\npath = "clinical.csv"\nid_column = "patient"\n'
        '[[splits.import]]\nscheme = "mlomics"\nlayout = "id-lists"\n'
        'path = ["split_train_1.txt", "split_test_1.txt", "split_train_2.txt", "split_test_2.txt"]\n'
        '[[modalities]]\nname = "rna"\npath = "expr.tsv"\norientation = "features_x_patients"\nid_column = "gene"\n')
    assert main(["datasets", "build", str(folder / "card.toml")]) == 0
    ds = load_dataset("c")
    assert set(ds.schemes) == {"kfold", "holdout", "mlomics"}
    assert ds.split("mlomics", 0, 1)[2] == sorted(IDS[15:])


# ------------------------------------------------------------------------------------------------ extend and remove
def test_extend_adds_a_modality_endpoint_and_columns_keeping_split_hashes(tmp_path: Path, toy: str,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    ext = tmp_path / "ext"
    ext.mkdir()
    extra = ["TCGA-BB-0001", "TCGA-BB-0002"]
    (ext / "radiomics.csv").write_text("case,shape,texture\n" + "".join(
        f"{p}-01A,{i},{i * 2 % 7}\n" for i, p in enumerate(IDS[:12] + extra)))
    (ext / "pfi.csv").write_text("case,pfi,pfi_days,grade\n" + "".join(
        f"{p},{i % 3 == 0 and 1 or 0},{50 + i},G{i % 3}\n" for i, p in enumerate(IDS + extra)))
    (ext / "ext.toml").write_text(
        'name = "radiomics-x"\ncitation = "Radiomics paper"\n'
        '[clinical]\npath = "pfi.csv"\nid_column = "case"\nlabels = ["grade"]\n'
        '[[endpoints]]\nname = "PFI"\ntime_column = "pfi_days"\nevent_column = "pfi"\n'
        '[[modalities]]\nname = "radiology"\npath = "radiomics.csv"\norientation = "patients_x_features"\nid_column = "case"\n')
    base = load_dataset(toy)
    assert main(["datasets", "extend", toy, "--card", str(ext / "ext.toml")]) == 0
    out = capsys.readouterr().out
    assert "radiology: 2 of 14 patients of radiomics.csv have no clinical row and were left out" in out
    assert "clinical: 2 of 22 patients of pfi.csv are not in the dataset and were left out" in out
    new = load_dataset("toy@1.0+ext.radiology")
    assert new.patients == base.patients and new.modalities == ("rna", "radiology")
    assert new.presence["radiology"].sum() == 12 and new.presence["rna"].to_list() == base.presence["rna"].to_list()
    X, features = new.matrix("radiology", [IDS[5]])
    assert features == ["shape", "texture"] and X[0].tolist() == [5.0, 3.0]
    assert [e["name"] for e in new.manifest["endpoints"]] == ["OS", "PFI"] and new.manifest["endpoints"][1]["events"] == 7
    assert new.clinical.filter(pl.col("patient_id") == IDS[3])["grade"].item() == "G0" and "grade" in new.manifest["labels"]
    # existing data and every split file byte for byte the same: the split hashes prove the splits did not move
    old = {f["name"]: f["sha256"] for f in base.manifest["files"]}
    fresh = {f["name"]: f["sha256"] for f in new.manifest["files"]}
    for name in ("splits/kfold.parquet", "splits/holdout.parquet", "modalities/rna.parquet"):
        assert fresh[name] == old[name]
    assert new.split_table("kfold").equals(base.split_table("kfold"))
    assert new.manifest["modalities"]["rna"] == base.manifest["modalities"]["rna"]  # base provenance kept
    assert new.manifest["modalities"]["radiology"]["sources"][0]["source"] == "card:radiomics-x"
    assert new.manifest["card"]["extensions"][0]["citation"] == "Radiomics paper"
    with pytest.raises(InputFormatError, match="already has a rna modality"):
        from oncobench.datasets.extend import extend_dataset

        (ext / "again.toml").write_text('[[modalities]]\nname = "rna"\npath = "radiomics.csv"\n'
                                        'orientation = "patients_x_features"\nid_column = "case"\n')
        extend_dataset(toy, ext / "again.toml")


def test_remove_asks_refuses_without_a_terminal_and_removes_with_yes(toy: str, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = load_dataset(toy).path
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal
    assert main(["datasets", "remove", toy]) == 2
    assert "refusing to remove toy@1.0 without confirmation: no terminal to ask; pass --yes" in capsys.readouterr().err
    assert folder.is_dir()
    assert main(["datasets", "remove", toy, "--yes"]) == 0
    assert not folder.exists() and not [r for r in list_versions() if r["name"] == "toy"]
    with pytest.raises(DatasetNotFoundError):
        load_dataset(toy)


# ------------------------------------------------------------------------------------------------ real files
def _raw_subsampling(path: Path) -> dict[tuple[int, str], str]:
    """(iter, patient) -> set, read with the csv module only (independent of the importer)."""
    with gzip.open(path, "rt", newline="") as handle:
        return {(int(r["iter"]), r["patient_id"]): r["set"] for r in csv.DictReader(handle)}


@pytest.mark.realdata
def test_paad_subsampling_round_trip(raw_dir: Path, tmp_path: Path) -> None:
    card = Path(__file__).parents[1] / "examples" / "paad" / "card.toml"
    assert main(["datasets", "build", str(card), "--raw-dir", str(raw_dir)]) == 0
    sub = raw_dir / "tcga_paad_wissel2023_6omics_survival" / "derived" / "paad_subsampling_100x_80_20.csv.gz"
    raw = _raw_subsampling(sub)
    iters = sorted({i for i, _ in raw})
    assert iters == list(range(1, 101))
    per_role = {(i, s): sum(1 for (it, _), v in raw.items() if it == i and v == s) for i in iters for s in ("train", "test")}
    assert main(["splits", "import", "tcga-paad-wissel", "--scheme", "wissel100", "--layout", "subsampling", str(sub)]) == 0
    ds = load_dataset("tcga-paad-wissel@1.0+splits.wissel100")
    assert ds.manifest["splits"]["wissel100"]["n_repeats"] == 100
    out = tmp_path / "export"
    assert main(["splits", "export", ds.id, "--scheme", "wissel100", "--out", str(out)]) == 0
    assert main(["splits", "verify", str(out)]) == 0
    exported = pl.read_csv(out / f"tcga-paad-wissel_{ds.version}_wissel100.csv")
    assert exported.height == len(raw) == 8100
    assignment = {(r["repeat"] + 1, r["patient_id"]): r["role"] for r in exported.iter_rows(named=True)}
    assert assignment == raw  # the imported assignment is the file's, patient by patient
    for (i, role), n in per_role.items():
        assert n == (64 if role == "train" else 17)
        assert exported.filter((pl.col("repeat") == i - 1) & (pl.col("role") == role)).height == n
    assert read_manifest(load_dataset("tcga-paad-wissel@1.0").path)["splits"].keys() == {"kfold", "holdout"}
    # a built-in task uses the imported scheme: os-paad (cohort "paad", endpoint OS) on this dataset
    from oncobench.benchmark import catalog  # noqa: F401  (registers the tasks)
    from oncobench.benchmark.tasks import load_task

    task = load_task("os-paad", dataset=ds.id, scheme="wissel100")
    split = task.get_split(0, 99)
    assert sorted(split.test) == sorted(p for (i, p), s in raw.items() if i == 100 and s == "test")
    assert len(split.train) == 64 and not task.check()


@pytest.mark.realdata
def test_mlomics_id_lists_layout(raw_dir: Path) -> None:
    folder = raw_dir / "mlomics_roster_gsbrca_splits" / "splits" / "GS-BRCA"
    files = sorted(folder.glob("split_*.txt"))
    ids = {line.strip() for f in files for line in f.read_text().splitlines() if line.strip()}
    patients = sorted({"-".join(i.split(".")[:3]) for i in ids})
    imported = read_split_files("id-lists", files, patients=patients)
    assert imported.table["repeat"].n_unique() == 5 and not imported.unknown
    counts = imported.role_counts()
    for repeat in range(5):
        got = dict(counts.filter(pl.col("repeat") == repeat).select("role", "len").iter_rows())
        k = repeat + 1
        expected = {r: len((folder / f"split_{f}_{k}.txt").read_text().split()) for r, f in
                    (("train", "train"), ("valid", "val"), ("test", "test"))}
        assert got == expected and sum(got.values()) == 671
    assert dict(counts.filter(pl.col("repeat") == 0).select("role", "len").iter_rows()) == {"train": 455, "valid": 81, "test": 135}


@pytest.mark.realdata
def test_acc_card_builds_from_the_real_files_with_counts_from_the_raw_files(raw_dir: Path) -> None:
    card = Path(__file__).parents[1] / "examples" / "acc" / "card.toml"
    assert main(["datasets", "build", str(card), "--raw-dir", str(raw_dir)]) == 0
    ds = load_dataset("tcga-acc-miniacc")
    derived = raw_dir / "tcga_acc_miniacc_5assays" / "derived"
    with open(derived / "sampleMap.csv", newline="") as handle:
        sample_map = list(csv.DictReader(handle))
    files = {"rna": "RNASeq2GeneNorm", "cnv": "gistict", "protein": "RPPAArray", "mutation": "Mutations", "mirna": "miRNASeqGene"}
    for modality, stem in files.items():
        with open(derived / f"{stem}.csv", newline="") as handle:
            rows = list(csv.reader(handle))
        aliquots = rows[0][1:]
        mapped = {r["primary"] for r in sample_map if r["assay"] == stem}
        assert set(ds.modality_patients(modality)) == mapped == {a[:12] for a in aliquots}
        assert len(ds.features(modality)) == len(rows) - 1
        # one cell, by name: the value of the first feature for the last aliquot
        X, features = ds.matrix(modality, [aliquots[-1][:12]])
        assert features[0] == rows[1][0] and X[0, 0] == pytest.approx(float(rows[1][-1]), rel=1e-6)
    with open(derived / "colData.csv", newline="") as handle:
        clinical = list(csv.DictReader(handle))
    assert ds.patients == tuple(r["patientID"] for r in clinical)
    deaths = [r for r in clinical if r["vital_status"] == "1"]
    time = {r["patientID"]: float(r["days_to_death"] if r["vital_status"] == "1" else r["days_to_last_followup"]) for r in clinical}
    positive_deaths = sum(1 for r in deaths if time[r["patientID"]] > 0)
    entry = ds.manifest["endpoints"][0]
    assert (entry["name"], entry["unit"], entry["events"], entry["patients"]) == ("OS", "days", positive_deaths, 91)
    assert len(deaths) == 34 and positive_deaths == 33 and entry["left_out"]["time_not_positive"] == 1
    table = ds.clinical
    assert dict(zip(table["patient_id"], table["os_time"])) == time
    X, features = ds.matrix("clinical", ["TCGA-OR-A5J1"])
    assert features == ["years_to_birth", "pathologic_stage", "gender"] and X[0].tolist() == [58.0, 2.0, 0.0]  # stage ii, male
