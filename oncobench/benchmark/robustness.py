"""The missing-modality protocol: test-time scores with each modality removed in turn, and with random fractions of
(patient, modality) pairs removed under seeded masks, beside the full-data score.

Removing a modality means what a missing modality means everywhere in OncoBench: the patient's row becomes NaN
("not measured") before the model's own preprocessing sees it. At least one modality is kept per patient.
Metric names: ``robust_without_<modality>`` and ``robust_missing_<fraction>`` (the task's primary metric).
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np
import polars as pl

FRACTIONS = (0.25, 0.5, 0.75)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "little")


def conditions(X: Mapping[str, np.ndarray], seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Named test inputs: each modality removed in turn, then random fractions removed (seeded)."""
    mods = list(X)
    out: dict[str, dict[str, np.ndarray]] = {}
    if len(mods) < 2:
        return out
    present = {m: ~np.all(np.isnan(X[m]), axis=1) for m in mods}
    for m in mods:
        others = np.logical_or.reduce([present[o] for o in mods if o != m])
        drop = present[m] & others  # never leave a patient with nothing
        out[f"without_{m}"] = {k: np.where(drop[:, None], np.nan, v) if k == m else v for k, v in X.items()}
    n = len(next(iter(X.values())))
    for fraction in FRACTIONS:
        rng = np.random.default_rng(_seed(seed, "missing", fraction))
        remove = rng.random((n, len(mods))) < fraction
        have = np.column_stack([present[m] for m in mods])
        kept = have & ~remove
        # keep one measured modality (the first one the patient has) where the mask would remove them all
        lost = ~kept.any(axis=1) & have.any(axis=1)
        first = np.argmax(have, axis=1)
        kept[lost, first[lost]] = True
        out[f"missing_{fraction:g}"] = {m: np.where((~kept[:, j])[:, None], np.nan, X[m]) for j, m in enumerate(mods)}
    return out


def score_conditions(task: Any, frames: Mapping[str, pl.DataFrame], split: Any) -> dict[str, float]:
    """``robust_<condition>`` -> the task's primary metric on that condition's predictions (NaN if undefined)."""
    out = {}
    for name, frame in frames.items():
        try:
            out[f"robust_{name}"] = float(task.evaluate(frame, split=split).metrics[task.spec.primary])
        except ValueError:
            out[f"robust_{name}"] = float("nan")
    return out
