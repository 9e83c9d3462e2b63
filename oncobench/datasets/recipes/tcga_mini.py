"""Recipe ``tcga-mini``: a small, deterministic, stratified subset of ``tcga-pancan``, committed in the package.

Patients: per cohort x OS event stratum, a share of ``PER_COHORT`` patients proportional to the stratum,
preferring patients with more modalities (so every modality and endpoint is represented), ties
broken by a seeded sha256 of the patient ID. Features are chosen without looking at any value
(no selection on all samples): RNA genes from PORPOISE's MSigDB gene-family signatures measured in
every RNA cohort; for the other layers the features measured in the most cohorts, then by name.
Splits are drawn anew on the subset with the same schemes (PORPOISE's published folds restricted
to the subset's patients).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import polars as pl

from oncobench.datasets.build import DatasetContent, write_dataset
from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.errors import DatasetNotFoundError
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.recipes import tcga_pancan
from oncobench.datasets.store import EMBEDDED_ROOT

log = logging.getLogger(__name__)

NAME = "tcga-mini"
VERSION = "1.0"
PER_COHORT = 24
MAX_FEATURES = 200
MIN_PER_SOURCE = 8
SEED = 7


def _rank(patient: str) -> str:
    return hashlib.sha256(f"{SEED}:{patient}".encode()).hexdigest()


def select_patients(pancan: Dataset, per_cohort: int = PER_COHORT) -> list[str]:
    """Deterministic, stratified (cohort x OS event) choice favouring multi-modal patients."""
    presence = pancan.presence
    n_mod = presence.select("patient_id", pl.sum_horizontal([pl.col(m).cast(pl.Int8) for m in pancan.modalities]).alias("n_mod"))
    table = pancan.clinical.select("patient_id", "cohort", "os").join(n_mod, on="patient_id")
    chosen: list[str] = []
    for cohort in sorted(table["cohort"].unique().to_list()):
        part = table.filter(pl.col("cohort") == cohort)
        groups = sorted(part.partition_by("os", as_dict=True).items(), key=lambda kv: str(kv[0]))
        remaining = per_cohort
        for i, (_, group) in enumerate(groups):
            take = remaining if i == len(groups) - 1 else round(per_cohort * group.height / part.height)
            take = min(take, group.height)
            remaining -= take
            ordered = sorted(group.iter_rows(named=True), key=lambda r: (-r["n_mod"], _rank(r["patient_id"])))
            chosen.extend(r["patient_id"] for r in ordered[:take])
    # every (modality, source) gets at least MIN_PER_SOURCE patients (protein, Digi-WSI, Kather are rare)
    for modality in pancan.modalities:
        values, features = pancan.matrix(modality)
        rows = pancan.modality_patients(modality)
        sources = _feature_sources(pancan, modality)
        for source in sorted(set(sources)):
            cols = [j for j, s in enumerate(sources) if s == source]
            has = {rows[i] for i in np.flatnonzero(~np.all(np.isnan(values[:, cols]), axis=1))}
            missing = MIN_PER_SOURCE - len(has & set(chosen))
            if missing > 0:
                chosen.extend(sorted(has - set(chosen), key=_rank)[:missing])
    return sorted(set(chosen))


def _feature_sources(pancan: Dataset, modality: str) -> list[str]:
    info = pancan.modality_info(modality)
    return [s for s, n in info["features_per_source"].items() for _ in range(n)]


def select_features(pancan: Dataset, modality: str, signature_genes: set[str] | None) -> list[str]:
    """Features chosen from metadata only (signature membership, which cohorts measured them, name).

    RNA: signature genes measured by every RNA cohort. Pathology: every TIL/Kather/Digi feature and
    the first HIFs by name. Other layers: round-robin over cohorts, each cohort's features ranked by
    how many cohorts measured them, so every cohort with the modality keeps some of its features.
    """
    features = pancan.features(modality)
    if modality == "rna" and signature_genes:
        shared = set(pancan.measured_features("rna"))
        return sorted(g for g in features if g in signature_genes and g in shared)[: MAX_FEATURES + 100]
    if modality in ("clinical", "protein", "mirna"):
        return features
    if modality == "pathology":
        keep = [f for f in features if not f.startswith("hif:")]
        return keep + sorted(f for f in features if f.startswith("hif:"))[:MAX_FEATURES - len(keep)]
    values, _ = pancan.matrix(modality)
    rows = pancan.modality_patients(modality)
    cohort_of = dict(zip(pancan.clinical["patient_id"].to_list(), pancan.clinical["cohort"].to_list()))
    row_cohort = np.array([cohort_of[p] for p in rows])
    measured = {c: ~np.all(np.isnan(values[row_cohort == c]), axis=0) for c in np.unique(row_cohort)}
    measured_in = np.sum(list(measured.values()), axis=0)
    queues = {c: sorted(np.flatnonzero(m), key=lambda j: (-measured_in[j], features[j])) for c, m in measured.items()}
    chosen: list[int] = []
    while len(chosen) < min(MAX_FEATURES, len(features)) and any(queues.values()):
        for cohort in sorted(queues):
            while queues[cohort] and queues[cohort][0] in chosen:
                queues[cohort].pop(0)
            if queues[cohort] and len(chosen) < MAX_FEATURES:
                chosen.append(queues[cohort].pop(0))
    return sorted(features[j] for j in chosen)


def content(pancan: Dataset, signature_genes: set[str] | None = None) -> DatasetContent:
    patients = select_patients(pancan)
    clinical = pancan.clinical.filter(pl.col("patient_id").is_in(patients)).sort("patient_id")
    blocks = {}
    for modality in pancan.modalities:
        info = pancan.modality_info(modality)
        features = select_features(pancan, modality, signature_genes)
        present = clinical.join(pancan.presence.select("patient_id", modality), on="patient_id").filter(pl.col(modality))
        ids = present["patient_id"].to_list()
        values, names = pancan.matrix(modality, ids)
        cols = [names.index(f) for f in features]
        src = info["sources"]
        prov = Provenance(
            source="+".join(s["source"] for s in src), files=(),
            transform="subset of " + pancan.id + ": " + "; ".join(s["transform"] for s in src),
            licence="; ".join(sorted({s["licence"] for s in src})), citation="; ".join(s["citation"] for s in src),
            comparable_across_cohorts=info["comparable_across_cohorts"],
            notes=f"{len(features)} of {info['n_features']} features of {pancan.id} (chosen without looking at values)",
            extra={"parent": pancan.id, "parent_content_hash": pancan.content_hash},
        )
        blocks[modality] = [FeatureBlock(modality, tuple(ids), tuple(features), np.ascontiguousarray(values[:, cols]), prov)]
    porpoise_split = pancan.split_table("porpoise") if "porpoise" in pancan.schemes else None
    splits, checks = tcga_pancan.tcga_splits(clinical, porpoise_split, n_repeats=2, site_folds=3, seed=SEED)
    card = {
        "description": (
            f"A deterministic, stratified {len(patients)}-patient subset of {pancan.id} (a few hundred features "
            "per modality, every modality and endpoint represented), embedded in the package so the quick start "
            "runs with no raw data and no network. Rebuild: python scripts/build_tcga_mini.py --raw-dir DIR."
        ),
        "citation": pancan.manifest["card"]["citation"],
        "licence": pancan.manifest["card"]["licence"],
        "parent": pancan.id,
        "parent_content_hash": pancan.content_hash,
    }
    return DatasetContent(name=NAME, version=VERSION, clinical=clinical, blocks=blocks, splits=splits,
                          split_checks=checks, card=card, endpoints=pancan.manifest["endpoints"],
                          labels=pancan.manifest["labels"], sources=pancan.manifest["sources"])


def signature_genes(root: Path) -> set[str]:
    from oncobench.datasets.sources.porpoise import read_signature_genes

    return read_signature_genes(root / "porpoise_tcga14_multiomics_survival" / "datasets_csv" / "signatures.csv")


def build(raw_dir: Path | None = None, cache_dir: Path | None = None, progress: bool = True, home: Path | None = None,
          embedded: bool = False) -> Path:
    """Build tcga-mini from tcga-pancan (built first when absent) into the store, or into the package with ``embedded``."""
    try:
        pancan = load_dataset(tcga_pancan.NAME, tcga_pancan.VERSION)
    except DatasetNotFoundError:
        pancan = Dataset(tcga_pancan.build(raw_dir=raw_dir, cache_dir=cache_dir, progress=progress, home=home))
    root = tcga_pancan.raw_root(("porpoise_tcga14_multiomics_survival",), raw_dir, cache_dir, progress)
    return write_dataset(content(pancan, signature_genes(root)), home=home, root=EMBEDDED_ROOT if embedded else None)
