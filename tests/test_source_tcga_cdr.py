"""TCGA-CDR reader (main sheet, TSS_Info, genetic ancestry): golden values on the real workbooks, bad input."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import polars as pl
import pytest

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.sources import tcga_cdr

FOLDER = "tcga_cdr_pancancer_clinical"
WORKBOOK = "TCGA-CDR-SupplementalTableS1.xlsx"


# ---------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def cdr(raw_dir: Path) -> pl.DataFrame:
    return tcga_cdr.read_tcga_cdr(raw_dir / FOLDER / WORKBOOK)


@pytest.mark.realdata
def test_cdr_golden_counts(cdr):
    assert cdr.height == cdr["patient_id"].n_unique() == 11160
    assert cdr["cancer_type"].n_unique() == 33
    assert dict(cdr["cancer_type"].value_counts().iter_rows())["PRAD"] == 500
    for endpoint, known, events in (("os", 11151, 3622), ("dss", 10648, 2499), ("dfi", 5531, 1118), ("pfi", 10953, 3996)):
        part = cdr.filter(pl.col(endpoint).is_not_null())
        assert (part.height, int(part[endpoint].sum())) == (known, events), endpoint
        assert cdr.schema[endpoint] == pl.Int8 and cdr.schema[f"{endpoint}_time"] == pl.Float64
    assert [cdr[f"{e}_time"].null_count() for e in ("os", "dss", "dfi", "pfi")] == [66, 252, 5639, 253]
    assert cdr["redaction"].to_list().count("Redacted") == 57 and cdr["redaction"].null_count() == 11103


@pytest.mark.realdata
def test_cdr_reads_the_main_sheet_not_the_stray_sheet1(raw_dir, cdr):
    book = openpyxl.load_workbook(raw_dir / FOLDER / WORKBOOK, read_only=True)
    try:
        assert "Sheet1" in book.sheetnames and tcga_cdr.MAIN_SHEET in book.sheetnames
    finally:
        book.close()
    prad = cdr.filter(pl.col("cancer_type") == "PRAD")
    assert prad.height == prad["patient_id"].n_unique() == 500  # Sheet1 would add 500 duplicated PRAD rows


@pytest.mark.realdata
def test_cdr_cells_and_missing_markers(cdr):
    row = cdr.filter(pl.col("patient_id") == "TCGA-OR-A5J1").row(0, named=True)
    assert (row["cancer_type"], row["age"], row["sex"], row["race"], row["ajcc_pathologic_tumor_stage"]) == \
        ("ACC", 58.0, "MALE", "WHITE", "Stage II")
    assert (row["os"], row["os_time"], row["pfi"], row["pfi_time"], row["death_days"]) == (1, 1355.0, 1, 754.0, 1355.0)
    assert row["clinical_stage"] is None and row["histological_grade"] is None  # '[Not Applicable]', '[Not Available]'
    assert row["last_contact_days"] is None  # '#N/A'
    text = [c for c, t in cdr.schema.items() if t == pl.String]
    for column in text:
        values = set(cdr[column].drop_nulls())
        assert not values & set(tcga_cdr.MISSING), column
        assert not any(v.startswith("[") and v.endswith("]") and "|" not in v for v in values), column
        # pipe lists (one entry per follow-up form) keep their positions; all-marker lists become null
        assert not any(all(p in tcga_cdr.MISSING for p in v.split("|")) for v in values), column
    assert "Distant Metastasis|[Not Available]" in set(cdr["new_tumor_event_type"].drop_nulls())
    assert cdr["race"].null_count() == 1325 and cdr["age"].null_count() == 51


@pytest.mark.realdata
def test_tss_info_keeps_830_codes_as_text_including_na(raw_dir):
    info = tcga_cdr.read_tss_info(raw_dir / FOLDER / WORKBOOK)
    assert info.columns == ["tss_code", "source_site", "disease_type"]
    assert info.height == info["tss_code"].n_unique() == 830
    assert info["tss_code"].str.contains(r"^[A-Z0-9]{2}$").all()
    lookup = {code: site for code, site, _ in info.iter_rows()}
    # 'NA' is Duke's code, not a missing value; integer-looking codes keep their leading zero
    assert (lookup["NA"], lookup["02"], lookup["10"]) == ("Duke University", "MD Anderson Cancer Center", "MD Anderson Cancer Center")


@pytest.mark.realdata
def test_genetic_ancestry_golden(raw_dir):
    ancestry = tcga_cdr.read_genetic_ancestry(raw_dir / FOLDER / "Genetic_Ancestry.xlsx")
    assert ancestry.columns == ["patient_id", "cancer_type", "race_reported", "ethnicity_reported", "eigenstrat"]
    assert ancestry.height == ancestry["patient_id"].n_unique() == 11122  # 5 stray non-patient rows skipped
    assert ancestry["cancer_type"].n_unique() == 33
    # 'NA' is the Native American call, not a missing value
    assert dict(ancestry["eigenstrat"].value_counts().iter_rows()) == {"EA": 8951, "AA": 1019, "EAA": 677, "NA": 397, "OA": 78}
    assert ancestry["race_reported"].null_count() == 1375 and ancestry["ethnicity_reported"].null_count() == 2645
    first = ancestry.filter(pl.col("patient_id") == "TCGA-OR-A5J3").row(0)
    assert first == ("TCGA-OR-A5J3", "ACC", "White", "Hispanic/Latino", "NA")


# --------------------------------------------------------------------------------------------- bad input
def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


HEADER = [None, "bcr_patient_barcode", "type", "age_at_initial_pathologic_diagnosis", "gender", "race",
          "new_tumor_event_type", "OS", "OS.time", "DSS", "DSS.time", "DFI", "DFI.time", "PFI", "PFI.time", "Redaction"]


def _row(n: int, patient: str, **changes) -> list:
    values = {"type": "PRAD", "age": 60, "race": "WHITE", "nte": "Recurrence", "os": 0, "os_time": 100, "dss": 0,
              "dss_time": 100, "dfi": "#N/A", "dfi_time": "#N/A", "pfi": 1, "pfi_time": 50, "redaction": None} | changes
    return [str(n), patient, values["type"], values["age"], "MALE", values["race"], values["nte"], values["os"],
            values["os_time"], values["dss"], values["dss_time"], values["dfi"], values["dfi_time"], values["pfi"],
            values["pfi_time"], values["redaction"]]


def test_reads_only_the_main_sheet_and_normalises_markers(tmp_path):
    stray = [HEADER] + [_row(1, "TCGA-AA-0001", pfi=0)] * 3
    main = [HEADER, _row(1, "TCGA-AA-0001", race="[Not Available]", nte="[Not Available]|[Not Available]"),
            _row(2, "TCGA-AA-0002", age="#N/A", race="[Unknown]", os="#N/A", os_time="#N/A", redaction="Redacted")]
    table = tcga_cdr.read_tcga_cdr(_workbook(tmp_path / "cdr.xlsx", {"Sheet1": stray, "TCGA-CDR": main}))
    assert table["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002"]
    assert table["pfi"].to_list() == [1, 1] and table["pfi_time"].to_list() == [50.0, 50.0]
    assert table["race"].to_list() == [None, None] and table["new_tumor_event_type"].to_list() == [None, "Recurrence"]
    assert table["age"].to_list() == [60.0, None] and table["os"].to_list() == [0, None] and table["dfi"].to_list() == [None, None]
    assert table["redaction"].to_list() == [None, "Redacted"]
    assert table.columns[:5] == ["patient_id", "cancer_type", "age", "sex", "race"]


def test_workbook_without_main_sheet_names_file_and_sheets(tmp_path):
    path = _workbook(tmp_path / "cdr.xlsx", {"Sheet1": [HEADER, _row(1, "TCGA-AA-0001")], "Notes": [["x"]]})
    with pytest.raises(InputFormatError, match=r"cdr.xlsx: no sheet 'TCGA-CDR'.*found sheets \['Sheet1', 'Notes'\]"):
        tcga_cdr.read_tcga_cdr(path)


def test_unreadable_workbooks(tmp_path):
    good = _workbook(tmp_path / "good.xlsx", {"TCGA-CDR": [HEADER, _row(1, "TCGA-AA-0001")]})
    (tmp_path / "truncated.xlsx").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputFormatError, match="truncated.xlsx: not a readable xlsx workbook"):
        tcga_cdr.read_tcga_cdr(tmp_path / "truncated.xlsx")
    (tmp_path / "page.xlsx").write_text("<!DOCTYPE html><html>404</html>")
    with pytest.raises(InputFormatError, match="page.xlsx: not a readable xlsx workbook"):
        tcga_cdr.read_tcga_cdr(tmp_path / "page.xlsx")
    with pytest.raises(FileNotFoundError, match="missing.xlsx"):
        tcga_cdr.read_tcga_cdr(tmp_path / "missing.xlsx")


@pytest.mark.parametrize("rows,message", [
    ([], "sheet 'TCGA-CDR' lacks columns"),
    ([HEADER], "sheet 'TCGA-CDR' has no rows"),
    ([HEADER, _row(1, "TCGA-AA-0001", os_time="soon")], "row 2, column 'OS.time': non-numeric cell"),
    ([HEADER, _row(1, "TCGA-AA-0001"), _row(2, "TCGA-AA-0002", dss=2)], "row 3, column 'DSS': sheet 'TCGA-CDR': endpoint event must be 0 or 1"),
    ([HEADER, _row(1, "TCGA-AA-0001", pfi_time=-3)], "row 2, column 'PFI.time': sheet 'TCGA-CDR': negative endpoint time"),
    ([HEADER, _row(1, "TCGA-AA-0001", age="sixty")], "row 2, column 'age_at_initial_pathologic_diagnosis': non-numeric cell"),
    ([HEADER, _row(1, "patient 1")], "row 2, column 'bcr_patient_barcode'"),
    ([HEADER, _row(1, "TCGA-AA-0001", type=None)], "row 2, column 'type': sheet 'TCGA-CDR': empty cancer type"),
    ([HEADER, _row(1, "TCGA-AA-0001"), _row(2, "TCGA-AA-0001", os_time=200)],
     "column 'os_time': duplicate patient_id 'TCGA-AA-0001' with conflicting values (sheet 'TCGA-CDR' row 2 and "
     "sheet 'TCGA-CDR' row 3); expected one row per key, or identical duplicates, found 100.0 vs 200.0"),
])
def test_bad_main_sheets(tmp_path, rows, message):
    with pytest.raises(InputFormatError) as err:
        tcga_cdr.read_tcga_cdr(_workbook(tmp_path / "bad.xlsx", {"TCGA-CDR": rows}))
    assert str(err.value).startswith(str(tmp_path / "bad.xlsx")) and message in str(err.value)


def test_identical_duplicate_patients_collapse(tmp_path):
    rows = [HEADER, _row(1, "TCGA-AA-0001"), _row(1, "TCGA-AA-0001"), [None] * len(HEADER), _row(2, "TCGA-AA-0002"),
            [None] * len(HEADER)]
    table = tcga_cdr.read_tcga_cdr(_workbook(tmp_path / "dup.xlsx", {"TCGA-CDR": rows}))
    assert table["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002"]  # empty rows skipped


def test_rows_below_an_empty_row_keep_their_sheet_row_number(tmp_path):
    rows = [HEADER, _row(1, "TCGA-AA-0001"), [None] * len(HEADER), _row(2, "TCGA-AA-0002", pfi="x")]
    with pytest.raises(InputFormatError, match=r"bad.xlsx, row 4, column 'PFI': non-numeric cell"):
        tcga_cdr.read_tcga_cdr(_workbook(tmp_path / "bad.xlsx", {"TCGA-CDR": rows}))


TSS_TOP = [["Weblink", "https://gdc.cancer.gov/"], [None, None, None], ["TSS Code", "Source Site", "Disease type"]]


def test_tss_info_codes_as_text(tmp_path):
    rows = TSS_TOP + [["01", "IGC", "Ovarian"], [5, "Indivumed", "Lung"], ["NA", "Duke University", "Uterine"],
                      [None, None, None], ["a1", "[Not Available]", "Breast"]]
    info = tcga_cdr.read_tss_info(_workbook(tmp_path / "cdr.xlsx", {"TSS_Info": rows}))
    assert info.rows() == [("01", "IGC", "Ovarian"), ("05", "Indivumed", "Lung"), ("NA", "Duke University", "Uterine"),
                           ("A1", None, "Breast")]


@pytest.mark.parametrize("rows,message", [
    ([["x", "y", "z"], ["01", "a", "b"]], "sheet 'TSS_Info' has no 'TSS Code' header row"),
    (TSS_TOP, "sheet 'TSS_Info' has a header but no codes"),
    (TSS_TOP + [["01", "a", "b"], ["ABC", "c", "d"]], "row 5, column 'TSS Code': sheet 'TSS_Info': not a TSS code"),
    (TSS_TOP + [["01", "a", "b"], ["1", "c", "b"]],
     "column 'source_site': duplicate tss_code '01' with conflicting values (sheet 'TSS_Info' row 4 and sheet 'TSS_Info' "
     "row 5); expected one row per key, or identical duplicates, found 'a' vs 'c'"),
])
def test_bad_tss_info(tmp_path, rows, message):
    with pytest.raises(InputFormatError) as err:
        tcga_cdr.read_tss_info(_workbook(tmp_path / "cdr.xlsx", {"TSS_Info": rows}))
    assert "cdr.xlsx" in str(err.value) and message in str(err.value)
    with pytest.raises(InputFormatError, match=r"no sheet 'TSS_Info'.*found sheets \['Other'\]"):
        tcga_cdr.read_tss_info(_workbook(tmp_path / "other.xlsx", {"Other": rows}))


ANCESTRY_HEADER = ["Patient_ID", "Cancer type", "Self-reported race", "Self-reported ethnicity", "EIGENSTRAT"]


def test_ancestry_keeps_na_call_and_skips_stray_rows(tmp_path):
    path = _workbook(tmp_path / "anc.xlsx", {
        "Notes": [["EA", "European American"], ["NA", "Native American"]],
        "ACC": [["Patient_ID", "Cancer_type", "Self_reported_race", "Self-reported ethnicity", "EIGENSTRAT"],
                ["TCGA-OR-A5J3", "ACC", "White", "Hispanic/Latino", "NA"], [None] * 5, ["  Vie", None, None, None, None]],
        "BLCA": [ANCESTRY_HEADER, ["TCGA-2F-A9KO", "BLCA", "Not Available", "Not Available", None]],
    })
    table = tcga_cdr.read_genetic_ancestry(path)
    assert table.rows() == [("TCGA-OR-A5J3", "ACC", "White", "Hispanic/Latino", "NA"),
                            ("TCGA-2F-A9KO", "BLCA", None, None, None)]


@pytest.mark.parametrize("sheets,message", [
    ({"ACC": [ANCESTRY_HEADER, ["TCGA-OR-A5J3", "ACC", "White", "x", "XX"]]},
     "row 2, column 'EIGENSTRAT': sheet 'ACC': unknown EIGENSTRAT call"),
    ({"ACC": [ANCESTRY_HEADER[:4], ["TCGA-OR-A5J3", "ACC", "White", "x"]]}, "sheet 'ACC' lacks columns ['eigenstrat']"),
    ({"Notes": [["EA", "European American"]]}, "no sheet with a Patient_ID column"),
    ({"ACC": [ANCESTRY_HEADER]}, "no patient rows in any sheet"),
    ({"ACC": [ANCESTRY_HEADER, ["TCGA-OR-A5J3", "ACC", "White", "x", "EA"]],
      "BLCA": [ANCESTRY_HEADER, ["TCGA-OR-A5J3", "BLCA", "White", "x", "EA"]]},
     "column 'cancer_type': duplicate patient_id 'TCGA-OR-A5J3' with conflicting values (sheet 'ACC' row 2 and "
     "sheet 'BLCA' row 2); expected one row per key, or identical duplicates, found 'ACC' vs 'BLCA'"),
])
def test_bad_ancestry(tmp_path, sheets, message):
    with pytest.raises(InputFormatError) as err:
        tcga_cdr.read_genetic_ancestry(_workbook(tmp_path / "anc.xlsx", sheets))
    assert "anc.xlsx" in str(err.value) and message in str(err.value)
