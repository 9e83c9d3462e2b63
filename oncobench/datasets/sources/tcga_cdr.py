"""TCGA-CDR (Liu 2018): curated clinical data and survival endpoints for 11,160 TCGA patients; TSS codes; ancestry.

Only the main sheet ``TCGA-CDR`` is read for patients: the copy we use carries a stray extra sheet
``Sheet1`` (500 duplicated PRAD rows). Endpoint times are in days; events are 0/1. Cells are read as
written (``keep_default_na=False``) because ``NA`` is a value here: the TSS code ``NA`` and the
EIGENSTRAT call ``NA`` (Native American); only TCGA's bracketed markers and ``#N/A`` mean missing.

The ``TCGA-CDR_Notes`` sheet is free text (the per-cancer endpoint recommendations are Table 3 of
the paper, not part of the workbook), so no endpoint-notes reader is offered.

References
----------
Liu J et al. An integrated TCGA pan-cancer clinical data resource to drive high-quality survival
outcome analytics. Cell 173(2):400-416.e11, 2018.
Yuan J et al. Integrated analysis of genetic ancestry and genomic alterations across cancers.
Cancer Cell 34(4):549-560, 2018 (EIGENSTRAT ancestry calls; provenance of Genetic_Ancestry.xlsx probable).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
from openpyxl.utils.exceptions import InvalidFileException

from oncobench.datasets.barcode import harmonize_barcode, tss_code
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import MISSING_MARKERS, numeric_column

log = logging.getLogger(__name__)

MAIN_SHEET = "TCGA-CDR"
TSS_SHEET = "TSS_Info"
# "NA" is deliberately not a marker here (see the module docstring)
MISSING: frozenset[str] = frozenset(m for m in MISSING_MARKERS if m != "NA")
ENDPOINTS: tuple[str, ...] = ("OS", "DSS", "DFI", "PFI")
CITATION = "Liu J et al., Cell 173(2):400-416.e11, 2018 (TCGA-CDR)"
EIGENSTRAT_CODES: dict[str, str] = {
    "EA": "European American", "AA": "African American", "EAA": "East Asian American", "NA": "Native American",
    "OA": "Others",
}
_TEXT: dict[str, str] = {
    "bcr_patient_barcode": "patient_id", "type": "cancer_type", "gender": "sex", "race": "race",
    "ajcc_pathologic_tumor_stage": "ajcc_pathologic_tumor_stage", "clinical_stage": "clinical_stage",
    "histological_type": "histological_type", "histological_grade": "histological_grade",
    "menopause_status": "menopause_status", "vital_status": "vital_status", "tumor_status": "tumor_status",
    "cause_of_death": "cause_of_death", "new_tumor_event_type": "new_tumor_event_type",
    "new_tumor_event_site": "new_tumor_event_site", "new_tumor_event_site_other": "new_tumor_event_site_other",
    "treatment_outcome_first_course": "treatment_outcome_first_course",
    "margin_status": "margin_status", "residual_tumor": "residual_tumor", "Redaction": "redaction",
}
_NUMBER: dict[str, str] = {
    "age_at_initial_pathologic_diagnosis": "age", "initial_pathologic_dx_year": "diagnosis_year",
    "birth_days_to": "birth_days", "last_contact_days_to": "last_contact_days", "death_days_to": "death_days",
    "new_tumor_event_dx_days_to": "new_tumor_event_days",
}
FIRST_COLUMNS = ("patient_id", "cancer_type", "age", "sex", "race")


def _text(value: Any) -> str | None:
    """Stripped text; None for empty cells and missing markers.

    Multi-valued cells (``Lung|[Not Available]``: one entry per follow-up form, aligned with the
    other new-tumour-event columns) stay as written unless every entry is a marker.
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if text in MISSING or all(part.strip() in MISSING for part in text.split("|")):
        return None
    return text


def _open(path: Path) -> pd.ExcelFile:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return pd.ExcelFile(path, engine="openpyxl")
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:  # truncated, not a zip
        raise InputFormatError(path, f"not a readable xlsx workbook ({type(exc).__name__}: {exc})",
                               expected="an Excel .xlsx file") from None


def _sheet(path: Path, sheet: str, **kwargs: Any) -> pd.DataFrame:
    """One sheet, cells as written (objects); only empty cells are NaN."""
    with _open(path) as book:
        if sheet not in book.sheet_names:
            raise InputFormatError(path, f"no sheet {sheet!r}", expected=f"a sheet named {sheet!r}",
                                   found=f"sheets {book.sheet_names}")
        return book.parse(sheet, dtype=object, keep_default_na=False, na_values=[""], **kwargs)


def _numbers(frame: pd.DataFrame, column: str, path: Path, sheet: str) -> list[float | None]:
    cleaned = frame[[column]].copy()
    cleaned[column] = [None if _text(v) is None else v for v in frame[column]]
    return numeric_column(cleaned, column, path=path, first_row=2, expected=f"a number (sheet {sheet!r})")


def _collapse_duplicates(table: pl.DataFrame, key: str, path: Path, where: list[str]) -> pl.DataFrame:
    """Identical duplicate rows collapse (logged); rows that disagree raise naming both rows and a column.

    ``where[i]`` says where row ``i`` of ``table`` is in the workbook (sheet and row).
    """
    dup = table.with_row_index("_row").filter(pl.col(key).is_duplicated())
    if dup.height == 0:
        return table
    for (value,), rows in dup.group_by(key, maintain_order=True):
        first = rows.row(0, named=True)
        for other in rows.iter_rows(named=True):
            differing = [c for c in table.columns if other[c] != first[c]]
            if differing:
                column = differing[0]
                raise InputFormatError(
                    path, f"duplicate {key} {value!r} with conflicting values ({where[first['_row']]} and "
                          f"{where[other['_row']]})", column=column, expected="one row per key, or identical duplicates",
                    found=f"{first[column]!r} vs {other[column]!r}")
    log.info("%s: %d identical duplicate rows collapsed (%s)", path.name, dup.height - dup[key].n_unique(),
             where[dup["_row"][0]])
    return table.unique(key, keep="first", maintain_order=True)


def read_tcga_cdr(path: str | Path) -> pl.DataFrame:
    """The main ``TCGA-CDR`` sheet: one row per patient, missing markers (``[Not Available]``, ``#N/A``...) as null.

    Columns: patient_id, cancer_type, age, sex, race, ajcc_pathologic_tumor_stage, clinical_stage,
    histological_type, histological_grade, menopause_status, vital_status, tumor_status,
    cause_of_death, new_tumor_event_type, new_tumor_event_site, new_tumor_event_site_other,
    treatment_outcome_first_course, margin_status, residual_tumor, redaction ('Redacted' or null),
    diagnosis_year, birth_days, last_contact_days, death_days, new_tumor_event_days, then
    os, os_time, dss, dss_time, dfi, dfi_time, pfi, pfi_time (events Int8 0/1, times Float64 days;
    null = missing).

    Raises
    ------
    InputFormatError
        No ``TCGA-CDR`` sheet (the sheets found are named), missing columns, no rows, a bad barcode,
        a non-numeric or out-of-range value (sheet row and column named), conflicting duplicates.

    References
    ----------
    Liu J et al. Cell 173(2):400-416.e11, 2018.
    """
    path = Path(path)
    frame = _sheet(path, MAIN_SHEET)
    needed = ["bcr_patient_barcode", "type", *ENDPOINTS, *(f"{e}.time" for e in ENDPOINTS)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"sheet {MAIN_SHEET!r} lacks columns {missing}", expected=f"columns {needed}")
    # empty rows are dropped at the end, so that every error names the row as the sheet numbers it
    blank = frame.isna().all(axis=1).tolist()
    if all(blank):
        raise InputFormatError(path, f"sheet {MAIN_SHEET!r} has no rows", expected="one row per patient")
    out: dict[str, list] = {}
    for raw, name in _TEXT.items():
        out[name] = [_text(v) for v in frame[raw]] if raw in frame.columns else [None] * len(frame)
    ids = []
    for i, raw in enumerate(out["patient_id"]):
        if blank[i]:
            ids.append(None)
            continue
        try:
            ids.append(harmonize_barcode(raw))
        except ValueError as exc:
            raise InputFormatError(path, f"sheet {MAIN_SHEET!r}: {exc}", row=i + 2, column="bcr_patient_barcode",
                                   expected="a TCGA patient barcode") from None
    out["patient_id"] = ids
    no_type = next((i for i, c in enumerate(out["cancer_type"]) if c is None and not blank[i]), None)
    if no_type is not None:
        raise InputFormatError(path, f"sheet {MAIN_SHEET!r}: empty cancer type", row=no_type + 2, column="type",
                               expected="a TCGA study code such as 'BRCA'")
    out["cancer_type"] = [c and c.upper() for c in out["cancer_type"]]
    for raw, name in _NUMBER.items():
        out[name] = _numbers(frame, raw, path, MAIN_SHEET) if raw in frame.columns else [None] * len(frame)
    for endpoint in ENDPOINTS:
        events = _numbers(frame, endpoint, path, MAIN_SHEET)
        bad = next((i for i, v in enumerate(events) if v is not None and v not in (0.0, 1.0)), None)
        if bad is not None:
            raise InputFormatError(path, f"sheet {MAIN_SHEET!r}: endpoint event must be 0 or 1", row=bad + 2,
                                   column=endpoint, expected="0, 1 or a missing marker", found=repr(frame[endpoint].iloc[bad]))
        times = _numbers(frame, f"{endpoint}.time", path, MAIN_SHEET)
        negative = next((i for i, v in enumerate(times) if v is not None and v < 0), None)
        if negative is not None:
            raise InputFormatError(path, f"sheet {MAIN_SHEET!r}: negative endpoint time", row=negative + 2,
                                   column=f"{endpoint}.time", expected="days >= 0", found=repr(times[negative]))
        out[endpoint.lower()] = events
        out[f"{endpoint.lower()}_time"] = times
    schema = {name: pl.String for name in _TEXT.values()} | {name: pl.Float64 for name in _NUMBER.values()}
    for endpoint in ENDPOINTS:
        schema |= {endpoint.lower(): pl.Float64, f"{endpoint.lower()}_time": pl.Float64}
    table = pl.DataFrame(out, schema=schema).with_columns(pl.col(e.lower()).cast(pl.Int8) for e in ENDPOINTS)
    table = table.filter(pl.Series([not b for b in blank]))
    where = [f"sheet {MAIN_SHEET!r} row {i + 2}" for i, b in enumerate(blank) if not b]
    table = _collapse_duplicates(table, "patient_id", path, where)
    return table.select(*FIRST_COLUMNS, *(c for c in table.columns if c not in FIRST_COLUMNS))


def read_tss_info(path: str | Path) -> pl.DataFrame:
    """Sheet ``TSS_Info``: tss_code (2 characters, text), source_site, disease_type; 830 codes in the real file.

    The header row (``TSS Code, Source Site, Disease type``) sits below a web-link row; integer-looking
    codes read as numbers (``10``) and are written back as 2-character text; ``NA`` is a real code.
    """
    path = Path(path)
    raw = _sheet(path, TSS_SHEET, header=None)
    if raw.shape[1] < 3:
        raise InputFormatError(path, f"sheet {TSS_SHEET!r} has {raw.shape[1]} columns",
                               expected="columns 'TSS Code, Source Site, Disease type'")
    first = [str(v).strip() if isinstance(v, str) else "" for v in raw.iloc[:, 0]]
    if "TSS Code" not in first:
        raise InputFormatError(path, f"sheet {TSS_SHEET!r} has no 'TSS Code' header row",
                               expected="a header row 'TSS Code, Source Site, Disease type'")
    header = first.index("TSS Code")
    codes, sites, diseases, where = [], [], [], []
    for i in range(header + 1, len(raw)):
        code, site, disease = raw.iat[i, 0], raw.iat[i, 1], raw.iat[i, 2]
        if all(pd.isna(v) for v in (code, site, disease)):
            continue  # blank row
        try:
            codes.append(tss_code(code))
        except ValueError as exc:
            raise InputFormatError(path, f"sheet {TSS_SHEET!r}: {exc}", row=i + 1, column="TSS Code",
                                   expected="a 2-character TSS code") from None
        sites.append(_text(site))
        diseases.append(_text(disease))
        where.append(f"sheet {TSS_SHEET!r} row {i + 1}")
    if not codes:
        raise InputFormatError(path, f"sheet {TSS_SHEET!r} has a header but no codes", expected="one row per TSS code")
    table = pl.DataFrame({"tss_code": codes, "source_site": sites, "disease_type": diseases},
                         schema={"tss_code": pl.String, "source_site": pl.String, "disease_type": pl.String})
    return _collapse_duplicates(table, "tss_code", path, where)


def read_genetic_ancestry(path: str | Path) -> pl.DataFrame:
    """``Genetic_Ancestry.xlsx``, one sheet per cancer: patient_id, cancer_type, race_reported, ethnicity_reported, eigenstrat.

    ``eigenstrat`` is the EIGENSTRAT ancestry call, one of :data:`EIGENSTRAT_CODES` (``NA`` = Native
    American, not missing) or null. The self-reported race and ethnicity are two columns in the
    source and stay two; ``Not Available`` becomes null. Rows below a table that are not TCGA
    barcodes (blank or stray text) are skipped; the ``Notes`` sheet (code legend) is not a table.

    References
    ----------
    Yuan J et al. Cancer Cell 34(4):549-560, 2018.
    """
    path = Path(path)
    with _open(path) as book:
        sheets = {name: book.parse(name, dtype=object, keep_default_na=False, na_values=[""]) for name in book.sheet_names}
    frames, where, skipped, mismatched = [], [], 0, 0
    for name, frame in sheets.items():
        # sheets spell headers two ways ('Cancer type' / 'Cancer_type', 'Self-reported race'): normalise
        frame = frame.rename(columns=lambda c: str(c).strip().replace(" ", "_").replace("-", "_").lower())
        if "patient_id" not in frame.columns:
            continue  # the 'Notes' sheet
        needed = ["patient_id", "cancer_type", "self_reported_race", "self_reported_ethnicity", "eigenstrat"]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputFormatError(path, f"sheet {name!r} lacks columns {missing}", expected=f"columns {needed}")
        ids = [str(v).strip() if isinstance(v, str) else "" for v in frame["patient_id"]]
        is_patient = [v.upper().startswith("TCGA") for v in ids]
        skipped += sum(1 for v, p in zip(ids, is_patient) if v and not p)
        rows = [i for i, p in enumerate(is_patient) if p]
        patients = []
        for i in rows:
            try:
                patients.append(harmonize_barcode(ids[i]))
            except ValueError as exc:
                raise InputFormatError(path, f"sheet {name!r}: {exc}", row=i + 2, column="Patient_ID",
                                       expected="a TCGA patient barcode") from None
        calls = [_text(frame["eigenstrat"].iat[i]) for i in rows]
        for i, call in zip(rows, calls):
            if call is not None and call not in EIGENSTRAT_CODES:
                raise InputFormatError(path, f"sheet {name!r}: unknown EIGENSTRAT call", row=i + 2, column="EIGENSTRAT",
                                       expected=f"one of {sorted(EIGENSTRAT_CODES)} or empty", found=repr(call))
        cancer = [(_text(frame["cancer_type"].iat[i]) or name).upper() for i in rows]
        where.extend(f"sheet {name!r} row {i + 2}" for i in rows)
        mismatched += sum(c != name.upper() for c in cancer)
        frames.append(pl.DataFrame({
            "patient_id": patients, "cancer_type": cancer,
            "race_reported": [_text(frame["self_reported_race"].iat[i]) for i in rows],
            "ethnicity_reported": [_text(frame["self_reported_ethnicity"].iat[i]) for i in rows],
            "eigenstrat": calls,
        }, schema={"patient_id": pl.String, "cancer_type": pl.String, "race_reported": pl.String,
                   "ethnicity_reported": pl.String, "eigenstrat": pl.String}))
    if not frames:
        raise InputFormatError(path, "no sheet with a Patient_ID column", expected="one sheet per cancer type",
                               found=f"sheets {list(sheets)}")
    if skipped:
        log.info("%s: %d non-patient rows (blank or stray text) skipped", path.name, skipped)
    if mismatched:
        log.warning("%s: %d rows name a cancer type other than their sheet's", path.name, mismatched)
    table = pl.concat(frames)
    if table.height == 0:
        raise InputFormatError(path, "no patient rows in any sheet", expected="TCGA patient barcodes")
    return _collapse_duplicates(table, "patient_id", path, where)
