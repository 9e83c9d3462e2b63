"""PORPOISE's TCGA tables: RNA z-scores, GISTIC CNV and mutations for 14 cohorts, with OS and published splits.

Each ``datasets_csv_mutsig/tcga_<cohort>_all_clean.csv.zip`` holds one CSV (its inner name also ends
in ``.csv.zip``) with one row per diagnostic slide. Feature columns end in ``_rnaseq`` (cBioPortal
RNA-seq z-scores computed within the cohort), ``_cnv`` (GISTIC -2..2) or ``_mut`` (0/1); gene lists
differ by cohort. ``censorship = 1`` means censored (alive): the mahmoodlab convention.

Decisions: slides collapse to patients by :data:`DUPLICATE_RULE` (conflicts are counted, not
fatal); the ``site`` column is only checked against the barcode's TSS, which is used; a cohort
without a modality contributes no rows to that block (:data:`ABSENT_MODALITY_RULE`); values are
stored as given (RNA stays a within-cohort z-score, hence ``comparable_across_cohorts=False``).

References
----------
Chen RJ et al. Pan-cancer integrative histology-genomic analysis via multimodal deep learning.
Cancer Cell 40(8):865-878, 2022. https://github.com/mahmoodlab/PORPOISE
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import polars as pl
from tqdm.auto import tqdm

from oncobench.datasets.barcode import harmonize_barcode, tss_code
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, collapse_duplicate_rows, numeric_column, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE = "porpoise"
COHORTS: tuple[str, ...] = (
    "blca", "brca", "coadread", "gbmlgg", "hnsc", "kirc", "kirp", "lihc", "luad", "lusc", "paad", "skcm", "stad", "ucec",
)
SUFFIXES: dict[str, str] = {"_rnaseq": "rna", "_cnv": "cnv", "_mut": "mutation"}
REQUIRED: tuple[str, ...] = (
    "case_id", "slide_id", "age", "site", "survival_months", "censorship", "is_female", "oncotree_code",
)
IGNORED = ("Unnamed: 0", "", "train")  # the pandas index and PORPOISE's own per-slide train flag
DUPLICATE_RULE = "one row per slide -> per case_id, the row with the lexicographically smallest slide_id"
ABSENT_MODALITY_RULE = (
    "a cohort without a modality (UCEC: rna; KIRP, LUSC, SKCM: cnv) contributes no rows to that block; "
    "its patients are absent from it, not all-NaN rows"
)
CITATION = "Chen RJ et al., Cancer Cell 40(8):865-878, 2022 (PORPOISE)"
LICENCE = "GPLv3 repository files; values from TCGA open-access data via cBioPortal"
TRANSFORMS: dict[str, str] = {
    "rna": "cBioPortal RNA-seq z-scores computed within each cohort (top-MAD genes per cohort); stored as given",
    "cnv": "GISTIC discrete copy number -2..2; stored as given",
    "mutation": "mutation status 0/1 for the cohort's gene list; stored as given",
}
NOTES: dict[str, str] = {
    "rna": "within-cohort z-scores: a value says where a patient sits in its own cohort, so values must not be "
           "compared across cohorts; ",
    "cnv": "GISTIC calls compare across cohorts, but each cohort lists different genes (KIRP, LUSC, SKCM none); ",
    "mutation": "0/1 calls compare across cohorts, but each cohort lists different genes (3 shared by all); ",
}
_COHORT_FILE = re.compile(r"^tcga_(?P<cohort>[a-z0-9]+)_all_clean\.csv\.zip$")


def cohort_path(folder: str | Path, cohort: str) -> Path:
    """``<folder>/datasets_csv_mutsig/tcga_<cohort>_all_clean.csv.zip``."""
    return Path(folder) / "datasets_csv_mutsig" / f"tcga_{cohort}_all_clean.csv.zip"


def _read_csv_in_zip(path: Path) -> pd.DataFrame:
    """The one CSV inside ``path``; only empty cells are missing (a TSS site ``NA`` is a code, not null)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise InputFormatError(path, "unexpected archive content", expected="exactly one CSV member",
                                       found=f"{len(members)} members {members[:3]}")
            with archive.open(members[0]) as handle:
                frame = pd.read_csv(handle, low_memory=False, keep_default_na=False, na_values=[""],
                                    dtype={"case_id": str, "slide_id": str, "site": str, "oncotree_code": str})
    except zipfile.BadZipFile as exc:
        raise InputFormatError(path, f"not a readable zip archive ({exc})", expected="a zip holding one CSV") from None
    except (EOFError, zlib.error, OSError) as exc:
        raise InputFormatError(path, f"truncated or damaged zip archive ({type(exc).__name__}: {exc})",
                               expected="a complete zip") from None
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "the CSV inside is empty", expected="a header and one row per slide") from None
    except pd.errors.ParserError as exc:
        raise InputFormatError(path, f"the CSV inside does not parse ({exc})", expected="a comma-separated table") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"columns {list(REQUIRED)}",
                               found=f"{list(frame.columns[:12])}")
    if frame.empty:
        raise InputFormatError(path, "the CSV inside has a header but no rows", expected="one row per slide")
    return frame


def _patients(frame: pd.DataFrame, path: Path) -> list[str]:
    ids = []
    for i, raw in enumerate(frame["case_id"].tolist()):
        try:
            ids.append(harmonize_barcode(raw))
        except ValueError as exc:  # also the NaN of an empty cell, which str() turns into 'nan'
            raise InputFormatError(path, str(exc), row=i + 2, column="case_id", expected="a TCGA patient barcode",
                                   found=repr(raw)) from None
    missing_slide = frame["slide_id"].isna().to_numpy()
    if missing_slide.any():
        i = int(missing_slide.nonzero()[0][0])
        raise InputFormatError(path, "empty slide_id", row=i + 2, column="slide_id", expected="a slide file name")
    return ids


def _clinical_values(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Parsed clinical columns, one per file row; bad cells raise naming file row and column."""
    parsed = pd.DataFrame({
        name: numeric_column(frame, name, path=path) for name in ("age", "survival_months", "censorship", "is_female")
    }, dtype="float64")
    for name, allowed, required in (("censorship", {0.0, 1.0}, True), ("is_female", {0.0, 1.0}, False)):
        column = parsed[name]
        bad = (column.isna() & required) | (column.notna() & ~column.isin(allowed))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputFormatError(path, f"{name} must be 0 or 1", row=i + 2, column=name,
                                   expected="0 or 1" + ("" if required else " or empty"), found=repr(frame[name].iloc[i]))
    negative = parsed["survival_months"] < 0
    if negative.any():
        i = int(negative.to_numpy().nonzero()[0][0])
        raise InputFormatError(path, "negative survival time", row=i + 2, column="survival_months",
                               expected="months >= 0", found=repr(frame["survival_months"].iloc[i]))
    parsed["oncotree_code"] = [None if pd.isna(v) else str(v).strip() for v in frame["oncotree_code"]]
    parsed["site"] = [None if pd.isna(v) else str(v).strip() for v in frame["site"]]
    return parsed


def _site_codes(sites: list[str | None], patients: list[str], rows: list[int], path: Path) -> tuple[list[str], int, int]:
    """TSS code per kept row (the barcode's: it is authoritative), and counts of sites that disagree / are empty."""
    codes, mismatched, empty = [], 0, 0
    for row, site, patient in zip(rows, sites, patients):
        barcode_site = patient.split("-")[1]
        if site is None:
            empty += 1
        else:
            try:
                code = tss_code(site)  # '5' -> '05': integer-looking codes lost their leading zero
            except ValueError as exc:
                raise InputFormatError(path, str(exc), row=row + 2, column="site", expected="a TSS code") from None
            mismatched += code != barcode_site
        codes.append(barcode_site)
    return codes, mismatched, empty


def _read_cohort(path: Path, cohort: str, source_file: SourceFile) -> tuple[pl.DataFrame, dict[str, FeatureBlock], dict[str, Any]]:
    frame = _read_csv_in_zip(path)
    patients = _patients(frame, path)
    slides = [str(s).strip() for s in frame["slide_id"]]
    clinical_values = _clinical_values(frame, path)

    # DUPLICATE_RULE: the same row represents the patient in the clinical table and in every block
    kept_by_patient: dict[str, int] = {}
    for i in sorted(range(len(frame)), key=lambda k: (patients[k], slides[k], k)):
        kept_by_patient.setdefault(patients[i], i)
    kept = [kept_by_patient[p] for p in sorted(kept_by_patient)]
    n_slides = pd.Series(patients).value_counts()

    grouped = clinical_values.assign(_patient=patients).groupby("_patient", sort=False)
    clinical_conflicts = {
        c: int((grouped[c].nunique(dropna=False) > 1).sum())
        for c in ("age", "survival_months", "censorship", "is_female", "oncotree_code", "site")
    }
    clinical_conflicts = {c: n for c, n in clinical_conflicts.items() if n}
    if clinical_conflicts:
        log.warning("%s: slides of one patient disagree in clinical columns %s; the row of the smallest slide_id is kept",
                    path.name, clinical_conflicts)
    codes, mismatched, empty_sites = _site_codes(
        [clinical_values["site"].iloc[i] for i in kept], [patients[i] for i in kept], kept, path)
    if mismatched or empty_sites:
        log.warning("%s: %d patients' site differs from the TSS in their barcode, %d empty; the barcode's TSS is used",
                    path.name, mismatched, empty_sites)

    chosen = clinical_values.iloc[kept]
    clinical = pl.DataFrame({
        "patient_id": [patients[i] for i in kept],
        "cohort": [cohort] * len(kept),
        "oncotree_code": chosen["oncotree_code"].tolist(),
        "age": chosen["age"].tolist(),
        "is_female": chosen["is_female"].tolist(),
        "tss_code": codes,
        "survival_months": chosen["survival_months"].tolist(),
        "censorship": chosen["censorship"].tolist(),
        "n_slides": [int(n_slides[patients[i]]) for i in kept],
        "slide_id": [slides[i] for i in kept],
    }, schema={"patient_id": pl.String, "cohort": pl.String, "oncotree_code": pl.String, "age": pl.Float64,
               "is_female": pl.Float64, "tss_code": pl.String, "survival_months": pl.Float64,
               "censorship": pl.Float64, "n_slides": pl.Int32, "slide_id": pl.String}, strict=False)
    clinical = clinical.with_columns(pl.col(pl.Float64).fill_nan(None)).with_columns(
        pl.col("is_female").cast(pl.Int8), pl.col("censorship").cast(pl.Int8),
        # PORPOISE: censorship = 1 means censored (alive), so the event indicator is its complement
        (1 - pl.col("censorship")).cast(pl.Int8).alias("event"),
    ).select("patient_id", "cohort", "oncotree_code", "age", "is_female", "tss_code", "survival_months",
             "censorship", "event", "n_slides", "slide_id")

    row_labels = [f"{i + 2} ({p})" for i, p in enumerate(patients)]
    by_modality = {m: [c for c in frame.columns if str(c).endswith(s)] for s, m in SUFFIXES.items()}
    used = {c for cols in by_modality.values() for c in cols} | set(REQUIRED) | set(IGNORED)
    unknown = [c for c in frame.columns if c not in used]
    if unknown:
        log.warning("%s: %d columns with no known suffix ignored, e.g. %s", path.name, len(unknown), unknown[:5])
    checks: dict[str, Any] = {
        "slides": len(frame), "patients": len(kept), "site_mismatches": mismatched, "site_empty": empty_sites,
        "clinical_conflicts": clinical_conflicts, "molecular_conflicts": {},
    }
    collapsed: dict[str, tuple[tuple[str, ...], tuple[str, ...], np.ndarray]] = {}
    for suffix, modality in SUFFIXES.items():
        columns = by_modality[modality]
        if not columns:
            continue
        features = tuple(str(c)[: -len(suffix)].strip() for c in columns)
        if "" in features:
            raise InputFormatError(path, "feature column without a gene name", column=suffix,
                                   expected="<GENE>" + suffix)
        values = to_float32(frame[columns].to_numpy(), path=path, row_labels=row_labels, column_labels=columns)
        ids, rows, conflicts = collapse_duplicate_rows(patients, values, path=path, order_key=slides, on_conflict="first")
        if conflicts:
            log.warning("%s: %d patients' slides disagree in %s values; the row of the smallest slide_id is kept",
                        path.name, conflicts, modality)
        checks["molecular_conflicts"][modality] = conflicts
        order = sorted(range(len(ids)), key=ids.__getitem__)
        collapsed[modality] = (tuple(ids[k] for k in order), features, np.ascontiguousarray(rows[order]))
    blocks = {
        modality: FeatureBlock(modality, ids, features, values, _provenance(modality, (source_file,), {
            "duplicate_rule": DUPLICATE_RULE,
            "conflicting_patients": {cohort: checks["molecular_conflicts"][modality]},
            "features_measured_per_cohort": {cohort: len(features)},
            "measured_features_by_cohort": {cohort: list(features)},
            "cohort_checks": {cohort: checks},
        }))
        for modality, (ids, features, values) in collapsed.items()
    }
    return clinical, blocks, checks


def _provenance(modality: str, files: tuple[SourceFile, ...], extra: dict[str, Any]) -> Provenance:
    return Provenance(
        source=SOURCE, files=files, transform=TRANSFORMS[modality], licence=LICENCE, citation=CITATION,
        comparable_across_cohorts=modality != "rna",
        notes=NOTES[modality] + "NaN = the cohort did not measure that gene (a measured 0 stays 0)",
        extra=extra,
    )


def _source_file(path: Path, root: Path | None) -> SourceFile:
    if root is None:  # name relative to the source folder above datasets_csv_mutsig/, when there is one
        root = path.parents[2] if len(path.parents) > 2 else path.parent
    return SourceFile.of(path, root)


def read_porpoise_cohort(zip_path: str | Path, cohort: str | None = None) -> tuple[pl.DataFrame, dict[str, FeatureBlock]]:
    """One cohort: a clinical table (one row per patient) and its rna / cnv / mutation blocks.

    Slides collapse to patients by :data:`DUPLICATE_RULE`. Clinical columns: patient_id, cohort,
    oncotree_code, age, is_female, tss_code (the barcode's TSS; the ``site`` column is only checked),
    survival_months, censorship (1 = censored), event (= 1 - censorship), n_slides, slide_id (kept).
    Conflict and site-check counts are in ``provenance.extra['cohort_checks']``.

    Raises
    ------
    InputFormatError
        Bad or truncated zip, empty CSV, header only, missing columns, a non-numeric cell (file row
        and column named), censorship not 0/1, a case_id that is no TCGA barcode.
    """
    path = Path(zip_path)
    if cohort is None:
        match = _COHORT_FILE.match(path.name)
        cohort = match["cohort"] if match else path.name.split(".")[0]
    clinical, blocks, _ = _read_cohort(path, cohort, _source_file(path, None))
    return clinical, blocks


def _merge(blocks: Sequence[FeatureBlock], modality: str, files: tuple[SourceFile, ...], extra: dict[str, Any]) -> FeatureBlock:
    """Stack cohort blocks over the union of their features; a gene a cohort did not measure is NaN."""
    features = sorted({f for b in blocks for f in b.features})
    column = {f: j for j, f in enumerate(features)}
    patients = [p for b in blocks for p in b.patients]
    values = np.full((len(patients), len(features)), np.nan, dtype=np.float32)
    start = 0
    for block in blocks:
        cols = np.array([column[f] for f in block.features], dtype=np.intp)
        values[start:start + len(block.patients), cols] = block.values
        start += len(block.patients)
    order = np.argsort(np.array(patients), kind="stable")
    return FeatureBlock(modality, tuple(patients[i] for i in order), tuple(features),
                        np.ascontiguousarray(values[order]), _provenance(modality, files, extra))


def read_porpoise(folder: str | Path, cohorts: Sequence[str] = COHORTS, progress: bool = False) -> tuple[pl.DataFrame, dict[str, FeatureBlock]]:
    """All cohorts: clinical table (one row per patient) and one pan-cancer block per modality.

    Each block's features are the union over cohorts; a cell of a gene the patient's cohort did not
    measure is NaN (a measured 0 stays 0). :data:`ABSENT_MODALITY_RULE`: a cohort without a
    modality contributes no rows to it. ``provenance.extra`` records the duplicate rule, conflict
    and site-check counts per cohort, and ``measured_features_by_cohort`` (cohort -> feature names).

    References
    ----------
    Chen RJ et al. Cancer Cell 40(8):865-878, 2022.
    """
    folder = Path(folder)
    unknown = [c for c in cohorts if c not in COHORTS]
    if unknown:
        raise ValueError(f"unknown PORPOISE cohorts {unknown}; expected some of {', '.join(COHORTS)}")
    tables: list[pl.DataFrame] = []
    per_modality: dict[str, dict[str, FeatureBlock]] = {m: {} for m in SUFFIXES.values()}
    files: list[SourceFile] = []
    checks: dict[str, dict[str, Any]] = {}
    for cohort in tqdm(cohorts, desc="PORPOISE cohorts", disable=not progress):
        path = cohort_path(folder, cohort)
        source_file = _source_file(path, folder.parent)
        clinical, blocks, checks[cohort] = _read_cohort(path, cohort, source_file)
        tables.append(clinical)
        files.append(source_file)
        for modality, block in blocks.items():
            per_modality[modality][cohort] = block
    clinical = pl.concat(tables).sort("patient_id")
    dup = clinical.filter(pl.col("patient_id").is_duplicated()).sort("patient_id", "cohort")
    if dup.height:
        raise InputFormatError(folder, f"patient {dup['patient_id'][0]} appears in cohorts {dup['cohort'].head(2).to_list()}",
                               expected="disjoint cohorts")
    merged: dict[str, FeatureBlock] = {}
    for modality, by_cohort in per_modality.items():
        if not by_cohort:
            continue
        measured = {c: list(b.features) for c, b in by_cohort.items()}
        merged[modality] = _merge(list(by_cohort.values()), modality, tuple(files), {
            "duplicate_rule": DUPLICATE_RULE,
            "absent_modality_rule": ABSENT_MODALITY_RULE,
            "cohorts_without_modality": [c for c in cohorts if c not in measured],
            "conflicting_patients": {c: checks[c]["molecular_conflicts"][modality] for c in measured},
            "features_measured_per_cohort": {c: len(f) for c, f in measured.items()},
            "measured_features_by_cohort": measured,
            "cohort_checks": checks,
        })
    return clinical, merged


def read_porpoise_splits(folder: str | Path, cohorts: Sequence[str] = COHORTS) -> pl.DataFrame:
    """PORPOISE's published 5-fold CV: rows (patient_id, cohort, repeat=0, fold, role) with role train/test.

    Read from ``splits/5foldcv/tcga_<cohort>/splits_<k>.csv`` (columns ``,train,val``). The paper
    evaluates on ``val``, so it becomes ``test``; there is no separate validation set.

    Raises
    ------
    InputFormatError
        An empty file, missing columns, a cell that is no TCGA barcode, or a patient listed twice
        or in both train and val of one file.
    """
    folder = Path(folder)
    frames = []
    for cohort in cohorts:
        for fold in range(5):
            path = folder / "splits" / "5foldcv" / f"tcga_{cohort}" / f"splits_{fold}.csv"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file (PORPOISE split {fold} of {cohort})")
            try:
                table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            except pd.errors.EmptyDataError:
                raise InputFormatError(path, "empty split file", expected="columns ,train,val") from None
            if not {"train", "val"} <= set(table.columns):
                raise InputFormatError(path, "missing columns", expected="columns ,train,val", found=f"{list(table.columns)}")
            sides: dict[str, list[str]] = {}
            for column in ("train", "val"):
                ids = []
                for i, raw in enumerate(table[column].tolist()):
                    if pd.isna(raw):
                        continue  # the shorter column is padded with empty cells
                    try:
                        ids.append(harmonize_barcode(raw))
                    except ValueError as exc:
                        raise InputFormatError(path, str(exc), row=i + 2, column=column, expected="a TCGA barcode") from None
                if len(set(ids)) != len(ids):
                    twice = next(p for p in ids if ids.count(p) > 1)
                    raise InputFormatError(path, f"patient {twice} listed twice", column=column, expected="each patient once")
                sides[column] = ids
            both = sorted(set(sides["train"]) & set(sides["val"]))
            if both:
                raise InputFormatError(path, f"patient {both[0]} is in both train and val ({len(both)} such patients)",
                                       column="val", expected="disjoint train and val lists")
            train, test = sorted(sides["train"]), sorted(sides["val"])
            frames.append(pl.DataFrame({
                "patient_id": train + test, "cohort": [cohort] * (len(train) + len(test)),
                "repeat": [0] * (len(train) + len(test)), "fold": [fold] * (len(train) + len(test)),
                "role": ["train"] * len(train) + ["test"] * len(test),
            }, schema={"patient_id": pl.String, "cohort": pl.String, "repeat": pl.Int16, "fold": pl.Int16, "role": pl.String}))
    if not frames:
        raise ValueError("read_porpoise_splits: no cohorts given")
    return pl.concat(frames)


def read_signature_genes(path: str | Path) -> set[str]:
    """Genes of PORPOISE's six MSigDB gene-family signatures (``datasets_csv/signatures.csv``)."""
    frame = pd.read_csv(path)
    return {str(g).strip() for col in frame.columns for g in frame[col].dropna()}
