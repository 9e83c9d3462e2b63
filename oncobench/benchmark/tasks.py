"""Tasks: a dataset version + a target + a kind + modalities + a split protocol + metrics.

``load_task(name)`` gives a :class:`Task`; ``task.get_split(fold, repeat)`` the fixed, patient-grouped split
restricted to the task's patients; ``task.features(ids)`` the per-modality matrices aligned to the IDs;
``task.evaluate(predictions, split=split)`` the scored, immutable result. One dataset backs many tasks.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import polars as pl

from oncobench.baselines.registry import KINDS
from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.errors import OncoBenchError, SplitError

if TYPE_CHECKING:
    from oncobench.benchmark.evaluator import EvaluationResult

log = logging.getLogger(__name__)

SCHEME_VARIANTS = ("site", "holdout")
UNITS = ("patient", "sample")


class TaskNotFoundError(OncoBenchError, KeyError):
    """An unknown task name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class TaskDataError(OncoBenchError):
    """The dataset cannot support the task (too few patients, events or classes)."""


@dataclass(frozen=True)
class TaskSpec:
    """The declaration of a task; :class:`Task` binds it to a dataset version.

    ``target`` is a clinical column (classification, binary, clustering labels), an endpoint name of the
    dataset's manifest (survival), or a modality (translation: predict that modality's features; imputation:
    fill the ``missing_rate`` share of its entries hidden in each test patient, see
    :mod:`oncobench.benchmark.imputation`).
    ``comparable`` keeps only cross-cohort comparable feature sets: the listed modalities restricted to
    ``feature_prefix`` and to features measured in every included cohort, on the patients with no missing
    value in any of them (so neither missing features nor missing modalities can stand in for the cohort).
    ``modalities`` are the default inputs (resolved per cohort, see :attr:`Task.inputs`); ``offered`` ones
    (``clinical``) are available to models that name them (clinical references, ``clinical-fusion``,
    ``coxnet/rna+clinical``) without changing the inputs or the patient set.
    """

    name: str
    kind: str
    target: str
    modalities: tuple[str, ...]  # empty: every modality covering ``min_coverage`` of the task's cohorts
    description: str
    primary: str
    secondary: tuple[str, ...] = ()
    dataset: str = "tcga-pancan@1.0"  # a pinned version: a newer build never changes a task's results
    scheme: str = "kfold"
    cohorts: tuple[str, ...] | None = None
    comparable: bool = False
    feature_prefix: Mapping[str, str] = field(default_factory=dict)
    label_map: Mapping[str, str | None] | None = None  # raw label -> class (None drops the patient)
    min_class_size: int = 10
    min_coverage: float = 0.5  # a cohort joins a comparable task when each modality covers this share of it
    horizon: float | None = None  # binary-at-horizon tasks derived from an endpoint (in the endpoint's unit)
    endpoint_note: str = ""
    reference: str = ""
    logrank_endpoint: str | None = None  # clustering: the endpoint compared across clusters
    covariates: tuple[str, ...] = ()  # clinical modality features the clinical reference reads (empty: all)
    offered: tuple[str, ...] = ("clinical",)  # offered beside the inputs: read by a model that names them
    input_pool: tuple[str, ...] = ()  # ``modalities`` empty: default inputs drawn only from these (empty: any)
    n_clusters: int | None = None  # clustering: k (None: the number of reference classes of ``target``)
    units: str = "patient"  # "sample": rows are tumour and matched normal samples (oncobench.benchmark.sample_tasks)
    missing_rate: float | None = None  # imputation: share of each test patient's target entries hidden

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name}: unknown kind {self.kind!r}; expected one of {KINDS}")
        if self.units not in UNITS:
            raise ValueError(f"task {self.name}: unknown units {self.units!r}; expected one of {UNITS}")
        if self.kind == "clustering" and not self.target and not self.n_clusters:
            raise ValueError(f"task {self.name}: a clustering task without reference labels (target '') needs n_clusters")
        if (self.kind == "imputation") != (self.missing_rate is not None):
            raise ValueError(f"task {self.name}: an imputation task needs a missing_rate in (0, 1), and only it has one")
        if self.missing_rate is not None and not 0 < self.missing_rate < 1:
            raise ValueError(f"task {self.name}: missing_rate {self.missing_rate} is outside (0, 1)")


@dataclass(frozen=True)
class Split:
    """One (repeat, fold) of a task: sorted patient IDs per role and the sha256 that names it."""

    task: str
    scheme: str
    repeat: int
    fold: int
    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    sha256: str


def split_sha256(task: str, dataset_id: str, scheme: str, repeat: int, fold: int,
                 train: Sequence[str], valid: Sequence[str], test: Sequence[str]) -> str:
    """sha256 of the exact (patient, role) assignment; equal hashes mean the same split."""
    h = hashlib.sha256(f"{task}\n{dataset_id}\n{scheme}\n{repeat}\n{fold}\n".encode())
    for role, ids in (("train", train), ("valid", valid), ("test", test)):
        for pid in sorted(ids):
            h.update(f"{pid}\t{role}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class ModalityBlock:
    """One modality for a list of patients: float32 values (NaN = not measured), names, presence per row."""

    values: np.ndarray
    features: tuple[str, ...]
    present: np.ndarray


class Task:
    """A :class:`TaskSpec` bound to a dataset version; see the module docstring for the three calls."""

    def __new__(cls, spec: TaskSpec | None = None, dataset: Dataset | None = None) -> Task:  # noqa: PYI034
        # returns a subclass by design; no arguments: copy/pickle rebuilding an instance
        if cls is Task and spec is not None and spec.units == "sample":  # every caller builds Task(spec, dataset); the spec picks the rows
            from oncobench.benchmark.sample_tasks import SampleTask

            return super().__new__(SampleTask)
        return super().__new__(cls)

    def __init__(self, spec: TaskSpec, dataset: Dataset) -> None:
        self.spec = spec
        self.dataset = dataset
        if spec.scheme not in dataset.schemes:
            raise TaskDataError(f"task {spec.name}: {dataset.id} has no split scheme {spec.scheme!r}; "
                                f"it has {', '.join(dataset.schemes)}")
        missing = [m for m in spec.modalities if m not in dataset.modalities]
        if missing:
            raise TaskDataError(f"task {spec.name}: {dataset.id} lacks modalities {missing}")
        if spec.kind in ("translation", "imputation") and spec.target not in dataset.modalities:
            raise TaskDataError(f"task {spec.name}: {dataset.id} has no modality {spec.target!r} to predict")

    def __repr__(self) -> str:
        return f"Task({self.name} on {self.dataset.id}, {self.kind}, scheme={self.scheme}, {len(self.patients)} patients)"

    name = property(lambda self: self.spec.name)
    kind = property(lambda self: self.spec.kind)
    scheme = property(lambda self: self.spec.scheme)

    @cached_property
    def _resolved(self) -> tuple[tuple[str, ...], dict[str, str]]:
        """(default inputs, {modality left out: why}); see :attr:`inputs`."""
        spec = self.spec
        dropped: dict[str, str] = {}
        if spec.modalities and spec.comparable:  # cohorts follow the modalities here (see ``cohorts``)
            return spec.modalities, dropped
        wanted = list(self.cohorts) if spec.modalities else (
            list(spec.cohorts) if spec.cohorts else sorted(set(self._clinical["cohort"].to_list())))
        presence = self.dataset.presence.join(self._clinical.select("patient_id", "cohort"), on="patient_id")
        presence = presence.filter(pl.col("cohort").is_in(wanted))
        if spec.modalities:
            # A declared modality is kept only if every cohort of the task has it: one a cohort lacks entirely
            # cannot be learned there, and in a pooled task its absence would label that cohort.
            counts = presence.group_by("cohort").agg([pl.col(m).sum() for m in spec.modalities]).sort("cohort")
            mods = []
            for m in spec.modalities:
                lacking = [c for c, n in zip(counts["cohort"].to_list(), counts[m].to_list()) if n == 0]
                if lacking:
                    dropped[m] = f"no patient of cohort {', '.join(lacking)} has it"
                else:
                    mods.append(m)
        else:
            mods = []
            for m in self.dataset.modalities:
                if m == spec.target or m.endswith("_normal"):  # normal-tissue blocks enter only when named
                    continue
                if spec.input_pool and m not in spec.input_pool:
                    dropped[m] = f"not among the task's input pool {list(spec.input_pool)}"
                    continue
                share = float(presence[m].mean()) if presence.height else 0.0
                if share >= spec.min_coverage:
                    mods.append(m)
                else:
                    dropped[m] = f"covers {share:.0%} of the task's patients (< {spec.min_coverage:.0%})"
        if not mods:
            raise TaskDataError(f"task {self.name}: no modality of {self.dataset.id} covers its cohorts "
                                f"({'; '.join(f'{m}: {why}' for m, why in dropped.items())})")
        return tuple(mods), dropped

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """The modalities a model reads by default: the declared ones every task cohort has, or (none declared)
        every one that covers ``min_coverage`` of the task's patients."""
        return self._resolved[0]

    @cached_property
    def dropped_modalities(self) -> dict[str, str]:
        """Modalities the task leaves out on this dataset, with the reason (``tasks info`` shows them)."""
        return dict(self._resolved[1])

    @cached_property
    def modalities(self) -> tuple[str, ...]:
        """Every modality the task offers: :attr:`inputs` plus the ``offered`` ones its patients have.

        ``clinical`` is offered to every task whose patients have clinical covariates, so the clinical reference
        and clinical+omics fusion run everywhere, while models keep the declared inputs by default (on
        ``os-*-porpoise``, omics models stay comparable to PORPOISE's genomic-only figures).
        """
        extra = []
        if self.spec.offered:
            ids = self._table["patient_id"].to_list()
            have = self.dataset.presence.filter(pl.col("patient_id").is_in(ids))
            extra = [m for m in self.spec.offered if m not in self.inputs and m != self.spec.target
                     and m in self.dataset.modalities and bool(have[m].any())]
        return self.inputs + tuple(extra)

    # ---- patients and outcomes -------------------------------------------------------------------
    @cached_property
    def _clinical(self) -> pl.DataFrame:
        return self.dataset.clinical

    @cached_property
    def endpoint(self) -> dict[str, str] | None:
        """The manifest entry of a survival target (event column, time column, unit, source)."""
        for e in self.dataset.manifest.get("endpoints", []):
            if e["name"] == self.spec.target:
                return e
        return None

    @cached_property
    def cohorts(self) -> tuple[str, ...]:
        """Cohorts in the task (for comparable tasks: those every modality covers well enough)."""
        clin = self._clinical
        cohorts = sorted(set(clin["cohort"].to_list()))
        if self.spec.cohorts is not None:
            unknown = sorted(set(self.spec.cohorts) - set(cohorts))
            if unknown:
                raise TaskDataError(f"task {self.name}: {self.dataset.id} has no cohorts {unknown}")
            cohorts = sorted(self.spec.cohorts)
        if self.spec.comparable:
            presence = self.dataset.presence.join(clin.select("patient_id", "cohort"), on="patient_id")
            share = presence.group_by("cohort").agg([pl.col(m).mean() for m in self.inputs])
            covered = {r["cohort"] for r in share.iter_rows(named=True)
                       if all(r[m] >= self.spec.min_coverage for m in self.inputs)}
            cohorts = [c for c in cohorts if c in covered]
        if not cohorts:
            raise TaskDataError(f"task {self.name}: no cohort of {self.dataset.id} has all of {list(self.inputs)}")
        return tuple(cohorts)

    @cached_property
    def _table(self) -> pl.DataFrame:
        """Eligible patients with their target (``label`` or ``event``/``time``), sorted by patient ID."""
        clin = self._clinical.filter(pl.col("cohort").is_in(list(self.cohorts)))
        spec = self.spec
        if spec.comparable:
            # Complete cases over the task's own features: no missing value, so no missing-value pattern.
            ids = clin["patient_id"].to_list()
            complete = np.ones(len(ids), dtype=bool)
            for m in self.inputs:
                complete &= ~np.isnan(self._block(m, ids, self._names(m)).values).any(axis=1)
            clin = clin.filter(pl.Series(complete))
        if spec.kind == "survival" or spec.horizon is not None:
            if self.endpoint is None:
                raise TaskDataError(f"task {self.name}: {self.dataset.id} has no endpoint {spec.target!r}")
            ev, tm = self.endpoint["event"], self.endpoint["time"]
            table = clin.select("patient_id", "cohort", pl.col(ev).cast(pl.Boolean).alias("event"),
                                pl.col(tm).cast(pl.Float64).alias("time"))
            table = table.filter(pl.col("event").is_not_null() & pl.col("time").is_not_null() & (pl.col("time") > 0))
            if spec.horizon is not None:  # binary at a horizon: event before it = 1; censored before it = unknown
                h = spec.horizon
                table = table.with_columns(
                    pl.when(pl.col("event") & (pl.col("time") <= h)).then(pl.lit("1"))
                    .when(pl.col("time") > h).then(pl.lit("0")).otherwise(None).alias("label")
                ).filter(pl.col("label").is_not_null())
        elif spec.kind in ("translation", "imputation") or (spec.kind == "clustering" and not spec.target):
            table = clin.select("patient_id", "cohort")  # clustering without reference labels: every patient
            if spec.kind in ("translation", "imputation"):
                have = self.dataset.presence.filter(pl.col(spec.target))["patient_id"].to_list()
                table = table.filter(pl.col("patient_id").is_in(have))
        else:
            if spec.target not in clin.columns:
                raise TaskDataError(f"task {self.name}: {self.dataset.id} has no column {spec.target!r}")
            label = clin[spec.target].cast(pl.String)
            if spec.label_map is not None:
                label = label.replace_strict(dict(spec.label_map), default=None, return_dtype=pl.String)
            table = clin.select("patient_id", "cohort").with_columns(label.alias("label")).filter(pl.col("label").is_not_null())
            counts = table.group_by("label").len()
            small = counts.filter(pl.col("len") < spec.min_class_size)["label"].to_list()
            if small:
                log.info("task %s: classes %s have fewer than %d patients and are left out", self.name, sorted(small), spec.min_class_size)
                table = table.filter(~pl.col("label").is_in(small))
        if spec.logrank_endpoint is not None:
            e = next(e for e in self.dataset.manifest["endpoints"] if e["name"] == spec.logrank_endpoint)
            table = table.join(self._clinical.select("patient_id", pl.col(e["event"]).cast(pl.Boolean).alias("event"),
                                                     pl.col(e["time"]).cast(pl.Float64).alias("time")), on="patient_id")
        inputs = [m for m in self.inputs if m != spec.target]
        if inputs:
            # A patient with none of the task's input modalities has nothing to predict from.
            presence = self.dataset.presence.filter(pl.any_horizontal([pl.col(m) for m in inputs]))
            table = table.filter(pl.col("patient_id").is_in(presence["patient_id"].to_list()))
        if table.height == 0:
            raise TaskDataError(f"task {self.name}: no eligible patients in {self.dataset.id}")
        return table.sort("patient_id")

    @cached_property
    def patients(self) -> tuple[str, ...]:
        return tuple(self._table["patient_id"].to_list())

    @cached_property
    def classes(self) -> tuple[str, ...]:
        """Sorted class labels (classification, binary, clustering reference labels)."""
        if "label" not in self._table.columns:
            return ()
        return tuple(sorted(set(self._table["label"].to_list())))

    @cached_property
    def n_clusters(self) -> int:
        """Clustering: the k a model is asked for (the spec's, else the number of reference classes)."""
        return int(self.spec.n_clusters or len(self.classes))

    def labels(self, ids: Sequence[str]) -> np.ndarray:
        """Class labels (str) for the IDs, in their order."""
        lookup = dict(zip(self._table["patient_id"].to_list(), self._table["label"].to_list()))
        return np.array([lookup[p] for p in ids], dtype=object)

    def outcome(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(event bool, time float64) for the IDs, in their order; an unknown outcome has time NaN."""
        t = self._table
        if "event" not in t.columns:
            raise TaskDataError(f"task {self.name} has no survival outcome")
        idx = {p: i for i, p in enumerate(t["patient_id"].to_list())}
        rows = np.array([idx[p] for p in ids], dtype=np.intp)
        event = t["event"].fill_null(False).to_numpy()[rows].astype(bool)
        time = t["time"].to_numpy()[rows].astype(np.float64)  # unknown (clustering's log-rank endpoint): NaN
        return event, time

    def target(self, ids: Sequence[str]) -> Any:
        """What a model's ``fit`` takes as ``y``: labels, a scikit-survival outcome array, or a matrix."""
        if self.kind in ("classification", "binary"):
            return self.labels(ids)
        if self.kind == "survival":
            from sksurv.util import Surv

            event, time = self.outcome(ids)
            return Surv.from_arrays(event=event, time=time)
        if self.kind == "translation":
            return self.translation_target(ids).values
        return None

    def translation_target(self, ids: Sequence[str]) -> ModalityBlock:
        """The target modality's features measured in every task cohort, aligned to ``ids``."""
        return self._block(self.spec.target, ids, self.target_features)

    @cached_property
    def target_features(self) -> tuple[str, ...]:
        """Target features measured for every task patient (no unmeasured truth to score against)."""
        if self.kind not in ("translation", "imputation"):
            return ()
        names = self.dataset.measured_features(self.spec.target, self.cohorts)
        values = self._block(self.spec.target, self.patients, names).values
        return tuple(n for n, full in zip(names, ~np.isnan(values).any(axis=0)) if full)

    def check(self) -> list[str]:
        """Problems that make some fold unusable, in words (``tasks list`` marks such a task unusable).

        Checked per (repeat, fold): a stored split exists and every test class was seen in training; every
        modality the task offers has training patients; survival: events among the training and the test
        patients; classification: at least two training classes.
        """
        if (self.kind in ("classification", "binary") or (self.kind == "clustering" and self.spec.target)) and len(self.classes) < 2:
            return [f"{len(self.classes)} class(es) with at least {self.spec.min_class_size} patients; a task needs 2"]
        problems = []
        try:
            present = {m: dict(zip(self.patients, self.features(self.patients, [m])[m].present)) for m in self.modalities}
        except TaskDataError as exc:
            return [str(exc)]
        for repeat, fold in self.folds:
            problems += self._fold_problems(repeat, fold, present)
        return problems

    def _fold_problems(self, repeat: int, fold: int, present: Mapping[str, Mapping[str, bool]]) -> list[str]:
        where = f"repeat {repeat} fold {fold}"
        try:
            split = self.get_split(fold, repeat)
        except SplitError as exc:
            return [str(exc)]
        problems = [f"{where}: no training patient has modality {m!r}"
                    for m, has in present.items() if not any(has[p] for p in split.train)]
        if self.kind == "survival":
            for role, ids in (("training", split.train), ("test", split.test)):
                event, _ = self.outcome(ids)
                if not event.any():
                    problems.append(f"{where}: no event among {len(ids)} {role} patients")
        elif self.kind in ("classification", "binary") and len(set(self.labels(split.train))) < 2:
            problems.append(f"{where}: a single class among the training patients")
        return problems

    def clinical_reference(self) -> tuple[str | None, str]:
        """(the registered clinical reference model for this task, or None; why)."""
        from oncobench.baselines.registry import list_models

        if "clinical" not in self.modalities:
            return None, f"{self.dataset.id} gives the patients of task {self.name} no clinical covariates"
        refs = [info.name for info in list_models().values()
                if info.is_clinical_reference and self.kind in info.kinds and set(info.modalities or ()) <= set(self.modalities)]
        if not refs:
            return None, f"no registered clinical reference model handles {self.kind} tasks"
        try:
            present = dict(zip(self.patients, self.features(self.patients, ["clinical"])["clinical"].present))
        except TaskDataError as exc:  # e.g. no clinical feature measured in every cohort of a comparable task
            return None, str(exc)
        for repeat, fold in self.folds:
            try:
                split = self.get_split(fold, repeat)
            except SplitError:  # a fold no model can use; check() reports it
                continue
            if not any(present[p] for p in split.train):
                return None, f"repeat {repeat} fold {fold}: no training patient has a clinical covariate"
        return refs[0], f"{refs[0]} on {', '.join(self.feature_names['clinical'])}"

    # ---- splits --------------------------------------------------------------------------------------
    @cached_property
    def _split_table(self) -> pl.DataFrame:
        return self.dataset.split_table(self.scheme).filter(pl.col("patient_id").is_in(list(self.patients)))

    @cached_property
    def folds(self) -> tuple[tuple[int, int], ...]:
        """Every (repeat, fold) of the scheme."""
        t = self._split_table.select("repeat", "fold").unique().sort(["repeat", "fold"])
        return tuple(zip(t["repeat"].to_list(), t["fold"].to_list()))

    def get_split(self, fold: int = 0, repeat: int = 0) -> Split:
        """The dataset's stored split for (repeat, fold), restricted to the task's patients."""
        from oncobench.datasets.splits import split_ids

        train, valid, test = split_ids(self._split_table, fold=fold, repeat=repeat)
        if not train or not test:
            raise SplitError(f"task {self.name}: repeat {repeat} fold {fold} has an empty train or test set")
        if self.classes and self.kind != "clustering":
            seen = set(self.labels(train))
            lost = sorted(set(self.labels(test)) - seen)
            if lost:
                raise SplitError(f"task {self.name}: repeat {repeat} fold {fold}: classes {lost} are in the test set "
                                 "but not in training; a model cannot predict a class it never saw")
        sha = split_sha256(self.name, self.dataset.id, self.scheme, repeat, fold, train, valid, test)
        return Split(self.name, self.scheme, repeat, fold, tuple(train), tuple(valid), tuple(test), sha)

    # ---- features ------------------------------------------------------------------------------------
    @cached_property
    def feature_names(self) -> dict[str, tuple[str, ...]]:
        """Feature names used per modality (comparable tasks: measured in every included cohort)."""
        return {m: self._names(m) for m in self.modalities}

    def _names(self, modality: str) -> tuple[str, ...]:
        if modality not in self._names_cache:
            if self.kind == "imputation" and modality == self.spec.target:  # the scored features, no empty column
                names = list(self.target_features)
            elif self.spec.comparable:
                names = self.dataset.measured_features(modality, self.cohorts)
            else:
                names = self.dataset.features(modality)
            prefix = self.spec.feature_prefix.get(modality)
            if prefix:
                names = [f for f in names if f.startswith(prefix)]
            if modality == "clinical" and self.spec.covariates:
                names = [f for f in names if f in self.spec.covariates]
            if not names:
                raise TaskDataError(f"task {self.name}: no {modality} feature is measured in all of {list(self.cohorts)}")
            self._names_cache[modality] = tuple(names)
        return self._names_cache[modality]

    @cached_property
    def _names_cache(self) -> dict[str, tuple[str, ...]]:
        return {}

    def _block(self, modality: str, ids: Sequence[str], names: Sequence[str] | None = None) -> ModalityBlock:
        values, features = self.dataset.matrix(modality, ids)
        if names is not None and tuple(names) != tuple(features):
            pos = {f: i for i, f in enumerate(features)}
            values = values[:, [pos[f] for f in names]]
            features = list(names)
        present = ~np.all(np.isnan(values), axis=1) if values.shape[1] else np.zeros(len(ids), bool)
        return ModalityBlock(np.ascontiguousarray(values, dtype=np.float32), tuple(features), present)

    @cached_property
    def _row(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.patients)}

    @cached_property
    def _cache(self) -> dict[str, ModalityBlock]:
        # Read once per task: every fold and seed then slices memory instead of reopening Parquet files.
        return {}

    def features(self, ids: Sequence[str], modalities: Sequence[str] | None = None) -> dict[str, ModalityBlock]:
        """Per-modality float32 matrices aligned to ``ids`` (NaN rows where a modality is absent) with presence masks.

        ``modalities`` may name any modality the task offers; by default its :attr:`inputs`.
        """
        wanted = list(modalities) if modalities is not None else list(self.inputs)
        unknown = [m for m in wanted if m not in self.modalities]
        if unknown:
            raise KeyError(f"task {self.name} offers modalities {list(self.modalities)}; not {unknown}")
        if not all(p in self._row for p in ids):
            return {m: self._block(m, ids, self.feature_names[m]) for m in wanted}
        rows = np.fromiter((self._row[p] for p in ids), dtype=np.intp, count=len(ids))
        out = {}
        for m in wanted:
            if m not in self._cache:
                self._cache[m] = self._block(m, self.patients, self.feature_names[m])
            full = self._cache[m]
            out[m] = ModalityBlock(full.values[rows], full.features, full.present[rows])
        return out

    # ---- scoring -------------------------------------------------------------------------------------
    def evaluate(self, predictions: Any, *, split: Split) -> "EvaluationResult":
        """Check and score predictions for ``split``'s test patients (see :mod:`oncobench.benchmark.evaluator`)."""
        from oncobench.benchmark.evaluator import evaluate

        return evaluate(self, predictions, split)

    def input_schema(self) -> dict[str, Any]:
        from oncobench.benchmark.evaluator import input_schema

        return input_schema(self)

    def info(self) -> dict[str, Any]:
        """What ``oncobench tasks info`` prints."""
        spec = self.spec
        out: dict[str, Any] = {
            "name": spec.name, "dataset": self.dataset.id, "kind": spec.kind, "target": spec.target,
            "modalities": {m: len(self.feature_names[m]) for m in self.inputs},
            "offered_modalities": {m: len(self.feature_names[m]) for m in self.modalities if m not in self.inputs},
            "dropped_modalities": self.dropped_modalities, "cohorts": list(self.cohorts),
            "patients": len(self.patients), "scheme": spec.scheme, "folds": len(self.folds),
            "primary": spec.primary, "secondary": list(spec.secondary), "description": spec.description,
        }
        if self.classes and spec.kind != "survival":
            counts = self._table.group_by("label").len().sort("label")
            out["classes"] = dict(zip(counts["label"].to_list(), counts["len"].to_list()))
        if "event" in self._table.columns:
            out["events"] = int(self._table["event"].sum())
            out["endpoint"] = self.endpoint
        if spec.missing_rate is not None:
            out["missing_rate"] = spec.missing_rate
        if spec.endpoint_note:
            out["endpoint_note"] = spec.endpoint_note
        if spec.reference:
            out["reference"] = spec.reference
        ref, why = self.clinical_reference()
        out["clinical_reference"] = ref if ref is not None else f"none: {why}"
        return out


# ---- registry --------------------------------------------------------------------------------------------
TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, *, persist: bool = False, replace_stored: bool = False) -> TaskSpec:
    """Register a task in this process; ``persist=True`` also stores it in the home's catalog.

    Only a stored task is seen by other processes: ``run --jobs N`` workers, ``results``, ``leaderboard``,
    ``submit``, ``leaderboard export`` and ``serve`` (see :mod:`oncobench.benchmark.task_store`).
    Storing the same definition again is a no-op; another definition under a stored name needs ``replace_stored``.
    """
    if spec.name in TASKS:
        raise ValueError(f"task {spec.name!r} is already registered")
    if persist:
        from oncobench.benchmark.task_store import store_tasks

        store_tasks([spec], source="python: register_task(persist=True)", replace=replace_stored)
    TASKS[spec.name] = spec
    return spec


def task_spec(name: str) -> TaskSpec:
    from oncobench.benchmark import catalog  # noqa: F401  (registers the built-in tasks)
    from oncobench.benchmark.task_store import stored_names, stored_spec

    if name in TASKS:
        return TASKS[name]
    stored = stored_spec(name)  # tasks declared by cards or persisted from Python, seen by every process
    if stored is not None:
        return stored
    base, _, scheme = name.rpartition("-")
    if scheme in SCHEME_VARIANTS and (base in TASKS or stored_spec(base) is not None):
        # e.g. os-luad-site: a variant made by load_task(scheme=...)
        return replace(TASKS[base] if base in TASKS else stored_spec(base), name=name, scheme=scheme)
    close = difflib.get_close_matches(name, list(TASKS) + stored_names(), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "; `oncobench tasks list` shows them"
    raise TaskNotFoundError(f"unknown task {name!r}{hint}")


def load_task(name: str, *, dataset: str | None = None, scheme: str | None = None) -> Task:
    """A registered task on its dataset (or on ``dataset``, e.g. ``"tcga-mini"``), optionally with another scheme.

    ``scheme="site"`` gives the site-shift variant: trained on some hospitals, tested on others. The
    dataset is verified on open, like every dataset read (cheap: files are hashed once per process).
    """
    spec = task_spec(name)
    if scheme is not None and scheme != spec.scheme:
        spec = task_spec(f"{name}-{scheme}") if scheme in SCHEME_VARIANTS else replace(spec, scheme=scheme)
    return Task(spec, _open_dataset(dataset or spec.dataset))


def _open_dataset(name: str) -> Dataset:
    from oncobench.datasets.errors import DatasetNotFoundError

    try:
        return load_dataset(name)
    except DatasetNotFoundError:
        if name.split("@")[0] not in OFFLINE_RECIPES:
            raise
    from oncobench.datasets.recipes import build_recipe

    log.info("building %s (it ships with an installed package)", name)
    build_recipe(name.split("@")[0], progress=False)
    return load_dataset(name)


OFFLINE_RECIPES = ("gse7390-metastasis",)
