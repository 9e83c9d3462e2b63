"""The dataset-card reader: a user's own cohort from TOML + wide matrices, with strict validation."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl
import pytest

from oncobench.cli import main
from oncobench.datasets.dataset import load_dataset
from oncobench.datasets.errors import DegenerateBlockError, InputFormatError
from oncobench.datasets.sources.generic import card_content, read_card, read_generic

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

[[modalities]]
name = "mirna"
path = "mirna.csv"
orientation = "patients_x_features"
id_column = "id"
allow_missing = true
"""
IDS = [f"P{i:02d}" for i in range(12)]


def _expr(ids: list[str] = IDS) -> str:
    rows = ["gene\t" + "\t".join(ids)]
    rows += [f"G{g}\t" + "\t".join(str(g + i / 10) for i in range(len(ids))) for g in range(3)]
    return "\n".join(rows) + "\n"


def _cohort(folder: Path, card: str = CARD, expr: str | None = None, mirna: str | None = None,
            clinical: str | None = None) -> Path:
    (folder / "clinical.csv").write_text(clinical if clinical is not None else "patient,os,os_days,age,site\n" + "".join(
        f"{p},{i % 2},{100 + 10 * i},{50 + i},{'05' if i < 6 else '12'}\n" for i, p in enumerate(IDS)))
    (folder / "expr.tsv").write_text(expr if expr is not None else _expr())
    pl.DataFrame({"sample": IDS[:6], "AKT": np.arange(6, dtype=float), "EGFR": np.ones(6)}).write_parquet(folder / "prot.parquet")
    (folder / "mirna.csv").write_text(mirna if mirna is not None else
                                      "id,hsa-mir-21, hsa-mir-155 \nP03,1.5,\nP01,-2,0\nP07, 3e-1 ,NA\n")
    path = folder / "card.toml"
    path.write_text(card)
    return path


def _message(call: Callable[[], object], error: type[Exception] = InputFormatError) -> str:
    with pytest.raises(error) as info:
        call()
    return str(info.value)


# ---------------------------------------------------------------------------------------------------- happy path
def test_card_reads_three_formats_both_orientations_with_golden_values(tmp_path: Path) -> None:
    clinical, blocks = read_generic(_cohort(tmp_path))
    assert clinical.columns == ["patient_id", "cohort", "os", "os_days", "age", "site"] and clinical.height == 12
    assert clinical["patient_id"].to_list() == IDS and set(clinical["cohort"]) == {"my-cohort"}
    assert clinical.schema["age"] == pl.Int64 and clinical["age"][3] == 53
    assert clinical.schema["site"] == pl.String and clinical["site"][0] == "05"  # leading zero kept: a code, not a number

    rna = blocks["rna"]  # TSV, features x patients
    assert rna.shape == (12, 3) and rna.features == ("G0", "G1", "G2") and rna.patients == tuple(IDS)
    assert rna.values.dtype == np.float32 and rna.values[3, 2] == pytest.approx(2.3)
    assert rna.provenance.transform == "log2(TPM+1)" and rna.provenance.comparable_across_cohorts is True
    assert rna.provenance.files[0].name == "expr.tsv" and rna.provenance.licence == "CC0"

    protein = blocks["protein"]  # Parquet, patients x features
    assert protein.features == ("AKT", "EGFR") and protein.patients == tuple(IDS[:6])
    assert protein.values[:, 0].tolist() == [0, 1, 2, 3, 4, 5] and protein.provenance.comparable_across_cohorts is False

    mirna = blocks["mirna"]  # CSV, patients x features, padded cells, NaN allowed; file order kept
    assert mirna.patients == ("P03", "P01", "P07") and mirna.features == ("hsa-mir-21", "hsa-mir-155")
    np.testing.assert_array_equal(mirna.values, np.array([[1.5, np.nan], [-2, 0], [0.3, np.nan]], dtype=np.float32))
    assert mirna.values[1, 1] == 0  # a measured zero stays 0


def test_read_card_fields(tmp_path: Path) -> None:
    card = read_card(_cohort(tmp_path, card=CARD.replace('version = "1"', "version = 3")))
    assert (card.name, card.version, card.licence, card.event_column, card.time_column) == ("my-cohort", "3", "CC0", "os", "os_days")
    assert [m.name for m in card.modalities] == ["rna", "protein", "mirna"]
    assert card.modalities[0].path == (tmp_path / "expr.tsv").resolve() and card.modalities[2].allow_missing is True
    assert card.modalities[1].transform == "as provided" and card.modalities[0].allow_missing is False


def test_tcga_barcodes_become_patient_barcodes(tmp_path: Path) -> None:
    patients = ["TCGA-A1-A0SB", "TCGA-C8-A12P", "TCGA-E2-A1B1"]
    clinical = "patient,age\n" + "".join(f"{p.lower()},{60 + i}\n" for i, p in enumerate(patients))
    samples = ["TCGA.A1.A0SB.01", "TCGA-C8-A12P-01A-11R-A115-07", "TCGA-E2-A1B1-01A"]
    card = CARD.split("[[modalities]]")[0].replace('event_column = "os"\ntime_column = "os_days"\n', "")
    card += '[[modalities]]\nname = "rna"\npath = "expr.tsv"\norientation = "features_x_patients"\nid_column = "gene"\n'
    table, blocks = read_generic(_cohort(tmp_path, card=card, clinical=clinical, expr=_expr(samples)))
    assert table["patient_id"].to_list() == patients
    assert blocks["rna"].patients == tuple(patients) and blocks["rna"].values[1, 0] == pytest.approx(0.1)


def test_identical_duplicate_matrix_columns_collapse(tmp_path: Path) -> None:
    ids = "\t".join(IDS)
    expr = f"gene\t{ids}\tP00\nG0\t" + "\t".join(str(i) for i in range(12)) + "\t0\n"
    _, blocks = read_generic(_cohort(tmp_path, expr=expr))
    assert blocks["rna"].shape == (12, 1) and blocks["rna"].values[:, 0].tolist() == list(range(12))


def test_card_builds_into_the_store_from_the_cli(tmp_path: Path) -> None:
    card = _cohort(tmp_path)
    assert main(["datasets", "build", str(card)]) == 0
    ds = load_dataset("my-cohort")
    assert ds.modalities == ("rna", "mirna", "protein") and ds.presence["protein"].sum() == 6
    assert set(ds.schemes) == {"kfold", "holdout"}
    X, features = ds.matrix("rna", ["P05"])
    assert features == ["G0", "G1", "G2"] and X[0].tolist() == pytest.approx([0.5, 1.5, 2.5])


def test_card_content_endpoint_and_deterministic_splits(tmp_path: Path) -> None:
    card = _cohort(tmp_path)
    a, b = card_content(card), card_content(card)
    assert a.endpoints == [{"name": "event", "event": "os", "time": "os_days", "unit": "days", "source": "my-cohort"}]
    assert a.clinical.schema["os"] == pl.Int8 and a.clinical["os"].sum() == 6
    assert a.splits["kfold"][0].equals(b.splits["kfold"][0])


# ---------------------------------------------------------------------------------------------------- bad cards
@pytest.mark.parametrize("edit,message", [
    (lambda c: c.replace('licence = "CC0"', 'licence = "CC0"\ncolour = "red"'), "unknown key 'colour' in the card; expected keys ['citation', 'clinical'"),
    (lambda c: c.replace('transform = "log2(TPM+1)"', 'transform = "x"\nscale = true'), "unknown key 'scale' in [[modalities]] #1; expected keys ["),
    (lambda c: c.replace('id_column = "patient"', 'id_column = "patient"\nsex = "sex"'), "unknown key 'sex' in [clinical]"),
    (lambda c: c.replace('path = "expr.tsv"', 'path = "../expr.tsv"'), "path '../expr.tsv' escapes the card's folder"),
    (lambda c: c.replace('path = "expr.tsv"', 'path = "/etc/passwd.csv"'), "absolute path '/etc/passwd.csv' refused"),
    (lambda c: c.replace('path = "expr.tsv"', 'path = "expr.docx"'), "unsupported file type 'expr.docx'; expected one of .csv, .tsv, .txt, .csv.gz"),
    (lambda c: c.replace('name = "rna"', 'name = "genes"'), "unknown modality 'genes'; expected one of rna, cnv, mutation"),
    (lambda c: c.replace('orientation = "features_x_patients"', 'orientation = "wide"'),
     "unknown orientation 'wide'; expected one of features_x_patients, patients_x_features"),
    (lambda c: c.replace('version = "1"\n', ''), "missing key 'version' in the card"),
    (lambda c: c.replace('id_column = "gene"\n', ''), "missing key 'id_column' in [[modalities]] #1"),
    (lambda c: c.replace('allow_missing = true', 'allow_missing = "false"'),
     "key 'allow_missing' in [[modalities]] #3 has the wrong type; expected bool, found str 'false'"),
    (lambda c: c.replace('time_column = "os_days"\n', ''), "declares only one of event_column and time_column"),
    (lambda c: c.replace('name = "mirna"', 'name = "rna"'), "a modality is listed twice"),
    (lambda c: c.replace('name = "my-cohort"', 'name = my-cohort'), "not a valid TOML dataset card"),
])
def test_bad_cards_are_refused_with_the_key_named(tmp_path: Path, edit: Callable[[str], str], message: str) -> None:
    card = _cohort(tmp_path, card=edit(CARD))
    text = _message(lambda: read_card(card))
    assert text.startswith(str(card)) and message in text


def test_symlink_placed_by_the_user_is_followed(tmp_path: Path) -> None:
    # issue 12: symlinks were refused; a link the user put in the folder is theirs to make ('..' in the card is not)
    inner = tmp_path / "inner"
    inner.mkdir()
    outside = tmp_path / "elsewhere.tsv"
    outside.write_text(_expr())
    card = _cohort(inner)
    (inner / "expr.tsv").unlink()
    (inner / "expr.tsv").symlink_to(outside)
    _, blocks = read_generic(card)
    assert blocks["rna"].shape == (12, 3) and blocks["rna"].values[3, 2] == pytest.approx(2.3)


# ---------------------------------------------------------------------------------------------------- bad matrices
@pytest.mark.parametrize("expr,message", [
    ("", "expr.tsv: empty file"),
    ("gene\tP00\tP01\n", "expr.tsv: header only"),
    ("gene\n G0\n", "expr.tsv: no data columns besides 'gene'"),
    ("name\tP00\nG0\t1\n", "expr.tsv: no column 'gene'; expected the id_column named in the dataset card"),
    ("gene\tP00\tP01\nG0\t1.0\tabc\n", "expr.tsv, row G0, column 'P01': non-numeric cell; expected a number (or empty for missing), found 'abc'"),
    ("gene\tP00\tP01\nG0\t 1.0\tabc\n", "expr.tsv, row G0, column 'P01': non-numeric cell"),
    ("gene\tP00\tP01\nG0\t1.0\tinf\n", "expr.tsv, row G0, column 'P01': infinite value"),
    ("gene\tP00\tP01\nG0\t1.0\t1e300\n", "expr.tsv, row G0, column 'P01': infinite value"),  # beyond float32
    ("gene\tP00\tP01\nG0\t1.0\t\n", "expr.tsv, row G0, column 'P01': missing value (NaN)"),
    ("gene\tP00\tP01\nG0\t1.0\tNA\n", "expr.tsv, row G0, column 'P01': missing value (NaN)"),
    ("gene\tP00\tP01\nG0\t1.0\t2\t3\n", "expr.tsv, row 2: rows of different lengths; expected 3 fields as in the header, found 4 fields"),
    ("gene\tP00\tP01\n\t1.0\t2\n", "expr.tsv, row 2, column 'gene': empty ID"),
    ("gene\tP00\t\nG0\t1.0\t2\n", "expr.tsv: empty column name (column #3 of the header)"),
    ("gene\tP00\tP01\nG0\t1\t2\nG0\t3\t4\n", "expr.tsv: duplicate feature 'G0'"),
    ("gene\tX1\tX2\nG0\t1.0\t2.0\n", "expr.tsv: none of its 2 patient IDs is in the clinical table clinical.csv"),
    ("gene\tP00\tX2\nG0\t1.0\t2.0\n", "expr.tsv: 1 of its 2 patient IDs have no row in the clinical table clinical.csv, e.g. ['X2']"),
    ("gene\tP00\tP00\nG0\t1.0\t2.0\n", "duplicate patient ID 'P00' with conflicting values: 'P00' and 'P00' differ on feature 'G0' (1.0 vs 2.0)"),
])
def test_bad_matrices_are_refused_with_file_row_column(tmp_path: Path, expr: str, message: str) -> None:
    card = _cohort(tmp_path, expr=expr)
    assert message in _message(lambda: read_generic(card))


def test_tumour_and_normal_sample_of_one_patient_conflict(tmp_path: Path) -> None:
    clinical = "patient,age\nTCGA-A1-A0SB,60\n"
    card = CARD.split("[[modalities]]")[0].replace('event_column = "os"\ntime_column = "os_days"\n', "")
    card += '[[modalities]]\nname = "rna"\npath = "expr.tsv"\norientation = "features_x_patients"\nid_column = "gene"\n'
    expr = "gene\tTCGA-A1-A0SB-01A\tTCGA-A1-A0SB-11A\nG0\t1\t5\nG1\t2\t2\n"
    text = _message(lambda: read_generic(_cohort(tmp_path, card=card, clinical=clinical, expr=expr)))
    assert "duplicate patient ID 'TCGA-A1-A0SB' with conflicting values: 'TCGA-A1-A0SB-01A' and 'TCGA-A1-A0SB-11A'" in text
    assert "feature 'G0' (1.0 vs 5.0)" in text


def test_malformed_tcga_barcode_named(tmp_path: Path) -> None:
    text = _message(lambda: read_generic(_cohort(tmp_path, mirna="id,m1\nTCGA-XYZ,1\n")))
    assert "mirna.csv, row 2, column 'id': malformed TCGA barcode" in text and "'TCGA-XYZ'" in text


def test_constant_matrix_refused_as_degenerate(tmp_path: Path) -> None:
    expr = "gene\t" + "\t".join(IDS) + "\nG0\t" + "\t".join(["0"] * 12) + "\n"
    text = _message(lambda: read_generic(_cohort(tmp_path, expr=expr)), DegenerateBlockError)
    assert "expr.tsv" in text and "the rna matrix is constant (0.0 in all 12 cells)" in text


def test_parquet_bad_cells_named(tmp_path: Path) -> None:
    card = _cohort(tmp_path)
    pl.DataFrame({"sample": ["P00", "P01"], "AKT": ["1.5", "high"]}).write_parquet(tmp_path / "prot.parquet")
    assert "prot.parquet, row P01, column 'AKT': non-numeric cell" in _message(lambda: read_generic(card))
    pl.DataFrame({"sample": ["P00", "P01"], "AKT": [1.5, None]}).write_parquet(tmp_path / "prot.parquet")
    assert "prot.parquet, row P01, column 'AKT': missing value (NaN)" in _message(lambda: read_generic(card))
    pl.DataFrame({"sample": ["P00", "P01"], "AKT": [1.5, 2.0]}).head(0).write_parquet(tmp_path / "prot.parquet")
    assert "prot.parquet: header only" in _message(lambda: read_generic(card))


def test_missing_matrix_file(tmp_path: Path) -> None:
    card = _cohort(tmp_path)
    (tmp_path / "mirna.csv").unlink()
    assert "mirna.csv: no such file (named in the dataset card)" in _message(lambda: read_generic(card), FileNotFoundError)


# ---------------------------------------------------------------------------------------------------- bad clinical tables
@pytest.mark.parametrize("clinical,message", [
    ("patient,os,os_days\nP00,1,5\nP00,0,7\n", "clinical.csv, row 3, column 'patient': duplicate patient ID 'P00' (also row 2)"),
    ("patient,os,os_days\n", "clinical.csv: header only"),
    ("", "clinical.csv: empty file"),
    ("id,os,os_days\nP00,1,5\n", "clinical.csv: no column 'patient'"),
    ("patient,os,os_days,os\nP00,1,5,1\n", "clinical.csv: column 'os' appears 2 times"),
    ("patient,os\nP00,1\n", "clinical.csv: no column 'os_days'; expected the time_column named in the dataset card"),
    ("patient,os,os_days,cohort\nP00,1,5,A\n", "clinical.csv, column 'cohort': column 'cohort' is reserved"),
    ("patient,os,os_days\nP00,1,5\nP01,dead,5\n", "clinical.csv, row 3, column 'os': event indicator not 0/1; expected 0 (censored) or 1 (event), found 'dead'"),
    ("patient,os,os_days\nP00,2,5\n", "clinical.csv, row 2, column 'os': event indicator not 0/1"),
    ("patient,os,os_days\nP00,1,5\nP01,0,-3\n", "clinical.csv, row 3, column 'os_days': negative survival time"),
    ("patient,os,os_days\nP00,1,5\nP01,0,soon\n", "clinical.csv, row 3, column 'os_days': non-numeric survival time"),
    ("patient,os,os_days\nP00,1,5\n,0,3\n", "clinical.csv, row 3, column 'patient': empty ID"),
])
def test_bad_clinical_tables(tmp_path: Path, clinical: str, message: str) -> None:
    card = _cohort(tmp_path, clinical=clinical)
    assert message in _message(lambda: read_generic(card))


def test_cohort_column_and_missing_endpoint_values(tmp_path: Path) -> None:
    card = CARD.replace('id_column = "patient"', 'id_column = "patient"\ncohort_column = "site"')
    clinical = "patient,os,os_days,site\n" + "".join(
        f"{p},{'' if i == 0 else i % 2},{100 + i},{'A' if i < 6 else 'B'}\n" for i, p in enumerate(IDS))
    table, _ = read_generic(_cohort(tmp_path, card=card, clinical=clinical))
    assert table.columns == ["patient_id", "cohort", "os", "os_days"]
    assert table["cohort"].to_list() == ["A"] * 6 + ["B"] * 6 and table["os"].null_count() == 1  # empty = unknown


def test_excel_style_text_bom_crlf_blank_lines(tmp_path: Path) -> None:
    expr = "\ufeff" + _expr().replace("\n", "\r\n") + "\r\n\r\n"
    _, blocks = read_generic(_cohort(tmp_path, expr=expr))
    assert blocks["rna"].shape == (12, 3) and blocks["rna"].values[11, 0] == pytest.approx(1.1)
    _, blocks = read_generic(_cohort(tmp_path, expr=expr.replace("\t1.1", "\t 1.1 ")))  # slow path, same result
    assert blocks["rna"].shape == (12, 3) and blocks["rna"].values[11, 0] == pytest.approx(1.1)


def test_reserved_patient_id_column(tmp_path: Path) -> None:
    card = _cohort(tmp_path, clinical="patient,patient_id,os,os_days\nP00,x,1,5\n")
    assert "clinical.csv, column 'patient_id': column 'patient_id' is reserved" in _message(lambda: read_generic(card))
