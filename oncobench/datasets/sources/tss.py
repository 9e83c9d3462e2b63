"""Tissue-source-site (TSS) -> hospital/country table, and TCGA tumour purity estimates.

``centers.csv`` lost the leading zeros of numeric TSS codes (``5`` means ``05``): codes are padded.
Purity comes from Aran 2015, Supplementary Data 1 (three title rows above the header).

References
----------
Aran D, Sirota M, Butte AJ. Systematic pan-cancer analysis of tumour purity. Nat Commun 6:8971, 2015.
Owkin, fedpydeseq2-datasets 0.1.0 (centers.csv), MIT licence.
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import polars as pl
from openpyxl.utils.exceptions import InvalidFileException

from oncobench.datasets.barcode import parse_barcode, tss_code
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import numeric_column

log = logging.getLogger(__name__)

CENTER_COLUMNS = {"TSS Code": "tss_code", "Source Site": "source_site", "Country": "country", "State": "state",
                  "Region": "region"}
PURITY_COLUMNS = {"ESTIMATE": "estimate", "ABSOLUTE": "absolute", "LUMP": "lump", "IHC": "ihc", "CPE": "cpe"}
PURITY_HEADER_ROW = 4  # 1-based sheet row of the header, below three title rows
PURITY_RULE = ("per patient: among its primary-tumour (sample type 01) samples that have a CPE value, the one "
               "with the lowest sample barcode (01A before 01B); null when no type-01 sample has a CPE value")


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def read_centers(path: str | Path) -> pl.DataFrame:
    """``centers.csv``: tss_code (2 characters, zero-padded: ``5`` -> ``05``), source_site, country, state, region.

    Raises
    ------
    InputFormatError
        Empty file, header only, missing columns, a cell that is no TSS code (row named), a code
        listed twice with different content.
    """
    path = Path(path)
    try:
        # every cell as text; only empty cells are missing (a code or state 'NA' would be a value)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a header ',TSS Code,Source Site,Country,State,Region'") from None
    missing = [c for c in CENTER_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"columns {list(CENTER_COLUMNS)}",
                               found=f"{list(frame.columns)}")
    if frame.empty:
        raise InputFormatError(path, "header only, no rows", expected="one row per TSS code")
    codes = []
    for i, code in enumerate(frame["TSS Code"].tolist()):
        try:
            codes.append(tss_code(code))  # also refuses the NaN of an empty cell
        except ValueError as exc:
            raise InputFormatError(path, str(exc), row=i + 2, column="TSS Code", expected="a TSS code") from None
    table = pl.DataFrame(
        {"tss_code": codes} | {name: [_text(v) for v in frame[raw]] for raw, name in CENTER_COLUMNS.items() if raw != "TSS Code"},
        schema={name: pl.String for name in CENTER_COLUMNS.values()},
    )
    dup = table.with_row_index("_row").filter(pl.col("tss_code").is_duplicated())
    for (code,), rows in dup.group_by("tss_code", maintain_order=True):
        if rows.drop("_row").unique().height > 1:
            lines = [int(r) + 2 for r in rows["_row"]]
            raise InputFormatError(path, f"TSS code {code!r} listed twice with different content", row=lines[1],
                                   column="TSS Code", expected="one row per code, or identical duplicates",
                                   found=f"rows {lines}")
    if dup.height:
        log.info("%s: %d identical duplicate rows collapsed", path.name, dup.height - dup["tss_code"].n_unique())
        table = table.unique("tss_code", keep="first", maintain_order=True)
    return table


def read_purity(path: str | Path) -> pl.DataFrame:
    """Aran 2015 Supplementary Data 1: one row per TCGA sample.

    Columns: sample_id (``TCGA-OR-A5J1-01A``), patient_id, sample_type_code (``01`` = primary
    tumour, ``06`` = metastatic ...), cancer_type, estimate, absolute, lump, ihc, cpe (purity
    fractions; the sheet's ``NaN`` text is null).

    Raises
    ------
    InputFormatError
        Not an xlsx, no header on row 4, no rows, a sample ID that is no TCGA sample barcode, a
        non-numeric or out-of-range purity (sheet row and column named), a sample listed twice.

    References
    ----------
    Aran D, Sirota M, Butte AJ. Nat Commun 6:8971, 2015.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with warnings.catch_warnings():
        # openpyxl warns about an unsupported Excel extension in this file; the cells read fine
        warnings.filterwarnings("ignore", message="Unknown extension", category=UserWarning)
        try:
            with pd.ExcelFile(path, engine="openpyxl") as book:
                raw = book.parse(0, header=None, dtype=object, keep_default_na=False, na_values=["", "NaN"])
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
            raise InputFormatError(path, f"not a readable xlsx workbook ({type(exc).__name__}: {exc})",
                                   expected="an Excel .xlsx file") from None
    needed = ["Sample ID", "Cancer type", *PURITY_COLUMNS]
    header = [str(v).strip() for v in raw.iloc[PURITY_HEADER_ROW - 1]] if len(raw) >= PURITY_HEADER_ROW else []
    missing = [c for c in needed if c not in header]
    if missing:
        raise InputFormatError(path, f"missing columns {missing} in the header row (row {PURITY_HEADER_ROW})",
                               expected=f"columns {needed} below three title rows", found=f"{header[:8]}")
    frame = raw.iloc[PURITY_HEADER_ROW:].set_axis(header, axis=1).reset_index(drop=True)
    first_row = PURITY_HEADER_ROW + 1
    blank = frame[needed].isna().all(axis=1).to_numpy()
    trailing = 0 if blank.all() else len(frame) - int(blank[::-1].argmin())
    frame = frame.iloc[:trailing]  # trailing empty rows only, so that reported row numbers stay right
    if frame.empty:
        raise InputFormatError(path, f"header only, no samples below row {PURITY_HEADER_ROW}", expected="one row per sample")
    samples, patients, types = [], [], []
    for i, raw in enumerate(frame["Sample ID"].tolist()):
        try:
            barcode = parse_barcode(raw)
        except ValueError as exc:  # also an empty cell ('nan')
            raise InputFormatError(path, str(exc), row=i + first_row, column="Sample ID",
                                   expected="a TCGA sample barcode such as TCGA-OR-A5J1-01A") from None
        if barcode.sample is None:
            raise InputFormatError(path, "patient barcode without a sample field", row=i + first_row, column="Sample ID",
                                   expected="a TCGA sample barcode such as TCGA-OR-A5J1-01A", found=repr(raw))
        samples.append(f"{barcode.patient_id}-{barcode.sample}{barcode.vial or ''}")
        patients.append(barcode.patient_id)
        types.append(barcode.sample)
    out: dict[str, list] = {
        "sample_id": samples, "patient_id": patients, "sample_type_code": types,
        "cancer_type": [(_text(v) or "").upper() or None for v in frame["Cancer type"]],
    }
    for raw, name in PURITY_COLUMNS.items():
        values = numeric_column(frame, raw, path=path, first_row=first_row, expected="a purity fraction in [0, 1]")
        outside = next((i for i, v in enumerate(values) if v is not None and not 0.0 <= v <= 1.0), None)
        if outside is not None:
            raise InputFormatError(path, "purity outside [0, 1]", row=outside + first_row, column=raw,
                                   expected="a fraction in [0, 1]", found=repr(values[outside]))
        out[name] = values
    table = pl.DataFrame(out, schema={"sample_id": pl.String, "patient_id": pl.String, "sample_type_code": pl.String,
                                      "cancer_type": pl.String} | {n: pl.Float64 for n in PURITY_COLUMNS.values()})
    dup = table.with_row_index("_row").filter(pl.col("sample_id").is_duplicated())
    if dup.height:
        raise InputFormatError(path, f"sample {dup['sample_id'][0]!r} listed twice", row=int(dup["_row"][1]) + first_row,
                               column="Sample ID", expected="one row per sample")
    return table


def patient_purity(purity: pl.DataFrame) -> pl.DataFrame:
    """patient_id, purity_cpe (consensus purity estimate), one row per patient with a type-01 sample.

    The sample is chosen by :data:`PURITY_RULE`: deterministic, and a patient whose first primary
    sample lacks a CPE value keeps the value of its next one (6 patients in the real file).

    References
    ----------
    Aran D, Sirota M, Butte AJ. Nat Commun 6:8971, 2015.
    """
    primary = purity.filter(pl.col("sample_type_code") == "01")
    chosen = (
        primary.filter(pl.col("cpe").is_not_null())
        .sort("sample_id")
        .unique("patient_id", keep="first", maintain_order=True)
        .select("patient_id", pl.col("cpe").alias("purity_cpe"))
    )
    return (
        primary.select("patient_id").unique()
        .join(chosen, on="patient_id", how="left")
        .sort("patient_id")
    )
