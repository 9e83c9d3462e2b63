"""Published split files brought into the store as a split scheme (``oncobench splits import``).

Layouts
-------
``fold-csv``     one CSV per fold with ``train``, ``val``/``valid`` (optional) and ``test`` columns of patient
                 IDs, blank where a column runs out (PORPOISE, SurvPath); file *k* (in the order given) is fold *k*.
``long``         one table with a patient column (``patient_id``/``patient``/``case_id``/``sample``), ``fold``,
                 an optional ``repeat`` and a role column (``role``/``set``/``split``).
``subsampling``  repeated train/test subsamplings ``iter, patient_id, set``: iteration *i* becomes repeat *i*
                 (in sorted order, from 0), fold 0 (Wissel et al. 2023 published 100 of them for PAAD).
``id-lists``     one text file of IDs per split, named ``..._{train|val|test}_<k>.txt`` (the layout MLOmics
                 ships): split *k* becomes repeat *k* (in sorted order, from 0), fold 0.

Roles ``val``/``validation`` become ``valid``. IDs are harmonized like card IDs (TCGA sample, aliquot and
dotted barcodes become patient barcodes). A patient in two roles of one (repeat, fold) is refused; a
patient listed twice in one role is counted and kept once; IDs the dataset does not know are reported with
their count and left out; the coverage of the dataset's patients is reported.

Importing writes a NEW dataset version ``<version>+splits.<scheme>`` (every file of the base version
kept byte for byte, plus ``splits/<scheme>.parquet``, recorded in the manifest with the sha256 of every
imported file). Existing versions never change.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from oncobench.datasets.barcode import harmonize_barcode
from oncobench.datasets.errors import InputFormatError, SplitError
from oncobench.datasets.provenance import sha256_file
from oncobench.datasets.splits import SPLIT_SCHEMA, check_split, write_split

log = logging.getLogger(__name__)

LAYOUTS = ("fold-csv", "long", "subsampling", "id-lists")
ROLE_NAMES = {"train": "train", "training": "train", "val": "valid", "valid": "valid", "validation": "valid",
              "test": "test", "testing": "test"}
PATIENT_COLUMNS = ("patient_id", "patient", "case_id", "sample", "id")
ROLE_COLUMNS = ("role", "set", "split")


@dataclass
class ImportedSplit:
    """A validated imported split: the table and what was left out or counted on the way."""

    layout: str
    table: pl.DataFrame
    files: list[Path]
    unknown: dict[str, int] = field(default_factory=dict)  # ID as written -> times listed
    repeated_same_role: int = 0
    repeat_labels: list[str] = field(default_factory=list)
    n_dataset_patients: int = 0

    @property
    def covered(self) -> int:
        return int(self.table["patient_id"].n_unique())

    def role_counts(self) -> pl.DataFrame:
        """Patients per (repeat, fold, role)."""
        return self.table.group_by(["repeat", "fold", "role"]).len().sort(["repeat", "fold", "role"])

    def report_lines(self, scheme: str) -> list[str]:
        counts = self.role_counts()
        per_role = counts.group_by("role").agg(pl.col("len").min().alias("min"), pl.col("len").max().alias("max")).sort("role")
        n_repeats, n_folds = self.table["repeat"].n_unique(), self.table["fold"].n_unique()
        lines = [f"split {scheme} ({self.layout}): {n_repeats} repeats x {n_folds} folds from {len(self.files)} files; "
                 f"covers {self.covered} of the dataset's {self.n_dataset_patients} patients"]
        lines.append("patients per role and fold: " + ", ".join(
            f"{r['role']} {r['min']}" + (f"-{r['max']}" if r["max"] != r["min"] else "") for r in per_role.iter_rows(named=True)))
        if self.unknown:
            lines.append(f"{len(self.unknown)} IDs not in the dataset left out ({sum(self.unknown.values())} rows), "
                         f"e.g. {sorted(self.unknown)[:3]}")
        if self.repeated_same_role:
            lines.append(f"{self.repeated_same_role} repeated listings of a patient in the same role kept once")
        return lines

    def describe(self, scheme: str, root: Path | None = None) -> dict[str, Any]:
        """The manifest entry of the scheme."""
        def name(p: Path) -> str:
            try:
                return p.relative_to(root).as_posix() if root else p.name
            except ValueError:
                return p.name

        return {
            "scheme": scheme, "imported": True, "layout": self.layout,
            "files": [{"name": name(p), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in self.files],
            "repeat_labels": self.repeat_labels, "patients_covered": self.covered,
            "unknown_ids": len(self.unknown), "unknown_id_rows": sum(self.unknown.values()),
            "repeated_same_role": self.repeated_same_role,
            "roles": {r["role"]: {"min": r["min"], "max": r["max"]} for r in self.role_counts().group_by("role").agg(
                pl.col("len").min().alias("min"), pl.col("len").max().alias("max")).iter_rows(named=True)},
        }


def harmonize_id(raw: str) -> str:
    """A split file's ID as the store keys it (TCGA barcodes of any form -> patient barcode)."""
    text = raw.strip()
    if text.upper().replace(".", "-").replace("_", "-").startswith("TCGA-"):
        try:
            return harmonize_barcode(text)
        except ValueError:
            return text
    return text


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such split file")
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        import gzip

        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    sep = "\t" if "\t" in text.split("\n", 1)[0] else ","
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if any(c.strip() for c in r)]
    if not rows:
        raise InputFormatError(path, "empty file", expected="a header row and data rows")
    return [c.strip() for c in rows[0]], rows[1:]


def _column(path: Path, header: list[str], names: Sequence[str], what: str) -> int:
    lower = [h.lower() for h in header]
    for name in names:
        if name in lower:
            return lower.index(name)
    raise InputFormatError(path, f"no {what} column", expected=f"one of {list(names)}", found=f"columns {header}")


def _role(path: Path, raw: str, row: int | None) -> str:
    role = ROLE_NAMES.get(raw.strip().lower())
    if role is None:
        raise InputFormatError(path, f"unknown role {raw!r}", row=row, expected=f"one of {sorted(ROLE_NAMES)}")
    return role


def _fold_csv(paths: Sequence[Path]) -> list[tuple[str, int, int, str, str]]:
    out = []
    for fold, path in enumerate(paths):
        header, rows = _rows(path)
        roles = {j: ROLE_NAMES[h.lower()] for j, h in enumerate(header) if h.lower() in ROLE_NAMES}
        if "train" not in roles.values() or "test" not in roles.values():
            raise InputFormatError(path, "no train and test columns", expected="columns train, val (optional), test",
                                   found=f"columns {header}")
        for row in rows:
            for j, role in roles.items():
                if j < len(row) and row[j].strip():
                    out.append((row[j], 0, fold, role, path.name))
    return out


def _long(paths: Sequence[Path]) -> list[tuple[str, int, int, str, str]]:
    out = []
    for path in paths:
        header, rows = _rows(path)
        pid = _column(path, header, PATIENT_COLUMNS, "patient")
        fold = _column(path, header, ("fold",), "fold")
        role = _column(path, header, ROLE_COLUMNS, "role")
        lower = [h.lower() for h in header]
        rep = lower.index("repeat") if "repeat" in lower else None
        for line, row in enumerate(rows, start=2):
            try:
                r = int(row[rep]) if rep is not None else 0
                f = int(row[fold])
            except ValueError:
                raise InputFormatError(path, "repeat/fold not an integer", row=line, found=repr(row)) from None
            out.append((row[pid], r, f, _role(path, row[role], line), path.name))
    return out


def _subsampling(paths: Sequence[Path]) -> tuple[list[tuple[str, int, int, str, str]], list[str]]:
    raw = []
    for path in paths:
        header, rows = _rows(path)
        it = _column(path, header, ("iter", "iteration", "repeat", "resample"), "iteration")
        pid = _column(path, header, PATIENT_COLUMNS, "patient")
        role = _column(path, header, ROLE_COLUMNS, "set")
        for line, row in enumerate(rows, start=2):
            raw.append((row[pid], row[it].strip(), _role(path, row[role], line), path.name))
    labels = sorted({r[1] for r in raw}, key=lambda v: (0, int(v)) if v.lstrip("-").isdigit() else (1, v))
    index = {v: i for i, v in enumerate(labels)}
    return [(p, index[i], 0, role, f) for p, i, role, f in raw], labels


ID_LIST = re.compile(r"(train|training|valid|validation|val|test)[^0-9a-z]*(\d+)", re.IGNORECASE)


def _id_lists(paths: Sequence[Path]) -> tuple[list[tuple[str, int, int, str, str]], list[str]]:
    named = []
    for path in paths:
        match = None
        for match in ID_LIST.finditer(path.name):
            pass
        if match is None:
            raise InputFormatError(path, "cannot tell the role and split number from the file name",
                                   expected="a name like split_train_1.txt, split_val_1.txt, split_test_1.txt")
        named.append((path, ROLE_NAMES[match.group(1).lower()], match.group(2)))
    labels = sorted({k for _, _, k in named}, key=int)
    index = {k: i for i, k in enumerate(labels)}
    out = []
    for path, role, k in named:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such split file")
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            for token in line.replace(",", " ").split():
                out.append((token, index[k], 0, role, path.name))
    for k in labels:
        roles = {r for _, r, kk in named if kk == k}
        if not {"train", "test"} <= roles:
            raise InputFormatError(named[0][0].parent, f"split {k} has files for {sorted(roles)}", expected="train and test files")
    return out, labels


def read_split_files(layout: str, paths: Sequence[Path | str], *, patients: Sequence[str],
                     name: str = "imported split") -> ImportedSplit:
    """Read and validate published split files against a dataset's patients."""
    paths = [Path(p) for p in paths]
    if layout not in LAYOUTS:
        raise ValueError(f"unknown split layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if not paths:
        raise ValueError("no split files given")
    labels: list[str] = []
    if layout == "fold-csv":
        rows = _fold_csv(paths)
    elif layout == "long":
        rows = _long(paths)
    elif layout == "subsampling":
        rows, labels = _subsampling(paths)
    else:
        rows, labels = _id_lists(paths)
    known = set(patients)
    unknown: dict[str, int] = {}
    seen: dict[tuple[str, int, int], tuple[str, str]] = {}
    repeated = 0
    kept = []
    for raw, repeat, fold, role, file in rows:
        pid = harmonize_id(raw)
        if pid not in known:
            unknown[raw.strip()] = unknown.get(raw.strip(), 0) + 1
            continue
        key = (pid, repeat, fold)
        if key in seen:
            if seen[key][0] != role:
                first_role, first_file = seen[key]
                raise SplitError(f"{name}: patient {pid} is in {first_role} ({first_file}) and in {role} ({file}) of "
                                 f"repeat {repeat} fold {fold}; a patient may have one role per fold")
            repeated += 1
            continue
        seen[key] = (role, file)
        kept.append((pid, repeat, fold, role))
    if not kept:
        raise SplitError(f"{name}: none of the {len(unknown)} IDs in {', '.join(p.name for p in paths)} is a patient of the "
                         f"dataset, e.g. {sorted(unknown)[:3]}; expected the dataset's patient IDs")
    table = pl.DataFrame(kept, schema=list(SPLIT_SCHEMA), orient="row").cast(SPLIT_SCHEMA)
    check_split(table, name=name)
    if unknown:
        log.warning("%s: %d IDs not in the dataset left out (%d rows), e.g. %s", name, len(unknown),
                    sum(unknown.values()), sorted(unknown)[:3])
    return ImportedSplit(layout, table, paths, unknown, repeated, labels, len(known))


def import_splits(dataset: str, scheme: str, layout: str, files: Sequence[Path | str], *,
                  version: str | None = None) -> tuple[Path, ImportedSplit]:
    """Import split files into ``dataset`` (``name[@version]``) as ``scheme``; returns the new version's folder."""
    from oncobench.datasets.dataset import load_dataset
    from oncobench.datasets.derive import derive_version

    ds = load_dataset(dataset)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", scheme):
        raise ValueError(f"scheme name {scheme!r}: expected letters, digits, '.', '_' or '-'")
    if scheme in ds.schemes:
        raise SplitError(f"{ds.id} already has a split scheme {scheme!r}; choose another name")
    imported = read_split_files(layout, files, patients=ds.patients, name=f"{ds.id}/{scheme}")
    entry = imported.describe(scheme) | {"n_folds": int(imported.table["fold"].n_unique()),
                                         "n_repeats": int(imported.table["repeat"].n_unique())}

    def add(writer) -> None:
        write_split(imported.table, writer.path(f"splits/{scheme}.parquet"))

    def update(manifest: dict[str, Any]) -> None:
        manifest["splits"] = {**manifest.get("splits", {}), scheme: entry}

    folder = derive_version(ds, version or f"{ds.version}+splits.{scheme}", add, update,
                            change=f"split scheme {scheme!r} imported ({layout})")
    return folder, imported
