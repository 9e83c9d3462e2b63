"""Copied predictions: seeds of one submission that hold the same values, or a submission that repeats an entry.

Two prediction tables are the same when they cover the same patients and columns and every value differs by at
most ``TOLERANCE`` (absolute): a copy nudged by 1e-12 is still a copy. Tables that cannot be compared as numbers
(a text column, other columns) are not the same; the evaluator names what is wrong with them.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import polars as pl

ID = "patient_id"
TOLERANCE = 1e-9


def _matrix(frame: pl.DataFrame) -> tuple[tuple[str, ...], list, np.ndarray] | None:
    """(columns, sorted patient IDs, values in that order) or None when the table is not plain numbers by patient."""
    if ID not in frame.columns or frame[ID].dtype != pl.String:
        return None
    columns = tuple(sorted(c for c in frame.columns if c != ID))
    if not all(frame[c].dtype.is_numeric() for c in columns):
        return None
    ordered = frame.sort(ID)
    values = ordered.select(columns).cast(pl.Float64).to_numpy() if columns else np.empty((len(frame), 0))
    return columns, ordered[ID].to_list(), values


def same_predictions(a: pl.DataFrame, b: pl.DataFrame, tolerance: float = TOLERANCE) -> bool:
    """Whether ``a`` and ``b`` hold the same predictions for the same patients, within ``tolerance``."""
    ma, mb = _matrix(a), _matrix(b)
    if ma is None or mb is None or ma[0] != mb[0] or ma[1] != mb[1]:
        return False
    va, vb = ma[2], mb[2]
    both_nan = np.isnan(va) & np.isnan(vb)
    with np.errstate(invalid="ignore"):
        close = np.abs(va - vb) <= tolerance
    return bool(np.all(close | both_nan))


def _seed_text(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def copied_seeds(frames: Mapping[tuple[int, int], pl.DataFrame]) -> list[str]:
    """A problem per fold whose seeds hold the same predictions (seeds must be independent runs)."""
    problems = []
    for fold in sorted({f for f, _ in frames}):
        groups: list[list[int]] = []
        for seed in sorted(s for f, s in frames if f == fold):
            for group in groups:
                if same_predictions(frames[(fold, group[0])], frames[(fold, seed)]):
                    group.append(seed)
                    break
            else:
                groups.append([seed])
        for group in groups:
            if len(group) > 1:
                problems.append(f"fold {fold}: seeds {_seed_text(group)} hold the same predictions (equal within "
                                f"{TOLERANCE:g}); seeds must come from independent runs (submit one seed if the method "
                                "is deterministic)")
    return problems


def copied_from(new: Mapping[tuple[int, int], pl.DataFrame], old: Mapping[tuple[int, int], pl.DataFrame]) -> bool:
    """Whether every (fold, seed) table of ``new`` equals some table of the same fold in ``old`` (seed numbers
    do not matter: renumbering a copy does not make it new)."""
    if not new:
        return False
    return all(any(same_predictions(frame, theirs) for (f, _), theirs in old.items() if f == fold)
               for (fold, _), frame in new.items())
