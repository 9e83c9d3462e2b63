"""Digi-WSI: deep-learning stromal TIL and tumour-associated-stroma scores of TCGA triple-negative breast cancers.

References
----------
Albusayli R et al. Artificial intelligence-based digital scores of stromal tumour-infiltrating
lymphocytes and tumour-associated stroma predict disease-specific survival in triple-negative breast
cancer. J Pathol Clin Res, 2023.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, frame_block
from oncobench.datasets.provenance import Provenance, SourceFile

SOURCE = "digi-wsi"
COLUMNS = {"Digi-sTILs Score": "sTILs", "Digi-TAS Score": "TAS"}


def read_digi(path: str | Path) -> FeatureBlock:
    """``TCGA-cohort.csv`` (UTF-8 with BOM) as a ``pathology`` block: ``digi:sTILs``, ``digi:TAS``."""
    path = Path(path).absolute()  # SourceFile.of uses parents[1]: a bare "x.csv" has only one parent
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="columns Number, TCGA Cases IDs, Digi-sTILs Score, Digi-TAS Score") from None
    # check before renaming, so the error names the column as the file spells it
    missing = [c for c in ("TCGA Cases IDs", *COLUMNS) if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected="columns TCGA Cases IDs, Digi-sTILs Score, Digi-TAS Score")
    frame = frame.rename(columns=COLUMNS)
    provenance = Provenance(
        source=SOURCE, files=(SourceFile.of(path, path.parents[1]),),
        transform="slide-level scores as published (sTILs: fraction of stroma with TILs; TAS: tumour-associated stroma score)",
        licence="BSD-3-Clause", citation="Albusayli R et al., J Pathol Clin Res, 2023", comparable_across_cohorts=True,
        notes="TCGA-BRCA triple-negative subset only",
    )
    return frame_block(frame, path=path, id_column="TCGA Cases IDs", feature_columns=list(COLUMNS.values()),
                       modality="pathology", provenance=provenance, prefix="digi:", allow_nan=False)
