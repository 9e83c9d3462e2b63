"""The dataset-card reader: a user's own cohort from TOML + wide matrices, with strict validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from oncobench.cli import main
from oncobench.datasets.dataset import load_dataset
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.sources.generic import read_card, read_generic

CARD = """
name = "my-cohort"
version = "1"
description = "toy cohort"
licence = "CC0"
citation = "none"

[clinical]
path = "clinical.csv"
id_column = "patient"
event_column = "os"
time_column = "os_days"

[[modalities]]
name = "rna"
path = "expr.tsv"
orientation = "features_x_patients"
id_column = "gene"
transform = "log2(TPM+1)"

[[modalities]]
name = "protein"
path = "prot.parquet"
orientation = "patients_x_features"
id_column = "sample"
comparable_across_cohorts = false
"""


def _cohort(folder: Path, card: str = CARD, expr: str | None = None) -> Path:
    n = 12
    ids = [f"P{i:02d}" for i in range(n)]
    (folder / "clinical.csv").write_text("patient,os,os_days,age\n" + "".join(
        f"{p},{i % 2},{100 + 10 * i},{50 + i}\n" for i, p in enumerate(ids)))
    if expr is None:
        rows = ["gene\t" + "\t".join(ids)]
        rows += [f"G{g}\t" + "\t".join(str(g + i / 10) for i in range(n)) for g in range(3)]
        expr = "\n".join(rows) + "\n"
    (folder / "expr.tsv").write_text(expr)
    pl.DataFrame({"sample": ids[:6], "AKT": np.arange(6, dtype=float), "EGFR": np.ones(6)}).write_parquet(folder / "prot.parquet")
    path = folder / "card.toml"
    path.write_text(card)
    return path


def test_card_reads_both_orientations_with_golden_values(tmp_path):
    clinical, blocks, card = read_generic(_cohort(tmp_path))
    assert card.name == "my-cohort" and clinical.columns[:2] == ["patient_id", "cohort"] and clinical.height == 12
    rna = blocks["rna"]
    assert rna.features == ("G0", "G1", "G2") and rna.patients[:2] == ("P00", "P01")
    assert rna.values[3, 2] == pytest.approx(2.3) and rna.values.dtype == np.float32
    protein = blocks["protein"]
    assert protein.features == ("AKT", "EGFR") and protein.values[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert protein.provenance.comparable_across_cohorts is False and rna.provenance.transform == "log2(TPM+1)"


def test_card_builds_into_the_store_from_the_cli(tmp_path, capsys):
    card = _cohort(tmp_path)
    assert main(["datasets", "build", str(card)]) == 0
    ds = load_dataset("my-cohort")
    assert ds.modalities == ("rna", "protein") and ds.presence["protein"].sum() == 6
    assert set(ds.schemes) == {"kfold", "holdout"}
    X, features = ds.matrix("rna", ["P05"])
    assert features == ["G0", "G1", "G2"] and X[0].tolist() == pytest.approx([0.5, 1.5, 2.5])


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.replace('licence = "CC0"', 'licence = "CC0"\ncolour = "red"'), "unknown key 'colour' in the card"),
    (lambda c: c.replace('transform = "log2(TPM+1)"', 'transform = "x"\nscale = true'), "unknown key 'scale' in [[modalities]] #1"),
    (lambda c: c.replace('path = "expr.tsv"', 'path = "../expr.tsv"'), "path '../expr.tsv' escapes the card's folder"),
    (lambda c: c.replace('path = "expr.tsv"', 'path = "/etc/passwd"'), "absolute path '/etc/passwd' refused"),
    (lambda c: c.replace('name = "rna"', 'name = "genes"'), "unknown modality 'genes'"),
    (lambda c: c.replace('orientation = "features_x_patients"', 'orientation = "wide"'), "unknown orientation 'wide'"),
    (lambda c: c.replace('version = "1"\n', ''), "missing key 'version' in the card"),
])
def test_bad_cards_are_refused_with_the_key_named(tmp_path, edit, message):
    card = _cohort(tmp_path, card=edit(CARD))
    with pytest.raises(InputFormatError) as err:
        read_card(card)
    assert "card.toml" in str(err.value) and message in str(err.value)


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "secret.tsv").write_text("gene\tP00\nG\t1\n")
    card = _cohort(inner)
    (inner / "expr.tsv").unlink()
    (inner / "expr.tsv").symlink_to(tmp_path / "secret.tsv")
    with pytest.raises(InputFormatError, match="escapes the card's folder"):
        read_card(card)


@pytest.mark.parametrize("expr,message", [
    ("", "expr.tsv: empty file"),
    ("gene\tP00\tP01\n", "expr.tsv: header only"),
    ("gene\tP00\tP01\nG0\t1.0\tabc\n", "expr.tsv, row G0, column 'P01': non-numeric cell"),
    ("gene\tP00\tP01\nG0\t1.0\tinf\n", "expr.tsv, row G0, column 'P01': infinite value"),
    ("gene\tP00\tP01\nG0\t1.0\t\n", "expr.tsv, row G0, column 'P01': missing value (NaN)"),
    ("gene\tX1\tX2\nG0\t1.0\t2.0\n", "none of its 2 patient IDs is in the clinical table"),
    ("gene\tP00\tP00\nG0\t1.0\t2.0\n", "duplicate patient ID 'P00' with conflicting values"),
])
def test_bad_matrices_are_refused_with_file_row_column(tmp_path, expr, message):
    card = _cohort(tmp_path, expr=expr)
    with pytest.raises(InputFormatError) as err:
        read_generic(card)
    assert message in str(err.value)


def test_duplicate_clinical_patient_refused(tmp_path):
    card = _cohort(tmp_path)
    (tmp_path / "clinical.csv").write_text("patient,os,os_days,age\nP00,1,5,3\nP00,0,7,3\n")
    with pytest.raises(InputFormatError, match=r"clinical.csv, row 3, column 'patient': duplicate patient ID 'P00' \(also row 2\)"):
        read_generic(card)


def test_identical_duplicate_matrix_columns_collapse(tmp_path):
    ids = "\t".join(f"P{i:02d}" for i in range(12))
    expr = f"gene\t{ids}\tP00\nG0\t" + "\t".join(["1"] * 12) + "\t1\n"
    _, blocks, _ = read_generic(_cohort(tmp_path, expr=expr))
    assert blocks["rna"].shape == (12, 1)
