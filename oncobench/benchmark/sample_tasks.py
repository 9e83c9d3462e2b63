"""Sample-level tasks: a patient's tumour sample and matched normal sample are two rows of one task.

A task with ``units="sample"`` reads each input modality ``m`` for tumour samples and ``m_normal`` (a store block
keyed by patient, e.g. ``methylation_normal``) for the matched normal samples. Its rows are sample barcodes
(``TCGA-XX-XXXX-01`` primary tumour, ``-11`` solid tissue normal, the TCGA sample-type codes); predictions are
keyed by them in the usual ``patient_id`` column. Splits are the dataset's stored patient-grouped splits with
each sample given its patient's role, so a patient's tumour and normal sample are always on the same side.
Modalities without a normal block (``clinical``) give both samples the patient's values: a model that reads only
them cannot tell the two apart, which is what the clinical reference then shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import polars as pl

from oncobench.benchmark.tasks import ModalityBlock, Task, TaskDataError

TUMOUR, NORMAL = "tumour", "normal"
SAMPLE_CODE = {TUMOUR: "01", NORMAL: "11"}
NORMAL_SUFFIX = "_normal"


def sample_id(patient: str, kind: str) -> str:
    """The sample barcode of a patient's tumour (``-01``) or normal (``-11``) sample."""
    return f"{patient}-{SAMPLE_CODE[kind]}"


class SampleTask(Task):
    """A binary tumour-vs-normal task whose rows are samples (see the module docstring)."""

    @cached_property
    def _table(self) -> pl.DataFrame:
        """One row per sample: ``patient_id`` (the sample barcode), ``patient``, ``cohort``, ``label``."""
        if self.kind != "binary":
            raise TaskDataError(f"task {self.name}: sample-level tasks are tumour-vs-normal (binary), not {self.kind}")
        clin = self._clinical.filter(pl.col("cohort").is_in(list(self.cohorts))).select("patient_id", "cohort")
        presence = self.dataset.presence
        parts = []
        for kind, blocks in ((TUMOUR, self.inputs), (NORMAL, [m + NORMAL_SUFFIX for m in self.inputs])):
            missing = [b for b in blocks if b not in self.dataset.modalities]
            if missing:
                raise TaskDataError(f"task {self.name}: {self.dataset.id} has no block {missing} for the {kind} samples")
            # A sample needs every input measured: a sample missing one would be told apart by its gap alone.
            have = presence.filter(pl.all_horizontal([pl.col(b) for b in blocks]))["patient_id"]
            part = clin.filter(pl.col("patient_id").is_in(have.to_list()))
            parts.append(part.select(
                (pl.col("patient_id") + f"-{SAMPLE_CODE[kind]}").alias("patient_id"),
                pl.col("patient_id").alias("patient"), "cohort", pl.lit(kind).alias("label")))
        table = pl.concat(parts).sort("patient_id")
        if table.filter(pl.col("label") == NORMAL).height == 0 or table.filter(pl.col("label") == TUMOUR).height == 0:
            raise TaskDataError(f"task {self.name}: {self.dataset.id} has no {TUMOUR} or no {NORMAL} samples "
                                f"for {list(self.inputs)} in {list(self.cohorts)}")
        return table

    @cached_property
    def _patient_of(self) -> dict[str, str]:
        return dict(zip(self._table["patient_id"].to_list(), self._table["patient"].to_list()))

    @cached_property
    def modalities(self) -> tuple[str, ...]:
        """The inputs plus the offered ones (``clinical``) that the task's patients have."""
        have = self.dataset.presence.filter(pl.col("patient_id").is_in(self._table["patient"].to_list()))
        extra = [m for m in self.spec.offered if m not in self.inputs and m in self.dataset.modalities
                 and bool(have[m].any())]
        return self.inputs + tuple(extra)

    @cached_property
    def _split_table(self) -> pl.DataFrame:
        # Each sample takes its patient's (repeat, fold, role): grouping by patient holds by construction.
        units = self._table.select("patient_id", "patient")
        split = self.dataset.split_table(self.scheme).rename({"patient_id": "patient"})
        return units.join(split, on="patient", how="inner").drop("patient")

    def _names(self, modality: str) -> tuple[str, ...]:
        """Features of a modality measured in both its tumour and its normal block (all of them, otherwise)."""
        if modality not in self._names_cache:
            names = self.dataset.features(modality)
            normal = modality + NORMAL_SUFFIX
            if normal in self.dataset.modalities:
                shared = set(self.dataset.features(normal))
                names = [f for f in names if f in shared]
            if not names:
                raise TaskDataError(f"task {self.name}: {modality} and {normal} share no feature")
            self._names_cache[modality] = tuple(names)
        return self._names_cache[modality]

    def _block(self, modality: str, ids: Sequence[str], names: Sequence[str] | None = None) -> ModalityBlock:
        names = list(names if names is not None else self._names(modality))
        unknown = [s for s in ids if s not in self._patient_of]
        if unknown:
            raise KeyError(f"task {self.name}: {len(unknown)} IDs are not samples of the task, e.g. {unknown[:3]}")
        values = np.full((len(ids), len(names)), np.nan, dtype=np.float32)
        normal_block = modality + NORMAL_SUFFIX
        is_normal = np.array([s.endswith(f"-{SAMPLE_CODE[NORMAL]}") for s in ids])
        for rows, block in ((~is_normal, modality),
                            (is_normal, normal_block if normal_block in self.dataset.modalities else modality)):
            if rows.any():
                patients = [self._patient_of[s] for s in np.asarray(ids, dtype=object)[rows]]
                matrix, features = self.dataset.matrix(block, patients)
                pos = {f: i for i, f in enumerate(features)}
                values[rows] = matrix[:, [pos[f] for f in names]]
        present = ~np.all(np.isnan(values), axis=1) if values.shape[1] else np.zeros(len(ids), bool)
        return ModalityBlock(values, tuple(names), present)

    def info(self) -> dict:
        out = super().info()
        t = self._table
        out["units"] = "samples (patient_id holds sample barcodes: -01 tumour, -11 matched normal)"
        out["patients"] = t["patient"].n_unique()
        out["samples"] = t.height
        out["paired_patients"] = t.group_by("patient").len().filter(pl.col("len") > 1).height
        return out
