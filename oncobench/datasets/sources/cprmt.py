"""cpRMT's small TCGA-BRCA multi-omics tables (RPPA protein, miRNA, CNV, mRNA) and PAM50 labels.

Tables are tab-separated, features x samples, with sample barcodes such as ``TCGA.C8.A12P.01``
(dots) or quoted ``"TCGA-A1-A0SH-01"``. Only tumour samples (codes 01-09) are kept; a patient with
several tumour samples keeps the lowest sample barcode.

The store's protein block is ``tkde/tkde_protein_subset.txt`` (363 patients x 131 antibodies). The
``pkdd2014`` protein table (94 samples, 93 of them also in tkde) is on another scale (its shared
antibodies correlate 0.44 with tkde's values) under other antibody names, so the two are not mixed.

References
----------
TCGA Network. Comprehensive molecular portraits of human breast tumours. Nature 490:61-70, 2012.
Le Van T et al. Ranked tiling (cpRMT), ECML PKDD 2014. https://github.com/rankmatrixfactorisation/cpRMT
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from oncobench.datasets.barcode import parse_barcode
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, clean_feature_name, collapse_duplicate_rows, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE = "cprmt"
CITATION = "TCGA Network, Nature 490:61-70, 2012; subset from cpRMT (Le Van T et al., ECML PKDD 2014)"
LICENCE = "no licence file in the repository; TCGA open-access derived data"
SAMPLE_RULE = "tumour samples (01-09) only; several per patient -> the lowest sample barcode"
TRANSFORMS = {
    "protein": "RPPA antibody levels as distributed by cpRMT (TCGA level-3 normalised, centred per antibody); stored as given",
    "mirna": "miRNA expression as distributed by cpRMT (MIMAT accessions); stored as given",
    "cnv": "GISTIC peak-region copy number as distributed by cpRMT; stored as given",
    "rna": "mRNA expression as distributed by cpRMT; stored as given",
}


def _tumour_patients(path: Path, samples: list[str]) -> tuple[list[str], list[int]]:
    """Patient IDs of tumour samples and their column positions, by :data:`SAMPLE_RULE`."""
    chosen: dict[str, tuple[str, int]] = {}
    for j, raw in enumerate(samples):
        try:
            barcode = parse_barcode(raw)
        except ValueError as exc:
            raise InputFormatError(path, str(exc), row=1, column=raw, expected="a TCGA sample barcode") from None
        if barcode.is_tumor is False:
            continue
        key = str(raw)
        if barcode.patient_id not in chosen or key < chosen[barcode.patient_id][0]:
            chosen[barcode.patient_id] = (key, j)
    patients = sorted(chosen)
    return patients, [chosen[p][1] for p in patients]


def read_cprmt_matrix(path: str | Path, modality: str, root: Path | None = None) -> FeatureBlock:
    """A features x samples table as a patients x features block of ``modality``."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, sep="\t", index_col=0, quotechar='"')
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a tab-separated features x samples table") from None
    if frame.empty:
        raise InputFormatError(path, "header only, no feature rows", expected="one row per feature")
    frame.index = [clean_feature_name(f) for f in frame.index]
    frame.columns = [clean_feature_name(c) for c in frame.columns]
    patients, columns = _tumour_patients(path, list(frame.columns))
    values = to_float32(frame.iloc[:, columns].to_numpy().T, path=path,
                        row_labels=[frame.columns[j] for j in columns], column_labels=list(frame.index))
    ids, rows, _ = collapse_duplicate_rows(list(frame.index), values.T.copy(), path=path)  # duplicate features
    if len(ids) != len(frame.index):
        log.info("%s: %d identical duplicate feature rows collapsed", path.name, len(frame.index) - len(ids))
    return FeatureBlock(
        modality, tuple(patients), tuple(ids), np.ascontiguousarray(rows.T),
        Provenance(source=SOURCE, files=(SourceFile.of(path, root) if root else SourceFile.of(path),),
                   transform=TRANSFORMS[modality], licence=LICENCE, citation=CITATION,
                   comparable_across_cohorts=True, notes="one cohort (TCGA-BRCA)", extra={"sample_rule": SAMPLE_RULE}),
    )


def read_protein(folder: str | Path) -> FeatureBlock:
    """The BRCA RPPA protein block of the store: tkde's 363 patients x 131 antibodies (see module notes)."""
    folder = Path(folder)
    return read_cprmt_matrix(folder / "data" / "brca" / "tkde" / "tkde_protein_subset.txt", "protein", root=folder.parent)


def read_pam50(folder: str | Path) -> pl.DataFrame:
    """``tkde_pam50_subset.txt``: patient_id, pam50 for 363 tumour samples."""
    path = Path(folder) / "data" / "brca" / "tkde" / "tkde_pam50_subset.txt"
    try:
        frame = pd.read_csv(path, sep="\t", index_col=0, dtype=str)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="columns Type, PAM50, color") from None
    if "PAM50" not in frame.columns:
        raise InputFormatError(path, "no 'PAM50' column", expected="columns Type, PAM50, color")
    patients, rows = _tumour_patients(path, list(frame.index))
    return pl.DataFrame({"patient_id": patients, "pam50": [frame["PAM50"].iloc[i].strip() for i in rows]})
