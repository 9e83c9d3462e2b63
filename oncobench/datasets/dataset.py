"""The read side of the store: :func:`load_dataset` and :class:`Dataset`."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from oncobench.datasets import matrixio, splits as _splits
from oncobench.datasets.errors import InputFormatError, ManifestError
from oncobench.datasets.store import MANIFEST, open_version, resolve_entry, verify_file

log = logging.getLogger(__name__)


def load_dataset(name: str, version: str | None = None, *, verify: bool = True) -> "Dataset":
    """Open and verify a built (or embedded) dataset version; ``name`` may be ``"tcga-pancan@1.0"``.

    Verification cannot be switched off (``verify=False`` raises): it is cheap, because each file is
    hashed once per process (see :func:`oncobench.datasets.store.open_version`). A built version is
    also checked against the home's catalog.
    """
    if not verify:
        raise ValueError("datasets are always verified on open (each file is hashed once per process); "
                         "verify=False is not supported")
    entry = resolve_entry(name, version)
    return Dataset(entry["path"], catalog_entry=entry if entry["origin"] == "built" else None)


class Dataset:
    """One immutable dataset version: clinical table, per-modality matrices, presence, fixed splits.

    Opening verifies the whole version (manifest hash, every file's sha256, content hash, and
    ``catalog_entry`` when given); every later read re-checks the file it reads, which costs one
    ``stat`` unless the file changed since it was hashed.
    """

    def __init__(self, folder: str | Path, *, catalog_entry: dict[str, Any] | None = None) -> None:
        self.path = Path(folder)
        self.manifest: dict[str, Any] = open_version(self.path, catalog_entry)
        self.name: str = self.manifest["name"]
        self.version: str = self.manifest["version"]
        self.content_hash: str = self.manifest["content_hash"]
        self._entries: dict[str, dict[str, Any]] = {f["name"]: f for f in self.manifest["files"]}
        self._index: dict[str, tuple[dict[str, int], list[str]]] = {}

    def _file(self, name: str) -> Path:
        """The verified path of one listed file."""
        if name not in self._entries:
            raise ManifestError(f"{self.path / MANIFEST}: lists no file {name}")
        return verify_file(self.path, self._entries[name])

    def _table(self, name: str, what: str) -> pl.DataFrame:
        path = self._file(name)
        try:
            return pl.read_parquet(path)
        except (pl.exceptions.PolarsError, pa.ArrowException, OSError) as exc:
            raise InputFormatError(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})",
                                   expected=what) from None

    def _matrix_file(self, modality: str) -> Path:
        self.modality_info(modality)
        return self._file(f"modalities/{modality}.parquet")

    def __repr__(self) -> str:
        return f"Dataset({self.name}@{self.version}, {len(self.patients)} patients, modalities={list(self.modalities)})"

    @property
    def id(self) -> str:
        """``name@version``: what splits, runs and leaderboard entries cite."""
        return f"{self.name}@{self.version}"

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.manifest["modalities"])

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(self.manifest.get("splits", {}))

    @cached_property
    def clinical(self) -> pl.DataFrame:
        """One row per patient: cohort, cancer type, outcomes, site and labels."""
        return self._table("clinical.parquet", "the clinical table (one row per patient)")

    @cached_property
    def patients(self) -> tuple[str, ...]:
        return tuple(self.clinical["patient_id"].to_list())

    @cached_property
    def presence(self) -> pl.DataFrame:
        """patient_id plus one boolean column per modality: True when the patient has any measured value."""
        return self._table("presence.parquet", "the presence table (patient_id and one boolean per modality)")

    def modality_info(self, modality: str) -> dict[str, Any]:
        """Manifest entry of a modality: shape, sources with provenance, comparability."""
        try:
            return self.manifest["modalities"][modality]
        except KeyError:
            raise KeyError(f"{self.id} has no modality {modality!r}; it has {', '.join(self.modalities)}") from None

    def _matrix_index(self, modality: str) -> tuple[dict[str, int], list[str]]:
        if modality not in self._index:
            path = self._matrix_file(modality)
            rows, features = self._read(path, matrixio.read_matrix_index)
            self._index[modality] = ({p: i for i, p in enumerate(rows)}, features)
        return self._index[modality]

    def features(self, modality: str) -> list[str]:
        """Feature names of a modality, in stored order."""
        return list(self._matrix_index(modality)[1])

    def modality_patients(self, modality: str) -> list[str]:
        """Patients with this modality, in the stored row order (``matrix(modality)`` returns these rows)."""
        return list(self._matrix_index(modality)[0])

    def matrix(self, modality: str, patients: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
        """float32 values (rows in the order of ``patients``; all patients with the modality by default) and feature names.

        A patient of the dataset without this modality gets a row of NaN ("not measured"); an ID
        that is not in the dataset raises ``KeyError``.
        """
        index, features = self._matrix_index(modality)
        path = self._matrix_file(modality)
        if patients is None:
            return self._read(path, matrixio.read_matrix)
        patients = list(patients)
        positions = np.array([index.get(p, -1) for p in patients], dtype=np.intp)
        absent = positions < 0
        if absent.any():
            known = set(self.patients)
            unknown = [p for p, a in zip(patients, absent) if a and p not in known]
            if unknown:
                raise KeyError(f"{self.id}: {len(unknown)} unknown patient IDs, e.g. {unknown[:3]}")
            values, _ = self._read(path, matrixio.read_matrix, np.where(absent, 0, positions))
            values[absent] = np.nan
            return values, features
        return self._read(path, matrixio.read_matrix, positions)

    @staticmethod
    def _read(path: Path, reader: Any, *args: Any) -> Any:
        try:
            return reader(path, *args)
        except (pa.ArrowException, OSError) as exc:
            raise InputFormatError(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})",
                                   expected="an OncoBench matrix file (patient_id, values)") from None

    def measured_features(self, modality: str, cohorts: Sequence[str] | None = None) -> list[str]:
        """Features measured (any non-NaN value) in every listed cohort (default: every cohort with the modality).

        Use this for pan-cancer models: a feature only some cohorts measured lets the pattern of
        missing values stand in for the cohort label.
        """
        values, features = self.matrix(modality)
        rows = self.modality_patients(modality)
        cohort_of = dict(zip(self.clinical["patient_id"].to_list(), self.clinical["cohort"].to_list()))
        row_cohorts = np.array([cohort_of[p] for p in rows])
        wanted = sorted(set(row_cohorts)) if cohorts is None else list(cohorts)
        keep = np.ones(len(features), dtype=bool)
        for cohort in wanted:
            mask = row_cohorts == cohort
            if not mask.any():
                raise ValueError(f"{self.id}: cohort {cohort!r} has no {modality} data")
            keep &= ~np.all(np.isnan(values[mask]), axis=0)
        return [f for f, k in zip(features, keep) if k]

    def split_table(self, scheme: str) -> pl.DataFrame:
        """The stored split: ``patient_id, repeat, fold, role`` for every (repeat, fold)."""
        if scheme not in self.schemes:
            raise KeyError(f"{self.id} has no split scheme {scheme!r}; it has {', '.join(self.schemes)}")
        return self._table(f"splits/{scheme}.parquet", "a split table (patient_id, repeat, fold, role)")

    def split(self, scheme: str = "kfold", fold: int = 0, repeat: int = 0) -> tuple[list[str], list[str], list[str]]:
        """(train, valid, test) patient IDs of one fold; ``valid`` is empty for schemes without one."""
        return _splits.split_ids(self.split_table(scheme), fold=fold, repeat=repeat)

    def coverage(self) -> dict[str, Any]:
        """Patients per modality and per cohort, and outcome coverage (non-missing / events)."""
        presence = self.presence
        clinical = self.clinical
        by_cohort = presence.join(clinical.select("patient_id", "cohort"), on="patient_id").group_by("cohort").agg(
            [pl.len().alias("patients")] + [pl.col(m).sum() for m in self.modalities]
        ).sort("cohort")
        endpoints = {}
        for endpoint in self.manifest.get("endpoints", []):
            event, time = endpoint["event"], endpoint["time"]
            known = clinical.filter(pl.col(event).is_not_null() & pl.col(time).is_not_null())
            endpoints[endpoint["name"]] = {"patients": known.height, "events": int(known[event].sum() or 0)}
        labels = {}
        for label in self.manifest.get("labels", []):
            column = clinical[label]
            labels[label] = {"patients": int(column.is_not_null().sum()), "classes": int(column.drop_nulls().n_unique())}
        return {
            "patients": clinical.height,
            "cohorts": clinical["cohort"].n_unique(),
            "modalities": {m: int(presence[m].sum()) for m in self.modalities},
            "by_cohort": by_cohort,
            "endpoints": endpoints,
            "labels": labels,
        }

    def card(self) -> str:
        """A human-readable card: description, provenance, coverage, splits."""
        m = self.manifest
        cov = self.coverage()
        lines = [
            f"{self.id}  (content sha256 {self.content_hash[:16]}, pipeline {m['pipeline_version']}, built {m['built_at']})",
            m.get("card", {}).get("description", ""),
            f"patients: {cov['patients']} in {cov['cohorts']} cohorts",
            "modalities:",
        ]
        for mod in self.modalities:
            info = m["modalities"][mod]
            sources = ", ".join(s["source"] for s in info["sources"])
            flags = {s["source"]: s["comparable_across_cohorts"] for s in info["sources"]}
            if all(flags.values()):
                comparable = "yes"
            elif not any(flags.values()):
                comparable = "NO (within-cohort scaling or cohort-specific models)"
            else:
                comparable = "partly (not: " + ", ".join(k for k, v in flags.items() if not v) + ")"
            lines.append(
                f"  {mod:<10} {cov['modalities'][mod]:>6} patients x {info['n_features']:>5} features  "
                f"[{sources}]  comparable across cohorts: {comparable}"
            )
        if cov["endpoints"]:
            lines.append("endpoints (patients / events): " + ", ".join(
                f"{k} {v['patients']}/{v['events']}" for k, v in cov["endpoints"].items()))
        if cov["labels"]:
            lines.append("labels (patients / classes): " + ", ".join(
                f"{k} {v['patients']}/{v['classes']}" for k, v in cov["labels"].items()))
        lines.append("splits: " + ", ".join(
            f"{s} ({v['n_folds']} folds x {v['n_repeats']} repeats)" for s, v in m.get("splits", {}).items()))
        for key in ("citation", "licence"):
            if m.get("card", {}).get(key):
                lines.append(f"{key}: {m['card'][key]}")
        return "\n".join(line for line in lines if line)
