"""Dataset integrity: every reader verifies, one hash covers the manifest, homes move, errors name the file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest

from oncobench.benchmark.tasks import load_task
from oncobench.datasets import store
from oncobench.datasets.build import write_dataset
from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.errors import ChecksumError, ManifestError, OncoBenchError, StaleVersionError
from oncobench.datasets.store import EMBEDDED_ROOT, MANIFEST, list_versions, manifest_hash, register_version
from synthetic import tiny_content


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture()
def mini(home) -> Path:
    """A copy of the embedded tcga-mini registered in a fresh home (it then shadows the embedded one)."""
    folder = home / "datasets" / "tcga-mini" / "1.0"
    shutil.copytree(EMBEDDED_ROOT / "tcga-mini" / "1.0", folder)
    register_version(folder, home)
    return folder


def _flip(path: Path, offset: int = 300) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _rewrite_manifest(folder: Path, edit, *, rehash: bool = True) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    edit(manifest)
    if rehash:
        manifest["manifest_sha256"] = manifest_hash(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


# ---- every reader verifies ----------------------------------------------------------------------------------

def test_load_task_refuses_a_flipped_rna_byte(mini):
    _flip(mini / "modalities" / "rna.parquet")
    with pytest.raises(ChecksumError, match=r"modalities/rna.parquet: sha256 .* does not match the manifest"):
        task = load_task("rna-from-pathology", dataset="tcga-mini")  # rna is its target
        task.target(task.get_split(0).test)


def test_a_file_corrupted_after_open_is_caught_when_read(mini):
    ds = load_dataset("tcga-mini")
    before, _ = ds.matrix("cnv")
    _flip(mini / "modalities" / "rna.parquet")
    with pytest.raises(ChecksumError, match=r"modalities/rna.parquet: sha256"):
        ds.matrix("rna")
    after, _ = ds.matrix("cnv")  # untouched files stay readable
    assert (before == after)[~(before != before)].all()


def test_runner_worker_verifies_the_folder_it_opens(mini):
    from oncobench.benchmark.runner import _worker_task

    _flip(mini / "modalities" / "rna.parquet")
    with pytest.raises(ChecksumError, match=r"rna.parquet: sha256"):
        _worker_task.__wrapped__("pancan-type", str(mini), "kfold")


def test_split_rewritten_with_a_leak_is_refused(mini):
    path = mini / "splits" / "kfold.parquet"
    table = pl.read_parquet(path)
    moved = table.filter((pl.col("repeat") == 0) & (pl.col("fold") == 0) & (pl.col("role") == "test"))["patient_id"][0]
    leaked = table.with_columns(
        pl.when((pl.col("patient_id") == moved) & (pl.col("repeat") == 0) & (pl.col("fold") == 0))
        .then(pl.lit("train")).otherwise(pl.col("role")).alias("role"))
    leaked.write_parquet(path)  # valid Parquet, plausible content: only the checksum can tell
    assert pl.read_parquet(path).filter(pl.col("patient_id") == moved)["role"][0] == "train"
    with pytest.raises(ChecksumError, match=r"splits/kfold.parquet: sha256"):
        load_task("pancan-type", dataset="tcga-mini").get_split(0)


# ---- clean errors at the dataset layer -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["clinical.parquet", "presence.parquet", "splits/kfold.parquet", "modalities/mirna.parquet"])
def test_garbage_data_file_is_an_error_naming_the_file(mini, name):
    (mini / name).write_bytes(b"not parquet at all")
    with pytest.raises(ChecksumError, match=rf"{name}: sha256 .* does not match the manifest"):
        task = load_task("pancan-type", dataset="tcga-mini")
        task.features(task.get_split(0).train)


def test_corrupt_manifest_names_the_file_and_what_was_expected(mini):
    (mini / MANIFEST).write_text('{"name": "tcga-mini", "files": [')
    with pytest.raises(ManifestError, match=rf"{mini / MANIFEST}: not valid JSON .*expected the JSON manifest"):
        load_dataset("tcga-mini")
    (mini / MANIFEST).write_text("[1, 2]")
    with pytest.raises(ManifestError, match=r"manifest.json: .*expected a JSON object"):
        load_dataset("tcga-mini")


def test_deleted_manifest_is_a_damaged_version_not_a_missing_dataset(mini):
    (mini / MANIFEST).unlink()
    assert [r["version"] for r in list_versions() if r["name"] == "tcga-mini"] == ["1.0"]
    with pytest.raises(ManifestError, match=r"1.0/manifest.json: missing; the catalog lists tcga-mini@1.0 here"):
        load_dataset("tcga-mini")


def test_unreadable_parquet_with_a_matching_checksum_names_the_file(home):
    folder = write_dataset(tiny_content())
    bad = folder / "clinical.parquet"
    bad.write_bytes(b"PAR1 garbage PAR1")
    _rewrite_manifest(folder, lambda m: _rehash_file(m, folder, "clinical.parquet"))
    _recatalog(home, folder)
    with pytest.raises(OncoBenchError, match=r"clinical.parquet: not a readable Parquet file.*expected the clinical table"):
        load_dataset("tiny").clinical


def _rehash_file(manifest: dict, folder: Path, name: str) -> None:
    from oncobench.datasets.provenance import sha256_file

    for entry in manifest["files"]:
        if entry["name"] == name:
            entry["sha256"], entry["bytes"] = sha256_file(folder / name), (folder / name).stat().st_size
    manifest["content_hash"] = store.content_hash({f["name"]: f["sha256"] for f in manifest["files"]})


def _recatalog(home: Path, folder: Path) -> None:
    """What a deliberate re-registration would do (the catalog then agrees with the edited manifest)."""
    register_version(folder, home)


# ---- one hash covers the whole manifest --------------------------------------------------------------------

def test_manifest_edits_outside_the_file_list_are_detected(mini):
    chash = load_dataset("tcga-mini").content_hash
    _rewrite_manifest(mini, lambda m: m["modalities"].pop("rna"), rehash=False)
    with pytest.raises(ManifestError, match=r"manifest.json: manifest sha256 .* does not match"):
        load_dataset("tcga-mini")
    shutil.copy(EMBEDDED_ROOT / "tcga-mini" / "1.0" / MANIFEST, mini / MANIFEST)
    _rewrite_manifest(mini, lambda m: m["modalities"]["rna"].update(comparable_across_cohorts=True), rehash=False)
    with pytest.raises(ManifestError, match=r"manifest sha256"):
        load_dataset("tcga-mini")
    # the content hash is unchanged by such edits: it covers the data files only (its definition is kept)
    assert json.loads((mini / MANIFEST).read_text())["content_hash"] == chash


def test_manifest_hash_ignores_only_itself_and_built_at():
    manifest = json.loads((EMBEDDED_ROOT / "tcga-mini" / "1.0" / MANIFEST).read_text())
    assert manifest["manifest_sha256"] == manifest_hash(manifest)
    assert manifest_hash({**manifest, "built_at": "1999-01-01T00:00:00+00:00"}) == manifest["manifest_sha256"]
    for key in manifest:
        if key not in ("manifest_sha256", "built_at"):
            assert manifest_hash({**manifest, key: "edited"}) != manifest["manifest_sha256"], key


def test_catalog_content_hash_is_checked_against_the_manifest(home):
    folder = write_dataset(tiny_content())
    # a consistent forgery: data file, file list, content hash and manifest hash all rewritten together
    path = folder / "splits" / "kfold.parquet"
    table = pl.read_parquet(path)
    table.with_columns(pl.lit("train").alias("role")).write_parquet(path)
    _rewrite_manifest(folder, lambda m: _rehash_file(m, folder, "splits/kfold.parquet"))
    with pytest.raises(ChecksumError, match=r"catalog.duckdb records content hash .* for tiny@1, the manifest .* has"):
        load_dataset("tiny")


def test_declared_modality_without_a_listed_file_fails_verify(home):
    folder = write_dataset(tiny_content())
    (folder / "modalities" / "rna.parquet").unlink()

    def drop(m):
        m["files"] = [f for f in m["files"] if f["name"] != "modalities/rna.parquet"]
        m["content_hash"] = store.content_hash({f["name"]: f["sha256"] for f in m["files"]})

    _rewrite_manifest(folder, drop)
    _recatalog(home, folder)  # what the old racing build published: consistent, but without rna
    with pytest.raises(ManifestError, match=r"declares modality 'rna' but lists no file modalities/rna.parquet"):
        load_dataset("tiny")


def test_version_built_before_manifest_hashes_asks_for_a_rebuild_and_the_rebuild_upgrades_it(home):
    folder = write_dataset(tiny_content())
    chash = load_dataset("tiny").content_hash
    _rewrite_manifest(folder, lambda m: m.pop("manifest_sha256"), rehash=False)
    with pytest.raises(StaleVersionError, match=r"tiny@1 .* built before OncoBench recorded a manifest hash; rebuild it"):
        load_dataset("tiny")
    assert write_dataset(tiny_content()) == folder  # same data: only the manifest is rewritten
    ds = load_dataset("tiny")
    assert ds.content_hash == chash and ds.manifest["manifest_sha256"] == manifest_hash(ds.manifest)


# ---- cheap: each file hashed once per process --------------------------------------------------------------

def test_files_are_hashed_once_per_identity(home, monkeypatch):
    folder = write_dataset(tiny_content())
    store.forget_verified()
    hashed: list[str] = []
    original = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda p: hashed.append(Path(p).name) or original(p))
    ds = load_dataset("tiny")
    assert sorted(hashed) == sorted(Path(f["name"]).name for f in ds.manifest["files"])
    hashed.clear()
    ds2 = load_dataset("tiny")
    ds2.matrix("rna"), ds2.clinical, ds2.split_table("kfold")
    assert hashed == []  # re-open and reads: identity unchanged, nothing re-hashed
    path = folder / "presence.parquet"
    path.write_bytes(path.read_bytes())  # same bytes, new mtime: re-hashed once, still valid
    assert load_dataset("tiny").presence.height == 60 and hashed == ["presence.parquet"]


# ---- a home can be copied or moved --------------------------------------------------------------------------

def test_copied_home_reads_only_its_own_files(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("ONCOBENCH_HOME", str(a))
    write_dataset(tiny_content())
    chash = load_dataset("tiny").content_hash
    con = duckdb.connect(str(a / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT path FROM datasets").fetchall() == [("datasets/tiny/1",)]
    con.close()
    subprocess.run(["cp", "-a", str(a), str(b)], check=True)
    _flip(a / "datasets" / "tiny" / "1" / "modalities" / "rna.parquet")
    shutil.rmtree(a / "datasets" / "tiny" / "1" / "splits")
    monkeypatch.setenv("ONCOBENCH_HOME", str(b))
    ds = load_dataset("tiny")
    assert ds.path == b / "datasets" / "tiny" / "1" and ds.content_hash == chash
    ds.matrix("rna"), ds.split_table("kfold")
    assert [r["path"] for r in list_versions() if r["name"] == "tiny"] == [str(b / "datasets" / "tiny" / "1")]
    shutil.rmtree(a)
    assert Dataset(b / "datasets" / "tiny" / "1").content_hash == chash


def test_catalog_row_with_an_absolute_path_from_another_home_is_not_followed(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("ONCOBENCH_HOME", str(a))
    write_dataset(tiny_content())
    subprocess.run(["cp", "-a", str(a), str(b)], check=True)
    con = duckdb.connect(str(b / "catalog.duckdb"))  # a catalog written before paths were relative
    con.execute("UPDATE datasets SET path = ?", [str(a / "datasets" / "tiny" / "1")])
    con.close()
    shutil.rmtree(a)
    monkeypatch.setenv("ONCOBENCH_HOME", str(b))
    assert load_dataset("tiny").path == b / "datasets" / "tiny" / "1"
