"""Harmonization: the common block every reader returns, name clean-up, numeric checks, duplicates.

Every reader of a raw format returns :class:`FeatureBlock` objects (patient x feature float32 matrices
keyed by TCGA patient barcode or the source's own patient ID) and/or polars tables keyed by
``patient_id``. The recipes only combine these; they never parse a raw file themselves.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.provenance import Provenance

log = logging.getLogger(__name__)

# How TCGA clinical tables write "no value": read as null, never as a category.
MISSING_MARKERS: tuple[str, ...] = (
    "[Not Available]", "[Unknown]", "[Not Applicable]", "[Discrepancy]", "[Not Evaluated]", "[Completed]",
    "#N/A", "Not Available", "Unknown", "NA", "",
)

MODALITIES: tuple[str, ...] = (
    "rna", "cnv", "mutation", "mirna", "methylation", "protein", "pathology", "radiology", "clinical",
    "methylation_normal",  # matched solid-tissue-normal samples, keyed by patient: only for tasks that name it
)


@dataclass(frozen=True)
class FeatureBlock:
    """A patient x feature float32 matrix from one source, for one modality.

    ``values[i, j]`` is NaN when feature ``j`` was not measured for patient ``i``; a measured zero is 0.
    ``patients`` are unique; ``features`` are unique, cleaned names.
    """

    modality: str
    patients: tuple[str, ...]
    features: tuple[str, ...]
    values: np.ndarray
    provenance: Provenance

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"unknown modality {self.modality!r}; expected one of {', '.join(MODALITIES)}")
        if self.values.dtype != np.float32:
            raise TypeError(f"{self.provenance.source}/{self.modality}: values must be float32, got {self.values.dtype}")
        if self.values.shape != (len(self.patients), len(self.features)):
            raise ValueError(
                f"{self.provenance.source}/{self.modality}: values shape {self.values.shape} does not match "
                f"{len(self.patients)} patients x {len(self.features)} features"
            )
        for kind, names in (("patient", self.patients), ("feature", self.features)):
            if len(set(names)) != len(names):
                dup = next(n for n in names if names.count(n) > 1)
                raise ValueError(f"{self.provenance.source}/{self.modality}: duplicate {kind} {dup!r}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def subset(self, patients: Sequence[str] | None = None, features: Sequence[str] | None = None) -> "FeatureBlock":
        """Rows/columns in the order asked (names must exist)."""
        rows = [self.patients.index(p) for p in patients] if patients is not None else slice(None)
        cols = [self.features.index(f) for f in features] if features is not None else slice(None)
        values = np.ascontiguousarray(self.values[rows][:, cols], dtype=np.float32)
        return replace(
            self,
            patients=tuple(patients) if patients is not None else self.patients,
            features=tuple(features) if features is not None else self.features,
            values=values,
        )


def clean_feature_name(name: str) -> str:
    """Trim, collapse inner white space, drop surrounding quotes; keep case (gene symbols are case-sensitive)."""
    text = str(name).strip().strip('"').strip("'").strip()
    return re.sub(r"\s+", " ", text)


def to_float32(
    values: np.ndarray,
    *,
    path: str | Path,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    allow_nan: bool = True,
) -> np.ndarray:
    """Convert an object/numeric 2-D array to float32, refusing non-numeric cells and +-Inf.

    Empty strings and ``None`` become NaN (not measured). The error names the first bad cell's row
    label and column.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        with np.errstate(over="ignore"):  # out-of-range values become inf and are reported below
            out = arr.astype(np.float32)
        # a float64 value beyond float32 range would silently become Inf
        bad = ~np.isfinite(out) & ~np.isnan(arr.astype(np.float64)) if arr.dtype.kind == "f" else np.zeros(arr.shape, bool)
        bad |= np.isinf(out)
    else:
        try:  # fast path: every cell parses
            text = np.where(np.isin(arr, [None, "", "NA", "NaN", "nan"]), "nan", arr)
            as64 = np.char.strip(text.astype(str)).astype(np.float64)
        except ValueError:
            as64 = None
        if as64 is None:  # find the first bad cell for the message
            for (i, j), cell in np.ndenumerate(arr):
                if cell is None or (isinstance(cell, str) and cell.strip() in ("", "NA", "NaN", "nan")):
                    continue
                try:
                    float(cell)
                except (TypeError, ValueError):
                    raise InputFormatError(
                        path, "non-numeric cell", row=row_labels[i], column=str(column_labels[j]),
                        expected="a number (or empty for missing)", found=repr(cell),
                    ) from None
        out = as64.astype(np.float32)
        bad = np.isinf(out)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputFormatError(
            path, "infinite value", row=row_labels[i], column=str(column_labels[j]),
            expected="a finite number", found=str(arr[i, j]),
        )
    if not allow_nan and np.isnan(out).any():
        i, j = map(int, np.argwhere(np.isnan(out))[0])
        raise InputFormatError(
            path, "missing value (NaN)", row=row_labels[i], column=str(column_labels[j]),
            expected="a finite number (this file declares no missing values)", found="NaN",
        )
    return out


def collapse_duplicate_rows(
    ids: Sequence[str],
    values: np.ndarray,
    *,
    path: str | Path,
    order_key: Sequence[str] | None = None,
    on_conflict: str = "error",
) -> tuple[list[str], np.ndarray, int]:
    """One row per ID.

    Rows sharing an ID with identical values (NaN equal to NaN) collapse silently. Conflicting rows
    raise :class:`InputFormatError` when ``on_conflict="error"``; with ``on_conflict="first"`` the row
    whose ``order_key`` sorts first is kept (a deterministic rule, e.g. the lowest slide name).
    Returns the unique IDs in first-seen order, their rows and the number of conflicting IDs.
    """
    if on_conflict not in ("error", "first"):
        raise ValueError("on_conflict must be 'error' or 'first'")
    keys = list(order_key) if order_key is not None else [""] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: (keys[i], i))
    chosen: dict[str, int] = {}
    conflicting: set[str] = set()  # IDs, not rows: a patient with 3 disagreeing slides counts once
    for i in order:
        pid = ids[i]
        if pid not in chosen:
            chosen[pid] = i
            continue
        a, b = values[chosen[pid]], values[i]
        if not np.array_equal(a, b, equal_nan=True):
            if on_conflict == "error":
                j = int(np.argwhere(~((a == b) | (np.isnan(a) & np.isnan(b))))[0][0])
                raise InputFormatError(
                    path, f"duplicate patient ID {pid!r} with conflicting values", row=i + 1,
                    column=f"#{j}", expected="one row per patient, or identical duplicates",
                    found=f"{float(a[j])!r} vs {float(b[j])!r}",
                )
            conflicting.add(pid)
    first_seen = []
    seen: set[str] = set()
    for pid in ids:
        if pid not in seen:
            seen.add(pid)
            first_seen.append(pid)
    rows = np.stack([values[chosen[p]] for p in first_seen]) if first_seen else values[:0]
    return first_seen, np.ascontiguousarray(rows, dtype=np.float32), len(conflicting)


def refuse_degenerate(values: np.ndarray, *, path: str | Path, what: str) -> None:
    """Raise :class:`DegenerateBlockError` when a block has no information (all zero, all NaN, or constant)."""
    from oncobench.datasets.errors import DegenerateBlockError

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise DegenerateBlockError(path, f"{what} has no finite values", expected="measured values")
    if np.all(finite == finite.flat[0]):
        raise DegenerateBlockError(
            path, f"{what} is constant ({float(finite.flat[0])!r} in all {finite.size} cells): refused, not ingested",
            expected="varying measured values",
        )


def frame_block(
    frame,
    *,
    path: str | Path,
    id_column: str,
    feature_columns: Sequence[str],
    modality: str,
    provenance: Provenance,
    prefix: str = "",
    order_key: Sequence[str] | None = None,
    on_conflict: str = "error",
    allow_nan: bool = True,
) -> FeatureBlock:
    """A pandas table (one row per patient, or per slide with ``order_key``) as a FeatureBlock.

    IDs are TCGA barcodes reduced to patient keys; feature names get ``prefix``. Missing columns,
    empty tables, non-numeric cells and conflicting duplicates raise :class:`InputFormatError`.
    """
    from oncobench.datasets.barcode import harmonize_barcode

    missing = [c for c in [id_column, *feature_columns] if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected=f"an ID column {id_column!r} and the feature columns")
    if len(frame) == 0:
        raise InputFormatError(path, "header only, no rows", expected="one row per patient")
    raw_ids = [str(v).strip() for v in frame[id_column]]
    try:
        ids = [harmonize_barcode(v) for v in raw_ids]
    except ValueError as exc:
        row = next(i for i, v in enumerate(raw_ids) if not v.upper().startswith("TCGA"))
        raise InputFormatError(path, str(exc), row=row + 2, column=id_column, expected="a TCGA barcode") from None
    values = to_float32(frame[list(feature_columns)].to_numpy(), path=path,
                        row_labels=[f"{i + 2} ({p})" for i, p in enumerate(raw_ids)],
                        column_labels=list(feature_columns), allow_nan=allow_nan)
    if order_key is not None and on_conflict == "first":
        # for per-slide tables: the key decides which row represents the patient
        order = sorted(range(len(ids)), key=lambda i: (order_key[i], i))
        kept: dict[str, int] = {}
        for i in order:
            kept.setdefault(ids[i], i)
        unique = sorted(kept)
        rows = values[[kept[p] for p in unique]]
    else:
        unique, rows, _ = collapse_duplicate_rows(ids, values, path=path, on_conflict=on_conflict)
        order = np.argsort(np.array(unique))
        unique, rows = [unique[i] for i in order], rows[order]
    features = tuple(prefix + clean_feature_name(c) for c in feature_columns)
    return FeatureBlock(modality, tuple(unique), features, np.ascontiguousarray(rows, dtype=np.float32), provenance)


def numeric_column(frame, column: str, *, path: str | Path, first_row: int = 2, expected: str = "a number") -> list[float | None]:
    """A pandas column as floats (None for missing); a non-numeric cell raises naming its file row and column.

    ``first_row`` is the file row number of the frame's first data row (2 below a one-line header).
    """
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column].notna() & values.isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputFormatError(path, "non-numeric cell", row=i + first_row, column=column, expected=expected,
                               found=repr(frame[column].iloc[i]))
    return [None if pd.isna(v) else float(v) for v in values]
