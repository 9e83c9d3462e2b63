"""Subtype-GAN's TCGA tables: clinical/TNM for 10 cohorts, BRCA PAM50 labels, per-cohort miRNA matrices.

``results/<C>.clinic`` holds overall survival and TNM per patient; ``results/BRCA.merge`` holds the BRCA
PAM50 labels; ``fea/<C>/miRNA.fea`` is a features x patients CSV (383 miRBase names x patient barcodes)
standardised per SAMPLE (each patient's 383 values have mean 0 and population sd 1), so no cohort
statistic enters the values and levels compare across cohorts. Traps: GBM's miRNA file is all zeros
(refused, never ingested); BRCA's miRNA file is not in the snapshot; clinical cells use TCGA missing
markers (``[Not Available]``, ``[Completed]`` ...); 5 patients have a negative ``days`` (recorded as null).

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
PAM50_LABELS = ("LumA", "LumB", "Basal", "Her2", "Normal")
CITATION = "Yang H et al., Bioinformatics 37(16):2231-2237, 2021 (Subtype-GAN)"
LICENCE = "no licence file in the repository; TCGA open-access derived data"
CLINIC_COLUMNS = ("bcr_patient_barcode", "status", "days", "gender", "age_at_initial_pathologic_diagnosis",
                  "pathologic_M", "pathologic_N", "pathologic_T", "pathologic_stage")
MIRNA_TRANSFORM = (
    "standardised per sample by Subtype-GAN: each patient's 383-miRNA profile has mean 0 and population sd 1 "
    "(the expression unit before standardisation is not documented upstream); stored as given"
)
MIRNA_NOTES = (
    "per-sample standardisation uses no cohort statistic, so levels compare across cohorts; it does not "
    "remove platform/batch effects between cohorts"
)


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """A CSV with a header and at least one data row, or :class:`InputFormatError`."""
    try:
        frame = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a CSV with a header row and data rows") from None
    if frame.empty:
        raise InputFormatError(path, "header only, no data rows", expected="at least one data row")
    return frame


def _patient_ids(path: Path, raw: list[str], *, column: str | None) -> list[str]:
    """TCGA patient keys of ``raw`` barcodes, read down ``column`` (rows from 2) or, with ``column=None``,
    across the header (row 1, file columns from 2); a bad barcode names its row and column."""
    ids = []
    for i, value in enumerate(raw):
        try:
            ids.append(harmonize_barcode(value))
        except ValueError:
            raise InputFormatError(path, "not a TCGA barcode", row=1 if column is None else i + 2,
                                   column=f"#{i + 2}" if column is None else column,
                                   expected="a barcode such as TCGA-A1-A0SB", found=repr(value)) from None
    return ids


def _refuse_duplicate_ids(path: Path, ids: list[str], *, column: str) -> None:
    seen: dict[str, int] = {}
    for i, pid in enumerate(ids):
        if pid in seen:
            raise InputFormatError(path, f"patient {pid!r} appears twice (rows {seen[pid]} and {i + 2})",
                                   column=column, expected="one row per patient")
        seen[pid] = i + 2


def read_clinic(path: str | Path) -> pl.DataFrame:
    """Read ``results/<C>.clinic`` (one row per patient).

    Returns
    -------
    polars.DataFrame
        ``patient_id, cohort`` (``C`` upper-cased from the file name), ``os_event`` (Int8, 1 = dead),
        ``os_days`` (Float64; ``'3981.0'`` reads as 3981; missing markers and negative values -> null),
        ``sex`` (FEMALE/MALE), ``age`` (years), ``pathologic_m, pathologic_n, pathologic_t, pathologic_stage``
        (text as given; TCGA missing markers -> null). Sorted by ``patient_id``.

    References
    ----------
    Yang H et al., Bioinformatics 37(16):2231-2237, 2021.
    """
    path = Path(path)
    frame = _read_csv(path, dtype=str, keep_default_na=False, na_values=list(MISSING_MARKERS))
    missing = [c for c in CLINIC_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"columns {list(CLINIC_COLUMNS)}")
    ids = _patient_ids(path, [str(v).strip() for v in frame["bcr_patient_barcode"]], column="bcr_patient_barcode")
    _refuse_duplicate_ids(path, ids, column="bcr_patient_barcode")
    status = numeric_column(frame, "status", path=path, expected="0 (alive) or 1 (dead)")
    bad = next((i for i, s in enumerate(status) if s not in (0.0, 1.0)), None)
    if bad is not None:
        raise InputFormatError(path, "invalid vital status", row=bad + 2, column="status",
                               expected="0 (alive) or 1 (dead)", found=repr(frame["status"].iloc[bad]))
    days = numeric_column(frame, "days", path=path, expected="days (a number) or a TCGA missing marker")
    negative = [i for i, d in enumerate(days) if d is not None and d < 0]
    if negative:
        # TCGA data-entry errors (death/last contact before diagnosis): not a usable follow-up time
        log.warning("%s: %d negative 'days' values (rows %s) recorded as null", path, len(negative),
                    ", ".join(str(i + 2) for i in negative))
        dropped = set(negative)
        days = [None if i in dropped else d for i, d in enumerate(days)]
    sex = [None if pd.isna(v) else str(v).strip().upper() for v in frame["gender"]]
    bad = next((i for i, s in enumerate(sex) if s not in (None, "FEMALE", "MALE")), None)
    if bad is not None:
        raise InputFormatError(path, "unknown sex", row=bad + 2, column="gender", expected="FEMALE or MALE",
                               found=repr(frame["gender"].iloc[bad]))

    def text(column: str) -> list[str | None]:
        return [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in frame[column]]

    table = pl.DataFrame({
        "patient_id": ids,
        "cohort": [path.stem.upper()] * len(ids),
        "os_event": [int(s) for s in status],
        "os_days": days,
        "sex": sex,
        "age": numeric_column(frame, "age_at_initial_pathologic_diagnosis", path=path, expected="age in years"),
        "pathologic_m": text("pathologic_M"),
        "pathologic_n": text("pathologic_N"),
        "pathologic_t": text("pathologic_T"),
        "pathologic_stage": text("pathologic_stage"),
    }, schema_overrides={"os_event": pl.Int8, "os_days": pl.Float64, "age": pl.Float64, "sex": pl.String,
                         "pathologic_m": pl.String, "pathologic_n": pl.String, "pathologic_t": pl.String,
                         "pathologic_stage": pl.String})
    return table.sort("patient_id")


def read_all_clinic(folder: str | Path) -> pl.DataFrame:
    """The 10 ``results/<C>.clinic`` tables in one (columns of :func:`read_clinic`); a patient in two cohorts is an error."""
    folder = Path(folder)
    tables = [read_clinic(folder / "results" / f"{c}.clinic") for c in COHORTS]
    table = pl.concat(tables)
    dup = table.filter(pl.col("patient_id").is_duplicated())
    if dup.height:
        pid = dup["patient_id"][0]
        cohorts = sorted(dup.filter(pl.col("patient_id") == pid)["cohort"].to_list())
        raise InputFormatError(folder / "results", f"patient {pid!r} appears in cohorts {cohorts}",
                               expected="each patient in one cohort's .clinic file")
    return table.sort("cohort", "patient_id")


def read_pam50(path: str | Path) -> pl.DataFrame:
    """``results/BRCA.merge``: ``patient_id, pam50`` (LumA, LumB, Basal, Her2, Normal), sorted by patient.

    The file's first (unnamed) column is the patient barcode; ``x, y, SubtypeGAN, status, days`` are ignored.

    References
    ----------
    Yang H et al., Bioinformatics 37(16):2231-2237, 2021.
    """
    path = Path(path)
    frame = _read_csv(path, dtype=str, keep_default_na=False)
    if "subtype" not in frame.columns:
        raise InputFormatError(path, "no 'subtype' column", expected="a header ',x,y,SubtypeGAN,subtype,status,days'")
    first = "(first column)" if str(frame.columns[0]).startswith("Unnamed") else str(frame.columns[0])
    ids = _patient_ids(path, [str(v).strip() for v in frame.iloc[:, 0]], column=first)
    _refuse_duplicate_ids(path, ids, column=first)
    labels = [str(v).strip() for v in frame["subtype"]]
    bad = next((i for i, s in enumerate(labels) if s not in PAM50_LABELS), None)
    if bad is not None:
        raise InputFormatError(path, "unknown PAM50 label", row=bad + 2, column="subtype",
                               expected=", ".join(PAM50_LABELS), found=repr(frame["subtype"].iloc[bad]))
    return pl.DataFrame({"patient_id": ids, "pam50": labels}).sort("patient_id")


def read_mirna(path: str | Path, cohort: str, root: str | Path | None = None) -> FeatureBlock:
    """Read ``fea/<C>/miRNA.fea`` (miRNAs x patients) as a patients x miRNAs ``'mirna'`` block.

    Patients whose whole profile is constant are dropped with a warning (a per-sample standardised
    profile cannot be constant); a block with no information at all (GBM: every cell 0) raises
    :class:`DegenerateBlockError`. ``root`` makes the recorded file name relative to it.

    References
    ----------
    Yang H et al., Bioinformatics 37(16):2231-2237, 2021.
    """
    path = Path(path)
    frame = _read_csv(path, index_col=0)
    features = [clean_feature_name(f) for f in frame.index]
    if len(set(features)) != len(features):
        dup = next(f for f in features if features.count(f) > 1)
        raise InputFormatError(path, f"miRNA {dup!r} appears twice", column="(first column)", expected="one row per miRNA")
    barcodes = [str(c).strip() for c in frame.columns]
    ids = _patient_ids(path, barcodes, column=None)
    values = to_float32(frame.to_numpy(), path=path, row_labels=[f"{i + 2} ({f})" for i, f in enumerate(features)],
                        column_labels=barcodes).T  # file is features x patients
    refuse_degenerate(values, path=path, what=f"{cohort} miRNA block")
    flat = np.array([np.nanmin(r) == np.nanmax(r) if np.isfinite(r).any() else True for r in values])
    refused_patients = [p for p, f in zip(ids, flat) if f]
    if refused_patients:
        log.warning("%s: %d patients with a constant miRNA profile dropped: %s", path, len(refused_patients),
                    ", ".join(refused_patients))
        keep = ~flat
        ids, values = [p for p, k in zip(ids, keep) if k], values[keep]
    ids, rows, _ = collapse_duplicate_rows(ids, values, path=path)
    order = np.argsort(np.array(ids))
    file = SourceFile.of(path, root) if root is not None else SourceFile.of(path)
    return FeatureBlock(
        "mirna", tuple(ids[i] for i in order), tuple(features), np.ascontiguousarray(rows[order], dtype=np.float32),
        Provenance(source=SOURCE, files=(file,), transform=MIRNA_TRANSFORM, licence=LICENCE, citation=CITATION,
                   comparable_across_cohorts=True, notes=MIRNA_NOTES,
                   extra={"cohorts": [cohort], "refused_patients": refused_patients}),
    )


def read_all_mirna(folder: str | Path) -> FeatureBlock:
    """Every available cohort's miRNA in one ``'mirna'`` block (patients sorted, 383 miRNAs in file order).

    Cohorts without a file (BRCA, absent from the snapshot) or with a degenerate block (GBM: all zeros,
    refused with a WARNING naming the file) are not ingested; ``provenance.extra['refused_cohorts']``
    maps each to the reason. The miRNA names must be identical, in the same order, in every cohort.

    References
    ----------
    Yang H et al., Bioinformatics 37(16):2231-2237, 2021.
    """
    folder = Path(folder)
    blocks: list[FeatureBlock] = []
    refused: dict[str, str] = {}
    for cohort in COHORTS:
        path = folder / "fea" / cohort / "miRNA.fea"
        if not path.is_file():
            refused[cohort] = f"{path.relative_to(folder.parent)} is not in the source snapshot"
            log.info("%s: no miRNA file for %s", SOURCE, cohort)
            continue
        try:
            block = read_mirna(path, cohort, root=folder.parent)
        except DegenerateBlockError as exc:
            log.warning("%s: %s miRNA refused: %s", SOURCE, cohort, exc)
            # the reason names the file relative to the raw folder: provenance stays machine-independent
            refused[cohort] = str(exc).replace(str(path), str(path.relative_to(folder.parent)))
            continue
        blocks.append(block)
    if not blocks:
        raise InputFormatError(folder / "fea", "no usable miRNA file", expected="fea/<C>/miRNA.fea for at least one cohort",
                               found="; ".join(f"{c}: {r}" for c, r in refused.items()))
    features = blocks[0].features
    first = blocks[0].provenance.files[0].name
    for block in blocks[1:]:
        if block.features != features:
            j = next((j for j, (a, b) in enumerate(zip(features, block.features)) if a != b), min(len(features), len(block.features)))
            raise InputFormatError(block.provenance.files[0].name, "miRNA names differ between cohorts", row=j + 2,
                                   expected=f"the {len(features)} names of {first} in the same order",
                                   found=f"{len(block.features)} names, row {j + 2} differs")
    patients = [p for b in blocks for p in b.patients]
    values = np.concatenate([b.values for b in blocks])
    owner: dict[str, str] = {}
    for block in blocks:
        cohort = block.provenance.extra["cohorts"][0]
        for pid in block.patients:
            if pid in owner:
                raise InputFormatError(folder / "fea", f"patient {pid!r} has miRNA in cohorts {owner[pid]} and {cohort}",
                                       expected="each patient in one cohort")
            owner[pid] = cohort
    order = np.argsort(np.array(patients))
    return FeatureBlock("mirna", tuple(patients[i] for i in order), features,
                        np.ascontiguousarray(values[order], dtype=np.float32), Provenance(
        source=SOURCE, files=tuple(f for b in blocks for f in b.provenance.files), transform=MIRNA_TRANSFORM,
        licence=LICENCE, citation=CITATION, comparable_across_cohorts=True, notes=MIRNA_NOTES,
        extra={"cohorts": [b.provenance.extra["cohorts"][0] for b in blocks], "refused_cohorts": refused,
               "refused_patients": [p for b in blocks for p in b.provenance.extra["refused_patients"]]},
    ))
