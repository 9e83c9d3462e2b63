"""Bring your own cohort: a wide matrix per modality plus a clinical table, described by a TOML dataset card.

Example card (paths are relative to the card's folder and may not leave it)::

    name = "my-cohort"
    version = "1"
    description = "..."
    licence = "CC BY 4.0"
    citation = "..."

    [clinical]
    path = "clinical.csv"           # .csv, .tsv or .parquet
    id_column = "patient"
    cohort_column = "site"          # optional; default: the card's name for every patient
    event_column = "os_event"       # optional survival endpoint (0/1, 1 = event) ...
    time_column = "os_days"         # ... and its time (>= 0); splits are stratified on cohort and event

    [[modalities]]
    name = "rna"                    # an OncoBench modality
    path = "expr.tsv"               # .csv, .tsv or .parquet
    orientation = "features_x_patients"   # or "patients_x_features"
    id_column = "gene"              # feature names (features_x_patients) or patient IDs (patients_x_features)
    transform = "log2(TPM+1)"       # what was done to the values (they are stored as given)
    comparable_across_cohorts = true
    allow_missing = false           # NaN cells refused unless true

IDs that look like TCGA barcodes become patient barcodes (``TCGA-XX-XXXX``); other IDs are kept as
given (stripped).

References
----------
Gebru T. et al., "Datasheets for Datasets", Communications of the ACM 64(12):86-92, 2021 (the card's
name, version, licence and citation fields follow its motivation and provenance questions).
"""

from __future__ import annotations

import csv
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from oncobench.datasets.barcode import harmonize_barcode
from oncobench.datasets.build import DatasetContent
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import (
    MODALITIES, FeatureBlock, clean_feature_name, collapse_duplicate_rows, refuse_degenerate, to_float32,
)
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

# key -> (required, type); the card is refused on any other key
TOP_KEYS: dict[str, tuple[bool, type | tuple[type, ...]]] = {
    "name": (True, str), "version": (True, (str, int)), "description": (False, str), "licence": (False, str),
    "citation": (False, str), "clinical": (True, dict), "modalities": (True, list),
}
CLINICAL_KEYS: dict[str, tuple[bool, type | tuple[type, ...]]] = {
    "path": (True, str), "id_column": (True, str), "cohort_column": (False, str), "event_column": (False, str),
    "time_column": (False, str),
}
MODALITY_KEYS: dict[str, tuple[bool, type | tuple[type, ...]]] = {
    "name": (True, str), "path": (True, str), "orientation": (True, str), "id_column": (True, str),
    "transform": (False, str), "comparable_across_cohorts": (False, bool), "allow_missing": (False, bool),
}
ORIENTATIONS = ("features_x_patients", "patients_x_features")
SUFFIXES = (".csv", ".tsv", ".parquet")
# cells read as "not measured" in text tables (as in harmonize.to_float32)
MISSING_TEXT = ("", "NA", "NaN", "nan")


@dataclass(frozen=True)
class ModalitySpec:
    """One ``[[modalities]]`` entry of a card; ``path`` resolved inside the card's folder."""

    name: str
    path: Path
    orientation: str
    id_column: str
    transform: str
    comparable_across_cohorts: bool
    allow_missing: bool


@dataclass(frozen=True)
class DatasetCard:
    """A validated dataset card; paths are resolved inside the card's folder."""

    path: Path
    name: str
    version: str
    description: str
    licence: str
    citation: str
    clinical_path: Path
    clinical_id_column: str
    cohort_column: str | None
    event_column: str | None
    time_column: str | None
    modalities: tuple[ModalitySpec, ...]


# ------------------------------------------------------------------------------------------------ the card
def _check_keys(card: Path, table: dict[str, Any], allowed: dict[str, tuple[bool, Any]], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InputFormatError(card, f"unknown key {unknown[0]!r} in {where}", expected=f"keys {sorted(allowed)}")
    required = sorted(k for k, (needed, _) in allowed.items() if needed)
    missing = [k for k in required if k not in table]
    if missing:
        raise InputFormatError(card, f"missing key {missing[0]!r} in {where}", expected=f"required keys {required}")
    for key, value in table.items():
        kind = allowed[key][1]
        # bool is an int in Python: `version = true` must not pass as an int
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise InputFormatError(card, f"key {key!r} in {where} has the wrong type", expected=names,
                                   found=f"{type(value).__name__} {value!r}")


def _inside(card: Path, raw: str, where: str) -> Path:
    """``raw`` resolved against the card's folder; refused when it leaves the folder (``..``, absolute, symlink)."""
    if not raw.strip():
        raise InputFormatError(card, f"{where}: empty path", expected="a file name relative to the card's folder")
    if Path(raw).is_absolute():
        raise InputFormatError(card, f"{where}: absolute path {raw!r} refused", expected="a path relative to the card's folder")
    if Path(raw).suffix.lower() not in SUFFIXES:
        raise InputFormatError(card, f"{where}: unsupported file type {raw!r}", expected=f"one of {', '.join(SUFFIXES)}")
    folder = card.parent.resolve()
    target = (folder / raw).resolve()  # follows symlinks, so a link pointing outside is caught too
    if folder not in target.parents:
        raise InputFormatError(card, f"{where}: path {raw!r} escapes the card's folder", expected=f"a file inside {folder}")
    return target


def read_card(path: str | Path) -> DatasetCard:
    """Parse and validate a dataset card.

    Unknown or missing keys, wrongly typed values, unknown modalities or orientations, paths that leave
    the card's folder and half-declared survival endpoints raise :class:`InputFormatError` naming the
    card file and the key.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such dataset card") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"not a valid TOML dataset card ({exc})") from None
    _check_keys(path, data, TOP_KEYS, "the card")
    clinical = data["clinical"]
    _check_keys(path, clinical, CLINICAL_KEYS, "[clinical]")
    if ("event_column" in clinical) != ("time_column" in clinical):
        raise InputFormatError(path, "[clinical] declares only one of event_column and time_column",
                               expected="both (a survival endpoint) or neither")
    if not data["modalities"]:
        raise InputFormatError(path, "no [[modalities]]", expected="at least one modality")
    specs = []
    for i, mod in enumerate(data["modalities"]):
        where = f"[[modalities]] #{i + 1}"
        if not isinstance(mod, dict):
            raise InputFormatError(path, f"{where} is not a table", expected="[[modalities]] tables")
        _check_keys(path, mod, MODALITY_KEYS, where)
        if mod["name"] not in MODALITIES:
            raise InputFormatError(path, f"{where}: unknown modality {mod['name']!r}", expected=f"one of {', '.join(MODALITIES)}")
        if mod["orientation"] not in ORIENTATIONS:
            raise InputFormatError(path, f"{where}: unknown orientation {mod['orientation']!r}",
                                   expected=f"one of {', '.join(ORIENTATIONS)}")
        specs.append(ModalitySpec(
            name=mod["name"], path=_inside(path, mod["path"], where), orientation=mod["orientation"],
            id_column=mod["id_column"], transform=mod.get("transform", "as provided"),
            comparable_across_cohorts=mod.get("comparable_across_cohorts", True),
            allow_missing=mod.get("allow_missing", False),
        ))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputFormatError(path, "a modality is listed twice", expected="each modality once", found=str(names))
    return DatasetCard(
        path=path, name=data["name"], version=str(data["version"]), description=data.get("description", ""),
        licence=data.get("licence", ""), citation=data.get("citation", ""),
        clinical_path=_inside(path, clinical["path"], "[clinical]"), clinical_id_column=clinical["id_column"],
        cohort_column=clinical.get("cohort_column"), event_column=clinical.get("event_column"),
        time_column=clinical.get("time_column"), modalities=tuple(specs),
    )


# ------------------------------------------------------------------------------------------------ tables
def _separator(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (named in the dataset card)")


def _text_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank line of a CSV/TSV (UTF-8, a byte-order mark is dropped)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=_separator(path))
            return [(reader.line_num, row) for row in reader if row]
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise InputFormatError(path, f"cannot parse as {_separator(path)!r}-separated text ({exc})") from None


def _text_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and body of a CSV/TSV as strings ("" = empty cell); a repeated header name is kept as it is."""
    rows = _text_rows(path)
    if not rows or not any(cell.strip() for cell in rows[0][1]):
        raise InputFormatError(path, "empty file", expected="a header row and data rows")
    header = [cell.strip() for cell in rows[0][1]]
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise InputFormatError(path, "rows of different lengths", row=line,
                                   expected=f"{len(header)} fields as in the header", found=f"{len(row)} fields")
    body = np.array([row for _, row in rows[1:]], dtype=object).reshape(len(rows) - 1, len(header))
    return header, body


def _first_row(path: Path) -> list[str]:
    """The header of a CSV/TSV (first non-blank line), names stripped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            row = next((r for r in csv.reader(handle, delimiter=_separator(path)) if r), [])
    except (UnicodeDecodeError, csv.Error):
        return _text_table(path)[0]  # raises the clear error
    if not any(cell.strip() for cell in row):
        raise InputFormatError(path, "empty file", expected="a header row and data rows")
    return [cell.strip() for cell in row]


def _header_index(path: Path, header: list[str], name: str, key: str) -> int:
    if name not in header:
        raise InputFormatError(path, f"no column {name!r}", expected=f"the {key} named in the dataset card",
                               found=f"columns {header[:10]}{' ...' if len(header) > 10 else ''}")
    if header.count(name) > 1:
        raise InputFormatError(path, f"column {name!r} appears {header.count(name)} times", expected="a unique ID column")
    return header.index(name)


def _check_labels(path: Path, labels: list[str], *, what: str, column: str | None) -> None:
    """Refuse empty IDs/names; ``what`` says where they sit (data rows or header)."""
    for i, label in enumerate(labels):
        if not label:
            if what == "rows":
                raise InputFormatError(path, "empty ID", row=i + 2, column=column, expected="an ID in every data row")
            raise InputFormatError(path, f"empty column name (column #{i + 1} of the header)", expected="a name for every column")


def _patient_key(path: Path, raw: str, *, row: int | str | None, column: str | None) -> str:
    """TCGA barcodes (any separator) become patient barcodes; other IDs stay as given."""
    if not raw.upper().replace(".", "-").replace("_", "-").startswith("TCGA-"):
        return raw
    try:
        return harmonize_barcode(raw)
    except ValueError as exc:
        raise InputFormatError(path, f"malformed TCGA barcode ({exc})", row=row, column=column,
                               expected="TCGA-XX-XXXX[-...]", found=repr(raw)) from None


def _matrix_cells(spec: ModalitySpec) -> tuple[list[str], list[str], np.ndarray]:
    """(column names without the ID column, row IDs, float32 values as laid out in the file)."""
    path = spec.path
    _require_file(path)
    if path.suffix.lower() == ".parquet":
        frame = pl.read_parquet(path)
        if frame.width == 0:
            raise InputFormatError(path, "empty file", expected="an ID column and data columns")
        _check_labels(path, [c.strip() for c in frame.columns], what="header", column=None)
        _header_index(path, frame.columns, spec.id_column, "id_column")
        if frame.height == 0:
            raise InputFormatError(path, "header only, no data rows", expected="at least one data row")
        labels = [None if v is None else str(v).strip() for v in frame.get_column(spec.id_column).to_list()]
        body = frame.drop(spec.id_column)
        columns = body.columns
        numeric = all(dtype.is_numeric() or dtype == pl.Null for dtype in body.dtypes)
        cells = body.to_numpy().astype(np.float64) if numeric and body.width else body.to_numpy().astype(object)
    else:
        sep = _separator(path)
        header = _first_row(path)
        _check_labels(path, header, what="header", column=None)
        id_at = _header_index(path, header, spec.id_column, "id_column")
        columns = [h for j, h in enumerate(header) if j != id_at]
        schema = {f"c{j}": (pl.String if j == id_at else pl.Float64) for j in range(len(header))}
        try:  # fast path: typed parse of the whole file
            frame = pl.read_csv(path, separator=sep, has_header=False, skip_rows=1, schema=schema, null_values=["NA"])
            frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines read as all-null rows
            labels = [None if v is None else v.strip() for v in frame.get_column(f"c{id_at}").to_list()]
            cells = frame.drop(f"c{id_at}").to_numpy().astype(np.float64)
        except pl.exceptions.NoDataError:
            labels, cells = [], np.empty((0, len(columns)))
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
            # slow path, only to name the bad cell: strings everywhere, then to_float32 finds it
            _, body = _text_table(path)
            labels = [str(v).strip() for v in body[:, id_at]]
            cells = np.delete(body, id_at, axis=1)
        if not labels:
            raise InputFormatError(path, "header only, no data rows", expected="at least one data row")
    if not columns:
        raise InputFormatError(path, f"no data columns besides {spec.id_column!r}", expected="one or more value columns")
    _check_labels(path, labels, what="rows", column=spec.id_column)
    values = to_float32(cells, path=path, row_labels=labels, column_labels=columns, allow_nan=spec.allow_missing)
    return columns, labels, values


def _read_matrix(spec: ModalitySpec, clinical_ids: set[str], card: DatasetCard) -> FeatureBlock:
    path = spec.path
    columns, labels, values = _matrix_cells(spec)
    if spec.orientation == "features_x_patients":
        raw_features, raw_patients, values = labels, columns, values.T
        patients = [_patient_key(path, p, row=None, column=p) for p in raw_patients]
    else:
        raw_features, raw_patients = columns, labels
        patients = [_patient_key(path, p, row=i + 2, column=spec.id_column) for i, p in enumerate(raw_patients)]
    features = [clean_feature_name(f) for f in raw_features]
    seen: dict[str, str] = {}
    for raw, name in zip(raw_features, features):
        if name in seen:
            raise InputFormatError(path, f"duplicate feature {name!r} ({seen[name]!r} and {raw!r})", expected="unique feature names")
        seen[name] = raw
    try:
        ids, rows, _ = collapse_duplicate_rows(patients, np.ascontiguousarray(values), path=path)
    except InputFormatError as exc:  # say which two raw IDs collide and on which feature
        second = int(exc.row) - 1
        first = patients.index(patients[second])
        feature = features[int(str(exc.column).lstrip("#"))]
        raise InputFormatError(
            path, f"duplicate patient ID {patients[second]!r} with conflicting values: {raw_patients[first]!r} and "
            f"{raw_patients[second]!r} differ on feature {feature!r} ({exc.found})",
            expected="one entry per patient, or identical duplicates (keep one tumour sample per patient)",
        ) from None
    unknown = [p for p in ids if p not in clinical_ids]
    if len(unknown) == len(ids):
        raise InputFormatError(path, f"none of its {len(ids)} patient IDs is in the clinical table {card.clinical_path.name}",
                               expected="IDs matching the clinical id_column", found=f"e.g. {ids[:3]}")
    if unknown:
        raise InputFormatError(path, f"{len(unknown)} of its {len(ids)} patient IDs have no row in the clinical table "
                               f"{card.clinical_path.name}, e.g. {unknown[:3]}", expected="every matrix patient in the clinical table")
    refuse_degenerate(rows, path=path, what=f"the {spec.name} matrix")
    folder = card.path.parent.resolve()
    return FeatureBlock(spec.name, tuple(ids), tuple(features), np.ascontiguousarray(rows, dtype=np.float32), Provenance(
        source=f"card:{card.name}", files=(SourceFile.of(path, folder),), transform=spec.transform,
        licence=card.licence or "not stated in the dataset card", citation=card.citation or "not stated in the dataset card",
        comparable_across_cohorts=spec.comparable_across_cohorts, notes=f"dataset card {card.path.name}, {spec.orientation}"))


def _typed(name: str, cells: list[str | None]) -> pl.Series:
    """A clinical column as Int64, Float64 or String, whichever holds every present value."""
    text = pl.Series(name, [None if c is None or c.strip() in MISSING_TEXT else c.strip() for c in cells], dtype=pl.String)
    present = text.drop_nulls()
    # codes with a leading zero ('05', '007') are identifiers: as numbers they would lose it
    if present.len() == 0 or present.str.contains(r"^[+-]?0\d").any():
        return text
    for dtype in (pl.Int64, pl.Float64):
        try:
            return text.cast(dtype, strict=True)
        except pl.exceptions.InvalidOperationError:
            continue
    return text


def _clinical_frame(path: Path, id_column: str) -> pl.DataFrame:
    """The clinical table with typed columns; the ID column as stripped strings."""
    _require_file(path)
    if path.suffix.lower() == ".parquet":
        frame = pl.read_parquet(path)
        if frame.width == 0:
            raise InputFormatError(path, "empty file", expected="a header row and data rows")
        _header_index(path, frame.columns, id_column, "id_column")
        frame = frame.with_columns(pl.col(id_column).cast(pl.String).str.strip_chars())
    else:
        header, body = _text_table(path)
        _check_labels(path, header, what="header", column=None)
        _header_index(path, header, id_column, "id_column")
        if len(set(header)) != len(header):
            dup = next(h for h in header if header.count(h) > 1)
            raise InputFormatError(path, f"column {dup!r} appears {header.count(dup)} times", expected="unique column names")
        frame = pl.DataFrame([pl.Series(id_column, [None if v is None else str(v).strip() for v in body[:, header.index(id_column)]],
                                        dtype=pl.String) if h == id_column else _typed(h, list(body[:, j]))
                              for j, h in enumerate(header)])
    if frame.height == 0:
        raise InputFormatError(path, "header only, no data rows", expected="one row per patient")
    return frame


def _read_clinical(card: DatasetCard) -> pl.DataFrame:
    """``patient_id``, ``cohort``, then the card's other clinical columns (names as given), one row per patient."""
    path, id_column = card.clinical_path, card.clinical_id_column
    frame = _clinical_frame(path, id_column)
    for key, column in (("cohort_column", card.cohort_column), ("event_column", card.event_column),
                        ("time_column", card.time_column)):
        if column is not None:
            _header_index(path, frame.columns, column, key)
    # the returned table makes these two columns itself: a user column of that name would be overwritten
    reserved = {"patient_id": (id_column, "another name (patient_id is made from the id_column)"),
                "cohort": (card.cohort_column, 'another name, or cohort_column = "cohort" in the card')}
    for name, (declared, expected) in reserved.items():
        if name in frame.columns and name != declared:
            raise InputFormatError(path, f"column {name!r} is reserved", column=name, expected=expected)
    raw_ids = frame.get_column(id_column).to_list()
    _check_labels(path, ["" if v is None else v for v in raw_ids], what="rows", column=id_column)
    ids = [_patient_key(path, v, row=i + 2, column=id_column) for i, v in enumerate(raw_ids)]
    first_row: dict[str, int] = {}
    for row, pid in enumerate(ids, start=2):
        if pid in first_row:
            raise InputFormatError(path, f"duplicate patient ID {pid!r} (also row {first_row[pid]})", row=row,
                                   column=id_column, expected="one row per patient")
        first_row[pid] = row
    if card.cohort_column:
        cohort = frame.get_column(card.cohort_column).cast(pl.String)
        if cohort.null_count():
            row = int(cohort.is_null().arg_max()) + 2
            raise InputFormatError(path, "missing cohort", row=row, column=card.cohort_column, expected="a cohort for every patient")
    else:
        cohort = pl.Series([card.name] * frame.height, dtype=pl.String)
    if card.event_column:
        _check_endpoint(path, frame, card.event_column, card.time_column)
    frame = frame.drop([c for c in (id_column, card.cohort_column) if c])
    return frame.select(pl.Series("patient_id", ids, dtype=pl.String), cohort.alias("cohort"), pl.all())


def _check_endpoint(path: Path, frame: pl.DataFrame, event: str, time: str | None) -> None:
    """Event 0/1 (1 = event; empty = unknown) and time >= 0: checked here, not discovered in a metric."""
    values = frame.get_column(event)
    bad = values.is_not_null() & ~values.cast(pl.Float64, strict=False).is_in([0.0, 1.0]).fill_null(False)
    if bad.any():
        row = int(bad.arg_max())
        raise InputFormatError(path, "event indicator not 0/1", row=row + 2, column=event,
                               expected="0 (censored) or 1 (event)", found=repr(values[row]))
    raw_times = frame.get_column(time)
    times = raw_times.cast(pl.Float64, strict=False)
    text = raw_times.is_not_null() & times.is_null()
    if text.any():
        row = int(text.arg_max())
        raise InputFormatError(path, "non-numeric survival time", row=row + 2, column=time,
                               expected="a time >= 0", found=repr(raw_times[row]))
    negative = (times < 0).fill_null(False)
    if negative.any():
        row = int(negative.arg_max())
        raise InputFormatError(path, "negative survival time", row=row + 2, column=time, expected="a time >= 0", found=repr(times[row]))


def _read(card: DatasetCard) -> tuple[pl.DataFrame, dict[str, FeatureBlock]]:
    clinical = _read_clinical(card)
    ids = set(clinical.get_column("patient_id").to_list())
    blocks = {spec.name: _read_matrix(spec, ids, card) for spec in card.modalities}
    for name, block in blocks.items():
        log.info("%s: %s %d patients x %d features", card.name, name, *block.shape)
    return clinical, blocks


def read_generic(card_path: str | Path) -> tuple[pl.DataFrame, dict[str, FeatureBlock]]:
    """Read a dataset card's clinical table and matrices.

    Returns the clinical table (``patient_id``, ``cohort``, then the card's columns with the names
    given, typed Int64/Float64/String; one row per patient) and one :class:`FeatureBlock` per
    modality (float32, values as given, NaN = not measured, patients in file order).
    """
    return _read(read_card(card_path))


def card_content(card_path: str | Path, seed: int = 0) -> DatasetContent:
    """A card's data as store content, with seeded kfold (5 x 1) and holdout splits stratified on cohort (and event)."""
    from oncobench.datasets.splits import SplitSpec, draw_split

    card = read_card(card_path)
    clinical, blocks = _read(card)
    endpoints = []
    if card.event_column and card.time_column:
        clinical = clinical.with_columns(pl.col(card.event_column).cast(pl.Int8), pl.col(card.time_column).cast(pl.Float64))
        endpoints = [{"name": "event", "event": card.event_column, "time": card.time_column, "source": card.name}]
    patients = clinical["patient_id"].to_list()
    events = clinical[card.event_column].to_list() if endpoints else [None] * len(patients)
    strata = [f"{c}|{e}" for c, e in zip(clinical["cohort"].to_list(), events)]
    specs = {"kfold": SplitSpec("kfold", n_folds=5, seed=seed), "holdout": SplitSpec("holdout", seed=seed)}
    return DatasetContent(
        name=card.name, version=card.version, clinical=clinical, blocks={m: [b] for m, b in blocks.items()},
        splits={k: (draw_split(patients, strata, spec), spec) for k, spec in specs.items()},
        card={"description": card.description, "licence": card.licence, "citation": card.citation,
              "dataset_card": card.path.name},
        endpoints=endpoints,
        sources=[{"source": b.provenance.source, "files": [f.__dict__ for f in b.provenance.files]} for b in blocks.values()],
    )
