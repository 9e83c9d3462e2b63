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
from pathlib import Path

import pandas as pd
import polars as pl

from oncobench.datasets.barcode import parse_barcode, tss_code
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import numeric_column

log = logging.getLogger(__name__)

PURITY_COLUMNS = {"ESTIMATE": "estimate", "ABSOLUTE": "absolute", "LUMP": "lump", "IHC": "ihc", "CPE": "cpe"}
PURITY_RULE = "per patient: the primary-tumour (type 01) sample with the lowest sample barcode"


def read_centers(path: str | Path) -> pl.DataFrame:
    """tss_code (2 characters, zero-padded), source_site, country, state, region."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, index_col=0)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a header 'TSS Code,Source Site,Country,State,Region'") from None
    needed = ["TSS Code", "Source Site", "Country", "State", "Region"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"columns {needed}")
    if frame.empty:
        raise InputFormatError(path, "header only, no rows", expected="one row per TSS code")
    codes = []
    for i, code in enumerate(frame["TSS Code"], start=2):
        try:
            codes.append(tss_code(code))
        except ValueError as exc:
            raise InputFormatError(path, str(exc), row=i, column="TSS Code", expected="a TSS code") from None
    table = pl.DataFrame({
        "tss_code": codes,
        "source_site": frame["Source Site"].str.strip().tolist(),
        "country": frame["Country"].tolist(),
        "state": frame["State"].tolist(),
        "region": frame["Region"].tolist(),
    })
    dup = table.filter(pl.col("tss_code").is_duplicated())
    if dup.height:
        raise InputFormatError(path, f"TSS code {dup['tss_code'][0]!r} appears twice", column="TSS Code",
                               expected="one row per code")
    return table


def read_purity(path: str | Path) -> pl.DataFrame:
    """One row per TCGA sample: sample_id, patient_id, sample_type_code, cancer_type, estimate, absolute, lump, ihc, cpe."""
    path = Path(path)
    with warnings.catch_warnings():
        # openpyxl warns about an unsupported Excel extension in this file; the cells read fine
        warnings.filterwarnings("ignore", message="Unknown extension", category=UserWarning)
        frame = pd.read_excel(path, header=3)
    needed = ["Sample ID", "Cancer type", *PURITY_COLUMNS]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing} in the header row (row 4)", expected=f"columns {needed}")
    frame = frame[frame["Sample ID"].notna()]
    barcodes = [parse_barcode(s) for s in frame["Sample ID"]]
    out = {
        "sample_id": [str(s).strip() for s in frame["Sample ID"]],
        "patient_id": [b.patient_id for b in barcodes],
        "sample_type_code": [b.sample for b in barcodes],
        "cancer_type": frame["Cancer type"].astype(str).tolist(),
    }
    for raw, name in PURITY_COLUMNS.items():  # data start on row 5, below 3 title rows and the header
        out[name] = numeric_column(frame, raw, path=path, first_row=5, expected="a fraction in [0, 1]")
    return pl.DataFrame(out)


def patient_purity(purity: pl.DataFrame) -> pl.DataFrame:
    """patient_id, purity_cpe (consensus purity estimate) by :data:`PURITY_RULE`."""
    return (
        purity.filter(pl.col("sample_type_code") == "01")
        .sort("sample_id")
        .unique("patient_id", keep="first", maintain_order=True)
        .select("patient_id", pl.col("cpe").alias("purity_cpe"))
    )
