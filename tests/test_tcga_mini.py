"""The embedded tcga-mini dataset, the quick start, and gse7390-metastasis (both need no raw data)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from oncobench.cli import main
from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.store import EMBEDDED_ROOT


@pytest.fixture(scope="module")
def mini() -> Dataset:
    return Dataset(EMBEDDED_ROOT / "tcga-mini" / "1.0")


def test_mini_is_small_verified_and_covers_every_modality_and_endpoint(mini):
    size = sum(p.stat().st_size for p in mini.path.rglob("*") if p.is_file())
    assert size < 5e6
    assert mini.clinical.height == 343 and mini.clinical["cohort"].n_unique() == 14
    assert set(mini.modalities) == {"rna", "cnv", "mutation", "mirna", "protein", "pathology", "clinical"}
    cov = mini.coverage()
    assert all(n >= 8 for n in cov["modalities"].values())
    assert all(v["events"] > 0 for v in cov["endpoints"].values())
    assert cov["labels"]["pam50"]["classes"] >= 4
    # each pathology source keeps patients: TIL maps, PathAI HIFs, Kather, Digi-WSI
    values, features = mini.matrix("pathology")
    for prefix in ("til:", "hif:", "kather:", "digi:"):
        cols = [j for j, f in enumerate(features) if f.startswith(prefix)]
        assert (~np.all(np.isnan(values[:, cols]), axis=1)).sum() >= 8, prefix


def test_mini_loads_from_a_fresh_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "never-created"))
    ds = load_dataset("tcga-mini")
    assert ds.id == "tcga-mini@1.0" and not (tmp_path / "never-created").exists()
    train, valid, test = ds.split("kfold", fold=0, repeat=0)
    assert len(train) + len(valid) + len(test) == 343 and not set(train) & set(test)
    X, features = ds.matrix("rna", train)
    assert X.shape == (len(train), 300) and X.dtype == np.float32


def test_quickstart_prints_card_coverage_and_splits(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path))
    assert main(["quickstart"]) == 0
    out = capsys.readouterr().out
    assert "tcga-mini@1.0" in out and "patients: 343 in 14 cohorts" in out
    assert "coverage: 343 patients, 14 cohorts" in out and "kfold      5 folds x 2 repeats" in out


def test_quickstart_console_script(tmp_path):
    result = subprocess.run([sys.executable, "-c", "from oncobench.cli import main; raise SystemExit(main(['quickstart']))"],
                            capture_output=True, text=True, env={"ONCOBENCH_HOME": str(tmp_path), "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert "tcga-mini@1.0" in result.stdout


@pytest.mark.realdata
def test_mini_rebuilds_identically_from_tcga_pancan(pancan, raw_dir, mini, tmp_path):
    from oncobench.datasets.build import write_dataset
    from oncobench.datasets.recipes import tcga_mini

    rebuilt = Dataset(write_dataset(tcga_mini.content(pancan, tcga_mini.signature_genes(raw_dir)), home=tmp_path, root=tmp_path))
    assert rebuilt.clinical.equals(mini.clinical)
    for modality in mini.modalities:
        a, fa = mini.matrix(modality)
        b, fb = rebuilt.matrix(modality)
        assert fa == fb and np.array_equal(a, b, equal_nan=True), modality
    for scheme in mini.schemes:
        assert rebuilt.split_table(scheme).equals(mini.split_table(scheme)), scheme
    # the mini's values are tcga-pancan's values, untouched
    patient = mini.clinical["patient_id"][0]
    a, fa = mini.matrix("mutation", [patient])
    b, fb = pancan.matrix("mutation", [patient])
    assert np.array_equal(a[0], b[0, [fb.index(f) for f in fa]], equal_nan=True)


def test_gse7390_builds_offline_from_scikit_survival(tmp_path, monkeypatch):
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path))
    assert main(["datasets", "build", "gse7390-metastasis", "--quiet"]) == 0
    ds = load_dataset("gse7390-metastasis")
    assert ds.clinical.height == 198 and int(ds.clinical["dm_event"].sum()) == 51
    assert ds.modality_info("rna")["n_features"] == 76
    assert ds.manifest["splits"]["kfold"]["n_repeats"] == 5
    events = dict(zip(ds.clinical["patient_id"].to_list(), ds.clinical["dm_event"].to_list()))
    for fold in range(5):
        _, _, test = ds.split("kfold", fold=fold)
        assert 8 <= sum(events[p] for p in test) <= 12  # stratified on the event: ~51/5 per fold
