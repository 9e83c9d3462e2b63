"""Subtype-GAN's TCGA tables: clinical/TNM for 10 cohorts, BRCA PAM50 labels, per-cohort miRNA matrices.

``fea/<C>/miRNA.fea`` is features x patients (383 miRBase names x barcodes), standardised per sample
(each patient's column has mean ~0), so levels compare across cohorts. GBM's file is all zeros and is
refused. BRCA's miRNA file is not in the snapshot.

References
----------
Yang H et al. Subtype-GAN: a deep learning approach for integrative cancer subtyping of multi-omics
data. Bioinformatics 37(16):2231-2237, 2021. https://github.com/haiyang1986/Subtype-GAN
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from oncobench.datasets.barcode import harmonize_barcode
from oncobench.datasets.errors import DegenerateBlockError, InputFormatError
from oncobench.datasets.harmonize import (
    MISSING_MARKERS, FeatureBlock, clean_feature_name, collapse_duplicate_rows, numeric_column, refuse_degenerate, to_float32,
)
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE = "subtypegan"
COHORTS = ("BLCA", "BRCA", "GBM", "KIRC", "LUAD", "PAAD", "SKCM", "STAD", "UCEC", "UVM")
CITATION = "Yang H et al., Bioinformatics 37(16):2231-2237, 2021 (Subtype-GAN)"
LICENCE = "no licence file in the repository; TCGA open-access derived data"
CLINIC_COLUMNS = ("bcr_patient_barcode", "status", "days", "gender", "age_at_initial_pathologic_diagnosis",
                  "pathologic_M", "pathologic_N", "pathologic_T", "pathologic_stage")


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a CSV with a header row") from None
    if frame.empty:
        raise InputFormatError(path, "header only, no rows", expected="at least one data row")
    return frame


def read_clinic(path: str | Path) -> pl.DataFrame:
    """``results/<C>.clinic``: patient_id, cohort, os_event (1 = dead), os_days, sex, age, pathologic M/N/T/stage."""
    path = Path(path)
    frame = _read_csv(path, dtype=str, keep_default_na=True, na_values=list(MISSING_MARKERS))
    missing = [c for c in CLINIC_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"columns {list(CLINIC_COLUMNS)}")
    numbers = {c: numeric_column(frame, c, path=path) for c in ("status", "days", "age_at_initial_pathologic_diagnosis")}

    def text(column: str) -> list[str | None]:
        return [None if pd.isna(v) else str(v).strip() for v in frame[column]]

    table = pl.DataFrame({
        "patient_id": [harmonize_barcode(b) for b in frame["bcr_patient_barcode"]],
        "cohort": [path.stem.upper()] * len(frame),
        "os_event": numbers["status"],
        "os_days": numbers["days"],
        "sex": text("gender"),
        "age": numbers["age_at_initial_pathologic_diagnosis"],
        "pathologic_m": text("pathologic_M"),
        "pathologic_n": text("pathologic_N"),
        "pathologic_t": text("pathologic_T"),
        "pathologic_stage": text("pathologic_stage"),
    }).with_columns(pl.col("os_event").cast(pl.Int8))
    dup = table.filter(pl.col("patient_id").is_duplicated())
    if dup.height:
        raise InputFormatError(path, f"duplicate patient {dup['patient_id'][0]!r}", expected="one row per patient")
    return table


def read_all_clinic(folder: str | Path) -> pl.DataFrame:
    """The 10 ``.clinic`` files concatenated (a patient in two cohorts is an error)."""
    folder = Path(folder)
    table = pl.concat([read_clinic(folder / "results" / f"{c}.clinic") for c in COHORTS])
    dup = table.filter(pl.col("patient_id").is_duplicated())
    if dup.height:
        raise InputFormatError(folder, f"patient {dup['patient_id'][0]!r} appears in two cohorts", expected="disjoint cohorts")
    return table


def read_pam50(path: str | Path) -> pl.DataFrame:
    """``results/BRCA.merge``: patient_id, pam50 (LumA, LumB, Basal, Her2, Normal)."""
    path = Path(path)
    frame = _read_csv(path, dtype=str)
    if "subtype" not in frame.columns:
        raise InputFormatError(path, "no 'subtype' column", expected="columns ,x,y,SubtypeGAN,subtype,status,days")
    ids = frame.iloc[:, 0]
    table = pl.DataFrame({"patient_id": [harmonize_barcode(b) for b in ids], "pam50": frame["subtype"].str.strip().tolist()})
    unknown = set(table["pam50"].drop_nulls()) - {"LumA", "LumB", "Basal", "Her2", "Normal"}
    if unknown:
        raise InputFormatError(path, f"unknown PAM50 labels {sorted(unknown)}", column="subtype",
                               expected="LumA, LumB, Basal, Her2 or Normal")
    return table


def read_mirna(path: str | Path, cohort: str, root: Path | None = None) -> FeatureBlock:
    """``fea/<C>/miRNA.fea`` (miRNAs x patients) as a patients x miRNAs block; an all-zero block is refused."""
    path = Path(path)
    frame = _read_csv(path, index_col=0)
    features = [clean_feature_name(f) for f in frame.index]
    patients = [harmonize_barcode(c) for c in frame.columns]
    values = to_float32(frame.to_numpy().T, path=path, row_labels=list(frame.columns), column_labels=features)
    refuse_degenerate(values, path=path, what=f"{cohort} miRNA block")
    ids, rows, _ = collapse_duplicate_rows(patients, values, path=path)
    return FeatureBlock(
        "mirna", tuple(ids), tuple(features), rows,
        Provenance(source=SOURCE, files=(SourceFile.of(path, root) if root else SourceFile.of(path),),
                   transform="standardised per sample by Subtype-GAN (each patient's miRNA profile has mean ~0); stored as given",
                   licence=LICENCE, citation=CITATION, comparable_across_cohorts=True,
                   notes="per-sample standardisation: levels compare across cohorts"),
    )


def read_all_mirna(folder: str | Path) -> FeatureBlock:
    """Every available cohort's miRNA in one block; degenerate cohorts (GBM: all zeros) refused with a warning."""
    folder = Path(folder)
    blocks, refused, files = [], {}, []
    for cohort in COHORTS:
        path = folder / "fea" / cohort / "miRNA.fea"
        if not path.is_file():
            refused[cohort] = "file not in the source snapshot"
            continue
        try:
            block = read_mirna(path, cohort, root=folder.parent)
        except DegenerateBlockError as exc:
            log.warning("%s", exc)
            refused[cohort] = str(exc)
            continue
        blocks.append(block)
        files.extend(block.provenance.files)
    features = blocks[0].features
    for block in blocks[1:]:
        if block.features != features:
            raise InputFormatError(block.provenance.files[0].name, "miRNA names differ between cohorts",
                                   expected=f"the {len(features)} names of {blocks[0].provenance.files[0].name}")
    patients = [p for b in blocks for p in b.patients]
    values = np.concatenate([b.values for b in blocks])
    ids, rows, _ = collapse_duplicate_rows(patients, values, path=folder)
    first = blocks[0].provenance
    return FeatureBlock("mirna", tuple(ids), features, rows, Provenance(
        source=SOURCE, files=tuple(files), transform=first.transform, licence=LICENCE, citation=CITATION,
        comparable_across_cohorts=True, notes=first.notes, extra={"refused_cohorts": refused},
    ))
