"""Recipe ``tcga-pancan``: the 5,720 PORPOISE patients (14 TCGA cohorts) with every public layer we can join.

rna, cnv, mutation (PORPOISE); mirna (Subtype-GAN); protein (cpRMT, BRCA); pathology (Saltz TIL maps,
PathAI HIFs, Kather tissue classes, Digi-WSI); clinical covariates and TCGA-CDR endpoints; PAM50,
oncotree codes, cancer type, TSS site and hospital, tumour purity, genetic ancestry. The patients
are PORPOISE's: every other source is joined onto them and covers a subset (missing modalities are
normal). Splits are drawn once, here, from fixed seeds.

References
----------
Chen RJ et al. Pan-cancer integrative histology-genomic analysis via multimodal deep learning. Cancer Cell 2022.
Liu J et al. An integrated TCGA pan-cancer clinical data resource (TCGA-CDR). Cell 2018.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
from tqdm.auto import tqdm

from oncobench.datasets.build import DatasetContent, write_dataset
from oncobench.datasets.clinical import clinical_block, stage_group
from oncobench.datasets.download import resolve_raw_files
from oncobench.datasets.errors import DatasetNotFoundError
from oncobench.datasets.pins import pins_for
from oncobench.datasets.provenance import Provenance, SourceFile
from oncobench.datasets.sources import (
    cprmt, digi, kather, pathai, porpoise, saltz, subtypegan, tcga_cdr, tss,
)
from oncobench.datasets.splits import SplitSpec, draw_split

log = logging.getLogger(__name__)

NAME = "tcga-pancan"
VERSION = "1.0"
VERSIONS = ("1.0", "1.1")  # 1.0 stays buildable to its old content hash; 1.1 adds methylation, ACC, PAAD omics
SEED = 20261122
SOURCE_FOLDERS = (
    "porpoise_tcga14_multiomics_survival",
    "tcga_cdr_pancancer_clinical",
    "subtypegan_tcga10_clinical_mirna",
    "cprmt_tcga_brca_4omics_pam50",
    "imaging_saltz2018_tilmaps_tcga13",
    "imaging_pathai_hif2gene_hifs",
    "imaging_kather2019_crc_tissue_fractions",
    "digi_wsis_tcga_tnbc_pathomics",
    "tcga_tss_centers_and_purity",
)
ENDPOINTS = [
    {"name": "OS", "event": "os", "time": "os_time", "unit": "days", "source": "TCGA-CDR"},
    {"name": "DSS", "event": "dss", "time": "dss_time", "unit": "days", "source": "TCGA-CDR"},
    {"name": "DFI", "event": "dfi", "time": "dfi_time", "unit": "days", "source": "TCGA-CDR"},
    {"name": "PFI", "event": "pfi", "time": "pfi_time", "unit": "days", "source": "TCGA-CDR"},
    {"name": "OS-PORPOISE", "event": "porpoise_event", "time": "porpoise_survival_months", "unit": "months", "source": "PORPOISE"},
]
LABELS = ["cancer_type", "cohort", "oncotree_code", "pam50", "pathologic_m", "stage"]
CARD = {
    "description": (
        "TCGA pan-cancer multi-omics store: the 5,720 patients of PORPOISE's 14 cohorts with RNA, CNV and "
        "mutations (PORPOISE), miRNA (Subtype-GAN), RPPA protein (cpRMT, BRCA), pathology image features "
        "(TIL maps, PathAI HIFs, Kather tissue classes, Digi-WSI), clinical covariates and TCGA-CDR endpoints. "
        "Values are unscaled as the sources give them; PORPOISE RNA are within-cohort z-scores (not comparable "
        "across cohorts)."
    ),
    "citation": "Chen 2022 (PORPOISE); Liu 2018 (TCGA-CDR); Yang 2021 (Subtype-GAN); Saltz 2018; Diao 2021; "
                "Kather 2019; Albusayli 2023; Aran 2015; TCGA Network 2012",
    "licence": "TCGA open-access derived data; PathAI HIFs CC BY-NC-SA 4.0 (non-commercial); PORPOISE GPLv3 files",
}


# pinned files of those folders that the readers do not use (alternative copies, inputs of other analyses)
UNUSED = (
    "tcga_cdr_pancancer_clinical/derived/", "subtypegan_tcga10_clinical_mirna/input/",
    "cprmt_tcga_brca_4omics_pam50/data/brca/pkdd2014/", "cprmt_tcga_brca_4omics_pam50/data/brca/tkde/tkde_mirna",
    "cprmt_tcga_brca_4omics_pam50/data/brca/tkde/tkde_cnv", "cprmt_tcga_brca_4omics_pam50/data/brca/tkde/tkde_data_index",
    "imaging_saltz2018_tilmaps_tcga13/DERIVED_", "imaging_pathai_hif2gene_hifs/brca.HRD",
)


def raw_root(folders: tuple[str, ...], raw_dir: Path | None, cache_dir: Path | None, progress: bool,
             extra_pins: tuple = ()) -> Path:
    """Verify (offline, ``raw_dir``) or download into the cache the pinned files the readers use; return the root."""
    pins = tuple(p for folder in folders for p in pins_for(folder) if not p.name.startswith(UNUSED)) + tuple(extra_pins)
    paths = resolve_raw_files(pins, raw_dir=raw_dir, cache_dir=cache_dir, progress=progress)
    first = pins[0]
    return Path(str(paths[first.name])[: -len(first.name)]).resolve()


def _clinical(root: Path, porpoise_clinical: pl.DataFrame) -> tuple[pl.DataFrame, list[dict]]:
    """One row per PORPOISE patient (and 1.1's extra patients appended to ``porpoise_clinical``): cohort and
    PORPOISE outcome, TCGA-CDR fields, site/hospital, labels, purity."""
    cdr_path = root / "tcga_cdr_pancancer_clinical" / "TCGA-CDR-SupplementalTableS1.xlsx"
    cdr = tcga_cdr.read_tcga_cdr(cdr_path)
    tss_info = tcga_cdr.read_tss_info(cdr_path)
    ancestry = tcga_cdr.read_genetic_ancestry(root / "tcga_cdr_pancancer_clinical" / "Genetic_Ancestry.xlsx")
    centers = tss.read_centers(root / "tcga_tss_centers_and_purity" / "centers.csv")
    purity = tss.patient_purity(tss.read_purity(root / "tcga_tss_centers_and_purity" / "ncomms9971-s2.xlsx"))
    sg = subtypegan.read_all_clinic(root / "subtypegan_tcga10_clinical_mirna")
    pam50_sg = subtypegan.read_pam50(root / "subtypegan_tcga10_clinical_mirna" / "results" / "BRCA.merge")
    pam50_cp = cprmt.read_pam50(root / "cprmt_tcga_brca_4omics_pam50")

    base = porpoise_clinical.select(
        "patient_id", "cohort", "oncotree_code", "tss_code",
        pl.col("survival_months").alias("porpoise_survival_months"),
        pl.col("event").alias("porpoise_event"),
        pl.col("censorship").alias("porpoise_censorship"),
        pl.col("n_slides").alias("porpoise_n_slides"),
    )
    cdr_cols = cdr.select(
        "patient_id", pl.col("cancer_type"), "age", "sex", "race",
        pl.col("ajcc_pathologic_tumor_stage").alias("stage_text"), "clinical_stage", "histological_type",
        pl.col("histological_grade").alias("grade"), "new_tumor_event_type", "new_tumor_event_site",
        "os", "os_time", "dss", "dss_time", "dfi", "dfi_time", "pfi", "pfi_time",
    )
    clinical = base.join(cdr_cols, on="patient_id", how="left")
    missing = clinical.filter(pl.col("cancer_type").is_null()).height
    if missing:
        log.warning("tcga-pancan: %d PORPOISE patients have no TCGA-CDR row", missing)
    clinical = clinical.with_columns(
        pl.col("stage_text").map_elements(stage_group, return_dtype=pl.String).alias("stage"),
    )
    hospitals = tss_info.select("tss_code", pl.col("source_site").alias("hospital")).unique("tss_code")
    clinical = (
        clinical.join(hospitals, on="tss_code", how="left")
        .join(centers.select("tss_code", pl.col("source_site").alias("center_source_site"), "country", "region"),
              on="tss_code", how="left")
        .with_columns(pl.coalesce("hospital", "center_source_site", pl.col("tss_code")).alias("hospital"))
        .drop("center_source_site")
    )
    clinical = clinical.join(
        sg.select("patient_id", "pathologic_m", "pathologic_n", "pathologic_t", pl.col("pathologic_stage").alias("sg_stage")),
        on="patient_id", how="left",
    )
    pam50 = pam50_sg.join(pam50_cp.rename({"pam50": "pam50_cprmt"}), on="patient_id", how="full", coalesce=True)
    disagree = pam50.filter(pl.col("pam50").is_not_null() & pl.col("pam50_cprmt").is_not_null() & (pl.col("pam50") != pl.col("pam50_cprmt"))).height
    if disagree:
        log.info("PAM50: Subtype-GAN and cpRMT disagree for %d patients; Subtype-GAN's label is kept", disagree)
    pam50 = pam50.select("patient_id", pl.coalesce("pam50", "pam50_cprmt").alias("pam50"))
    clinical = clinical.join(pam50, on="patient_id", how="left")
    clinical = clinical.with_columns(
        pl.when(pl.col("cohort") == "brca").then(pl.col("pam50")).otherwise(None).alias("pam50")
    )
    clinical = clinical.join(purity, on="patient_id", how="left")
    clinical = clinical.join(ancestry.select("patient_id", "eigenstrat").unique("patient_id"), on="patient_id", how="left")
    sources = [
        {"source": "TCGA-CDR", "files": [SourceFile.of(cdr_path, root).__dict__]},
        {"source": "PAM50", "notes": f"Subtype-GAN BRCA.merge first, cpRMT tkde where absent; {disagree} disagreements"},
    ]
    return clinical.sort("patient_id"), sources


def read_pathology(root: Path) -> list:
    """The four pathology feature sources (TIL maps, PathAI HIFs, Kather tissue classes, Digi-WSI)."""
    return [
        saltz.read_saltz(root / "imaging_saltz2018_tilmaps_tcga13" / "mmc2 - modified.xlsx"),
        pathai.read_pathai(root / "imaging_pathai_hif2gene_hifs"),
        kather.read_kather(root / "imaging_kather2019_crc_tissue_fractions" / "TCGA_MEASUREMENTS.xlsx"),
        digi.read_digi(root / "digi_wsis_tcga_tnbc_pathomics" / "TCGA-cohort.csv"),
    ]


def clinical_provenance(root: Path) -> Provenance:
    """Provenance of the numeric clinical covariates (TCGA-CDR)."""
    return Provenance(
        source="TCGA-CDR", files=(SourceFile.of(root / "tcga_cdr_pancancer_clinical" / "TCGA-CDR-SupplementalTableS1.xlsx", root),),
        transform="age in years; is_female 1/0; AJCC pathologic stage group I-IV -> 1-4; histological grade G1-G4 -> 1-4",
        licence="TCGA open access", citation="Liu J et al., Cell 173(2):400-416, 2018", comparable_across_cohorts=True,
    )


def content(root: Path, progress: bool = True) -> DatasetContent:
    """Read every source under ``root`` and assemble the dataset content."""
    steps = tqdm(total=5, desc="tcga-pancan", disable=not progress, unit="step")
    porpoise_clinical, blocks = porpoise.read_porpoise(root / "porpoise_tcga14_multiomics_survival", progress=progress)
    steps.update()
    clinical, sources = _clinical(root, porpoise_clinical)
    steps.update()
    mirna = subtypegan.read_all_mirna(root / "subtypegan_tcga10_clinical_mirna")
    protein = cprmt.read_protein(root / "cprmt_tcga_brca_4omics_pam50", pkdd2014_antibodies=False)  # tkde only: one normalisation
    steps.update()
    pathology = read_pathology(root)
    steps.update()
    clin_prov = clinical_provenance(root)
    blocks_by_modality = {
        "rna": [blocks["rna"]], "cnv": [blocks["cnv"]], "mutation": [blocks["mutation"]],
        "mirna": [mirna], "protein": [protein], "pathology": pathology,
        "clinical": [clinical_block(clinical, clin_prov)],
    }
    splits, checks = tcga_splits(clinical, porpoise.read_porpoise_splits(root / "porpoise_tcga14_multiomics_survival"))
    steps.update()
    sources.extend({"source": b.provenance.source, "modality": m, "files": [f.__dict__ for f in b.provenance.files]}
                   for m, bs in blocks_by_modality.items() for b in bs)
    steps.close()
    return DatasetContent(
        name=NAME, version=VERSION, clinical=clinical, blocks=blocks_by_modality, splits=splits,
        split_checks=checks, card=CARD, endpoints=ENDPOINTS, labels=LABELS, sources=sources,
    )


def tcga_splits(clinical: pl.DataFrame, published: pl.DataFrame | None, *, n_folds: int = 5, n_repeats: int = 3,
                site_folds: int = 5, seed: int = SEED) -> tuple[dict, dict]:
    """Draw kfold / holdout / site splits (stratified by cancer type and OS event) and add PORPOISE's published folds."""
    patients = clinical["patient_id"].to_list()
    cancer = [c or "unknown" for c in clinical["cancer_type"].to_list()]
    events = ["?" if e is None else str(e) for e in clinical["os"].to_list()]
    strata = [f"{c}|{e}" for c, e in zip(cancer, events)]
    hospitals = clinical["hospital"].to_list()
    labels = dict(zip(patients, cancer))
    specs = {
        "kfold": SplitSpec("kfold", n_folds=n_folds, n_repeats=n_repeats, seed=seed),
        "holdout": SplitSpec("holdout", n_folds=1, n_repeats=1, seed=seed),
        "site": SplitSpec("site", n_folds=site_folds, n_repeats=1, seed=seed, valid_splits=4),
    }
    splits = {
        "kfold": (draw_split(patients, strata, specs["kfold"]), specs["kfold"]),
        "holdout": (draw_split(patients, strata, specs["holdout"]), specs["holdout"]),
        "site": (draw_split(patients, cancer, specs["site"], groups=hospitals), specs["site"]),
    }
    checks = {
        "kfold": {"labels": labels},
        "holdout": {"labels": labels},
        "site": {"labels": labels, "groups": dict(zip(patients, hospitals)), "group_name": "hospital"},
    }
    if published is not None:
        table = published.filter(pl.col("patient_id").is_in(patients)).select("patient_id", "repeat", "fold", "role")
        splits["porpoise"] = (table, {"scheme": "porpoise", "imported": "PORPOISE splits/5foldcv (val used as test)",
                                      "citation": "Chen RJ et al., Cancer Cell 2022"})
    return splits, checks


def build(raw_dir: Path | None = None, cache_dir: Path | None = None, progress: bool = True, home: Path | None = None,
          version: str | None = None) -> Path:
    """Build tcga-pancan ``version`` (default 1.0) into the store from ``raw_dir`` (offline) or the pinned public files."""
    version = version or VERSION
    if version not in VERSIONS:
        raise DatasetNotFoundError(f"tcga-pancan has no version {version!r}; buildable: {', '.join(VERSIONS)}")
    if version == "1.0":
        root = raw_root(SOURCE_FOLDERS, raw_dir, cache_dir, progress)
        return write_dataset(content(root, progress=progress), home=home)
    from oncobench.datasets.recipes import tcga_pancan_1_1
    from oncobench.datasets.recipes.pancan_pins_1_1 import PINS_1_1

    root = raw_root(SOURCE_FOLDERS, raw_dir, cache_dir, progress, extra_pins=PINS_1_1)
    return write_dataset(tcga_pancan_1_1.content(root, progress=progress), home=home)
