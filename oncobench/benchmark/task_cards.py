"""Task cards: tasks declared in TOML, checked strictly against their dataset and stored in the home's catalog.

A standalone card (``oncobench tasks add FILE``) holds one task as top-level keys or several as ``[[tasks]]``;
a dataset card's ``[[tasks]]`` tables go through :func:`register_card_tasks` once the dataset is built::

    name = "stage-late-brca"          # letters, digits, . _ -
    dataset = "tcga-mini"             # NAME or NAME@VERSION (must be built); a dataset card's own by default
    kind = "binary"                   # classification | binary | survival | clustering | translation | imputation
    target = "stage"                  # clinical column; survival (or horizon): endpoint name; translation, imputation: modality
    modalities = ["mirna", "rna"]     # default: every modality covering half of the task's patients
    cohorts = ["brca"]                # default: every cohort
    scheme = "kfold"                  # a split scheme of the dataset
    primary = "auroc"                 # a metric of the kind (default: the kind's usual one)
    secondary = ["accuracy"]          # default: the kind's other metrics
    label_map = {I = "early", II = "early", III = "late", IV = "late"}   # labels not listed are left out
    horizon = 1825                    # binary at a horizon on endpoint ``target`` (in its stored unit, days)
    missing_rate = 0.5                # imputation only: share of each test patient's target entries hidden
    covariates = ["age", "stage_group"]   # clinical-modality features the clinical reference reads
    description = "..."

Every problem of a card is reported in one :class:`TaskCardError` (file, key, expected, found); nothing is
stored unless the whole card is valid.
"""

from __future__ import annotations

import difflib
import logging
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

from oncobench.benchmark.tasks import KINDS, Task, TaskSpec
from oncobench.datasets.errors import OncoBenchError

log = logging.getLogger(__name__)

METRICS: dict[str, tuple[str, ...]] = {  # the evaluator's metric names per kind (first: the default primary)
    "classification": ("macro_f1", "accuracy", "balanced_accuracy", "weighted_f1", "auroc", "log_loss"),
    "binary": ("auroc", "accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "log_loss"),
    "survival": ("uno_c", "harrell_c", "td_auc", "ibs"),
    "clustering": ("nmi", "ari", "silhouette", "logrank_p"),
    "translation": ("pearson_mean", "spearman_mean", "mse_mean", "pearson_median", "mae", "rmse"),
    "imputation": ("mae", "rmse"),
}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # task names become file names and URL paths
_STR, _STRS, _NUM, _INT, _MAP = "a string", "a list of strings", "a positive number", "a positive integer", "a table"
KEYS: dict[str, str] = {
    "name": _STR, "dataset": _STR, "kind": _STR, "target": _STR, "description": _STR, "modalities": _STRS,
    "cohorts": _STRS, "scheme": _STR, "primary": _STR, "secondary": _STRS, "label_map": _MAP, "horizon": _NUM,
    "min_class_size": _INT, "covariates": _STRS, "reference": _STR, "logrank_endpoint": _STR, "missing_rate": _NUM,
}
REQUIRED = ("name", "kind", "target")


class TaskCardError(OncoBenchError):
    """A task card with problems; ``problems`` lists every one, the message names the file."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source, self.problems = source, list(problems)
        n = len(self.problems)
        super().__init__(f"task card {source}: {n} problem{'s' if n != 1 else ''}\n"
                         + "\n".join(f"  - {p}" for p in self.problems))


def _type_ok(value: Any, expected: str) -> bool:
    if expected == _STR:
        return isinstance(value, str) and value != ""
    if expected == _STRS:
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    if expected == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if expected == _INT:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    return isinstance(value, dict)


def _close(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_task_table(table: Mapping[str, Any], where: str, *, default_dataset: str | None = None
                     ) -> tuple[TaskSpec | None, list[str]]:
    """A TaskSpec from one card table and the problems found in it alone (``where`` prefixes each problem)."""
    problems: list[str] = []
    for key in table:
        if key not in KEYS:
            problems.append(f"{where}: unknown key {key!r}{_close(key, list(KEYS))}; "
                            f"expected keys: {', '.join(KEYS)}")
    values = {k: v for k, v in table.items() if k in KEYS}
    for key, value in values.items():
        if not _type_ok(value, KEYS[key]):
            problems.append(f"{where}.{key}: expected {KEYS[key]}, found {value!r}")
    values = {k: v for k, v in values.items() if _type_ok(v, KEYS[k])}
    if default_dataset and "dataset" not in values:
        values["dataset"] = default_dataset
    for key in REQUIRED + ("dataset",):
        if key not in values and not any(p.startswith(f"{where}.{key}:") for p in problems):
            problems.append(f"{where}: missing key {key!r} ({KEYS[key]})")
    name = values.get("name")
    if name is not None and not NAME.match(name):
        problems.append(f"{where}.name: expected letters, digits, '.', '_' or '-' (a file and URL name), found {name!r}")
    kind = values.get("kind")
    if kind is not None and kind not in KINDS:
        problems.append(f"{where}.kind: unknown kind {kind!r}{_close(kind, KINDS)}; expected one of {', '.join(KINDS)}")
        kind = None
    metrics = METRICS.get(kind or "", ())
    if kind is not None:
        for key in ("primary", "secondary"):
            given = values.get(key)
            for metric in [given] if isinstance(given, str) else given or []:
                if metric not in metrics:
                    problems.append(f"{where}.{key}: unknown metric {metric!r} for a {kind} task"
                                    f"{_close(metric, metrics)}; expected one of {', '.join(metrics)}")
    label_map = values.get("label_map")
    if label_map is not None:
        bad = {k: v for k, v in label_map.items() if not isinstance(v, (str, int)) or isinstance(v, bool) or v == ""}
        if bad:
            problems.append(f"{where}.label_map: expected raw label = class (a string or integer) for every entry, "
                            f"found {bad!r}; leave a label out to drop its patients")
        if kind not in (None, "classification", "binary", "clustering"):
            problems.append(f"{where}.label_map: only classification, binary and clustering tasks have labels; "
                            f"this task is {kind}")
    if "horizon" in values and kind not in (None, "binary"):
        problems.append(f"{where}.horizon: a horizon makes a binary task from an endpoint; this task is {kind}")
    if (kind == "imputation") != ("missing_rate" in values) and kind is not None:
        problems.append(f"{where}.missing_rate: an imputation task needs one (the share of entries hidden, in (0, 1)) "
                        f"and only an imputation task takes one; this task is {kind}")
    elif "missing_rate" in values and not 0 < values["missing_rate"] < 1:
        problems.append(f"{where}.missing_rate: expected a share in (0, 1), found {values['missing_rate']!r}")
    if "logrank_endpoint" in values and kind not in (None, "clustering"):
        problems.append(f"{where}.logrank_endpoint: only clustering tasks compare an endpoint across clusters")
    if problems or name is None or kind is None:
        return None, problems
    primary = values.get("primary", metrics[0])
    spec = TaskSpec(
        name=name, kind=kind, target=values["target"], modalities=tuple(values.get("modalities", ())),
        description=values.get("description", f"{kind} task on {values['target']} declared by a task card"),
        primary=primary, secondary=tuple(values.get("secondary", [m for m in metrics if m != primary])),
        dataset=values["dataset"], scheme=values.get("scheme", "kfold"),
        cohorts=tuple(values["cohorts"]) if "cohorts" in values else None,
        label_map={str(k): str(v) for k, v in label_map.items()} if label_map is not None else None,
        min_class_size=values.get("min_class_size", 10), horizon=float(values["horizon"]) if "horizon" in values else None,
        reference=values.get("reference", ""), logrank_endpoint=values.get("logrank_endpoint"),
        covariates=tuple(values.get("covariates", ())),
        missing_rate=float(values["missing_rate"]) if "missing_rate" in values else None,
    )
    return spec, []


def check_against_dataset(spec: TaskSpec, where: str) -> list[str]:
    """Problems of a well-formed spec on its dataset: not built, target/scheme/modality/cohort/covariate absent."""
    from oncobench.datasets.dataset import load_dataset

    try:
        ds = load_dataset(spec.dataset)
    except OncoBenchError as exc:
        return [f"{where}.dataset: dataset {spec.dataset!r} is not built or does not open ({exc}); "
                "build it first (oncobench datasets build)"]
    problems = []
    clin = ds.clinical
    endpoints = [e["name"] for e in ds.manifest.get("endpoints", [])]
    if spec.kind == "survival" or spec.horizon is not None:
        if spec.target not in endpoints:
            problems.append(f"{where}.target: {ds.id} has no endpoint {spec.target!r}{_close(spec.target, endpoints)}; "
                            f"its endpoints: {', '.join(endpoints) or 'none'}")
    elif spec.kind in ("translation", "imputation"):
        if spec.target not in ds.modalities:
            problems.append(f"{where}.target: {ds.id} has no modality {spec.target!r}; it has {', '.join(ds.modalities)}")
    elif spec.target not in clin.columns:
        problems.append(f"{where}.target: {ds.id} has no clinical column {spec.target!r}{_close(spec.target, clin.columns)}"
                        + (f"; for a survival target use an endpoint ({', '.join(endpoints)})" if endpoints else ""))
    elif spec.label_map is not None:
        present = set(clin[spec.target].drop_nulls().cast(str).to_list())
        absent = sorted(set(spec.label_map) - present)
        if absent:
            problems.append(f"{where}.label_map: labels {absent} do not occur in column {spec.target!r} of {ds.id}; "
                            f"its values: {', '.join(sorted(present)[:20])}")
    if spec.scheme not in ds.schemes:
        problems.append(f"{where}.scheme: {ds.id} has no split scheme {spec.scheme!r}; it has {', '.join(ds.schemes)}")
    absent = [m for m in spec.modalities if m not in ds.modalities]
    if absent:
        problems.append(f"{where}.modalities: {ds.id} has no modalities {absent}; it has {', '.join(ds.modalities)}")
    if spec.cohorts is not None:
        cohorts = sorted(set(clin["cohort"].to_list()))
        absent = sorted(set(spec.cohorts) - set(cohorts))
        if absent:
            problems.append(f"{where}.cohorts: {ds.id} has no cohorts {absent}; it has {', '.join(cohorts)}")
    if spec.covariates:
        if "clinical" not in ds.modalities:
            problems.append(f"{where}.covariates: {ds.id} has no clinical modality for the clinical reference to read")
        else:
            features = ds.features("clinical")
            absent = [c for c in spec.covariates if c not in features]
            if absent:
                problems.append(f"{where}.covariates: {absent} are not clinical-modality features of {ds.id}; "
                                f"it has {', '.join(features)}")
    if spec.logrank_endpoint is not None and spec.logrank_endpoint not in endpoints:
        problems.append(f"{where}.logrank_endpoint: {ds.id} has no endpoint {spec.logrank_endpoint!r}; "
                        f"its endpoints: {', '.join(endpoints) or 'none'}")
    if problems:
        return problems
    try:  # the task as every command will build it: eligible patients, classes, features
        task = Task(spec, ds)
        _ = task.patients, task.feature_names
        if spec.kind == "binary" and len(task.classes) != 2:
            problems.append(f"{where}: a binary task needs 2 classes with at least {spec.min_class_size} patients; "
                            f"{ds.id} gives {list(task.classes)} (map the labels with label_map)")
    except OncoBenchError as exc:
        problems.append(f"{where}: {exc}")
    return problems


def _tables(data: Mapping[str, Any]) -> tuple[list[tuple[str, Mapping[str, Any]]], list[str]]:
    if "tasks" not in data:
        return [("task", data)], []
    others = [k for k in data if k != "tasks"]
    problems = [f"top level: unknown keys {others}; a card holds either one task's keys or [[tasks]] tables"] if others else []
    tasks = data["tasks"]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        return [], problems + ["tasks: expected [[tasks]] tables"]
    return [(f"tasks[{i}]", t) for i, t in enumerate(tasks)], problems


def parse_tasks(tables: Sequence[tuple[str, Mapping[str, Any]]], source: str, *,
                default_dataset: str | None = None) -> list[TaskSpec]:
    """Specs of every table, checked on their datasets; one :class:`TaskCardError` lists every problem."""
    specs, problems = [], []
    seen: dict[str, str] = {}
    for where, table in tables:
        label = f"{where} ({table['name']!r})" if isinstance(table.get("name"), str) else where
        spec, found = parse_task_table(table, label, default_dataset=default_dataset)
        if spec is not None:
            if spec.name in seen:
                found.append(f"{label}.name: {spec.name!r} is also the name of {seen[spec.name]}")
            seen[spec.name] = where
            found += check_against_dataset(spec, label)
        problems += found
        if spec is not None and not found:
            specs.append(spec)
    if problems:
        raise TaskCardError(source, problems)
    return specs


def read_task_card(path: Path) -> list[TaskSpec]:
    """The checked specs of a standalone task card file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"task card {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaskCardError(str(path), [f"not valid TOML: {exc}"]) from None
    tables, problems = _tables(data)
    try:
        specs = parse_tasks(tables, str(path))
    except TaskCardError as exc:
        raise TaskCardError(str(path), problems + exc.problems) from None
    if problems:
        raise TaskCardError(str(path), problems)
    return specs


def add_task_card(path: Path, *, replace: bool = False, home: Path | None = None) -> list[TaskSpec]:
    """Check a standalone card and store its tasks in the home's catalog (all or none)."""
    from oncobench.benchmark.task_store import store_tasks

    specs = read_task_card(path)
    store_tasks(specs, source=f"task card {Path(path).resolve()}", replace=replace, home=home)
    return specs


def register_card_tasks(tables: Sequence[Mapping[str, Any]], *, dataset: str, source: str,
                        replace: bool = False, home: Path | None = None) -> list[TaskSpec]:
    """Check and store a dataset card's ``[[tasks]]`` tables (``dataset`` is the default for their ``dataset`` key).

    Called after the dataset is built, so each task is checked against the data it will run on.
    """
    from oncobench.benchmark.task_store import store_tasks

    specs = parse_tasks([(f"tasks[{i}]", t) for i, t in enumerate(tables)], source, default_dataset=dataset)
    store_tasks(specs, source=source, replace=replace, home=home)
    return specs


def build_card(card_path: Path, *, raw_dir: Path | None = None) -> tuple[Path, list[str]]:
    """Build a dataset card, then store its ``[[tasks]]`` (checked against the built data); the folder and task names.

    The tasks' ``dataset`` defaults to the card's name without a version, so they follow later versions
    (e.g. ``splits import``'s ``VERSION+splits.NAME``); an unchanged definition stored again is a no-op.
    What can be checked without the data (keys, kinds, metrics, a name taken by another definition) is
    checked before the build: a built version cannot be rebuilt, so a typo must not be found after it.
    """
    from oncobench.datasets.build import write_dataset
    from oncobench.datasets.sources.generic import card_content, read_card

    card = read_card(card_path, raw_dir)
    source = f"dataset card {card_path}"
    if card.tasks:
        _precheck_card_tasks(card.tasks, dataset=card.name, source=source)
    folder = write_dataset(card_content(card_path, raw_dir=raw_dir))
    if not card.tasks:
        return folder, []
    specs = register_card_tasks(card.tasks, dataset=card.name, source=source)
    return folder, [s.name for s in specs]


def _precheck_card_tasks(tables: tuple[dict, ...], *, dataset: str, source: str) -> None:
    """Raise TaskCardError for every problem of the ``[[tasks]]`` tables that does not need the built data."""
    from oncobench.benchmark import catalog  # noqa: F401  (registers the built-in tasks)
    from oncobench.benchmark.task_store import spec_to_json, stored_spec
    from oncobench.benchmark.tasks import TASKS

    problems: list[str] = []
    for i, table in enumerate(tables):
        where = f"tasks[{i}]" + (f" ({table['name']!r})" if isinstance(table.get("name"), str) else "")
        spec, found = parse_task_table(table, where, default_dataset=dataset)
        problems += found
        if spec is None:
            continue
        if spec.name in TASKS:
            problems.append(f"{where}.name: {spec.name!r} is a built-in task; choose another name")
        stored = stored_spec(spec.name)
        if stored is not None and spec_to_json(stored) != spec_to_json(spec):
            problems.append(f"{where}: task {spec.name!r} is already stored with another definition; "
                            f"`oncobench tasks remove {spec.name}` first, or rename it")
    if problems:
        raise TaskCardError(source, problems)
