"""Extend a built dataset: a new version with a modality, an endpoint or clinical columns added by patient ID.

The extension is described by a card with the dataset card's tables, all optional: ``[[modalities]]``
(new modalities only), ``[clinical]`` (new columns, joined on the patient ID) and ``[[endpoints]]`` (on
that clinical table). Patients the dataset does not have are reported with their count and left out;
the dataset's patients, their existing data and every split file stay byte for byte the same, so the
split hashes of the new version equal the old ones. Both provenances are kept: the base's in its
manifest entries, the extension's in the new entries and in ``card.extensions``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from oncobench.datasets import matrixio
from oncobench.datasets.dataset import load_dataset
from oncobench.datasets.derive import derive_version
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import MODALITIES, FeatureBlock
from oncobench.datasets.sources.generic import (
    BuildReport, DatasetCard, _Problems, _read_clinical, _read_matrix, dataclass_replace, endpoint_columns, read_card,
)

log = logging.getLogger(__name__)


def _modality_entry(block: FeatureBlock, rows: np.ndarray) -> dict[str, Any]:
    """The manifest entry of a modality, as the store's build writes it."""
    return {
        "n_patients": int(rows.shape[0]), "n_features": len(block.features),
        "comparable_across_cohorts": block.provenance.comparable_across_cohorts,
        "missing_cells_fraction": float(np.isnan(rows).mean()) if rows.size else 0.0,
        "features_per_source": {block.provenance.source: len(block.features)},
        "sources": [block.provenance.to_dict()],
    }


def _clinical_part(card: DatasetCard, patients: list[str], existing: list[str], report: BuildReport,
                   problems: _Problems) -> tuple[pl.DataFrame | None, list[dict[str, Any]]]:
    """The extension's new clinical columns (and endpoints) for the dataset's patients."""
    if card.clinical is None:
        if card.endpoints:
            problems.check(_fail, InputFormatError(card.path, "[[endpoints]] need a [clinical] table with their columns",
                                                   expected="a [clinical] path and id_column"))
        return None, []
    frame = problems.check(_read_clinical, card, report)
    if frame is None:
        return None, []
    entries = []
    for endpoint in card.endpoints:
        done = problems.check(endpoint_columns, frame, endpoint, card.clinical_path, report)
        if done is not None:
            frame, entry = done
            entries.append(entry)
    frame = frame.drop("cohort")
    clash = sorted(set(frame.columns) & set(existing) - {"patient_id"})
    if clash:
        problems.check(_fail, InputFormatError(card.clinical_path, f"columns {clash[:5]} already exist in the dataset",
                                               expected="new columns only (select or drop columns in [clinical])"))
        return None, entries
    known = set(patients)
    outside = [p for p in frame["patient_id"].to_list() if p not in known]
    if outside:
        report.add("clinical_patients_not_in_dataset", len(outside),
                   f"clinical: {len(outside)} of {frame.height} patients of {card.clinical_path.name} are not in the "
                   f"dataset and were left out, e.g. {outside[:3]}")
    matched = frame.height - len(outside)
    report.lines.append(f"clinical: {len(frame.columns) - 1} columns added for {matched} of the dataset's "
                        f"{len(patients)} patients")
    frame = frame.filter(pl.col("patient_id").is_in(patients))
    for entry in entries:  # counted on the dataset's patients, not on the extension table's
        event, time = frame[entry["event"]], frame[entry["time"]]
        known = event.is_not_null() & time.is_not_null()
        entry["patients"] = int((known & (time > 0)).sum())
        entry["events"] = int((known & (time > 0) & (event == 1)).sum())
        entry["left_out"] = {"time_or_event_missing": len(patients) - int(known.sum()),
                             "time_not_positive": int((known & (time <= 0)).sum())}
    return frame, entries


def _fail(exc: Exception) -> None:
    raise exc


def extend_dataset(name: str, card_path: str | Path, *, version: str | None = None,
                   raw_dir: str | Path | None = None) -> tuple[Path, list[str]]:
    """Write a new version of ``name`` (``NAME[@VERSION]``) with the extension card's content; returns it and the report."""
    ds = load_dataset(name)
    card = read_card(card_path, raw_dir, extension=True)
    card = dataclass_replace(card, name=card.name or Path(card_path).stem, unmatched="drop")
    patients = list(ds.patients)
    report = BuildReport()
    problems = _Problems(card.path)
    clinical, endpoints = _clinical_part(card, patients, ds.clinical.columns, report, problems)
    taken = {e["name"] for e in ds.manifest.get("endpoints", [])} & {e["name"] for e in endpoints}
    if taken:
        problems.check(_fail, InputFormatError(card.path, f"endpoint {sorted(taken)[0]!r} already exists in {ds.id}",
                                               expected="a new endpoint name"))
    blocks: dict[str, FeatureBlock] = {}
    for spec in card.modalities:
        if spec.name in ds.modalities:
            problems.check(_fail, InputFormatError(card.path, f"{spec.where}: {ds.id} already has a {spec.name} modality",
                                                   expected=f"a modality it lacks (it has {', '.join(ds.modalities)})"))
            continue
        block = problems.check(_read_matrix, spec, set(patients), card, report)
        if block is not None:
            blocks[spec.name] = block
            report.lines.append(f"{spec.name}: {block.shape[0]} of the dataset's {len(patients)} patients x "
                                f"{block.shape[1]} features added")
    problems.raise_any()
    if clinical is None and not blocks:
        raise InputFormatError(card.path, "the extension card adds nothing", expected="[[modalities]], [clinical] or [[endpoints]]")
    parts = [*blocks] + (["clinical columns"] if clinical is not None else []) + [f"endpoint {e['name']}" for e in endpoints]
    slug = "-".join(blocks) or (endpoints[0]["name"].lower() if endpoints else "clinical")
    version = version or f"{ds.version}+ext.{slug}"
    replace = (("clinical.parquet",) if clinical is not None else ()) + (("presence.parquet",) if blocks else ())
    entries: dict[str, Any] = {}

    def add(writer) -> None:
        if clinical is not None:
            joined = ds.clinical.join(clinical, on="patient_id", how="left", maintain_order="left")
            joined.write_parquet(writer.path("clinical.parquet"), compression="zstd", statistics=False)
        if blocks:
            presence = ds.presence
            for modality, block in blocks.items():
                position = {p: i for i, p in enumerate(block.patients)}
                ids = [p for p in patients if p in position]
                rows = block.values[[position[p] for p in ids]] if ids else block.values[:0]
                matrixio.write_matrix(writer.path(f"modalities/{modality}.parquet"), ids, list(block.features), rows)
                entries[modality] = _modality_entry(block, rows)
                have = set(ids)
                presence = presence.with_columns(pl.Series(modality, [p in have for p in presence["patient_id"].to_list()]))
            order = ["patient_id"] + [m for m in MODALITIES if m in presence.columns]
            presence.select(order).write_parquet(writer.path("presence.parquet"), compression="zstd", statistics=False)

    def update(manifest: dict[str, Any]) -> None:
        merged = {**manifest["modalities"], **entries}
        manifest["modalities"] = {m: merged[m] for m in MODALITIES if m in merged}
        manifest["endpoints"] = list(manifest.get("endpoints", [])) + endpoints
        manifest["labels"] = list(dict.fromkeys([*manifest.get("labels", []), *card.labels]))
        manifest["sources"] = list(manifest.get("sources", [])) + [
            {"source": b.provenance.source, "files": [f.__dict__ for f in b.provenance.files]} for b in blocks.values()]
        card_meta = dict(manifest.get("card", {}))
        card_meta["extensions"] = list(card_meta.get("extensions", [])) + [{
            "card": card.path.name, "name": card.name, "added": parts, "description": card.description,
            "licence": card.licence, "citation": card.citation, "report": report.lines, "counts": report.counts,
        }]
        manifest["card"] = card_meta

    folder = derive_version(ds, version, add, update, change="added " + ", ".join(parts), replace=replace)
    return folder, report.lines
