"""Kather 2019: CNN tissue-class scores of TCGA colorectal slides (9 classes, prefix ``kather:``).

Only the nine class scores are image-derived; the sheet's clinical and molecular columns are left out.
The scores are per-class relative abundances (only 179 of 500 rows sum to 1), stored as given.

References
----------
Kather JN et al. Predicting survival from colorectal cancer histology slides using deep learning:
a retrospective multicenter study. PLoS Medicine 16(1):e1002730, 2019.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, frame_block
from oncobench.datasets.provenance import Provenance, SourceFile

SOURCE = "kather2019"
CLASSES = ("ADI", "BACK", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM")


def read_kather(path: str | Path) -> FeatureBlock:
    """``TCGA_MEASUREMENTS.xlsx`` sheet ``Tabelle1`` as a ``pathology`` block of 9 tissue-class scores."""
    path = Path(path).absolute()  # SourceFile.of uses parents[1]: a bare "x.csv" has only one parent
    try:
        frame = pd.read_excel(path, sheet_name="Tabelle1")
    except ValueError as exc:
        raise InputFormatError(path, f"cannot read sheet 'Tabelle1' ({exc})", expected="the Kather 2019 workbook") from None
    provenance = Provenance(
        source=SOURCE, files=(SourceFile.of(path, path.parents[1]),),
        transform="VGG19 tissue-class scores aggregated per patient, as published",
        licence="MIT", citation="Kather JN et al., PLoS Medicine 16(1):e1002730, 2019", comparable_across_cohorts=True,
        notes="colorectal only (COAD+READ); clinical/molecular columns of the sheet excluded",
    )
    return frame_block(frame, path=path, id_column="ID", feature_columns=list(CLASSES), modality="pathology",
                       provenance=provenance, prefix="kather:")
