"""Store: atomic immutable versions, manifest checksums, catalog, matrix layout, Dataset API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pytest

from oncobench.datasets import matrixio
from oncobench.datasets.build import write_dataset
from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.errors import ChecksumError, DatasetNotFoundError, ImmutableVersionError, InputFormatError
from oncobench.datasets.store import list_versions, oncobench_home
from synthetic import tiny_content


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_matrix_roundtrip_keeps_nan_order_and_float32(tmp_path):
    values = np.array([[1.5, np.nan, 0.0], [-2.0, 3.25, 1e-8]], dtype=np.float32)
    path = tmp_path / "m.parquet"
    matrixio.write_matrix(path, ["p1", "p2"], ["a", "b", "c"], values)
    assert matrixio.read_matrix_index(path) == (["p1", "p2"], ["a", "b", "c"])
    out, features = matrixio.read_matrix(path, np.array([1, 0]))
    assert out.dtype == np.float32 and features == ["a", "b", "c"]
    np.testing.assert_array_equal(out, values[[1, 0]])
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_matrix_reader_refuses_a_foreign_parquet(tmp_path):
    import polars as pl

    path = tmp_path / "other.parquet"
    pl.DataFrame({"patient_id": ["a"], "values": [1.0]}).write_parquet(path)
    with pytest.raises(InputFormatError, match="other.parquet: not an OncoBench matrix file"):
        matrixio.read_matrix(path)


def test_build_load_and_dataset_api(home):
    folder = write_dataset(tiny_content())
    assert folder == home / "datasets" / "tiny" / "1"
    ds = load_dataset("tiny")
    assert ds.id == "tiny@1" and ds.modalities == ("rna", "pathology") and len(ds.patients) == 60
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {f["name"] for f in manifest["files"]}
    assert names == {"clinical.parquet", "presence.parquet", "modalities/rna.parquet", "modalities/pathology.parquet",
                     "splits/kfold.parquet", "splits/site.parquet"}
    # rows in the order asked; a dataset patient without the modality is NaN, not zero
    content = tiny_content()
    block = content.blocks["rna"][0]
    values, features = ds.matrix("rna", ["TCGA-B2-0055", "TCGA-C3-0002", "TCGA-A1-0000"])
    assert features == ["g1", "g2", "g3"]
    assert np.isnan(values[0]).all()
    np.testing.assert_array_equal(values[1], block.values[2])
    np.testing.assert_array_equal(values[2], block.values[0])
    with pytest.raises(KeyError, match="unknown patient IDs"):
        ds.matrix("rna", ["TCGA-ZZ-9999"])
    presence = ds.presence
    assert presence["rna"].sum() == 50 and presence["pathology"].sum() == 50
    assert presence.filter(presence["patient_id"] == "TCGA-B2-0055")["rna"].item() is False
    # provenance and comparability are recorded per modality
    assert ds.modality_info("pathology")["comparable_across_cohorts"] is False
    assert ds.modality_info("rna")["sources"][0]["source"] == "synthetic"


def test_same_content_is_a_noop_other_content_is_refused(home):
    first = write_dataset(tiny_content())
    chash = load_dataset("tiny").content_hash
    assert write_dataset(tiny_content()) == first and load_dataset("tiny").content_hash == chash
    with pytest.raises(ImmutableVersionError, match="tiny@1 already exists .* never overwritten"):
        write_dataset(tiny_content(seed=1))
    assert load_dataset("tiny").content_hash == chash  # the old version is untouched
    write_dataset(tiny_content(version="2", seed=1))
    assert load_dataset("tiny").version == "2" and load_dataset("tiny", "1").content_hash == chash


def test_corrupted_file_is_detected_on_load(home):
    folder = write_dataset(tiny_content())
    path = folder / "modalities" / "rna.parquet"
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"rna.parquet: sha256 .* does not match the manifest"):
        load_dataset("tiny")


def test_unknown_dataset_and_version(home):
    write_dataset(tiny_content())
    with pytest.raises(DatasetNotFoundError, match="no dataset 'nope'"):
        load_dataset("nope")
    with pytest.raises(DatasetNotFoundError, match="no version '9' of 'tiny'; known: 1"):
        load_dataset("tiny@9")


def test_failed_build_leaves_nothing_visible(home, monkeypatch):
    content = tiny_content()
    content.blocks["rna"] = [content.blocks["rna"][0]] * 2  # duplicate feature names: fails mid-write
    with pytest.raises(ValueError, match="come from two sources"):
        write_dataset(content)
    parent = home / "datasets" / "tiny"
    assert [p.name for p in parent.iterdir()] == []
    assert all(r["name"] != "tiny" for r in list_versions())


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from synthetic import tiny_content
    from oncobench.datasets import build
    original = build.merge_blocks
    def slow(*args, **kwargs):
        out = original(*args, **kwargs)
        print("WRITING", flush=True)
        time.sleep(60)
        return out
    build.merge_blocks = slow
    build.write_dataset(tiny_content(version="2", seed=3))
    """
)


def test_build_killed_midway_keeps_previous_version_and_catalog(home):
    write_dataset(tiny_content())
    before = load_dataset("tiny").content_hash
    env = {**os.environ, "ONCOBENCH_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT.format(tests=str(Path(__file__).parent))],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == "WRITING"
        building = list((home / "datasets" / "tiny").glob(".building-2-*"))
        assert len(building) == 1  # the half-built version exists only under a hidden name
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (home / "datasets" / "tiny" / "2").exists()
    assert [r["version"] for r in list_versions() if r["name"] == "tiny"] == ["1"]
    ds = load_dataset("tiny")
    assert ds.version == "1" and ds.content_hash == before
    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT version FROM datasets WHERE name = 'tiny'").fetchall() == [("1",)]
    con.close()
    # the next build clears the leftover and publishes version 2
    write_dataset(tiny_content(version="2", seed=3))
    assert not list((home / "datasets" / "tiny").glob(".building-*"))
    assert load_dataset("tiny").version == "2"


def test_home_defaults_to_user_folder(monkeypatch):
    monkeypatch.delenv("ONCOBENCH_HOME", raising=False)
    assert oncobench_home() == Path.home() / ".oncobench"


def test_dataset_opens_a_folder_directly(home):
    folder = write_dataset(tiny_content())
    assert Dataset(folder).content_hash == load_dataset("tiny@1").content_hash
