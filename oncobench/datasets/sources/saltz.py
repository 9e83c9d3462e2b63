"""Saltz 2018 TIL maps: image-derived tumour-infiltrating-lymphocyte features for 13 TCGA cancers.

Only the image-derived columns become ``pathology`` features (prefix ``til:``). The table also carries
columns copied from Thorsson 2018 (Leukocyte Fraction from methylation, Immune Subtype, OS, CIBERSORT
fractions): those are not imaging and are left out. Slides flagged ``TIL_on_ink_artifact = Y`` are
excluded. ``Global_Pattern`` (a pathologist's reading of the TIL map) becomes 0/1 indicator columns.

References
----------
Saltz J et al. Spatial organization and molecular correlation of tumor-infiltrating lymphocytes using
deep learning on pathology images. Cell Reports 23(1):181-193.e7, 2018.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import polars as pl

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, frame_block
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE = "saltz2018-tilmaps"
ID_COLUMN = "ParticipantBarcode"
IMAGE_COLUMNS = (
    "Number of TIL Patches", "til_percentage", "number_of_clusters", "NP_mean", "NP_sd", "WCD_mean", "WCD_sd",
    "CE_mean", "CE_sd", "Ball_Hall", "Banfeld_Raftery", "C_index", "Det_Ratio", "Ball_Hall_Adjusted",
    "Banfeld_Raftery_Adjusted", "C_index_Adjusted", "Det_Ratio_Adjusted",
)
NOT_IMAGING = ("Study", "Leukocyte Fraction", "Immune Subtype", "OS", "OS_time", "Lymphocytes", "Neutrophils",
               "Eosinophils", "Mast Cells", "Dendritic Cells", "Macrophages")
PATTERNS = ("Brisk Diffuse", "Brisk Band-like", "Non-Brisk Multifocal", "Non-Brisk Focal", "Indeterminate")


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, sheet_name="TILMap_TableS1.txt") if path.suffix == ".xlsx" else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected=f"a header with {ID_COLUMN} and the TIL-map columns") from None
    return frame


def read_saltz(path: str | Path) -> FeatureBlock:
    """The TIL-map features (``DERIVED_TILMap_TableS1.csv`` or the original xlsx) as a ``pathology`` block."""
    path = Path(path).absolute()  # SourceFile.of uses parents[1]: a bare "x.csv" has only one parent
    frame = _read(path)
    missing = [c for c in (ID_COLUMN, *IMAGE_COLUMNS, "Global_Pattern", "TIL_on_ink_artifact") if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected="the columns of Saltz 2018 Table S1")
    artifact = frame["TIL_on_ink_artifact"].astype(str).str.strip().str.upper() == "Y"
    excluded = sorted(frame.loc[artifact, ID_COLUMN].astype(str))
    frame = frame.loc[~artifact].copy()
    unknown = sorted(set(frame["Global_Pattern"].dropna()) - set(PATTERNS))
    if unknown:
        row = int((frame["Global_Pattern"] == unknown[0]).to_numpy().nonzero()[0][0])
        raise InputFormatError(path, f"unknown TIL pattern {unknown[0]!r}", row=row + 2, column="Global_Pattern",
                               expected=f"one of {list(PATTERNS)} or empty")
    pattern_columns = []
    for pattern in PATTERNS:
        column = f"Global_Pattern={pattern}"
        frame[column] = (frame["Global_Pattern"] == pattern).astype(float).where(frame["Global_Pattern"].notna())
        pattern_columns.append(column)
    provenance = Provenance(
        source=SOURCE, files=(SourceFile.of(path, path.parents[1]),),
        transform="TIL-map statistics and cluster indices as published; Global_Pattern one-hot (NaN where not scored)",
        licence="open-access article (Cell Press); repository without licence file",
        citation="Saltz J et al., Cell Reports 23(1):181-193, 2018", comparable_across_cohorts=True,
        notes="one CNN and one clustering pipeline applied to all 13 cancers, so values compare across cohorts; "
              "Thorsson 2018 columns (not imaging) excluded",
        extra={"excluded_ink_artifact_patients": excluded, "excluded_columns": list(NOT_IMAGING)},
    )
    return frame_block(frame, path=path, id_column=ID_COLUMN, feature_columns=[*IMAGE_COLUMNS, *pattern_columns],
                       modality="pathology", provenance=provenance, prefix="til:")


def read_saltz_cohorts(path: str | Path) -> pl.DataFrame:
    """patient_id, til_cohort (the ``Study`` column) for coverage reports."""
    from oncobench.datasets.barcode import harmonize_barcode

    path = Path(path)
    frame = _read(path)
    missing = [c for c in (ID_COLUMN, "Study") if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"columns {ID_COLUMN!r} and 'Study'")
    return pl.DataFrame({"patient_id": [harmonize_barcode(p) for p in frame[ID_COLUMN]], "til_cohort": frame["Study"].astype(str).tolist()})
