"""Fixed, patient-grouped, stratified, seeded splits, stored as Parquet ``(patient_id, repeat, fold, role)``.

Schemes
-------
``kfold``    5 folds x repeats; in each (repeat, fold) one fold is ``test``, and a stratified eighth of
             the rest is ``valid`` (train 70 %, valid 10 %, test 20 %).
``holdout``  one train / valid / test partition (70 / 10 / 20).
``site``     like ``kfold`` but grouped by hospital: tissue-source sites of one institution share a
             group, so no hospital is on both sides (train on some hospitals, test on others).
imported     published splits (PORPOISE's 5-fold CV), kept as published.

Splits are drawn once, when a dataset version is built, from an explicit seed; they are never
regenerated on a user's machine.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl
from sklearn.model_selection import StratifiedGroupKFold

from oncobench.datasets.errors import SplitError

log = logging.getLogger(__name__)

ROLES = ("train", "valid", "test")
SPLIT_SCHEMA = {"patient_id": pl.String, "repeat": pl.Int16, "fold": pl.Int16, "role": pl.String}


@dataclass(frozen=True)
class SplitSpec:
    """How a scheme is drawn (recorded in the manifest)."""

    scheme: str
    n_folds: int = 5
    n_repeats: int = 1
    seed: int = 0
    valid_splits: int = 8  # valid = 1/valid_splits of the non-test patients

    def describe(self) -> dict:
        return {"scheme": self.scheme, "n_folds": self.n_folds, "n_repeats": self.n_repeats, "seed": self.seed,
                "valid_fraction_of_non_test": 1 / self.valid_splits}


def _seed(seed: int, *parts: object) -> int:
    # Never Python's hash(): it is salted per process.
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def _rare_safe(strata: np.ndarray, n_splits: int) -> np.ndarray:
    """Merge strata with fewer members than splits into one 'rare' stratum (sklearn cannot stratify them)."""
    values, counts = np.unique(strata, return_counts=True)
    rare = set(values[counts < n_splits])
    if not rare:
        return strata
    if sum(counts[counts < n_splits]) < n_splits:  # still too small: fold them into the largest stratum
        target = values[np.argmax(counts)]
    else:
        target = "__rare__"
    return np.array([target if s in rare else s for s in strata], dtype=object)


def _grouped_folds(strata: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """Fold number per row: stratified by ``strata``, grouped by ``groups``."""
    if len(np.unique(groups)) < n_splits:
        raise SplitError(f"only {len(np.unique(groups))} groups for {n_splits} folds; expected at least {n_splits}")
    folds = np.full(len(strata), -1, dtype=np.int16)
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed % (2**32 - 1))
    for k, (_, test) in enumerate(cv.split(np.zeros(len(strata)), _rare_safe(strata, n_splits), groups)):
        folds[test] = k
    return folds


def draw_split(
    patients: Sequence[str],
    strata: Sequence[str],
    spec: SplitSpec,
    groups: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Draw a scheme; returns rows ``(patient_id, repeat, fold, role)`` for every patient in every (repeat, fold).

    ``groups`` keeps rows together (the patient itself by default; the hospital for ``site``).
    """
    patients = np.asarray(patients, dtype=object)
    if len(set(patients)) != len(patients):
        raise SplitError("duplicate patient IDs given to the split; expected one row per patient")
    strata = np.asarray([str(s) for s in strata], dtype=object)
    groups = np.asarray(groups if groups is not None else patients, dtype=object)
    frames = []
    n_folds = 1 if spec.scheme == "holdout" else spec.n_folds
    for repeat in range(spec.n_repeats):
        if spec.scheme == "holdout":
            outer = _grouped_folds(strata, groups, 5, _seed(spec.seed, spec.scheme, repeat))
            outer = np.where(outer == 0, 0, -1)  # fold 0 of 5 is the test set (20 %)
        else:
            outer = _grouped_folds(strata, groups, spec.n_folds, _seed(spec.seed, spec.scheme, repeat))
        for fold in range(n_folds):
            role = np.full(len(patients), "train", dtype=object)
            is_test = outer == fold
            role[is_test] = "test"
            rest = np.flatnonzero(~is_test)
            inner = _grouped_folds(strata[rest], groups[rest], spec.valid_splits, _seed(spec.seed, spec.scheme, repeat, fold))
            role[rest[inner == 0]] = "valid"
            frames.append(pl.DataFrame({
                "patient_id": patients.tolist(), "repeat": [repeat] * len(patients), "fold": [fold] * len(patients),
                "role": role.tolist(),
            }, schema=SPLIT_SCHEMA))
    table = pl.concat(frames)
    return table


def check_split(
    table: pl.DataFrame,
    *,
    name: str,
    labels: dict[str, str] | None = None,
    groups: dict[str, str] | None = None,
    group_name: str = "site",
) -> None:
    """Raise :class:`SplitError` unless the split holds its invariants.

    Per (repeat, fold): no duplicate patient; roles known; no patient on two sides (implied by one row
    per patient); every ``labels`` class seen in valid/test present in train; with ``groups``, no
    group (hospital) on both train and test/valid.
    """
    missing = set(SPLIT_SCHEMA) - set(table.columns)
    if missing:
        raise SplitError(f"{name}: missing columns {sorted(missing)}; expected {list(SPLIT_SCHEMA)}")
    bad_roles = set(table["role"].unique()) - set(ROLES)
    if bad_roles:
        raise SplitError(f"{name}: unknown roles {sorted(bad_roles)}; expected {ROLES}")
    dup = table.group_by(["repeat", "fold", "patient_id"]).len().filter(pl.col("len") > 1)
    if dup.height:
        r = dup.row(0, named=True)
        raise SplitError(f"{name}: patient {r['patient_id']} appears {r['len']} times in repeat {r['repeat']} fold {r['fold']}")
    for (repeat, fold), part in table.group_by(["repeat", "fold"], maintain_order=True):
        train = part.filter(pl.col("role") == "train")["patient_id"].to_list()
        held = part.filter(pl.col("role") != "train")["patient_id"].to_list()
        if not train or not part.filter(pl.col("role") == "test").height:
            raise SplitError(f"{name}: repeat {repeat} fold {fold} has an empty train or test set")
        if labels is not None:
            seen = {labels[p] for p in train if labels.get(p) is not None}
            lost = sorted({labels[p] for p in held if labels.get(p) is not None} - seen)
            if lost:
                raise SplitError(f"{name}: repeat {repeat} fold {fold}: classes {lost} are in valid/test but not in train")
        if groups is not None:
            shared = {groups[p] for p in train if p in groups} & {groups[p] for p in held if p in groups}
            if shared:
                raise SplitError(f"{name}: repeat {repeat} fold {fold}: {group_name} {sorted(shared)[:5]} on both train and held-out sides")


def split_ids(table: pl.DataFrame, fold: int = 0, repeat: int = 0) -> tuple[list[str], list[str], list[str]]:
    """(train, valid, test) patient IDs of one (repeat, fold), sorted."""
    part = table.filter((pl.col("fold") == fold) & (pl.col("repeat") == repeat))
    if part.height == 0:
        folds = sorted(set(zip(table["repeat"].to_list(), table["fold"].to_list())))
        raise SplitError(f"no repeat {repeat} fold {fold}; available (repeat, fold): {folds[:10]}{' ...' if len(folds) > 10 else ''}")
    out = []
    for role in ROLES:
        out.append(sorted(part.filter(pl.col("role") == role)["patient_id"].to_list()))
    return out[0], out[1], out[2]


def write_split(table: pl.DataFrame, path: Path) -> None:
    """Write a split table sorted by (repeat, fold, patient) so the bytes are deterministic."""
    table = table.select(list(SPLIT_SCHEMA)).cast(SPLIT_SCHEMA).sort(["repeat", "fold", "patient_id"])
    tmp = path.with_name(f".{path.name}.tmp")
    table.write_parquet(tmp, compression="zstd", statistics=False)
    tmp.replace(path)
