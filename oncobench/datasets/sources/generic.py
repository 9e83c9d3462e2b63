"""Bring your own cohort: matrices per modality plus a clinical table, described by a TOML dataset card.

The card's keys and their checks are in :mod:`oncobench.datasets.sources.card_schema`
(``oncobench datasets card --example`` prints a commented card with every key); the file formats in
:mod:`oncobench.datasets.sources.card_files`. This module reads the files a card names.

Every problem of a card is reported in one pass: the card's keys are checked table by table, then the
clinical table, every modality file and every endpoint are read independently, and all problems found
raise one :class:`CardProblemsError` listing them (a single problem raises its own error unchanged).

IDs that look like TCGA barcodes become patient barcodes (``TCGA-XX-XXXX``; aliquot and sample
barcodes included); other IDs are kept as given (stripped).

References
----------
Gebru T. et al., "Datasheets for Datasets", Communications of the ACM 64(12):86-92, 2021 (the card's
name, version, licence and citation fields follow its motivation and provenance questions).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from oncobench.datasets.barcode import harmonize_barcode
from oncobench.datasets.build import DatasetContent
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, clean_feature_name, collapse_duplicate_rows, refuse_degenerate, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile
from oncobench.datasets.sources.card_files import read_raw_table, suffix_of
from oncobench.datasets.sources.card_schema import (  # noqa: F401  (re-exported: the card API lives here too)
    EXAMPLE_CARD, INFINITE_TEXT, MISSING_TEXT, UNITS, CardProblemsError, DatasetCard, EndpointSpec, ModalitySpec,
    TableSpec, _Problems, _parse_card, _raise, dataclass_replace, read_card,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ cells
def _patient_key(path: Path, raw: str, *, row: int | str | None, column: str | None) -> str:
    """TCGA barcodes (any separator) become patient barcodes; other IDs stay as given."""
    if not raw.upper().replace(".", "-").replace("_", "-").startswith("TCGA-"):
        return raw
    try:
        return harmonize_barcode(raw)
    except ValueError as exc:
        raise InputFormatError(path, f"malformed TCGA barcode ({exc})", row=row, column=column,
                               expected="TCGA-XX-XXXX[-...]", found=repr(raw)) from None


def _check_header(path: Path, header: list[str]) -> None:
    """Every column needs a name, except the first (a row-name column, as pandas and R write it)."""
    for i, label in enumerate(header):
        if not label and i > 0:
            raise InputFormatError(path, f"empty column name (column #{i + 1} of the header)", expected="a name for every column")


def _id_index(path: Path, header: list[str], id_column: str | int, key: str = "id_column") -> int:
    if isinstance(id_column, int):
        if id_column >= len(header):
            raise InputFormatError(path, f"no column at position {id_column}", expected=f"the {key} (0-based) of a "
                                   f"{len(header)}-column file")
        return id_column
    if id_column not in header:
        raise InputFormatError(path, f"no column {id_column!r}", expected=f"the {key} named in the dataset card",
                               found=f"columns {header[:10]}{' ...' if len(header) > 10 else ''}")
    if header.count(id_column) > 1:
        raise InputFormatError(path, f"column {id_column!r} appears {header.count(id_column)} times", expected="a unique ID column")
    return header.index(id_column)


def _selected(path: Path, header: list[str], spec: TableSpec, id_at: int) -> list[int]:
    """Positions of the value columns after select/drop; a blank-named row-name column is left out."""
    names = {h: j for j, h in enumerate(header)}
    for key, wanted in (("select", spec.select), ("drop", spec.drop)):
        absent = [c for c in wanted if c not in names]
        if absent:
            raise InputFormatError(path, f"{key} names {len(absent)} columns not in the file, e.g. {absent[:3]}",
                                   expected=f"columns of {path.name}", found=f"columns {header[:10]}{' ...' if len(header) > 10 else ''}")
    keep = [j for j, h in enumerate(header) if j != id_at and not (j == 0 and h == "")]
    if spec.select:
        keep = [j for j in keep if header[j] in set(spec.select)]
    if spec.drop:
        keep = [j for j in keep if header[j] not in set(spec.drop)]
    return keep


def _clean_cells(cells: np.ndarray, spec: ModalitySpec) -> tuple[np.ndarray, int]:
    """Value map, missing-value tokens and (with ``infinite = "missing"``) infinities; returns cells and the inf count."""
    n_inf = 0
    if cells.dtype != object:
        if spec.infinite == "missing":
            inf = np.isinf(cells)
            n_inf = int(inf.sum())
            cells = np.where(inf, np.nan, cells)
        return cells, n_inf
    out = cells.copy()
    tokens = set(spec.missing_values)
    mapping = spec.values
    for (i, j), cell in np.ndenumerate(cells):
        if cell is None:
            continue
        text = str(cell).strip()
        if text in mapping:
            out[i, j] = mapping[text]
        elif text in tokens:
            out[i, j] = ""
        elif spec.infinite == "missing" and text.lower() in INFINITE_TEXT:
            out[i, j] = ""
            n_inf += 1
    return out, n_inf


def _one_matrix(path: Path, spec: ModalitySpec) -> tuple[list[str], list[str], np.ndarray, int]:
    """(value column names, row IDs, float32 values as laid out in the file, infinities made missing) of one file."""
    table = read_raw_table(path, missing=spec.missing_values, force_text=bool(spec.values), sheet=spec.sheet,
                           hdf5=spec.hdf5 or None, id_column=spec.id_column)
    header = [h.strip() for h in table.header]
    _check_header(path, header)
    id_at = _id_index(path, header, 0 if spec.hdf5 else spec.id_column)
    keep = _selected(path, header, spec, id_at)
    id_name = header[id_at] or f"#{id_at}"
    if not keep:
        raise InputFormatError(path, f"no data columns besides {id_name!r}", expected="one or more value columns")
    labels = ["" if v is None else str(v).strip() for v in table.cells[:, id_at]]
    for i, label in enumerate(labels):
        if not label:
            raise InputFormatError(path, "empty ID", row=i + 2, column=id_name, expected="an ID in every data row")
    columns = [header[j] for j in keep]
    cells, n_inf = _clean_cells(table.column_cells(keep), spec)
    values = to_float32(cells, path=path, row_labels=labels, column_labels=columns, allow_nan=True)
    if not spec.allow_missing and np.isnan(values).any():
        i, j = map(int, np.argwhere(np.isnan(values))[0])
        raise InputFormatError(path, "missing value (NaN)", row=labels[i], column=columns[j],
                               expected=f"a finite number, or allow_missing = true in {spec.where} of the card "
                                        "if this file has missing values", found="NaN")
    if n_inf:
        log.warning("%s: %d infinite values read as missing (infinite = \"missing\")", path, n_inf)
    return columns, labels, values, n_inf


def _matrix_cells(spec: ModalitySpec) -> tuple[list[str], list[str], np.ndarray, int]:
    """Every file of a modality, concatenated along the patient axis; their features must agree."""
    parts = [_one_matrix(p, spec) for p in spec.paths]
    if len(parts) == 1:
        return parts[0]
    by_features = spec.orientation == "features_x_patients"
    first = parts[0][1] if by_features else parts[0][0]
    blocks = []
    for path, (columns, labels, values, _) in zip(spec.paths, parts):
        features = labels if by_features else columns
        if set(features) != set(first) or len(features) != len(first):
            extra = sorted(set(features) - set(first))[:3]
            lost = sorted(set(first) - set(features))[:3]
            raise InputFormatError(path, f"its features differ from those of {spec.paths[0].name} "
                                   f"({len(features)} vs {len(first)}; only here: {extra}, missing here: {lost})",
                                   expected="the same features in every file of one modality")
        order = [features.index(f) for f in first]
        blocks.append(values[order, :] if by_features else values[:, order])
    if by_features:
        return [c for p in parts for c in p[0]], list(first), np.concatenate(blocks, axis=1), sum(p[3] for p in parts)
    return list(first), [r for p in parts for r in p[1]], np.concatenate(blocks, axis=0), sum(p[3] for p in parts)


@dataclass
class BuildReport:
    """What a card build left out or changed, by count: logged, printed by the CLI and kept in the manifest."""

    lines: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, value: Any, line: str) -> None:
        self.counts[key] = value
        self.lines.append(line)
        log.info("%s", line)


def _read_matrix(spec: ModalitySpec, clinical_ids: set[str] | None, card: DatasetCard, report: BuildReport) -> FeatureBlock:
    path = spec.path
    columns, labels, values, n_inf = _matrix_cells(spec)
    if spec.orientation == "features_x_patients":
        raw_features, raw_patients, values = labels, columns, values.T
        patients = [_patient_key(path, p, row=None, column=p) for p in raw_patients]
    else:
        raw_features, raw_patients = columns, labels
        patients = [_patient_key(path, p, row=i + 2, column=str(spec.id_column)) for i, p in enumerate(raw_patients)]
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
    clinical_name = card.clinical.path.name if card.clinical else "the dataset"
    notes = f"dataset card {card.path.name}, {spec.orientation}"
    if clinical_ids is not None:
        unknown = [p for p in ids if p not in clinical_ids]
        if len(unknown) == len(ids):
            raise InputFormatError(path, f"none of its {len(ids)} patient IDs is in the clinical table {clinical_name}",
                                   expected="IDs matching the clinical id_column", found=f"e.g. {ids[:3]}")
        if unknown and card.unmatched == "drop":
            keep = np.array([p in clinical_ids for p in ids])
            ids, rows = [p for p, k in zip(ids, keep) if k], rows[keep]
            report.add(f"{spec.name}_unmatched_dropped", len(unknown),
                       f"{spec.name}: {len(unknown)} of {len(keep)} patients of {path.name} have no clinical row and were "
                       f"left out (unmatched = \"drop\"), e.g. {unknown[:3]}")
            notes += f"; {len(unknown)} patients without a clinical row left out"
        elif unknown:
            raise InputFormatError(path, f"{len(unknown)} of its {len(ids)} patient IDs have no row in the clinical table "
                                   f"{clinical_name}, e.g. {unknown[:3]}",
                                   expected='every matrix patient in the clinical table, or unmatched = "drop" in [clinical]')
    if n_inf:
        report.add(f"{spec.name}_infinite_to_missing", n_inf, f"{spec.name}: {n_inf} infinite values read as missing")
        notes += f"; {n_inf} infinite values read as missing"
    refuse_degenerate(rows, path=path, what=f"the {spec.name} matrix")
    folder = Path(os.path.abspath(card.base or card.path.parent))
    files = tuple(SourceFile.of(p, folder) for p in spec.paths)
    return FeatureBlock(spec.name, tuple(ids), tuple(features), np.ascontiguousarray(rows, dtype=np.float32), Provenance(
        source=f"card:{card.name}", files=files, transform=spec.transform,
        licence=card.licence or "not stated in the dataset card", citation=card.citation or "not stated in the dataset card",
        comparable_across_cohorts=spec.comparable_across_cohorts, notes=notes))


# ------------------------------------------------------------------------------------------------ clinical
def _typed(name: str, cells: list[Any], missing: set[str]) -> pl.Series:
    """A clinical column as Int64, Float64 or String, whichever holds every present value."""
    text = pl.Series(name, [None if c is None or str(c).strip() in missing else str(c).strip() for c in cells], dtype=pl.String)
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


def _clinical_file(path: Path, spec: TableSpec) -> tuple[list[str], np.ndarray]:
    if suffix_of(path) in (".h5", ".hdf5"):
        raise InputFormatError(path, "an HDF5 clinical table is not supported (HDF5 holds numeric matrices)",
                               expected="a .csv, .tsv, .parquet or .xlsx clinical table")
    table = read_raw_table(path, force_text=True, sheet=spec.sheet)
    header = [h.strip() for h in table.header]
    cells = table.cells
    if table.cells.dtype != object:
        cells = table.cells.astype(object)
    if path.suffix.lower() == ".parquet":
        cells = np.array([[None if v is None or (isinstance(v, float) and np.isnan(v)) else
                           (str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v)) for v in row]
                          for row in cells], dtype=object).reshape(cells.shape)
    return header, cells


def _clinical_frame(spec: TableSpec) -> tuple[pl.DataFrame, str, list[int]]:
    """The clinical table (files concatenated) with typed columns; the ID column as stripped strings.

    Returns the frame, the ID column's name in it and each row's line in its file (for messages).
    """
    headers, bodies = [], []
    for path in spec.paths:
        header, body = _clinical_file(path, spec)
        _check_header(path, header)
        if headers and header != headers[0]:
            raise InputFormatError(path, f"its columns differ from those of {spec.paths[0].name}",
                                   expected=f"the same header in every clinical file: {headers[0][:8]}")
        headers.append(header)
        bodies.append(body)
    path, header = spec.path, headers[0]
    id_at = _id_index(path, header, spec.id_column)
    id_name = header[id_at] or "patient"
    keep = _selected(path, header, spec, id_at)
    names = [header[j] for j in keep]
    if len(set(names)) != len(names):
        dup = next(h for h in names if names.count(h) > 1)
        raise InputFormatError(path, f"column {dup!r} appears {names.count(dup)} times", expected="unique column names")
    unknown_maps = sorted(set(spec.values) - set(names))
    if unknown_maps:
        raise InputFormatError(path, f"values maps column {unknown_maps[0]!r}, which the table does not have",
                               expected=f"columns {names[:10]}")
    body = np.concatenate(bodies, axis=0)
    missing = set(MISSING_TEXT) | set(spec.missing_values)
    series = [pl.Series(id_name, [None if v is None else str(v).strip() for v in body[:, id_at]], dtype=pl.String)]
    for j, name in zip(keep, names):
        cells = list(body[:, j])
        mapping = spec.values.get(name)
        if mapping is not None:
            if not isinstance(mapping, dict):
                raise InputFormatError(path, f"values.{name} is not a table", expected=f'values = {{ {name} = {{ "text" = value }} }}')
            cells = [mapping.get(str(c).strip(), c) if c is not None else c for c in cells]
        series.append(_typed(name, cells, missing))
    lines = [i + 2 for b in bodies for i in range(b.shape[0])]
    return pl.DataFrame(series), id_name, lines


def _read_clinical(card: DatasetCard, report: BuildReport) -> pl.DataFrame:
    """``patient_id``, ``cohort``, then the card's other clinical columns (names as given), one row per patient."""
    assert card.clinical is not None
    spec = card.clinical
    path = spec.path
    frame, id_column, lines = _clinical_frame(spec)
    declared = {"cohort_column": card.cohort_column, "stratify": card.stratify, "group": card.group}
    for key, column in declared.items():
        if column is not None:
            _id_index(path, frame.columns, column, key)
    for label in card.labels:
        _id_index(path, frame.columns, label, "labels")
    # the returned table makes these two columns itself: a user column of that name would be overwritten
    reserved = {"patient_id": (id_column, "another name (patient_id is made from the id_column)"),
                "cohort": (card.cohort_column, 'another name, or cohort_column = "cohort" in the card')}
    for name, (declared_name, expected) in reserved.items():
        if name in frame.columns and name != declared_name:
            raise InputFormatError(path, f"column {name!r} is reserved", column=name, expected=expected)
    raw_ids = frame.get_column(id_column).to_list()
    for row, v in zip(lines, raw_ids):
        if not v:
            raise InputFormatError(path, "empty ID", row=row, column=id_column, expected="an ID in every data row")
    ids = [_patient_key(path, v, row=row, column=id_column) for row, v in zip(lines, raw_ids)]
    frame = frame.with_columns(pl.Series(id_column, ids, dtype=pl.String))
    first_row: dict[str, int] = {}
    keep = []
    identical = 0
    rows = frame.rows()
    for i, (row, pid) in enumerate(zip(lines, ids)):
        if pid in first_row:
            j = first_row[pid]
            if rows[i] != rows[j]:
                differ = next(c for c, a, b in zip(frame.columns, rows[j], rows[i]) if a != b)
                raise InputFormatError(path, f"duplicate patient ID {pid!r} (also row {lines[j]}) with conflicting values "
                                       f"in column {differ!r} ({rows[j][frame.columns.index(differ)]!r} vs "
                                       f"{rows[i][frame.columns.index(differ)]!r})", row=row, column=id_column,
                                       expected="one row per patient, or identical duplicate rows")
            identical += 1
            continue
        first_row[pid] = i
        keep.append(i)
    if identical:
        frame = frame[keep]
        report.add("clinical_identical_duplicates_collapsed", identical,
                   f"clinical: {identical} identical duplicate rows collapsed into one row per patient")
    if card.cohort_column:
        cohort = frame.get_column(card.cohort_column).cast(pl.String)
        if cohort.null_count():
            row = lines[keep[int(cohort.is_null().arg_max())]]
            raise InputFormatError(path, "missing cohort", row=row, column=card.cohort_column, expected="a cohort for every patient")
    else:
        cohort = pl.Series([card.cohort or card.name] * frame.height, dtype=pl.String)
    frame = frame.drop([c for c in (id_column, card.cohort_column) if c])
    return frame.select(pl.Series("patient_id", [ids[i] for i in keep], dtype=pl.String), cohort.alias("cohort"), pl.all())


def endpoint_columns(frame: pl.DataFrame, endpoint: EndpointSpec, path: Path,
                     report: BuildReport) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Add an endpoint's event (Int8, 1 = event) and time (Float64, days) columns; return them and the manifest entry.

    Event 0/1 (or censoring 0/1, event = 1 - censoring), time >= 0 (the first non-missing of its time
    columns), converted from the card's unit to days. Patients whose time or event is missing, or whose
    time is 0, are counted (survival tasks leave them out): never silently.
    """
    flag = endpoint.event_column or endpoint.censoring_column
    assert flag is not None
    flag_key = "event_column" if endpoint.event_column else "censoring_column"
    for key, column in ((flag_key, flag), *(("time_column", t) for t in endpoint.time_columns)):
        _id_index(path, frame.columns, column, key)
    values = frame.get_column(flag)
    bad = values.is_not_null() & ~values.cast(pl.Float64, strict=False).is_in([0.0, 1.0]).fill_null(False)
    if bad.any():
        row = int(bad.arg_max())
        kind = "event indicator" if endpoint.event_column else "censoring indicator"
        expected = "0 (censored) or 1 (event)" if endpoint.event_column else "0 (event) or 1 (censored)"
        raise InputFormatError(path, f"{kind} not 0/1", row=row + 2, column=flag, expected=expected, found=repr(values[row]))
    event = values.cast(pl.Float64, strict=False)
    if endpoint.censoring_column:
        event = 1.0 - event
    time = pl.Series([None] * frame.height, dtype=pl.Float64)
    for column in endpoint.time_columns:
        raw = frame.get_column(column)
        cast = raw.cast(pl.Float64, strict=False)
        text = raw.is_not_null() & cast.is_null()
        if text.any():
            row = int(text.arg_max())
            raise InputFormatError(path, "non-numeric survival time", row=row + 2, column=column,
                                   expected="a time >= 0", found=repr(raw[row]))
        negative = (cast < 0).fill_null(False)
        if negative.any():
            row = int(negative.arg_max())
            raise InputFormatError(path, "negative survival time", row=row + 2, column=column, expected="a time >= 0",
                                   found=repr(cast[row]))
        time = time.fill_null(cast)
    days = time * UNITS[endpoint.unit]
    event = event.cast(pl.Int8)
    if endpoint.legacy:
        event_name, time_name = flag, endpoint.time_columns[0]
    else:
        event_name, time_name = f"{endpoint.slug}_event", f"{endpoint.slug}_time"
        clash = [c for c in (event_name, time_name) if c in frame.columns]
        if clash:
            raise InputFormatError(path, f"endpoint {endpoint.name}: column {clash[0]!r} exists in the clinical table",
                                   expected=f"no column named {clash[0]!r} (the endpoint's columns are named after it)")
    frame = frame.with_columns(event.alias(event_name), days.alias(time_name))
    missing = int((event.is_null() | days.is_null()).sum())
    not_positive = int((event.is_not_null() & (days <= 0).fill_null(False)).sum())
    usable = frame.height - missing - not_positive
    n_events = int(((event == 1) & (days > 0).fill_null(False)).sum())
    entry: dict[str, Any] = {"name": endpoint.name, "event": event_name, "time": time_name, "unit": "days",
                             "source": endpoint.source}
    if not endpoint.legacy:
        entry.update({
            "source_unit": endpoint.unit, "days_per_source_unit": UNITS[endpoint.unit],
            "time_columns": list(endpoint.time_columns),
            "event_from": f"event_column {flag}" if endpoint.event_column else f"1 - censoring_column {flag}",
            "patients": usable, "events": n_events,
            "left_out": {"time_or_event_missing": missing, "time_not_positive": not_positive},
        })
    if missing or not_positive:
        report.add(f"endpoint_{endpoint.name}_left_out", {"time_or_event_missing": missing, "time_not_positive": not_positive},
                   f"endpoint {endpoint.name}: {missing} patients without time or event and {not_positive} with time <= 0 "
                   f"are left out of its survival tasks ({usable} patients, {n_events} events remain)")
    return frame, entry


def _read(card: DatasetCard, problems: _Problems | None = None
          ) -> tuple[pl.DataFrame, dict[str, FeatureBlock], list[dict[str, Any]], BuildReport]:
    """Clinical table, blocks, endpoint entries and the build report; every problem collected first."""
    problems = problems or _Problems(card.path)
    report = BuildReport()
    clinical = problems.check(_read_clinical, card, report) if card.clinical else None
    entries = []
    if clinical is not None:
        for endpoint in card.endpoints:
            done = problems.check(endpoint_columns, clinical, endpoint, card.clinical_path, report)
            if done is not None:
                clinical, entry = done
                entries.append(entry)
    ids = set(clinical.get_column("patient_id").to_list()) if clinical is not None else None
    blocks = {}
    for spec in card.modalities:
        block = problems.check(_read_matrix, spec, ids, card, report)
        if block is not None:
            blocks[spec.name] = block
    problems.raise_any()
    for name, block in blocks.items():
        log.info("%s: %s %d patients x %d features", card.name, name, *block.shape)
    assert clinical is not None
    return clinical, blocks, entries, report


def read_generic(card_path: str | Path, raw_dir: str | Path | None = None) -> tuple[pl.DataFrame, dict[str, FeatureBlock]]:
    """Read a dataset card's clinical table and matrices.

    Returns the clinical table (``patient_id``, ``cohort``, then the card's columns with the names
    given, typed Int64/Float64/String, plus each declared endpoint's event and time columns; one row
    per patient) and one :class:`FeatureBlock` per modality (float32, values as given, NaN = not
    measured, patients in file order).
    """
    clinical, blocks, _, _ = _read_card_and_files(card_path, raw_dir)[1]
    return clinical, blocks


def _read_card_and_files(card_path: str | Path, raw_dir: str | Path | None):
    """The card and what :func:`_read` returns; problems of the card and of its files reported together."""
    problems = _Problems(Path(card_path))
    card = _parse_card(card_path, raw_dir, False, problems)
    if card.clinical is None and not problems.items:
        problems.check(_raise, InputFormatError(card.path, "no [clinical] table", expected="a [clinical] path and id_column"))
    return card, _read(card, problems)


def card_content(card_path: str | Path, seed: int | None = None, raw_dir: str | Path | None = None) -> DatasetContent:
    """A card's data as store content, with seeded kfold and holdout splits and the card's imported splits.

    Drawn splits are stratified on cohort and the card's ``[splits] stratify`` label (default: the first
    endpoint's event) and grouped on ``[splits] group`` (e.g. hospital) when declared.
    """
    from oncobench.datasets.splits import SplitSpec, draw_split

    card, (clinical, blocks, endpoints, report) = _read_card_and_files(card_path, raw_dir)
    seed = card.split_seed if seed is None else seed
    patients = clinical["patient_id"].to_list()
    if card.stratify:
        label = clinical[card.stratify].cast(pl.String).to_list()
    elif endpoints:
        label = clinical[endpoints[0]["event"]].cast(pl.String).to_list()
    else:
        label = [None] * len(patients)
    strata = [f"{c}|{e}" for c, e in zip(clinical["cohort"].to_list(), label)]
    groups = None
    if card.group:
        groups = [f"group:{g}" if g is not None else f"patient:{p}"
                  for p, g in zip(patients, clinical[card.group].cast(pl.String).to_list())]
    specs = {"kfold": SplitSpec("kfold", n_folds=card.n_folds, n_repeats=card.n_repeats, seed=seed),
             "holdout": SplitSpec("holdout", n_repeats=card.n_repeats, seed=seed)}
    splits: dict[str, tuple[pl.DataFrame, Any]] = {}
    for scheme, spec in specs.items():
        described = spec.describe() | {"stratified_on": ["cohort", card.stratify or (endpoints[0]["name"] + " event" if endpoints else None)]}
        if card.group:
            described["grouped_on"] = card.group
        splits[scheme] = (draw_split(patients, strata, spec, groups), described)
    checks: dict[str, dict[str, Any]] = {}
    if card.group:
        group_of = {p: g for p, g in zip(patients, groups or []) if g.startswith("group:")}
        checks = {s: {"groups": group_of, "group_name": card.group} for s in specs}
    if card.split_imports:
        from oncobench.datasets.split_import import read_split_files

        for imp in card.split_imports:
            if imp.scheme in splits:
                raise InputFormatError(card.path, f"[[splits.import]] scheme {imp.scheme!r} is also a drawn scheme",
                                       expected="another name")
            imported = read_split_files(imp.layout, imp.paths, patients=patients)
            splits[imp.scheme] = (imported.table, imported.describe(imp.scheme, card.base or card.path.parent))
            report.lines.extend(imported.report_lines(imp.scheme))
    labels = list(dict.fromkeys([*card.labels, *([card.stratify] if card.stratify else [])]))
    return DatasetContent(
        name=card.name, version=card.version, clinical=clinical, blocks={m: [b] for m, b in blocks.items()},
        splits=splits, split_checks=checks,
        card={"description": card.description, "licence": card.licence, "citation": card.citation,
              "dataset_card": card.path.name, "build_report": {"lines": report.lines, "counts": report.counts}},
        endpoints=endpoints, labels=labels,
        sources=[{"source": b.provenance.source, "files": [f.__dict__ for f in b.provenance.files]} for b in blocks.values()],
    )
