"""MOGONET's ROSMAP benchmark files: three omics views and AD / control labels on the authors' fixed split.

The folder (``$ONCOBENCH_RAW_DIR/mogonet_rosmap_reproduction/ROSMAP``, copied from GitHub ``txWang/MOGONET``)
holds, per view v = 1 (mRNA), 2 (DNA methylation), 3 (miRNA), ``v_tr.csv`` / ``v_te.csv`` (one patient per row,
comma-separated, no header, values min-max scaled to [0, 1] by the authors) and ``v_featname.csv`` (one feature
name per line), plus ``labels_tr.csv`` / ``labels_te.csv`` (0 = normal control, 1 = Alzheimer's disease). Rows are
anonymous: patients are matched across views by row position only, which is how the authors' code reads them.
ROSMAP is not cancer data; it is here only to check the project's MOGONET against the published figures.

References
----------
Wang T et al. MOGONET integrates multi-omics data using graph convolutional networks allowing patient
classification and biomarker identification. Nat Commun 12:3445, 2021.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oncobench.datasets.errors import InputFormatError

VIEWS = {"mrna": 1, "methylation": 2, "mirna": 3}
LABELS = {0: "NC", 1: "AD"}  # the folder's README: 0 normal control, 1 Alzheimer's disease
FOLDER = Path("mogonet_rosmap_reproduction") / "ROSMAP"


@dataclass(frozen=True)
class RosmapSplit:
    """One side of the authors' split: per-view matrices (patients x features) and integer labels."""

    views: dict[str, np.ndarray]
    labels: np.ndarray


@dataclass(frozen=True)
class Rosmap:
    train: RosmapSplit
    test: RosmapSplit
    feature_names: dict[str, tuple[str, ...]]


def _matrix(path: Path, columns: int | None = None) -> np.ndarray:
    """A headerless numeric CSV as float64, refusing ragged rows, non-numbers and NaN with the row and column."""
    if not path.is_file():
        raise InputFormatError(path, "file not found", expected="a MOGONET ROSMAP file")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            cells = line.strip().split(",")
            if columns is not None and len(cells) != columns:
                raise InputFormatError(path, "wrong number of values", row=number, expected=f"{columns} values",
                                       found=str(len(cells)))
            try:
                values = [float(c) for c in cells]
            except ValueError:
                bad = next(i for i, c in enumerate(cells) if not _is_float(c))
                raise InputFormatError(path, "not a number", row=number, column=str(bad + 1), expected="a number",
                                       found=repr(cells[bad])) from None
            bad = [i for i, v in enumerate(values) if not np.isfinite(v)]
            if bad:
                raise InputFormatError(path, "missing or infinite value", row=number, column=str(bad[0] + 1),
                                       expected="a finite number", found=repr(cells[bad[0]]))
            columns = len(values)
            rows.append(values)
    if not rows:
        raise InputFormatError(path, "empty file", expected="one patient per row")
    return np.asarray(rows, dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _labels(path: Path) -> np.ndarray:
    values = _matrix(path, columns=1)[:, 0]
    bad = np.flatnonzero(~np.isin(values, list(LABELS)))
    if bad.size:
        raise InputFormatError(path, "unknown label", row=int(bad[0]) + 1, expected=f"one of {sorted(LABELS)}",
                               found=repr(values[bad[0]]))
    return values.astype(np.int64)


def read_rosmap(folder: str | Path) -> Rosmap:
    """Read the ROSMAP folder; every view's rows must match its labels and its feature-name list."""
    folder = Path(folder)
    names = {}
    for view, v in VIEWS.items():
        path = folder / f"{v}_featname.csv"
        if not path.is_file():
            raise InputFormatError(path, "file not found", expected="a MOGONET ROSMAP file")
        names[view] = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    sides = {}
    for side in ("tr", "te"):
        labels = _labels(folder / f"labels_{side}.csv")
        views = {}
        for view, v in VIEWS.items():
            path = folder / f"{v}_{side}.csv"
            x = _matrix(path, columns=len(names[view]))
            if len(x) != len(labels):
                raise InputFormatError(path, "row count differs from the labels", expected=f"{len(labels)} rows "
                                       f"(labels_{side}.csv)", found=str(len(x)))
            views[view] = x
        sides[side] = RosmapSplit(views, labels)
    return Rosmap(sides["tr"], sides["te"], names)
