"""TSS centre table and Aran 2015 purity: golden values on the real files, bad input on tiny files."""

from __future__ import annotations

import warnings
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.sources import tss

FOLDER = "tcga_tss_centers_and_purity"


# ---------------------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_centers_golden(raw_dir):
    centers = tss.read_centers(raw_dir / FOLDER / "centers.csv")
    assert centers.columns == ["tss_code", "source_site", "country", "state", "region"]
    assert centers.height == centers["tss_code"].n_unique() == 265
    assert centers["tss_code"].str.contains(r"^[A-Z0-9]{2}$").all()
    assert centers.filter(pl.col("tss_code") == "05").row(0) == ("05", "Indivumed", "Germany", "Other", "Europe")
    assert centers.filter(pl.col("tss_code") == "4H")["source_site"].item() == "Proteogenex, Inc."  # quoted comma
    assert dict(centers["region"].value_counts().iter_rows()) == {
        "South": 69, "Northeast": 53, "Midwest": 50, "West": 36, "Europe": 24, "Canada": 17, "Other": 16}
    assert centers.null_count().row(0) == (0, 0, 0, 0, 0)


@pytest.fixture(scope="module")
def purity(raw_dir: Path) -> pl.DataFrame:
    return tss.read_purity(raw_dir / FOLDER / "ncomms9971-s2.xlsx")


@pytest.mark.realdata
def test_purity_golden(purity):
    assert purity.columns == ["sample_id", "patient_id", "sample_type_code", "cancer_type", "estimate", "absolute",
                              "lump", "ihc", "cpe"]
    assert purity.height == purity["sample_id"].n_unique() == 9364
    assert purity["cancer_type"].n_unique() == 21
    assert dict(purity["sample_type_code"].value_counts().iter_rows()) == {"01": 8914, "06": 390, "02": 57, "05": 2, "07": 1}
    # the sheet writes missing values as the text 'NaN'
    assert [purity[c].null_count() for c in ("estimate", "absolute", "lump", "ihc", "cpe")] == [1627, 4966, 2688, 37, 220]
    first = purity.row(0, named=True)
    assert (first["sample_id"], first["patient_id"], first["cancer_type"], first["estimate"], first["absolute"],
            first["cpe"]) == ("TCGA-OR-A5J1-01A", "TCGA-OR-A5J1", "ACC", 0.9368, None, 0.9246)
    for column in ("estimate", "absolute", "lump", "ihc", "cpe"):
        assert purity[column].drop_nulls().is_between(0, 1).all()


@pytest.mark.realdata
def test_patient_purity_rule(purity):
    per_patient = tss.patient_purity(purity)
    assert per_patient.columns == ["patient_id", "purity_cpe"]
    assert per_patient.height == per_patient["patient_id"].n_unique() == 8852  # patients with a type-01 sample
    assert per_patient["purity_cpe"].null_count() == 148
    values = dict(per_patient.iter_rows())
    # TCGA-A7-A0DB: 01A (0.6494) and 01C (no CPE) -> 01A; TCGA-06-0208: 01A has no CPE, 01B has 0.9036 -> 01B
    assert (values["TCGA-A7-A0DB"], values["TCGA-06-0208"], values["TCGA-OR-A5J1"]) == (0.6494, 0.9036, 0.9246)


# --------------------------------------------------------------------------------------------- bad input
CENTERS_HEADER = ",TSS Code,Source Site,Country,State,Region\n"


def test_centers_pad_codes_and_keep_na(tmp_path):
    path = tmp_path / "centers.csv"
    path.write_text(CENTERS_HEADER + '0,5,Indivumed,Germany,Other,Europe\n1,NA,Duke,USA,NC,South\n'
                    '2,4H,"Proteogenex, Inc.",USA,CA,West\n3,5,Indivumed,Germany,Other,Europe\n')
    table = tss.read_centers(path)
    assert table["tss_code"].to_list() == ["05", "NA", "4H"]  # an identical duplicate collapses
    assert table.row(1) == ("NA", "Duke", "USA", "NC", "South")


@pytest.mark.parametrize("text,message", [
    ("", "centers.csv: empty file"),
    (CENTERS_HEADER, "centers.csv: header only, no rows"),
    (",Code,Site\n0,5,X\n", "centers.csv: missing columns ['TSS Code'"),
    (CENTERS_HEADER + "0,05,X,Y,Z,W\n1,123,X,Y,Z,W\n", "centers.csv, row 3, column 'TSS Code': not a TSS code: '123'"),
    (CENTERS_HEADER + "0,,X,Y,Z,W\n", "centers.csv, row 2, column 'TSS Code': not a TSS code"),
    (CENTERS_HEADER + "0,5,Indivumed,Germany,Other,Europe\n1,05,Other site,USA,NY,Northeast\n",
     "centers.csv, row 3, column 'TSS Code': TSS code '05' listed twice with different content"),
])
def test_bad_centers(tmp_path, text, message):
    path = tmp_path / "centers.csv"
    path.write_text(text)
    with pytest.raises(InputFormatError) as err:
        tss.read_centers(path)
    assert message in str(err.value)


TITLE = [["Supplementary Data 1: Tumor purity estimates"], ["estimates by four methods"], [None]]
PURITY_HEADER = ["Sample ID", "Cancer type", "ESTIMATE", "ABSOLUTE", "LUMP", "IHC", "CPE"]


def _purity_book(path: Path, rows: list[list]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Supp Data 1"
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_purity_reads_below_the_title_rows(tmp_path):
    path = _purity_book(tmp_path / "purity.xlsx", TITLE + [PURITY_HEADER,
                        ["TCGA-AA-0001-01A", "BRCA", 0.9, "NaN", 1, 0.5, 0.8],
                        ["TCGA-AA-0001-01B", "BRCA", 0.7, 0.6, "NaN", 0.5, 0.7],
                        ["TCGA-AA-0001-06A", "BRCA", 0.1, 0.2, 0.3, 0.4, 0.2],
                        ["TCGA-AA-0002-01B", "BRCA", 0.5, 0.5, 0.5, 0.5, "NaN"],
                        ["TCGA-AA-0002-01A", "BRCA", 0.5, 0.5, 0.5, 0.5, "NaN"],
                        ["TCGA-AA-0003-06A", "BRCA", 0.5, 0.5, 0.5, 0.5, 0.5],
                        [None] * 7])
    table = tss.read_purity(path)
    assert table.height == 6 and table["absolute"].to_list()[:2] == [None, 0.6] and table["lump"][0] == 1.0
    assert table["sample_type_code"].to_list() == ["01", "01", "06", "01", "01", "06"]
    per_patient = tss.patient_purity(table)
    # lowest type-01 barcode with a CPE; a patient without one keeps a null; metastasis-only patients are left out
    assert per_patient.rows() == [("TCGA-AA-0001", 0.8), ("TCGA-AA-0002", None)]


@pytest.mark.parametrize("rows,message", [
    (TITLE + [PURITY_HEADER], "header only, no samples below row 4"),
    ([PURITY_HEADER, ["TCGA-AA-0001-01A", "BRCA", 0.9, 0.9, 0.9, 0.9, 0.9]], "missing columns"),
    (TITLE + [PURITY_HEADER, ["TCGA-AA-0001-01A", "BRCA", 0.9, 0.9, "high", 0.9, 0.9]],
     "row 5, column 'LUMP': non-numeric cell; expected a purity fraction in [0, 1], found 'high'"),
    (TITLE + [PURITY_HEADER, ["TCGA-AA-0001-01A", "BRCA", 0.9, 0.9, 0.9, 0.9, 0.9],
              ["TCGA-AA-0002-01A", "BRCA", 0.9, 0.9, 0.9, 0.9, 90]], "row 6, column 'CPE': purity outside [0, 1]"),
    (TITLE + [PURITY_HEADER, ["sample 1", "BRCA", 0.9, 0.9, 0.9, 0.9, 0.9]], "row 5, column 'Sample ID': not a TCGA barcode"),
    (TITLE + [PURITY_HEADER, ["TCGA-AA-0001", "BRCA", 0.9, 0.9, 0.9, 0.9, 0.9]],
     "row 5, column 'Sample ID': patient barcode without a sample field"),
    (TITLE + [PURITY_HEADER, ["TCGA-AA-0001-01A", "BRCA", 0.9, 0.9, 0.9, 0.9, 0.9],
              ["TCGA-AA-0001-01A", "BRCA", 0.8, 0.9, 0.9, 0.9, 0.9]], "row 6, column 'Sample ID': sample 'TCGA-AA-0001-01A' listed twice"),
])
def test_bad_purity_files(tmp_path, rows, message):
    with pytest.raises(InputFormatError) as err:
        tss.read_purity(_purity_book(tmp_path / "purity.xlsx", rows))
    assert "purity.xlsx" in str(err.value) and message in str(err.value)


def test_unreadable_purity_workbook(tmp_path):
    good = _purity_book(tmp_path / "good.xlsx", TITLE + [PURITY_HEADER])
    (tmp_path / "cut.xlsx").write_bytes(good.read_bytes()[:200])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray warning from the reader either
        with pytest.raises(InputFormatError, match="cut.xlsx: not a readable xlsx workbook"):
            tss.read_purity(tmp_path / "cut.xlsx")
    with pytest.raises(FileNotFoundError, match="absent.xlsx"):
        tss.read_purity(tmp_path / "absent.xlsx")
