"""Export (parquet / csv / mudata, splits) with sha256 manifests, and the CLI over a small built dataset."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from oncobench.cli import main
from oncobench.datasets.build import write_dataset
from oncobench.datasets.dataset import load_dataset
from oncobench.datasets.errors import ChecksumError
from oncobench.datasets.export import export_dataset, export_splits, verify_export
from synthetic import tiny_content


@pytest.fixture()
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))
    write_dataset(tiny_content())
    return load_dataset("tiny")


def test_export_parquet_is_wide_and_checksummed(tiny, tmp_path):
    out = export_dataset(tiny, "parquet", tmp_path / "out")
    manifest = verify_export(out)
    assert manifest["dataset"] == "tiny" and manifest["content_hash"] == tiny.content_hash
    rna = pl.read_parquet(out / "modalities" / "rna.parquet")
    assert rna.columns == ["patient_id", "g1", "g2", "g3"] and rna.height == 50
    values, _ = tiny.matrix("rna", rna["patient_id"].to_list())
    np.testing.assert_array_equal(rna.drop("patient_id").to_numpy(), values)
    sums = (out / "SHA256SUMS").read_text().splitlines()
    name = "modalities/rna.parquet"
    line = next(s for s in sums if s.endswith(name))
    assert line.split()[0] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert not list(out.glob(".export-*"))


def test_export_csv_and_mudata(tiny, tmp_path):
    out = export_dataset(tiny, "csv", tmp_path / "csv")
    assert pl.read_csv(out / "splits" / "kfold.csv").height == 60 * 5 * 2
    pytest.importorskip("mudata", reason="MuData export needs the 'export' extra")
    import mudata

    out = export_dataset(tiny, "mudata", tmp_path / "mu")
    with mudata.set_options(pull_on_update=False):
        mdata = mudata.read_h5mu(out / "tiny_1.h5mu")
    assert set(mdata.mod) == {"rna", "pathology"} and mdata["rna"].shape == (50, 3)
    assert mdata["rna"].X.dtype == np.float32


def test_splits_export_verifies_and_detects_tampering(tiny, tmp_path):
    out = export_splits(tiny, "site", tmp_path / "splits")
    manifest = verify_export(out)
    assert manifest["scheme"] == "site" and manifest["version"] == "1"
    table = pl.read_parquet(out / "tiny_1_site.parquet")
    assert table.columns == ["patient_id", "repeat", "fold", "role"] and table.equals(tiny.split_table("site"))
    csv = out / "tiny_1_site.csv"
    csv.write_text(csv.read_text().replace("train", "test", 1))
    with pytest.raises(ChecksumError, match="tiny_1_site.csv: sha256"):
        verify_export(out)


def test_cli_info_list_export(tiny, tmp_path, capsys):
    assert main(["datasets", "info", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "tiny@1" in out and "rna" in out and "patients: 60 in 2 cohorts" in out
    assert main(["datasets", "list"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["splits", "export", "tiny", "--scheme", "kfold", "--out", str(tmp_path / "s")]) == 0
    assert main(["splits", "verify", str(tmp_path / "s")]) == 0
    assert "files match manifest.json" in capsys.readouterr().out


def test_cli_errors_are_one_clear_line(tiny, capsys):
    assert main(["datasets", "info", "nope"]) == 2
    assert "oncobench: error: no dataset 'nope'" in capsys.readouterr().err
    assert main(["splits", "export", "tiny", "--scheme", "bogus", "--out", "x"]) == 2
    assert "has no split scheme 'bogus'" in capsys.readouterr().err
    assert main(["datasets", "build", "tcga-pancn"]) == 2
    assert "did you mean 'tcga-pancan'" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "oncobench.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "datasets" in result.stdout and "splits" in result.stdout
