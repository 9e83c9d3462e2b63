"""The MLOmics release as a recipe: offline build from the real files, the pin list, downloads from a local HTTP
server, bad input, MLOmics's split files, and the task ``mlomics-gs-brca`` on one of its splits.

Expected values are read from the raw files here with the csv module or pandas (never from the recipe's output),
or come from the curators' PROVENANCE.md (label counts 353/42/132/31/113, 45% = 111,386 empty cells, code
mapping 0 LumA, 1 Her2, 2 LumB, 3 Normal-like, 4 Basal, 455/81/135 patients in split 1).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import math
import shutil
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncobench.datasets.dataset import Dataset
from oncobench.datasets.errors import ChecksumError, InputFormatError
from oncobench.datasets.sources import mlomics

FOLDER = "mlomics_roster_gsbrca_splits"
TOP = "Main_Dataset/Classification_datasets/GS-BRCA/Top"
PAM50 = {0: "LumA", 1: "Her2", 2: "LumB", 3: "Normal", 4: "Basal"}  # PROVENANCE.md; Subtype-GAN says "Normal"


def _raw_matrix(path: Path) -> tuple[list[str], list[str], list[list[str]]]:
    """(samples, row names, cells as text) read with the csv module."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0][1:], [r[0] for r in rows[1:]], [r[1:] for r in rows[1:]]


def _patient(dotted: str) -> str:
    return dotted.replace(".", "-")[:12]


_CDR_TABLES: dict[str, object] = {}


def _read_cdr_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read the 2.8 MB TCGA-CDR workbook (about 7 s) once per session: later builds get the table read from the
    same bytes (keyed by their sha256), so the three builds here do not pay for it three times."""
    from oncobench.datasets.sources import tcga_cdr

    original = tcga_cdr.read_tcga_cdr

    def cached(path):
        key = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if key not in _CDR_TABLES:
            _CDR_TABLES[key] = original(path)
        return _CDR_TABLES[key]

    monkeypatch.setattr(tcga_cdr, "read_tcga_cdr", cached)


@pytest.fixture(scope="session")
def mlomics_ds(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """``mlomics`` built offline from the real raw folder, once per session, in its own home."""
    from oncobench.datasets.recipes import mlomics as recipe

    with pytest.MonkeyPatch.context() as patch:
        _read_cdr_once(patch)
        return Dataset(recipe.build(raw_dir=raw_dir, progress=False, home=tmp_path_factory.mktemp("mlomics-home")))


# ---- offline build on the real files ----------------------------------------------------------------------------

@pytest.mark.realdata
def test_offline_build_holds_the_released_mirna_as_written(mlomics_ds: Dataset, raw_dir: Path) -> None:
    samples, names, cells = _raw_matrix(raw_dir / FOLDER / TOP / "BRCA_miRNA_top.csv")
    assert (len(names), len(samples)) == (366, 671)
    empty = sum(c == "" for row in cells for c in row)
    assert empty == 111_386  # the "45% missing" of PROVENANCE.md
    named = [i for i, n in enumerate(names) if n]
    blank = [i for i, n in enumerate(names) if not n]
    assert len(named) == 200 and all(all(c == "" for c in cells[i]) for i in blank)  # padding rows carry every gap
    values, features = mlomics_ds.matrix("mirna", sorted(_patient(s) for s in samples))
    assert values.shape == (671, 200) and features == [names[i] for i in named]
    expected = np.array([[float(c) if c else np.nan for c in cells[i]] for i in named], dtype=np.float32).T
    order = np.argsort([_patient(s) for s in samples])
    np.testing.assert_array_equal(values, expected[order])  # every cell, NaN where the file is empty
    assert int(np.isnan(values).sum()) == sum(c == "" for i in named for c in cells[i]) == 0
    col = samples.index("TCGA.3C.AAAU.01")
    row = names.index("hsa.let.7a.1")
    assert values[0, features.index("hsa.let.7a.1")] == np.float32(float(cells[row][col]))
    info = mlomics_ds.manifest["card"]["mlomics"]["matrices"][0]
    assert (info["blank_rows_left_out"], info["empty_cells_in_file"], info["missing_cells_kept"]) == (166, 111_386, 0)
    assert mlomics_ds.modality_info("mirna")["sources"][0]["files"][0]["sha256"] == hashlib.sha256(
        (raw_dir / FOLDER / TOP / "BRCA_miRNA_top.csv").read_bytes()).hexdigest()


@pytest.mark.realdata
def test_label_codes_are_named_by_a_derived_and_recorded_mapping(mlomics_ds: Dataset, raw_dir: Path) -> None:
    samples, _, _ = _raw_matrix(raw_dir / FOLDER / TOP / "BRCA_miRNA_top.csv")
    codes = pd.read_csv(raw_dir / FOLDER / TOP / "BRCA_label_num.csv")["Label"].tolist()
    assert [Counter(codes)[k] for k in range(5)] == [353, 42, 132, 31, 113]
    clinical = mlomics_ds.clinical
    stored = dict(zip(clinical["patient_id"].to_list(), clinical["pam50"].to_list()))
    assert all(stored[_patient(s)] == PAM50[c] for s, c in zip(samples, codes))
    assert clinical["pam50"].drop_nulls().len() == 671
    mapping = mlomics_ds.manifest["card"]["mlomics"]["label_mapping"]["GS-BRCA"]
    assert mapping["mapping"] == {str(k): v for k, v in PAM50.items()}
    # agreement per class, recomputed with pandas from Subtype-GAN's table
    ref = pd.read_csv(raw_dir / "subtypegan_tcga10_clinical_mirna" / "results" / "BRCA.merge", index_col=0)["subtype"]
    joined = pd.DataFrame({"code": codes}, index=[_patient(s) for s in samples]).join(ref, how="inner")
    assert mapping["n_shared"] == len(joined) == 654
    for code, part in joined.groupby("code"):
        share = (part["subtype"] == PAM50[code]).mean()
        assert mapping["per_code"][str(code)]["agreement"] == pytest.approx(share, abs=1e-4)
        assert share >= 0.95


@pytest.mark.realdata
def test_roster_is_the_clinical_table_with_cdr_outcomes(mlomics_ds: Dataset, raw_dir: Path) -> None:
    roster = pd.read_csv(raw_dir / FOLDER / "Clinical_Rec.csv")
    clinical = mlomics_ds.clinical
    assert clinical.height == len(roster) == 8314
    per_type = Counter(clinical["cohort"].to_list())
    assert per_type == Counter(roster["label"].str.lower()) and len(per_type) == 32
    row = roster.set_index(roster["sample"].str[:12]).loc["TCGA-05-4384"]
    mine = clinical.filter(clinical["patient_id"] == "TCGA-05-4384").row(0, named=True)
    assert (mine["age"], mine["sex"], mine["stage"], mine["mlomics_os_days"]) == (row["age_at_initial_pathologic_diagnosis"],
                                                                                  row["gender"], row["pathologic_stage"], row["days"])
    cdr = pd.read_csv(raw_dir / "tcga_cdr_pancancer_clinical" / "derived" / "TCGA-CDR.csv", index_col=0)
    for pid in ("TCGA-05-4384", "TCGA-3C-AAAU", "TCGA-OR-A5J1"):
        got = clinical.filter(clinical["patient_id"] == pid).row(0, named=True)
        assert (got["os"], got["pfi_time"]) == (cdr.loc[pid, "OS"], cdr.loc[pid, "PFI.time"])
    endpoints = {e["name"] for e in mlomics_ds.manifest["endpoints"]}
    assert endpoints == {"OS", "DSS", "DFI", "PFI", "OS-MLOmics"}
    assert mlomics_ds.manifest["card"]["mlomics"]["unpinned_not_fetched"] == [
        f"{TOP}/BRCA_{o}_top.csv" for o in ("CNV", "Methy", "mRNA")]


# ---- the pin list --------------------------------------------------------------------------------------------------

@pytest.mark.realdata
def test_every_pinned_release_file_resolves_to_a_download_path(raw_dir: Path) -> None:
    with open(raw_dir / FOLDER / "derived" / "mlomics_release_files_lfs_pins.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    files = mlomics.release_files()
    assert [(f.path, f.bytes, f.sha256) for f in files] == [
        (r["path"], int(r["size_bytes"]) if r["size_bytes"] else None, r["sha256"] or None) for r in rows]
    assert len(files) == 235 and sum(f.pinned for f in files) == 232
    for f in files:
        if not f.pinned:
            with pytest.raises(mlomics.UnpinnedFileError, match="never fetched unverified"):
                f.pin()
            continue
        pin = f.pin()
        assert pin.url == "https://huggingface.co/datasets/AIBIC/MLOmics/resolve/main/" + urllib.parse.quote(f.path)
        assert pin.name == f"{FOLDER}/{f.path}" and (pin.sha256, pin.bytes) == (f.sha256, f.bytes)
    assert Counter((f.set, f.scale) for f in files) == Counter(tuple(r["path"].split("/")[2:4]) for r in rows)
    assert {f.omics for f in files if f.kind == "omics"} == {"mRNA", "miRNA", "Methy", "CNV"}
    kinds = Counter(f.kind for f in files)
    assert kinds["labels"] == sum(r["path"].endswith("_label_num.csv") for r in rows)
    assert kinds["survival"] == sum("/survival_" in r["path"] for r in rows)
    assert {f.path for f in files if not f.pinned} == {r["path"] for r in rows if not r["sha256"]}


def test_the_build_fetches_only_pinned_files_and_reports_the_rest() -> None:
    from oncobench.datasets.recipes import mlomics as recipe

    pins, unpinned = recipe.needed_pins(recipe.DEFAULT_SETS)
    assert sorted(f.path.rsplit("/", 1)[1] for f in unpinned) == ["BRCA_CNV_top.csv", "BRCA_Methy_top.csv", "BRCA_mRNA_top.csv"]
    assert all(p.url and p.sha256 and p.bytes for p in pins)  # online, every needed file has a pinned URL
    by_name = {p.name: p.url for p in pins}
    assert by_name[f"{FOLDER}/Clinical_Rec.csv"] == (
        f"https://raw.githubusercontent.com/{mlomics.REPO}/{mlomics.REPO_COMMIT}/Auxiliary_Resource/Clinical_annotation/Clinical_Rec.csv")
    assert by_name[f"{FOLDER}/splits/GS-BRCA/split_test_1.txt"].endswith(
        "Baseline_and_Metric/Classification/Baselines/Python/CustOmics/splits/GS-BRCA/split_test_1.txt")
    assert sum(n.startswith(f"{FOLDER}/splits/GS-BRCA/") for n in by_name) == 15
    acc, none = recipe.needed_pins([("ACC", "Top")])  # a clustering set: four omics; survival_ACC.csv is not read
    assert none == [] and sorted(p.name.rsplit("/", 1)[1] for p in acc[3:]) == [
        "ACC_CNV_top.csv", "ACC_Methy_top.csv", "ACC_mRNA_top.csv", "ACC_miRNA_top.csv"]
    with pytest.raises(Exception, match="no set 'GS-XYZ'"):
        recipe.needed_pins([("GS-XYZ", "Top")])


# ---- downloads from a real local HTTP server ---------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_folder(folder: Path) -> Iterator[str]:
    """``http.server`` serving ``folder`` from a thread; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _release_file(path: str, data: bytes) -> mlomics.ReleaseFile:
    return mlomics.parse_release_path(path, len(data), hashlib.sha256(data).hexdigest())


def test_download_is_verified_and_a_corrupt_file_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncobench.datasets.download import fetch

    good = b",TCGA.3C.AAAU.01,TCGA.3C.AALI.01\nhsa.let.7a.1,0.5,-0.5\n,,\n"
    served = tmp_path / "server"
    ok = _release_file("Main_Dataset/Clustering_datasets/ACC/Top/ACC_miRNA_top.csv", good)
    bad = _release_file("Main_Dataset/Clustering_datasets/ACC/Top/ACC_mRNA_top.csv", good)
    for f, data in ((ok, good), (bad, good.replace(b"0.5", b"0.6", 1))):  # same size, other bytes
        (served / f.path).parent.mkdir(parents=True, exist_ok=True)
        (served / f.path).write_bytes(data)
    cache = tmp_path / "cache"
    with http_folder(served) as url:
        monkeypatch.setattr(mlomics, "RELEASE_BASE", url + "/")
        path = fetch(ok.pin(), cache)
        assert path == cache / FOLDER / ok.path and path.read_bytes() == good
        block, info = mlomics.read_matrix(path)
        assert block.patients == ("TCGA-3C-AAAU", "TCGA-3C-AALI") and info.blank_rows == 1
        before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
        with pytest.raises(ChecksumError, match=f"does not match the pinned {bad.sha256}"):
            fetch(bad.pin(), cache)
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before  # no partial file, no new folder
    assert not (cache / FOLDER / bad.path).exists()


@pytest.mark.realdata
def test_online_build_from_a_local_mirror_of_the_public_urls(raw_dir: Path, tmp_path: Path, mlomics_ds: Dataset,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Every needed file is served at its public URL's path; the build downloads, verifies and matches offline."""
    from oncobench.datasets.recipes import mlomics as recipe

    _read_cdr_once(monkeypatch)
    pins, _ = recipe.needed_pins(recipe.DEFAULT_SETS)
    mirror = tmp_path / "mirror"
    for pin in pins:
        target = mirror / urllib.parse.unquote(urllib.parse.urlsplit(pin.url).path).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_dir / pin.name, target)
    original = recipe.needed_pins

    def local(sets):
        found, unpinned = original(sets)
        parts = [urllib.parse.urlsplit(p.url) for p in found]
        return [p.__class__(p.name, base + s.path, p.sha256, p.bytes, p.source) for p, s in zip(found, parts)], unpinned

    with http_folder(mirror) as base:
        monkeypatch.setattr(recipe, "needed_pins", local)
        folder = recipe.build(cache_dir=tmp_path / "cache", progress=False, home=tmp_path / "home")
    assert Dataset(folder).content_hash == mlomics_ds.content_hash  # the same dataset as the offline build
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.part")) == []


@pytest.mark.realdata
def test_another_set_of_the_release_builds_as_its_own_version(raw_dir: Path, tmp_path: Path, mlomics_ds: Dataset,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A GS-COAD Top set in the release layout (two omics, integer labels), served at its release URLs."""
    from oncobench.datasets.recipes import mlomics as recipe

    _read_cdr_once(monkeypatch)
    samples = ["TCGA.3L.AA1B.01", "TCGA.4N.A93T.01", "TCGA.4T.AA8H.01"]  # COAD patients of the roster
    header = "," + ",".join(samples) + "\n"
    files = {
        "Main_Dataset/Classification_datasets/GS-COAD/Top/COAD_miRNA_top.csv": header + "hsa.mir.21,1.5,,-1.5\n,,,\n",
        "Main_Dataset/Classification_datasets/GS-COAD/Top/COAD_mRNA_top.csv": header + "APC,0.1,0.2,0.3\nKRAS,1,2,3\n",
        "Main_Dataset/Classification_datasets/GS-COAD/Top/COAD_label_num.csv": "Label\n2\n0\n1\n",
    }
    served = tmp_path / "server"
    release = []
    for path, text in files.items():
        (served / path).parent.mkdir(parents=True, exist_ok=True)
        (served / path).write_text(text)
        release.append(_release_file(path, text.encode()))
    monkeypatch.setattr(mlomics, "release_files", lambda: tuple(release))
    raw = tmp_path / "raw"  # the real roster, TCGA-CDR and PAM50 table; the release files only online
    for name in (recipe.ROSTER, recipe.CDR, recipe.PAM50_REFERENCE):
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_dir / name, raw / name)
    with http_folder(served) as url:
        monkeypatch.setattr(mlomics, "RELEASE_BASE", url + "/")
        pins, unpinned = recipe.needed_pins([("GS-COAD", "Top")])
        assert unpinned == [] and all(p.url.startswith(url) for p in pins[3:])
        from oncobench.datasets.download import fetch

        for pin in pins[3:]:  # the release files, downloaded into the raw folder's layout
            target = fetch(pin, tmp_path / "cache")
            (raw / pin.name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, raw / pin.name)
    ds = Dataset(recipe.build(raw_dir=raw, progress=False, home=tmp_path / "home", sets=[("GS-COAD", "Top")]))
    assert ds.version == "1.0+GS-COAD-Top" and ds.schemes == ()
    ids = ["TCGA-3L-AA1B", "TCGA-4N-A93T", "TCGA-4T-AA8H"]
    mirna, names = ds.matrix("mirna", ids)
    assert names == ["hsa.mir.21"] and mirna[0, 0] == 1.5 and np.isnan(mirna[1, 0]) and mirna[2, 0] == -1.5
    rna, genes = ds.matrix("rna", ids)
    assert genes == ["APC", "KRAS"] and rna[:, 1].tolist() == [1.0, 2.0, 3.0]
    labels = dict(zip(ds.clinical["patient_id"].to_list(), ds.clinical["label_gs_coad"].to_list()))
    assert [labels[p] for p in ids] == [2, 0, 1]
    assert ds.manifest["card"]["mlomics"]["label_mapping"]["GS-COAD"]["mapping"] is None
    kept = {m["modality"]: m["missing_cells_kept"] for m in ds.manifest["card"]["mlomics"]["matrices"]}
    assert kept == {"mirna": 1, "rna": 0}


# ---- bad input -------------------------------------------------------------------------------------------------

def test_bad_matrices_and_labels_are_refused_naming_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "X_miRNA_top.csv"
    path.write_text(",TCGA.3C.AAAU.01,TCGA.3C.AALI.01\nhsa.a,1,2\nhsa.b,1,2,3\n")
    with pytest.raises(InputFormatError, match=r"X_miRNA_top.csv, row 3: malformed CSV"):
        mlomics.read_matrix(path)
    path.write_text(",TCGA.3C.AAAU.01,TCGA.3C.AALI.01\nhsa.a,1,2\nhsa.b,1,high\n")
    with pytest.raises(InputFormatError, match=r"row 3 \(hsa.b\), column 'TCGA.3C.AALI.01': non-numeric cell.*'high'"):
        mlomics.read_matrix(path)
    path.write_text(",TCGA.3C.AAAU.01,TCGA.3C.AALI.01\nhsa.a,1,2\n,1,\n")
    with pytest.raises(InputFormatError, match="row 3.*row without a feature name carries values"):
        mlomics.read_matrix(path)
    path.write_text(",TCGA.3C.AAAU.01,TCGA.3C.AAAU.06\nhsa.a,1,2\n")
    with pytest.raises(InputFormatError, match="two samples of patient TCGA-3C-AAAU"):
        mlomics.read_matrix(path)
    path.write_text(",TCGA.3C.AAAU.01,sample2\nhsa.a,1,2\n")
    with pytest.raises(InputFormatError, match="column '#3': header cell is not a TCGA sample barcode"):
        mlomics.read_matrix(path)
    labels = tmp_path / "X_label_num.csv"
    labels.write_text("Label\n0\nLumA\n")
    with pytest.raises(InputFormatError, match=r"X_label_num.csv, row 3, column 'Label': not an integer label code"):
        mlomics.read_label_codes(labels, ["TCGA.3C.AAAU.01", "TCGA.3C.AALI.01"])
    labels.write_text("Label\n0\n")
    with pytest.raises(InputFormatError, match="1 labels for 2 sample columns"):
        mlomics.read_label_codes(labels, ["TCGA.3C.AAAU.01", "TCGA.3C.AALI.01"])


def test_label_codes_that_do_not_match_the_reference_are_refused() -> None:
    reference = {f"TCGA-AA-{i:04d}": ("LumA" if i % 2 else "Basal") for i in range(40)}
    mapped = mlomics.derive_label_mapping({p: int(v == "LumA") for p, v in reference.items()}, reference, reference_name="ref")
    assert mapped.mapping == {0: "Basal", 1: "LumA"} and mapped.per_code[1]["agreement"] == 1.0
    scrambled = {p: i % 3 for i, p in enumerate(reference)}  # codes unrelated to the reference classes
    with pytest.raises(mlomics.LabelMappingError, match="code 0: only"):
        mlomics.derive_label_mapping(scrambled, reference, reference_name="ref")


@pytest.mark.realdata
def test_offline_build_refuses_a_raw_file_with_the_wrong_checksum(raw_dir: Path, tmp_path: Path) -> None:
    from oncobench.datasets.recipes import mlomics as recipe

    copy = tmp_path / "raw"
    shutil.copytree(raw_dir / FOLDER, copy / FOLDER)
    shutil.copytree(raw_dir / "tcga_cdr_pancancer_clinical", copy / "tcga_cdr_pancancer_clinical")
    shutil.copytree(raw_dir / "subtypegan_tcga10_clinical_mirna" / "results", copy / "subtypegan_tcga10_clinical_mirna" / "results")
    labels = copy / FOLDER / TOP / "BRCA_label_num.csv"
    labels.chmod(0o644)
    labels.write_text(labels.read_text().replace("\n4\n", "\n3\n", 1))  # one label changed, same size
    with pytest.raises(ChecksumError, match="BRCA_label_num.csv: sha256 .* does not match the pinned 602ab2bc"):
        recipe.build(raw_dir=copy, progress=False, home=tmp_path / "home")
    assert not (tmp_path / "home" / "datasets" / "mlomics").exists()


# ---- MLOmics's split files -----------------------------------------------------------------------------------

@pytest.mark.realdata
def test_split_files_import_through_the_split_import(mlomics_ds: Dataset, raw_dir: Path) -> None:
    from oncobench.datasets.split_import import read_split_files

    folder = raw_dir / FOLDER / "splits" / "GS-BRCA"
    files = sorted(folder.glob("split_*.txt"))
    imported = read_split_files("id-lists", files, patients=mlomics_ds.patients, name="gs-brca")
    assert imported.unknown == {} and imported.repeat_labels == ["1", "2", "3", "4", "5"]
    table = imported.table
    for k in range(1, 6):
        ids = {role: {_patient(line) for line in (folder / f"split_{role}_{k}.txt").read_text().split()}
               for role in ("train", "val", "test")}
        part = table.filter(table["repeat"] == k - 1)
        got = {r: set(part.filter(part["role"] == r)["patient_id"].to_list()) for r in ("train", "valid", "test")}
        assert got == {"train": ids["train"], "valid": ids["val"], "test": ids["test"]}
        assert not got["train"] & got["test"] and not got["train"] & got["valid"]
    first = table.filter(table["repeat"] == 0)
    assert [first.filter(first["role"] == r).height for r in ("train", "valid", "test")] == [455, 81, 135]
    stored = mlomics_ds.split_table("mlomics")  # the recipe stores the same scheme
    assert stored.sort(["repeat", "fold", "patient_id"]).equals(table.select(stored.columns).sort(["repeat", "fold", "patient_id"]))


# ---- the task on MLOmics's splits --------------------------------------------------------------------------------

@pytest.mark.realdata
def test_mlomics_gs_brca_runs_on_its_first_split_without_leakage(mlomics_ds: Dataset) -> None:
    from oncobench.baselines.preprocess import ModalityPreprocessor
    from oncobench.benchmark.job import run_job
    from oncobench.benchmark.runner import plan
    from oncobench.benchmark.tasks import Task, task_spec

    task = Task(task_spec("mlomics-gs-brca"), mlomics_ds)
    assert task.check() == [] and task.inputs == ("mirna",) and len(task.patients) == 671
    assert len(task.folds) == 5
    split = task.get_split(0, 0)
    assert (len(split.train), len(split.valid), len(split.test)) == (455, 81, 135)
    jobs = plan([task], ["logreg"], folds=[0], repeats=[0])  # what `oncobench run` plans: the model and its controls
    scores = {job.model: run_job(task, job).test for _, job in jobs}
    assert list(scores) == ["logreg", "prior", "clinical-logreg"]
    assert all(result.n == 135 for result in scores.values())
    assert math.isfinite(scores["logreg"].metrics["macro_f1"])
    assert scores["logreg"].metrics["macro_f1"] > scores["prior"].metrics["macro_f1"] + 0.3
    # imputation is fitted on training rows only: hide entries everywhere, fit on the training rows
    rng = np.random.default_rng(0)
    x = task.features(split.train + split.test)["mirna"].values.astype(np.float64)
    x[rng.random(x.shape) < 0.3] = np.nan
    n = len(split.train)
    pre = ModalityPreprocessor().fit({"mirna": x[:n]})
    assert np.allclose(pre.median_["mirna"], np.nanmedian(x[:n], axis=0)[pre.keep_["mirna"]])
    assert not np.allclose(pre.median_["mirna"], np.nanmedian(x, axis=0)[pre.keep_["mirna"]])
