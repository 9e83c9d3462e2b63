"""Synthetic multi-omics cohorts with known structure, at TCGA scale, streamed into the store.

Not patient data. Every value is drawn from a stated generative model, so a benchmark can check that a model
recovers what was planted:

- ``L`` latent factors per patient, shared by all modalities; subtypes shift the first two factors;
- each modality = latent factors x loadings + noise, plus a per-cohort shift per feature (cohort effect) and a
  per-hospital shift and scale (site batch effect), then the modality's own transform (methylation: beta values
  in (0, 1); pathology: positive; cnv: log-ratios; rna, mirna: log-expression-like);
- overall survival from a Cox model: hazard = h0 exp(sum_j beta_j d_j + 0.03 (age - 60)), where d_j are the
  biological values (before batch effects) of the first ``n_drivers`` RNA features (``g00000``...); Weibull
  baseline, uniform censoring; the coefficients are recorded in the card;
- missing modalities: each cohort measures each modality for a cohort-specific share of its patients, and
  some hospitals never send methylation.

Values are generated chunk by chunk (``CHUNK`` patients) from seeds derived with sha256, so a 10,000 x 61,000
cohort is written with memory bounded by one chunk, and the same seed always gives the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl

from oncobench.datasets.build import DatasetContent, StreamedModality, write_dataset
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.splits import SplitSpec, draw_split

CHUNK = 1000
N_LATENT = 8
N_SUBTYPES = 4
SITES_PER_COHORT = 4
PREFIX = {"rna": "g", "methylation": "cg", "mirna": "mir", "cnv": "seg", "pathology": "img", "protein": "prot",
          "mutation": "mut"}
DEFAULT_MODALITIES = {"rna": 20000, "methylation": 20000, "mirna": 1000, "cnv": 20000, "pathology": 600}


def _rng(seed: int, *parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class SynthSpec:
    name: str
    patients: int = 1000
    cohorts: int = 4
    modalities: tuple[tuple[str, int], ...] = tuple(DEFAULT_MODALITIES.items())
    seed: int = 0
    n_drivers: int = 10
    version: str = "1.0"

    def __post_init__(self) -> None:
        if self.patients < 50:
            raise ValueError(f"synthetic cohort {self.name}: at least 50 patients, got {self.patients}")
        if self.cohorts < 1:
            raise ValueError("at least one cohort")
        for modality, p in self.modalities:
            if modality not in PREFIX:
                raise ValueError(f"synthetic modality {modality!r}: expected one of {sorted(PREFIX)}")
            if p < 1:
                raise ValueError(f"synthetic modality {modality}: at least one feature")
        if dict(self.modalities).get("rna", 0) < self.n_drivers:
            raise ValueError(f"the Cox drivers are the first {self.n_drivers} rna features: rna needs at least that many")


def parse_modalities(text: str) -> tuple[tuple[str, int], ...]:
    """``"rna=20000,mirna=1000"`` -> (("rna", 20000), ("mirna", 1000))."""
    out = []
    for part in text.split(","):
        name, _, size = part.strip().partition("=")
        if not name or not size.isdigit():
            raise ValueError(f"--modalities: {part!r}; expected NAME=FEATURES, e.g. rna=20000")
        out.append((name, int(size)))
    return tuple(out)


class _Design:
    """Per-patient quantities (small: patients x latent) shared by every modality's chunks."""

    def __init__(self, spec: SynthSpec) -> None:
        n, k, seed = spec.patients, spec.cohorts, spec.seed
        rng = _rng(seed, "design")
        self.ids = [f"SYN-{i // 10000:02d}-{i % 10000:04d}" for i in range(n)]
        self.cohort = rng.integers(0, k, n)
        self.site = self.cohort * SITES_PER_COHORT + rng.integers(0, SITES_PER_COHORT, n)
        subtype_prob = rng.dirichlet(np.full(N_SUBTYPES, 2.0), size=k)  # cohorts differ in subtype mix
        self.subtype = np.array([rng.choice(N_SUBTYPES, p=subtype_prob[c]) for c in self.cohort])
        centers = rng.normal(0, 1.5, (N_SUBTYPES, 2))
        self.latent = rng.standard_normal((n, N_LATENT))
        self.latent[:, :2] += centers[self.subtype]
        self.age = np.clip(rng.normal(62, 11, n), 20, 90).round()
        self.is_female = rng.random(n) < 0.5
        # Cox drivers: the biological values of the first n_drivers rna features
        self.beta = np.round(rng.choice([-1, 1], spec.n_drivers) * rng.uniform(0.3, 0.8, spec.n_drivers), 3)
        self.drivers = np.zeros((n, spec.n_drivers))
        rna_loadings = _loadings(spec, "rna", 0, spec.n_drivers)
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            self.drivers[start:stop] = self.latent[start:stop] @ rna_loadings + _rng(seed, "rna-driver-noise", start).standard_normal((stop - start, spec.n_drivers))
        self.drivers = (self.drivers - self.drivers.mean(0)) / self.drivers.std(0)
        eta = self.drivers @ self.beta + 0.03 * (self.age - 60)
        u = rng.random(n)
        shape, scale = 1.3, 2000.0
        event_time = scale * (-np.log(u) / np.exp(eta)) ** (1 / shape)  # Weibull proportional hazards
        censor_time = rng.uniform(200, 4000, n)
        self.os_time = np.minimum(event_time, censor_time).round() + 1
        self.os = event_time <= censor_time
        # who has which modality: a cohort-specific share, and some hospitals never send methylation
        self.coverage = {m: rng.uniform(0.6, 1.0, k) for m, _ in spec.modalities}
        no_methylation_sites = set(rng.choice(k * SITES_PER_COHORT, max(1, k * SITES_PER_COHORT // 5), replace=False).tolist())
        self.present = {}
        for m, _ in spec.modalities:
            has = rng.random(n) < self.coverage[m][self.cohort]
            if m == "methylation":
                has &= ~np.isin(self.site, list(no_methylation_sites))
            self.present[m] = has


def _loadings(spec: SynthSpec, modality: str, start: int, stop: int) -> np.ndarray:
    """Loadings of features ``start:stop`` (latent x features), generated per 1,000-feature block."""
    cols = []
    for block in range(start // 1000, (stop - 1) // 1000 + 1):
        w = _rng(spec.seed, "loadings", modality, block).normal(0, 0.7, (N_LATENT, 1000))
        w *= _rng(spec.seed, "sparsity", modality, block).random((N_LATENT, 1000)) < 0.3
        lo, hi = max(start, block * 1000), min(stop, (block + 1) * 1000)
        cols.append(w[:, lo - block * 1000: hi - block * 1000])
    return np.hstack(cols)


def _chunks(spec: SynthSpec, design: _Design, modality: str, p: int) -> Iterator[tuple[list[str], np.ndarray]]:
    seed = spec.seed
    loadings = _loadings(spec, modality, 0, p).astype(np.float32)
    k = spec.cohorts
    cohort_shift = _rng(seed, "cohort-shift", modality).normal(0, 0.5, (k, p)).astype(np.float32)
    site_shift = _rng(seed, "site-shift", modality).normal(0, 0.3, k * SITES_PER_COHORT).astype(np.float32)
    site_scale = _rng(seed, "site-scale", modality).uniform(0.8, 1.25, k * SITES_PER_COHORT).astype(np.float32)
    base = _rng(seed, "baseline", modality).normal(6, 2, p).astype(np.float32)
    for start in range(0, spec.patients, CHUNK):
        stop = min(start + CHUNK, spec.patients)
        rows = np.flatnonzero(design.present[modality][start:stop]) + start
        if not len(rows):
            continue
        z = design.latent[rows].astype(np.float32)
        values = z @ loadings
        values += _rng(seed, "noise", modality, start).standard_normal((stop - start, p), dtype=np.float32)[rows - start]
        if modality == "rna":  # the drivers' biological values come from their own noise stream (see _Design)
            d = spec.n_drivers
            values[:, :d] = (z @ loadings[:, :d] + _rng(seed, "rna-driver-noise", start).standard_normal((stop - start, d))[rows - start]).astype(np.float32)
        values += cohort_shift[design.cohort[rows]]
        values = values * site_scale[design.site[rows], None] + site_shift[design.site[rows], None]
        if modality == "methylation":
            values = 1 / (1 + np.exp(-(values - 0.5) * 0.8))
        elif modality == "pathology":
            values = np.exp(values * 0.3)
        elif modality == "mutation":
            values = (values > 1.8).astype(np.float32)
        elif modality in ("rna", "mirna", "protein"):
            values = values + base
        yield [design.ids[i] for i in rows], np.ascontiguousarray(values, dtype=np.float32)


def content(spec: SynthSpec) -> DatasetContent:
    design = _Design(spec)
    n = spec.patients
    cohorts = [f"synth{c}" for c in design.cohort]
    hospitals = [f"site{s:02d}" for s in design.site]
    clinical = pl.DataFrame({
        "patient_id": design.ids, "cohort": cohorts, "cancer_type": [c.upper() for c in cohorts],
        "subtype": [f"S{s}" for s in design.subtype], "hospital": hospitals, "tss_code": hospitals,
        "age": design.age, "sex": np.where(design.is_female, "FEMALE", "MALE").tolist(),
        "os": design.os.astype(np.int8), "os_time": design.os_time,
    })
    provenance = Provenance(source="oncobench-synthetic", files=(), transform="generated (see the card)", licence="CC0",
                            citation="synthetic; not patient data", comparable_across_cohorts=False)
    streamed = {m: StreamedModality([f"{PREFIX[m]}{j:05d}" for j in range(p)],
                                    (lambda m=m, p=p: _chunks(spec, design, m, p)), provenance)
                for m, p in spec.modalities}
    from oncobench.datasets.harmonize import FeatureBlock

    clinical_block = FeatureBlock("clinical", tuple(design.ids), ("age", "is_female"),
                                  np.column_stack([design.age, design.is_female]).astype(np.float32),
                                  Provenance(source="oncobench-synthetic", files=(), transform="generated", licence="CC0",
                                             citation="synthetic", comparable_across_cohorts=True))
    strata = [f"{c}|{int(e)}" for c, e in zip(cohorts, design.os)]
    kfold = SplitSpec("kfold", n_folds=5, n_repeats=1, seed=spec.seed)
    site = SplitSpec("site", n_folds=min(5, spec.cohorts * SITES_PER_COHORT), n_repeats=1, seed=spec.seed, valid_splits=4)
    splits = {"kfold": (draw_split(design.ids, strata, kfold), kfold),
              "site": (draw_split(design.ids, cohorts, site, groups=hospitals), site)}
    planted = {f"g{j:05d}": float(b) for j, b in enumerate(design.beta)}
    card = {
        "description": f"SYNTHETIC cohort (not patient data): {n} patients, {spec.cohorts} cohorts, "
                       f"{SITES_PER_COHORT} hospitals each, modalities " + ", ".join(f"{m} {p}" for m, p in spec.modalities)
                       + f"; seed {spec.seed}. Generated by oncobench.datasets.recipes.synthetic.",
        "synthetic": True,
        "planted": {"cox_coefficients": planted, "age_coefficient": 0.03, "baseline": "Weibull shape 1.3 scale 2000 days",
                    "censoring": "uniform 200-4000 days", "n_latent": N_LATENT, "n_subtypes": N_SUBTYPES},
        "licence": "CC0", "citation": "synthetic; not patient data",
    }
    return DatasetContent(
        name=spec.name, version=spec.version, clinical=clinical, blocks={"clinical": [clinical_block]}, streamed=streamed,
        splits=splits, split_checks={"kfold": {}, "site": {"groups": dict(zip(design.ids, hospitals)), "group_name": "hospital"}},
        card=card, endpoints=[{"name": "OS", "event": "os", "time": "os_time", "unit": "days", "source": "synthetic Cox model"}],
        labels=["cancer_type", "subtype"],
    )


def build(spec: SynthSpec, home: Path | None = None) -> Path:
    return write_dataset(content(spec), home=home)
