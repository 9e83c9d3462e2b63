"""TCGA-CDR (Liu 2018): curated clinical data and survival endpoints for 11,160 TCGA patients; TSS codes; ancestry.

Only the main sheet ``TCGA-CDR`` is read: the copy we use carries a stray extra sheet ``Sheet1``
(500 duplicated PRAD rows). Endpoint times are in days; events are 0/1.

References
----------
Liu J et al. An integrated TCGA pan-cancer clinical data resource to drive high-quality survival
outcome analytics. Cell 173(2):400-416.e11, 2018.
"""

from __future__ import annotations

import logging
from pathlib import Path

import openpyxl
import pandas as pd
import polars as pl

from oncobench.datasets.barcode import harmonize_barcode, tss_code
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import MISSING_MARKERS

log = logging.getLogger(__name__)

MAIN_SHEET = "TCGA-CDR"
MISSING = MISSING_MARKERS
ENDPOINTS = ("OS", "DSS", "DFI", "PFI")
CITATION = "Liu J et al., Cell 173(2):400-416.e11, 2018 (TCGA-CDR)"
_TEXT = {
    "bcr_patient_barcode": "patient_id", "type": "cancer_type", "gender": "sex", "race": "race",
    "ajcc_pathologic_tumor_stage": "ajcc_pathologic_tumor_stage", "clinical_stage": "clinical_stage",
    "histological_type": "histological_type", "histological_grade": "histological_grade",
    "menopause_status": "menopause_status", "vital_status": "vital_status", "tumor_status": "tumor_status",
    "cause_of_death": "cause_of_death", "new_tumor_event_type": "new_tumor_event_type",
    "new_tumor_event_site": "new_tumor_event_site", "treatment_outcome_first_course": "treatment_outcome_first_course",
    "margin_status": "margin_status", "residual_tumor": "residual_tumor", "Redaction": "redaction",
}
_NUMBER = {
    "age_at_initial_pathologic_diagnosis": "age", "initial_pathologic_dx_year": "diagnosis_year",
    "last_contact_days_to": "last_contact_days", "death_days_to": "death_days",
    "new_tumor_event_dx_days_to": "new_tumor_event_days",
}


def _sheet(path: Path, sheet: str, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        names = openpyxl.load_workbook(path, read_only=True).sheetnames
    except Exception as exc:  # zipfile.BadZipFile, InvalidFileException...
        raise InputFormatError(path, f"not a readable xlsx workbook ({type(exc).__name__}: {exc})",
                               expected="an Excel .xlsx file") from None
    if sheet not in names:
        raise InputFormatError(path, f"no sheet {sheet!r}", expected=f"a sheet named {sheet!r}", found=f"sheets {names}")
    return pd.read_excel(path, sheet_name=sheet, engine="openpyxl", **kwargs)


def read_tcga_cdr(path: str | Path) -> pl.DataFrame:
    """The main ``TCGA-CDR`` sheet, one row per patient, missing markers (``[Not Available]``...) as null.

    Columns: patient_id, cancer_type, age, sex, race, stage and grade fields, new tumour event fields,
    os/os_time, dss/dss_time, dfi/dfi_time, pfi/pfi_time (days), redaction, and a few more.
    """
    path = Path(path)
    frame = _sheet(path, MAIN_SHEET, dtype={c: str for c in _TEXT})
    needed = ["bcr_patient_barcode", "type", *ENDPOINTS, *(f"{e}.time" for e in ENDPOINTS)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"sheet {MAIN_SHEET!r} lacks columns {missing}", expected=f"columns {needed}")
    if frame.empty:
        raise InputFormatError(path, f"sheet {MAIN_SHEET!r} has no rows", expected="one row per patient")
    out: dict[str, list] = {}
    for raw, name in _TEXT.items():
        values = frame[raw] if raw in frame.columns else pd.Series([None] * len(frame))
        out[name] = [None if pd.isna(v) or str(v).strip() in MISSING else str(v).strip() for v in values]
    try:
        out["patient_id"] = [harmonize_barcode(p) for p in out["patient_id"]]
    except (ValueError, TypeError) as exc:
        raise InputFormatError(path, str(exc), column="bcr_patient_barcode", expected="TCGA patient barcodes") from None
    for raw, name in _NUMBER.items():
        out[name] = pd.to_numeric(frame[raw].replace(list(MISSING), None), errors="coerce").tolist() if raw in frame.columns else [None] * len(frame)
    for endpoint in ENDPOINTS:
        for raw, name in ((endpoint, endpoint.lower()), (f"{endpoint}.time", f"{endpoint.lower()}_time")):
            column = pd.to_numeric(frame[raw], errors="coerce")
            bad = frame[raw].notna() & column.isna() & ~frame[raw].astype(str).str.strip().isin(MISSING)
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise InputFormatError(path, "non-numeric endpoint value", row=i + 2, column=raw,
                                       expected="a number or empty", found=repr(frame[raw].iloc[i]))
            out[name] = [None if pd.isna(v) else float(v) for v in column]
    table = pl.DataFrame(out, strict=False).with_columns(
        [pl.col(e.lower()).cast(pl.Int8) for e in ENDPOINTS] + [pl.col(f"{e.lower()}_time").cast(pl.Float64) for e in ENDPOINTS]
    )
    bad_events = table.filter(pl.any_horizontal([~pl.col(e.lower()).is_in([0, 1]) for e in ENDPOINTS]))
    if bad_events.height:
        raise InputFormatError(path, "endpoint events must be 0 or 1", found=str(bad_events.row(0, named=True)))
    dup = table.filter(pl.col("patient_id").is_duplicated())
    if dup.height:
        raise InputFormatError(path, f"duplicate patient {dup['patient_id'][0]!r} in sheet {MAIN_SHEET!r}",
                               expected="one row per patient")
    first = ["patient_id", "cancer_type", "age", "sex", "race"]
    return table.select(first + [c for c in table.columns if c not in first])


def read_tss_info(path: str | Path) -> pl.DataFrame:
    """Sheet ``TSS_Info``: tss_code (2 characters), source_site, disease_type (830 codes)."""
    path = Path(path)
    raw = _sheet(path, "TSS_Info", header=None, dtype=str)
    header_rows = raw.index[raw.iloc[:, 0].astype(str).str.strip() == "TSS Code"]
    if len(header_rows) == 0:
        raise InputFormatError(path, "sheet 'TSS_Info' has no 'TSS Code' header row", expected="a header row 'TSS Code, Source Site, Disease type'")
    body = raw.iloc[int(header_rows[0]) + 1:, :3].dropna(subset=[0])
    codes, sites, diseases = [], [], []
    for i, (code, site, disease) in body.iterrows():
        try:
            codes.append(tss_code(code))
        except ValueError:
            log.warning("%s: TSS_Info row %d: %r is not a 2-character TSS code; skipped", path.name, i + 1, code)
            continue
        sites.append(None if pd.isna(site) else str(site).strip())
        diseases.append(None if pd.isna(disease) else str(disease).strip())
    table = pl.DataFrame({"tss_code": codes, "source_site": sites, "disease_type": diseases})
    return table.unique("tss_code", keep="first", maintain_order=True)


def read_genetic_ancestry(path: str | Path) -> pl.DataFrame:
    """``Genetic_Ancestry.xlsx``: one sheet per cancer; patient_id, cancer_type, self-reported race/ethnicity, EIGENSTRAT call."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    sheets = pd.read_excel(path, sheet_name=None, dtype=str)
    frames = []
    for name, frame in sheets.items():
        if "Patient_ID" not in frame.columns:
            continue  # the 'Notes' sheet
        is_patient = frame["Patient_ID"].fillna("").str.strip().str.upper().str.startswith("TCGA-")
        if (~is_patient).any():  # blank spacer rows and free-text notes below the table
            log.debug("%s sheet %s: %d non-patient rows skipped", path.name, name, int((~is_patient).sum()))
        frame = frame[is_patient]
        # sheets spell headers two ways ('Cancer type' / 'Cancer_type'): normalise spaces and dashes
        frame = frame.rename(columns=lambda c: str(c).strip().replace(" ", "_").replace("-", "_"))
        frames.append(pl.DataFrame({
            "patient_id": [harmonize_barcode(p) for p in frame["Patient_ID"]],
            "cancer_type": frame["Cancer_type"].tolist(),
            "race_reported": [None if pd.isna(v) or v in MISSING else v for v in frame["Self_reported_race"]],
            "ethnicity_reported": [None if pd.isna(v) or v in MISSING else v for v in frame["Self_reported_ethnicity"]],
            "eigenstrat": [None if pd.isna(v) else v for v in frame["EIGENSTRAT"]],
        }, schema={"patient_id": pl.String, "cancer_type": pl.String, "race_reported": pl.String,
                   "ethnicity_reported": pl.String, "eigenstrat": pl.String}))
    if not frames:
        raise InputFormatError(path, "no sheet with a Patient_ID column", expected="one sheet per cancer type")
    table = pl.concat(frames)
    dup = table.filter(pl.col("patient_id").is_duplicated()).height
    if dup:
        log.info("%s: %d rows share a patient ID across sheets; first kept", path.name, dup)
    return table.unique("patient_id", keep="first", maintain_order=True)
