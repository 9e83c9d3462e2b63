"""Assemble reader output (tables + FeatureBlocks) into a store version: the write side used by recipes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import polars as pl

from oncobench.datasets import matrixio
from oncobench.datasets.harmonize import MODALITIES, FeatureBlock
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.splits import SplitSpec, check_split, write_split
from oncobench.datasets.store import VersionWriter, build_version

log = logging.getLogger(__name__)


@dataclass
class DatasetContent:
    """Everything a recipe hands to the store.

    ``clinical`` has one row per patient with ``patient_id`` and ``cohort`` columns; it defines the
    dataset's patients. ``blocks`` may hold several blocks per modality (several sources): they are
    merged feature-wise. ``splits`` maps a scheme to its table and spec; ``split_checks`` to the
    label/group dicts :func:`check_split` verifies at build time.
    """

    name: str
    version: str
    clinical: pl.DataFrame
    blocks: dict[str, list[FeatureBlock]]
    splits: dict[str, tuple[pl.DataFrame, SplitSpec | dict]] = field(default_factory=dict)
    split_checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    endpoints: list[dict[str, str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    streamed: dict[str, "StreamedModality"] = field(default_factory=dict)
    modality_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra manifest keys per modality


@dataclass
class StreamedModality:
    """A modality too large to hold in memory: ``chunks()`` yields (patient IDs, float32 rows) of the patients
    who have it, in any order, each patient once; written chunk by chunk (:class:`matrixio.MatrixWriter`)."""

    features: list[str]
    chunks: Callable[[], Iterator[tuple[list[str], np.ndarray]]]
    provenance: Provenance


def merge_blocks(blocks: Sequence[FeatureBlock], patients: Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """One patient x feature matrix from several sources' blocks of one modality.

    Rows follow ``patients`` (a patient missing from a block gets NaN there); features are the blocks'
    features in block order. Returns values, features and each feature's source.
    """
    position = {p: i for i, p in enumerate(patients)}
    features: list[str] = []
    sources: list[str] = []
    for block in blocks:
        clash = set(features) & set(block.features)
        if clash:
            raise ValueError(f"{block.modality}: feature names {sorted(clash)[:3]} come from two sources; prefix them")
        features.extend(block.features)
        sources.extend([block.provenance.source] * len(block.features))
    values = np.full((len(patients), len(features)), np.nan, dtype=np.float32)
    col = 0
    for block in blocks:
        rows = [position.get(p, -1) for p in block.patients]
        keep = np.array([r >= 0 for r in rows])
        if not keep.all():
            log.info("%s/%s: %d patients not in the dataset, left out", block.provenance.source, block.modality, int((~keep).sum()))
        target = np.array([r for r in rows if r >= 0], dtype=np.intp)
        values[target, col:col + len(block.features)] = block.values[keep]
        col += len(block.features)
    return values, features, sources


def write_dataset(content: DatasetContent, *, home: Path | None = None, root: Path | None = None) -> Path:
    """Check and write ``content`` as an immutable store version; returns its folder."""
    clinical = content.clinical
    if clinical["patient_id"].n_unique() != clinical.height:
        raise ValueError(f"{content.name}: clinical table has duplicate patient_id")
    patients = clinical["patient_id"].to_list()
    for scheme, (table, _) in content.splits.items():
        extra = set(table["patient_id"].unique()) - set(patients)
        if extra:
            raise ValueError(f"{content.name}: split {scheme} names {len(extra)} patients not in the dataset, e.g. {sorted(extra)[:3]}")
        check_split(table, name=f"{content.name}/{scheme}", **content.split_checks.get(scheme, {}))

    both = set(content.blocks) & set(content.streamed)
    if both:
        raise ValueError(f"{content.name}: modalities {sorted(both)} given both as blocks and streamed")

    def write(writer: VersionWriter) -> None:
        presence = {"patient_id": patients}
        modalities: dict[str, Any] = {}
        for modality in [m for m in MODALITIES if m in content.blocks]:
            blocks = content.blocks[modality]
            values, features, feature_sources = merge_blocks(blocks, patients)
            present = ~np.all(np.isnan(values), axis=1) if values.shape[1] else np.zeros(len(patients), bool)
            presence[modality] = present.tolist()
            rows = np.flatnonzero(present)
            matrixio.write_matrix(writer.path(f"modalities/{modality}.parquet"),
                                  [patients[i] for i in rows], features, values[rows])
            modalities[modality] = {
                "n_patients": int(present.sum()),
                "n_features": len(features),
                "comparable_across_cohorts": all(b.provenance.comparable_across_cohorts for b in blocks),
                "missing_cells_fraction": float(np.isnan(values[rows]).mean()) if rows.size and features else 0.0,
                "features_per_source": {b.provenance.source: len(b.features) for b in blocks},
                "sources": [b.provenance.to_dict() for b in blocks],
            } | content.modality_info.get(modality, {})
            log.info("%s: %s %d x %d", content.name, modality, int(present.sum()), len(features))
        for modality in [m for m in MODALITIES if m in content.streamed]:
            modalities[modality], presence[modality] = _write_streamed(writer, modality, content.streamed[modality], patients)
            log.info("%s: %s %d x %d (streamed)", content.name, modality, modalities[modality]["n_patients"],
                     len(content.streamed[modality].features))
        modalities = {m: modalities[m] for m in MODALITIES if m in modalities}
        presence = {"patient_id": patients} | {m: presence[m] for m in modalities}
        clinical.write_parquet(writer.path("clinical.parquet"), compression="zstd", statistics=False)
        pl.DataFrame(presence).write_parquet(writer.path("presence.parquet"), compression="zstd", statistics=False)
        split_meta = {}
        for scheme, (table, spec) in content.splits.items():
            write_split(table, writer.path(f"splits/{scheme}.parquet"))
            described = spec.describe() if isinstance(spec, SplitSpec) else dict(spec)
            described["n_folds"] = int(table["fold"].n_unique())
            described["n_repeats"] = int(table["repeat"].n_unique())
            split_meta[scheme] = described
        writer.manifest.update({
            "card": content.card,
            "n_patients": len(patients),
            "cohorts": sorted(clinical["cohort"].unique().to_list()),
            "modalities": modalities,
            "endpoints": content.endpoints,
            "labels": content.labels,
            "splits": split_meta,
            "sources": content.sources,
            "matrix_layout": matrixio.LAYOUT,
        })

    return build_version(content.name, content.version, write, home=home, root=root)


def _write_streamed(writer: VersionWriter, modality: str, stream: StreamedModality,
                    patients: list[str]) -> tuple[dict[str, Any], list[bool]]:
    known = set(patients)
    seen: set[str] = set()
    missing_cells = 0
    with matrixio.MatrixWriter(writer.path(f"modalities/{modality}.parquet"), stream.features) as out:
        for ids, values in stream.chunks():
            unknown = [p for p in ids if p not in known]
            if unknown:
                raise ValueError(f"{modality}: streamed patients not in the clinical table, e.g. {unknown[:3]}")
            again = seen.intersection(ids)
            if again or len(set(ids)) != len(ids):
                raise ValueError(f"{modality}: patients streamed twice, e.g. {sorted(again)[:3]}")
            seen.update(ids)
            missing_cells += int(np.isnan(values).sum())
            out.write(ids, values)
    n = len(seen)
    info = {
        "n_patients": n, "n_features": len(stream.features),
        "comparable_across_cohorts": stream.provenance.comparable_across_cohorts,
        "missing_cells_fraction": missing_cells / (n * len(stream.features)) if n else 0.0,
        "features_per_source": {stream.provenance.source: len(stream.features)},
        "sources": [stream.provenance.to_dict()],
    }
    return info, [p in seen for p in patients]
