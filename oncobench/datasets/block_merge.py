"""Merge a second source's block of one modality into the first's, by patient and feature name, with a rule.

Where both sources give a value for the same (patient, feature), the first (``base``) wins; how many such
cells there were, and how many differed, is returned so the recipe records it in the manifest.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from oncobench.datasets.harmonize import FeatureBlock


def merge_into(base: FeatureBlock, extra: FeatureBlock, *, atol: float = 1e-6) -> tuple[FeatureBlock, dict]:
    """``base`` with ``extra``'s patients and features added; on an overlapping measured cell ``base`` wins."""
    if base.modality != extra.modality:
        raise ValueError(f"cannot merge {extra.modality} into {base.modality}")
    patients = list(base.patients) + [p for p in extra.patients if p not in set(base.patients)]
    features = list(base.features) + [f for f in extra.features if f not in set(base.features)]
    prow = {p: i for i, p in enumerate(patients)}
    fcol = {f: j for j, f in enumerate(features)}
    values = np.full((len(patients), len(features)), np.nan, dtype=np.float32)
    values[: len(base.patients), : len(base.features)] = base.values
    rows = np.array([prow[p] for p in extra.patients], dtype=np.intp)
    cols = np.array([fcol[f] for f in extra.features], dtype=np.intp)
    current = values[np.ix_(rows, cols)]
    both = ~np.isnan(current) & ~np.isnan(extra.values)
    differ = both & ~np.isclose(current, extra.values, atol=atol, rtol=0)
    values[np.ix_(rows, cols)] = np.where(np.isnan(current), extra.values, current)
    record = {
        "modality": base.modality, "winner": base.provenance.source, "other": extra.provenance.source,
        "rule": f"{base.provenance.source} wins on a (patient, feature) both give; {extra.provenance.source} fills the rest",
        "overlap_patients": len(set(base.patients) & set(extra.patients)),
        "overlap_features": len(set(base.features) & set(extra.features)),
        "overlap_cells": int(both.sum()), "cells_differing": int(differ.sum()),
        "patients_added": len(patients) - len(base.patients), "features_added": len(features) - len(base.features),
    }
    bp, ep = base.provenance, extra.provenance
    prov = replace(
        bp, source=f"{bp.source}+{ep.source}", files=bp.files + ep.files,
        transform=f"{bp.source}: {bp.transform} | {ep.source}: {ep.transform}",
        licence=f"{bp.licence}; {ep.licence}", citation=f"{bp.citation}; {ep.citation}",
        comparable_across_cohorts=bp.comparable_across_cohorts and ep.comparable_across_cohorts,
        notes=f"{record['rule']} ({record['overlap_cells']} shared cells, {record['cells_differing']} differed)",
    )
    return FeatureBlock(base.modality, tuple(patients), tuple(features), values, prov), record
