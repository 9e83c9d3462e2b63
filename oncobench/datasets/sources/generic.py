"""Bring your own cohort: a wide matrix per modality plus a clinical table, described by a TOML dataset card.

Example card (paths are relative to the card's folder and may not leave it)::

    name = "my-cohort"
    version = "1"
    description = "..."
    licence = "CC BY 4.0"
    citation = "..."

    [clinical]
    path = "clinical.csv"
    id_column = "patient"
    cohort_column = "site"          # optional; default: the card's name
    event_column = "os_event"       # optional survival endpoint (0/1) ...
    time_column = "os_days"         # ... and its time; splits are stratified on cohort and event

    [[modalities]]
    name = "rna"                    # an OncoBench modality
    path = "expr.tsv"               # .csv, .tsv or .parquet
    orientation = "features_x_patients"   # or "patients_x_features"
    id_column = "gene"              # feature names (features_x_patients) or patient IDs (patients_x_features)
    transform = "log2(TPM+1)"
    comparable_across_cohorts = true
    allow_missing = false           # NaN cells refused unless true
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from oncobench.datasets.barcode import harmonize_barcode
from oncobench.datasets.build import DatasetContent
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import MODALITIES, FeatureBlock, clean_feature_name, collapse_duplicate_rows, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile

TOP_KEYS = {"name": True, "version": True, "description": False, "licence": False, "citation": False,
            "clinical": True, "modalities": True}
CLINICAL_KEYS = {"path": True, "id_column": True, "cohort_column": False, "event_column": False, "time_column": False}
MODALITY_KEYS = {"name": True, "path": True, "orientation": True, "id_column": True, "transform": False,
                 "comparable_across_cohorts": False, "allow_missing": False}
ORIENTATIONS = ("features_x_patients", "patients_x_features")


@dataclass(frozen=True)
class ModalitySpec:
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


def _check_keys(card: Path, table: dict[str, Any], allowed: dict[str, bool], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InputFormatError(card, f"unknown key {unknown[0]!r} in {where}", expected=f"keys {sorted(allowed)}")
    missing = sorted(k for k, required in allowed.items() if required and k not in table)
    if missing:
        raise InputFormatError(card, f"missing key {missing[0]!r} in {where}", expected=f"required keys {sorted(k for k, r in allowed.items() if r)}")


def _inside(card: Path, raw: Any, where: str) -> Path:
    if not isinstance(raw, str) or not raw:
        raise InputFormatError(card, f"{where}: path must be a non-empty string", found=repr(raw))
    folder = card.parent.resolve()
    if Path(raw).is_absolute():
        raise InputFormatError(card, f"{where}: absolute path {raw!r} refused", expected="a path relative to the card's folder")
    target = (folder / raw).resolve()
    if folder != target and folder not in target.parents:
        raise InputFormatError(card, f"{where}: path {raw!r} escapes the card's folder", expected=f"a file inside {folder}")
    return target


def read_card(path: str | Path) -> DatasetCard:
    """Parse and validate a dataset card (unknown keys, missing keys, escaping paths and bad values refused)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputFormatError(path, f"not valid TOML ({exc})") from None
    _check_keys(path, data, TOP_KEYS, "the card")
    clinical = data["clinical"]
    if not isinstance(clinical, dict):
        raise InputFormatError(path, "[clinical] must be a table")
    _check_keys(path, clinical, CLINICAL_KEYS, "[clinical]")
    if not isinstance(data["modalities"], list) or not data["modalities"]:
        raise InputFormatError(path, "[[modalities]] must list at least one modality")
    specs = []
    for i, mod in enumerate(data["modalities"]):
        where = f"[[modalities]] #{i + 1}"
        _check_keys(path, mod, MODALITY_KEYS, where)
        if mod["name"] not in MODALITIES:
            raise InputFormatError(path, f"{where}: unknown modality {mod['name']!r}", expected=f"one of {', '.join(MODALITIES)}")
        if mod["orientation"] not in ORIENTATIONS:
            raise InputFormatError(path, f"{where}: unknown orientation {mod['orientation']!r}", expected=f"one of {', '.join(ORIENTATIONS)}")
        specs.append(ModalitySpec(
            name=mod["name"], path=_inside(path, mod["path"], where), orientation=mod["orientation"],
            id_column=str(mod["id_column"]), transform=str(mod.get("transform", "as provided")),
            comparable_across_cohorts=bool(mod.get("comparable_across_cohorts", True)),
            allow_missing=bool(mod.get("allow_missing", False)),
        ))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputFormatError(path, "a modality is listed twice", expected="each modality once", found=str(names))
    return DatasetCard(
        path=path, name=str(data["name"]), version=str(data["version"]), description=str(data.get("description", "")),
        licence=str(data.get("licence", "")), citation=str(data.get("citation", "")),
        clinical_path=_inside(path, clinical["path"], "[clinical]"), clinical_id_column=str(clinical["id_column"]),
        cohort_column=clinical.get("cohort_column"), event_column=clinical.get("event_column"),
        time_column=clinical.get("time_column"), modalities=tuple(specs),
    )


def _read_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and body (object array) of a CSV/TSV/Parquet table; duplicate header names are kept as they are."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (named in the dataset card)")
    try:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            header, body = list(frame.columns), frame.to_numpy().astype(object)
        else:
            # read the header as a data row: polars would rename a repeated name (P00 -> P00_duplicated_0)
            raw = pl.read_csv(path, separator="\t" if path.suffix in (".tsv", ".txt") else ",", has_header=False,
                              infer_schema=False)
            header, body = [str(v) for v in raw.row(0)] if raw.height else [], raw.to_numpy()[1:]
    except pl.exceptions.NoDataError:
        raise InputFormatError(path, "empty file", expected="a header row and data rows") from None
    except pl.exceptions.ComputeError as exc:
        raise InputFormatError(path, f"cannot parse ({exc})") from None
    if not header:
        raise InputFormatError(path, "empty file", expected="a header row and data rows")
    if len(body) == 0:
        raise InputFormatError(path, "header only, no data rows", expected="at least one data row")
    return header, body


def _column(path: Path, header: list[str], name: str, key: str) -> int:
    if name not in header:
        raise InputFormatError(path, f"no column {name!r}", expected=f"the {key} named in the card", found=f"columns {header[:10]}")
    return header.index(name)


def _patient_key(raw: str) -> str:
    text = str(raw).strip()
    return harmonize_barcode(text) if text.upper().replace(".", "-").startswith("TCGA-") else text


def read_generic(card_path: str | Path) -> tuple[pl.DataFrame, dict[str, FeatureBlock], DatasetCard]:
    """Read a card's clinical table and matrices: (clinical with patient_id and cohort, blocks, card)."""
    card = read_card(card_path)
    header, body = _read_table(card.clinical_path)
    for key, column in (("id_column", card.clinical_id_column), ("cohort_column", card.cohort_column),
                        ("event_column", card.event_column), ("time_column", card.time_column)):
        if column is not None:
            _column(card.clinical_path, header, column, key)
    if len(set(header)) != len(header):
        raise InputFormatError(card.clinical_path, "repeated column names", expected="unique column names", found=str(header))
    clinical = pl.DataFrame({h: [None if v is None else str(v) for v in body[:, j]] for j, h in enumerate(header)})
    ids = [_patient_key(v) for v in clinical[card.clinical_id_column].to_list()]
    seen: dict[str, int] = {}
    for row, pid in enumerate(ids, start=2):
        if pid in seen:
            raise InputFormatError(card.clinical_path, f"duplicate patient ID {pid!r} (also row {seen[pid]})", row=row,
                                   column=card.clinical_id_column, expected="one row per patient")
        seen[pid] = row
    cohort = clinical[card.cohort_column].to_list() if card.cohort_column else [card.name] * len(ids)
    clinical = clinical.drop(card.clinical_id_column).with_columns(pl.Series("patient_id", ids), pl.Series("cohort", cohort))
    clinical = clinical.select("patient_id", "cohort", pl.exclude("patient_id", "cohort"))
    blocks = {spec.name: _read_matrix(spec, set(ids)) for spec in card.modalities}
    return clinical, blocks, card


def _read_matrix(spec: ModalitySpec, clinical_ids: set[str]) -> FeatureBlock:
    header, body = _read_table(spec.path)
    id_at = _column(spec.path, header, spec.id_column, "id_column")
    labels = [str(v).strip() for v in body[:, id_at]]
    columns = [h for j, h in enumerate(header) if j != id_at]
    cells = np.delete(body, id_at, axis=1)
    values = to_float32(cells, path=spec.path, row_labels=labels, column_labels=columns, allow_nan=spec.allow_missing)
    if spec.orientation == "features_x_patients":
        features, raw_patients, values = labels, columns, values.T
    else:
        features, raw_patients = columns, labels
    patients = [_patient_key(p) for p in raw_patients]
    features = [clean_feature_name(f) for f in features]
    if len(set(features)) != len(features):
        dup = next(f for f in features if features.count(f) > 1)
        raise InputFormatError(spec.path, f"duplicate feature {dup!r}", expected="unique feature names")
    ids, rows, _ = collapse_duplicate_rows(patients, np.ascontiguousarray(values), path=spec.path)
    unknown = [p for p in ids if p not in clinical_ids]
    if len(unknown) == len(ids):
        raise InputFormatError(spec.path, f"none of its {len(ids)} patient IDs is in the clinical table",
                               expected="IDs matching the clinical id_column", found=f"e.g. {ids[:3]}")
    if unknown:
        raise InputFormatError(spec.path, f"{len(unknown)} patient IDs have no clinical row, e.g. {unknown[:3]}",
                               expected="every matrix patient in the clinical table")
    return FeatureBlock(spec.name, tuple(ids), tuple(features), rows, Provenance(
        source=f"card:{spec.path.name}", files=(SourceFile.of(spec.path, spec.path.parent),), transform=spec.transform,
        licence="as stated in the dataset card", citation="as stated in the dataset card",
        comparable_across_cohorts=spec.comparable_across_cohorts))


def card_content(card_path: str | Path, seed: int = 0) -> DatasetContent:
    """A card's data as store content, with seeded kfold (5 x 1) and holdout splits stratified on cohort (and event)."""
    from oncobench.datasets.splits import SplitSpec, draw_split

    clinical, blocks, card = read_generic(card_path)
    endpoints = []
    if card.event_column and card.time_column:
        clinical = clinical.with_columns(pl.col(card.event_column).cast(pl.Int8, strict=False),
                                         pl.col(card.time_column).cast(pl.Float64, strict=False))
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
