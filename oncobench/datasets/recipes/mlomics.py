"""Recipe ``mlomics``: MLOmics's patient roster, released matrices and split files in the store.

Patients are the roster's 8,314 (32 TCGA types; ``Clinical_Rec.csv``: survival, age, sex, stage) plus any
patient of a selected release set outside it. TCGA-CDR endpoints (OS, DSS, DFI, PFI) and grade are joined by
patient barcode; the roster's own survival is the endpoint ``OS-MLOmics``. The selected release matrices
(default: GS-BRCA at the Top scale) become modalities, missing values kept as NaN; the clustering sets'
``survival_<X>.csv`` are neither read nor fetched (the roster and TCGA-CDR give the endpoints). GS-BRCA's integer label
codes are named by joining with Subtype-GAN's PAM50 table (``pam50``), the mapping and its per-class
agreement recorded in the manifest (``card.mlomics.label_mapping``). MLOmics's own GS-BRCA split files
(5 train/val/test splits) are the scheme ``mlomics``.

Offline (``--raw-dir``) everything comes from the raw folder; online the release files come from Hugging Face
and the roster and split files from the MLOmics repository at a pinned commit, every file verified by size
and sha256. Release files the pin list gives no checksum for are reported and never fetched.

References
----------
Yang Z et al. MLOmics: Cancer Multi-Omics Database for Machine Learning. Scientific Data 12, 2025.
Liu J et al. An integrated TCGA pan-cancer clinical data resource (TCGA-CDR). Cell 173(2):400-416, 2018.
Yang H et al. Subtype-GAN. Bioinformatics 37(16):2231-2237, 2021 (the PAM50 table the codes are named by).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from oncobench.datasets.build import DatasetContent, write_dataset
from oncobench.datasets.clinical import clinical_block
from oncobench.datasets.download import resolve_raw_files
from oncobench.datasets.errors import DatasetNotFoundError, InputFormatError
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.pins import PINS, PinnedFile, pins_for
from oncobench.datasets.provenance import Provenance, SourceFile
from oncobench.datasets.recipes import tcga_pancan
from oncobench.datasets.sources import mlomics, subtypegan, tcga_cdr
from oncobench.datasets.split_import import read_split_files

log = logging.getLogger(__name__)

NAME = "mlomics"
VERSION = "1.0"
DEFAULT_SETS: tuple[tuple[str, str], ...] = (("GS-BRCA", "Top"),)
SCHEME = "mlomics"
ROSTER = f"{mlomics.SOURCE_FOLDER}/Clinical_Rec.csv"
SPLITS = {"GS-BRCA": f"{mlomics.SOURCE_FOLDER}/splits/GS-BRCA/"}
CDR = "tcga_cdr_pancancer_clinical/TCGA-CDR-SupplementalTableS1.xlsx"
PAM50_REFERENCE = "subtypegan_tcga10_clinical_mirna/results/BRCA.merge"
ENDPOINTS = [e for e in tcga_pancan.ENDPOINTS if e["source"] == "TCGA-CDR"] + [  # OS, DSS, DFI, PFI as in tcga-pancan
    {"name": "OS-MLOmics", "event": "mlomics_os", "time": "mlomics_os_days", "unit": "days", "source": "MLOmics Clinical_Rec.csv"},
]


def _pin(name: str) -> PinnedFile:
    found = [p for p in PINS if p.name == name]
    if not found:
        raise KeyError(f"no pinned raw file {name!r}")
    return mlomics.repository_pin(found[0])


def selected_release_files(sets: Sequence[tuple[str, str]]) -> tuple[list[mlomics.ReleaseFile], list[mlomics.ReleaseFile]]:
    """(pinned, unpinned) release files of the selected (set, scale) pairs; unknown pairs raise, naming the known ones."""
    release = mlomics.release_files()
    known = sorted({(f.set, f.scale) for f in release})
    chosen = []
    for pair in sets:
        files = [f for f in release if (f.set, f.scale) == tuple(pair)]
        if not files:
            raise DatasetNotFoundError(f"MLOmics has no set {pair[0]!r} at scale {pair[1]!r}; known: "
                                       + ", ".join(f"{s}/{c}" for s, c in known))
        chosen += files
    return [f for f in chosen if f.pinned], [f for f in chosen if not f.pinned]


def needed_pins(sets: Sequence[tuple[str, str]]) -> tuple[list[PinnedFile], list[mlomics.ReleaseFile]]:
    """Every pinned file the build reads (roster, split files, TCGA-CDR, PAM50 reference, release files) and the
    unpinned release files of the selection (reported, never fetched)."""
    pinned, unpinned = selected_release_files(sets)
    pins = [_pin(ROSTER), *(p for p in pins_for("tcga_cdr_pancancer_clinical") if p.name == CDR), _pin(PAM50_REFERENCE)]
    for name, _ in sets:
        if name in SPLITS:
            pins += [mlomics.repository_pin(p) for p in pins_for(mlomics.SOURCE_FOLDER) if p.name.startswith(SPLITS[name])]
    # survival_<X>.csv of the clustering sets are not read (the roster and TCGA-CDR give the endpoints): not fetched
    return pins + [f.pin() for f in pinned if f.kind != "survival"], unpinned


def _cohort(set_name: str) -> str:
    return set_name.split("-", 1)[-1].lower()


def content(paths: dict[str, Path], root: Path, sets: Sequence[tuple[str, str]] = DEFAULT_SETS,
            unpinned: Sequence[mlomics.ReleaseFile] = ()) -> DatasetContent:
    """Assemble the dataset from verified local ``paths`` (pin name -> file) under ``root``."""
    roster = mlomics.read_roster(paths[ROSTER])
    cdr = tcga_cdr.read_tcga_cdr(paths[CDR]).select(
        "patient_id", pl.col("cancer_type").alias("cdr_cancer_type"), pl.col("histological_grade").alias("grade"),
        "os", "os_time", "dss", "dss_time", "dfi", "dfi_time", "pfi", "pfi_time")
    pinned, _ = selected_release_files(sets)
    blocks: dict[str, list[FeatureBlock]] = {}
    labels: dict[str, dict[str, int]] = {}
    set_patients: dict[str, str] = {}
    set_info: list[dict[str, Any]] = []
    prefix_features = len(sets) > 1
    for set_name, scale in sets:
        files = [f for f in pinned if (f.set, f.scale) == (set_name, scale)]
        samples: list[str] | None = None
        for f in sorted((f for f in files if f.kind == "omics"), key=lambda f: f.path):
            path = paths[f.pin().name]
            block, info = mlomics.read_matrix(path, root=root, omics=f.omics, source=f"MLOmics {set_name} {scale}")
            if samples is not None and info.samples != samples:
                raise InputFormatError(path, "sample columns differ from the set's other matrices", row=1,
                                       expected="the same samples in the same order (the label file follows it)")
            samples = info.samples
            if prefix_features:
                block = FeatureBlock(block.modality, block.patients, tuple(f"{set_name}:{n}" for n in block.features),
                                     block.values, block.provenance)
            blocks.setdefault(block.modality, []).append(block)
            set_patients.update(dict.fromkeys(block.patients, set_name))
            set_info.append({"set": set_name, "scale": scale, "file": f.path, "modality": block.modality,
                             "patients": len(block.patients), "features": len(block.features),
                             "blank_rows_left_out": info.blank_rows, "empty_cells_in_file": info.empty_cells,
                             "missing_cells_kept": info.missing_cells, "sample_types": info.sample_types})
        label_files = [f for f in files if f.kind == "labels"]
        if label_files and samples is not None:
            labels[set_name] = mlomics.read_label_codes(paths[label_files[0].pin().name], samples)

    extra = sorted(set(set_patients) - set(roster["patient_id"].to_list()))
    clinical = pl.concat([roster, pl.DataFrame({"patient_id": extra}, schema={"patient_id": pl.String})], how="diagonal")
    clinical = clinical.join(cdr, on="patient_id", how="left").with_columns(
        pl.coalesce("cancer_type", "cdr_cancer_type").alias("cancer_type"),
        pl.col("patient_id").is_in(roster["patient_id"].to_list()).alias("in_roster"))
    cohort = [c.lower() if c else _cohort(set_patients[p])
              for p, c in zip(clinical["patient_id"].to_list(), clinical["cancer_type"].to_list())]
    clinical = clinical.with_columns(pl.Series("cohort", cohort, dtype=pl.String))

    mappings: dict[str, Any] = {}
    for set_name, codes in labels.items():
        column = f"label_{set_name.lower().replace('-', '_')}"
        clinical = clinical.join(pl.DataFrame({"patient_id": list(codes), column: list(codes.values())},
                                              schema={"patient_id": pl.String, column: pl.Int32}), on="patient_id", how="left")
        if set_name == "GS-BRCA":
            reference = subtypegan.read_pam50(paths[PAM50_REFERENCE])
            mapping = mlomics.derive_label_mapping(codes, dict(reference.iter_rows()),
                                                   reference_name="Subtype-GAN results/BRCA.merge (PAM50)")
            clinical = clinical.with_columns(pl.col(column).replace_strict(mapping.mapping, default=None,
                                                                           return_dtype=pl.String).alias("pam50"))
            mappings[set_name] = {"column": column, "named_as": "pam50"} | mapping.to_dict()
            log.info("GS-BRCA label codes: %s", {k: v["label"] + f" ({v['agreement']:.1%})" for k, v in mapping.per_code.items()})
        else:
            mappings[set_name] = {"column": column, "mapping": None,
                                  "note": "no reference table in the store to name these codes; kept as integers"}

    first = ["patient_id", "cohort", "cancer_type", "in_roster", "sample_barcode", "sample_type", "age", "sex", "stage", "grade"]
    clinical = clinical.select(first + [c for c in clinical.columns if c not in first]).sort("patient_id")
    clin_prov = Provenance(
        source="MLOmics roster + TCGA-CDR",
        files=(SourceFile.of(paths[ROSTER], root), SourceFile.of(paths[CDR], root)),
        transform="age in years, sex and AJCC stage group from Clinical_Rec.csv; histological grade G1-G4 -> 1-4 from TCGA-CDR",
        licence="TCGA open access", citation=f"{mlomics.CITATION}; Liu J et al., Cell 173(2):400-416, 2018",
        comparable_across_cohorts=True)
    blocks["clinical"] = [clinical_block(clinical, clin_prov)]

    splits: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    for set_name, _ in sets:
        if set_name not in SPLITS or SCHEME in splits:
            continue
        files = sorted(paths[n] for n in paths if n.startswith(SPLITS[set_name]))
        imported = read_split_files("id-lists", files, patients=clinical["patient_id"].to_list(), name=f"{NAME}/{SCHEME}")
        if imported.unknown:
            raise InputFormatError(files[0].parent, f"{len(imported.unknown)} IDs are not patients of the build",
                                   expected=f"{set_name} patients", found=str(sorted(imported.unknown)[:3]))
        splits[SCHEME] = (imported.table, imported.describe(SCHEME, root) | {
            "citation": mlomics.CITATION, "note": f"MLOmics's {set_name} split files (CustOmics baseline): "
                                                  "split k = repeat k-1, fold 0; val = valid"})
        if "pam50" in clinical.columns:
            checks[SCHEME] = {"labels": {p: v for p, v in clinical.select("patient_id", "pam50").iter_rows() if v}}

    sources = [{"source": "MLOmics roster", "files": [SourceFile.of(paths[ROSTER], root).__dict__]},
               {"source": "TCGA-CDR", "files": [SourceFile.of(paths[CDR], root).__dict__]},
               {"source": "PAM50 reference (naming GS-BRCA codes)", "files": [SourceFile.of(paths[PAM50_REFERENCE], root).__dict__]}]
    sources += [{"source": b.provenance.source, "modality": m, "files": [f.__dict__ for f in b.provenance.files]}
                for m, bs in blocks.items() for b in bs]
    types = roster["cancer_type"].n_unique()
    card = {
        "description": (f"MLOmics (Yang et al., Sci Data 2025): the roster of {roster.height:,} patients in {types} TCGA "
                        "types with MLOmics survival, age, sex and stage, TCGA-CDR endpoints, and the released matrices "
                        f"of {', '.join(f'{s} ({c})' for s, c in sets)} as MLOmics standardised them (NaN kept)"
                        + ("; MLOmics's own GS-BRCA splits as scheme 'mlomics'." if splits else ".")),
        "citation": mlomics.CITATION, "licence": mlomics.LICENCE,
        "mlomics": {"sets": [{"set": s, "scale": c} for s, c in sets], "matrices": set_info,
                    "label_mapping": mappings,
                    "unpinned_not_fetched": [f.path for f in unpinned],
                    "roster": {"patients": roster.height, "cancer_types": types,
                               "patients_outside_roster": len(extra)}},
    }
    return DatasetContent(name=NAME, version=version_for(sets), clinical=clinical, blocks=blocks, splits=splits,
                          split_checks=checks, card=card, endpoints=ENDPOINTS,
                          labels=["cancer_type", "cohort", "pam50", "stage"], sources=sources)


def version_for(sets: Sequence[tuple[str, str]]) -> str:
    """``1.0`` for the default selection; another selection is another dataset version."""
    sets = [tuple(s) for s in sets]
    if sets == [tuple(s) for s in DEFAULT_SETS]:
        return VERSION
    return VERSION + "+" + ".".join(f"{s}-{c}" for s, c in sets)


def build(raw_dir: Path | None = None, cache_dir: Path | None = None, progress: bool = True, home: Path | None = None,
          sets: Sequence[tuple[str, str]] = DEFAULT_SETS) -> Path:
    """Build ``mlomics`` from ``raw_dir`` (offline: the folder holding ``mlomics_roster_gsbrca_splits/`` and
    ``tcga_cdr_pancancer_clinical/``) or from the pinned public files (cache ``cache_dir``)."""
    pins, unpinned = needed_pins(sets)
    for f in unpinned:
        log.warning("MLOmics %s: no size/sha256 in the pin list; not fetched (never downloaded unverified)", f.path)
    paths = resolve_raw_files(pins, raw_dir=raw_dir, cache_dir=cache_dir, progress=progress)
    first = pins[0]
    root = Path(str(paths[first.name])[: -len(first.name)]).resolve()
    return write_dataset(content({n: Path(p).resolve() for n, p in paths.items()}, root, sets, unpinned), home=home)
