"""PORPOISE's TCGA tables: RNA z-scores, GISTIC CNV and mutations for 14 cohorts, with OS and published splits.

Each ``datasets_csv_mutsig/tcga_<cohort>_all_clean.csv.zip`` holds one CSV (its inner name also ends
in ``.csv.zip``) with one row per diagnostic slide. Feature columns end in ``_rnaseq`` (cBioPortal
RNA-seq z-scores computed within the cohort), ``_cnv`` (GISTIC -2..2) or ``_mut`` (0/1); gene lists
differ by cohort. ``censorship = 1`` means censored (alive): the mahmoodlab convention.

References
----------
Chen RJ et al. Pan-cancer integrative histology-genomic analysis via multimodal deep learning.
Cancer Cell 40(8):865-878, 2022. https://github.com/mahmoodlab/PORPOISE
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import polars as pl
from tqdm.auto import tqdm

from oncobench.datasets.barcode import harmonize_barcode, tss_code
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, collapse_duplicate_rows, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE = "porpoise"
COHORTS: tuple[str, ...] = (
    "blca", "brca", "coadread", "gbmlgg", "hnsc", "kirc", "kirp", "lihc", "luad", "lusc", "paad", "skcm", "stad", "ucec",
)
SUFFIXES = {"_rnaseq": "rna", "_cnv": "cnv", "_mut": "mutation"}
REQUIRED = ("case_id", "slide_id", "age", "site", "survival_months", "censorship", "is_female", "oncotree_code")
DUPLICATE_RULE = "one row per slide -> the row with the lexicographically smallest slide_id per case_id"
CITATION = "Chen RJ et al., Cancer Cell 40(8):865-878, 2022 (PORPOISE)"
LICENCE = "GPLv3 repository files; values from TCGA open-access data via cBioPortal"
TRANSFORMS = {
    "rna": "cBioPortal RNA-seq z-scores computed within each cohort (top-MAD genes per cohort); stored as given",
    "cnv": "GISTIC discrete copy number -2..2; stored as given",
    "mutation": "mutation status 0/1 for the cohort's gene list; stored as given",
}


def _read_csv_in_zip(path: Path) -> pd.DataFrame:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise InputFormatError(path, "unexpected archive content", expected="exactly one CSV member",
                                       found=f"{len(members)} members")
            with archive.open(members[0]) as handle:
                frame = pd.read_csv(handle, low_memory=False)
    except zipfile.BadZipFile as exc:
        raise InputFormatError(path, f"not a readable zip archive ({exc})", expected="a zip holding one CSV") from None
    except (EOFError, zipfile.LargeZipFile, OSError) as exc:
        raise InputFormatError(path, f"truncated or damaged zip archive ({exc})", expected="a complete zip") from None
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "the CSV inside is empty", expected="a header and one row per slide") from None
    if frame.empty:
        raise InputFormatError(path, "the CSV inside has a header but no rows", expected="one row per slide")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"columns {list(REQUIRED)}")
    return frame


def read_porpoise_cohort(zip_path: str | Path, cohort: str | None = None) -> tuple[pl.DataFrame, dict[str, FeatureBlock]]:
    """One cohort: a clinical table (one row per patient) and its rna / cnv / mutation blocks.

    Slides collapse to patients by :data:`DUPLICATE_RULE`; rows of one patient that disagree in a
    molecular value are counted in ``provenance.extra['conflicting_patients']``.
    """
    path = Path(zip_path)
    cohort = cohort or path.name.removeprefix("tcga_").split("_all_clean")[0]
    frame = _read_csv_in_zip(path)
    try:
        patients = [harmonize_barcode(c) for c in frame["case_id"].astype(str)]
    except ValueError as exc:
        bad = next(i for i, c in enumerate(frame["case_id"].astype(str)) if not c.upper().startswith("TCGA-"))
        raise InputFormatError(path, str(exc), row=bad + 2, column="case_id", expected="a TCGA patient barcode") from None
    slides = frame["slide_id"].astype(str).tolist()
    order = sorted(range(len(frame)), key=lambda i: (patients[i], slides[i]))
    first: dict[str, int] = {}
    for i in order:
        first.setdefault(patients[i], i)
    kept = sorted(first.values(), key=lambda i: patients[i])
    n_slides = pd.Series(patients).value_counts()

    sites = []
    mismatched = 0
    for i in kept:
        raw_site = frame["site"].iloc[i]
        try:
            code = tss_code(raw_site)
        except ValueError as exc:
            raise InputFormatError(path, str(exc), row=i + 2, column="site", expected="a TSS code") from None
        barcode_site = patients[i].split("-")[1]
        if code != barcode_site:
            mismatched += 1
            code = barcode_site  # the barcode is authoritative
        sites.append(code)
    if mismatched:
        log.warning("%s: %d patients' site column differs from the TSS in their barcode; barcode kept", path.name, mismatched)

    def column(name: str, cast) -> list:
        return [None if pd.isna(v) else cast(v) for v in frame[name].iloc[kept]]

    clinical = pl.DataFrame({
        "patient_id": [patients[i] for i in kept],
        "cohort": [cohort] * len(kept),
        "oncotree_code": column("oncotree_code", str),
        "age": column("age", float),
        "is_female": column("is_female", int),
        "tss_code": sites,
        "survival_months": column("survival_months", float),
        "censorship": column("censorship", int),
        "n_slides": [int(n_slides[patients[i]]) for i in kept],
        "slide_id": [slides[i] for i in kept],
    }, schema_overrides={"is_female": pl.Int8, "censorship": pl.Int8, "oncotree_code": pl.String})
    clinical = clinical.with_columns((1 - pl.col("censorship")).cast(pl.Int8).alias("event")).select(
        "patient_id", "cohort", "oncotree_code", "age", "is_female", "tss_code", "survival_months", "censorship",
        "event", "n_slides", "slide_id")
    bad_event = clinical.filter(~pl.col("censorship").is_in([0, 1]))
    if bad_event.height:
        raise InputFormatError(path, "censorship must be 0 or 1", column="censorship",
                               found=str(bad_event["censorship"][0]))

    blocks: dict[str, FeatureBlock] = {}
    source_file = SourceFile.of(path, path.parents[1].parent)
    for suffix, modality in SUFFIXES.items():
        columns = [c for c in frame.columns if c.endswith(suffix)]
        if not columns:
            continue
        raw = frame[columns]
        values = to_float32(raw.to_numpy(), path=path, row_labels=[f"{i + 2} ({patients[i]})" for i in range(len(frame))],
                            column_labels=columns)
        ids, rows, conflicts = collapse_duplicate_rows(patients, values, path=path, order_key=slides, on_conflict="first")
        order_ids = sorted(range(len(ids)), key=lambda k: ids[k])
        features = tuple(c[: -len(suffix)] for c in columns)
        blocks[modality] = FeatureBlock(
            modality, tuple(ids[k] for k in order_ids), features, np.ascontiguousarray(rows[order_ids]),
            Provenance(source=SOURCE, files=(source_file,), transform=TRANSFORMS[modality], licence=LICENCE,
                       citation=CITATION, comparable_across_cohorts=modality != "rna",
                       notes="gene lists differ by cohort; NaN = gene not in this cohort's list",
                       extra={"duplicate_rule": DUPLICATE_RULE, "conflicting_patients": {cohort: conflicts}}),
        )
    return clinical, blocks


def _merge(blocks: Sequence[FeatureBlock], modality: str, files: list[SourceFile], extra: dict) -> FeatureBlock:
    features: list[str] = sorted({f for b in blocks for f in b.features})
    column = {f: j for j, f in enumerate(features)}
    patients = [p for b in blocks for p in b.patients]
    values = np.full((len(patients), len(features)), np.nan, dtype=np.float32)
    row = 0
    for block in blocks:
        cols = np.array([column[f] for f in block.features], dtype=np.intp)
        values[row:row + len(block.patients)][:, cols] = block.values
        row += len(block.patients)
    order = np.argsort(np.array(patients))
    rna = modality == "rna"
    return FeatureBlock(
        modality, tuple(patients[i] for i in order), tuple(features), np.ascontiguousarray(values[order]),
        Provenance(source=SOURCE, files=tuple(files), transform=TRANSFORMS[modality], licence=LICENCE, citation=CITATION,
                   comparable_across_cohorts=not rna,
                   notes=("within-cohort z-scores: a value says where a patient sits in its own cohort, so values "
                          "must not be compared across cohorts; " if rna else "")
                   + "gene lists differ by cohort: NaN = the cohort did not measure that gene (a measured 0 stays 0)",
                   extra=extra),
    )


def read_porpoise(folder: str | Path, cohorts: Sequence[str] = COHORTS, progress: bool = False) -> tuple[pl.DataFrame, dict[str, FeatureBlock]]:
    """All cohorts: clinical table and one pan-cancer block per modality (union of genes, NaN = not measured).

    A cohort without a modality (UCEC has no RNA) contributes no rows to that block.
    """
    folder = Path(folder)
    tables, per_modality, files = [], {m: [] for m in SUFFIXES.values()}, []
    measured: dict[str, dict[str, int]] = {m: {} for m in SUFFIXES.values()}
    conflicts: dict[str, int] = {}
    for cohort in tqdm(cohorts, desc="PORPOISE cohorts", disable=not progress):
        path = folder / "datasets_csv_mutsig" / f"tcga_{cohort}_all_clean.csv.zip"
        clinical, blocks = read_porpoise_cohort(path, cohort)
        tables.append(clinical)
        files.append(SourceFile.of(path, folder.parent))
        for modality, block in blocks.items():
            per_modality[modality].append(block)
            measured[modality][cohort] = len(block.features)
            conflicts[cohort] = max(conflicts.get(cohort, 0), block.provenance.extra["conflicting_patients"][cohort])
    clinical = pl.concat(tables).sort("patient_id")
    dup = clinical.filter(pl.col("patient_id").is_duplicated())
    if dup.height:
        raise InputFormatError(folder, f"patient {dup['patient_id'][0]} appears in two cohorts", expected="disjoint cohorts")
    extra = {"duplicate_rule": DUPLICATE_RULE, "conflicting_patients": conflicts}
    blocks = {m: _merge(bs, m, files, {**extra, "features_measured_per_cohort": measured[m]})
              for m, bs in per_modality.items() if bs}
    return clinical, blocks


def read_porpoise_splits(folder: str | Path, cohorts: Sequence[str] = COHORTS) -> pl.DataFrame:
    """PORPOISE's published 5-fold CV: rows (patient_id, cohort, repeat=0, fold, role) with role train/test.

    The paper evaluates on the ``val`` column, so it becomes ``test``; there is no separate validation set.
    """
    folder = Path(folder)
    frames = []
    for cohort in cohorts:
        for fold in range(5):
            path = folder / "splits" / "5foldcv" / f"tcga_{cohort}" / f"splits_{fold}.csv"
            try:
                table = pd.read_csv(path)
            except pd.errors.EmptyDataError:
                raise InputFormatError(path, "empty split file", expected="columns ,train,val") from None
            if not {"train", "val"} <= set(table.columns):
                raise InputFormatError(path, f"columns {list(table.columns)}", expected="columns ,train,val")
            train = {harmonize_barcode(x) for x in table["train"].dropna()}
            test = {harmonize_barcode(x) for x in table["val"].dropna()}
            both = sorted(train & test)
            if both:
                raise InputFormatError(path, f"patient {both[0]} is in both train and val", column="val",
                                       expected="disjoint train and val lists")
            ids = sorted(train) + sorted(test)
            frames.append(pl.DataFrame({
                "patient_id": ids, "cohort": [cohort] * len(ids), "repeat": [0] * len(ids), "fold": [fold] * len(ids),
                "role": ["train"] * len(train) + ["test"] * len(test),
            }, schema={"patient_id": pl.String, "cohort": pl.String, "repeat": pl.Int16, "fold": pl.Int16, "role": pl.String}))
    return pl.concat(frames)


def read_signature_genes(path: str | Path) -> set[str]:
    """Genes of PORPOISE's six MSigDB gene-family signatures (``datasets_csv/signatures.csv``)."""
    frame = pd.read_csv(path)
    return {str(g).strip() for col in frame.columns for g in frame[col].dropna()}
