"""Declared tasks in the home's catalog: the ``tasks`` table of ``$ONCOBENCH_HOME/catalog.duckdb``.

Tasks declared by a card (``oncobench tasks add``, ``[[tasks]]`` in a dataset card) or registered in Python
with ``register_task(spec, persist=True)`` are stored here as JSON, so every process on the home sees them:
the CLI commands, the runner's worker processes (they look tasks up by name), ``results``, ``leaderboard``,
``submit``, the exported site and the served API. Writes are one DuckDB transaction under the catalog lock.

A stored row that no longer loads (corrupt JSON, a field this version does not know) raises
:class:`TaskDefinitionError` for that task only; :func:`all_task_specs` reports it as broken and goes on.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterable

import duckdb

from oncobench.datasets.errors import OncoBenchError
from oncobench.datasets.store import _catalog_lock, catalog_transaction, oncobench_home

log = logging.getLogger(__name__)

_TABLE = ("CREATE TABLE IF NOT EXISTS tasks (name VARCHAR PRIMARY KEY, spec VARCHAR NOT NULL, "
          "source VARCHAR, added_at VARCHAR)")
# TaskSpec fields that are tuples (JSON gives lists) and mappings (JSON gives dicts).
_TUPLES = ("modalities", "secondary", "cohorts", "covariates", "offered", "input_pool")


class TaskDefinitionError(OncoBenchError):
    """A stored or declared task definition that cannot be loaded."""


def spec_to_json(spec: Any) -> str:
    """The TaskSpec as canonical JSON (sorted keys: equal specs give equal text)."""
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    return json.dumps(fields, sort_keys=True, default=lambda v: dict(v) if hasattr(v, "items") else list(v))


def spec_from_json(name: str, text: str) -> Any:
    """The TaskSpec of a stored row; :class:`TaskDefinitionError` naming the task when it does not load."""
    from oncobench.benchmark.tasks import TaskSpec

    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, found {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(TaskSpec)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TypeError(f"unknown fields {unknown} (written by another OncoBench version?)")
        for key in _TUPLES:
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        spec = TaskSpec(**data)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError; TaskSpec raises both
        raise TaskDefinitionError(f"stored task {name!r} cannot be loaded: {exc}") from None
    if spec.name != name:
        raise TaskDefinitionError(f"stored task {name!r} cannot be loaded: its definition is named {spec.name!r}")
    return spec


def _rows(home: Path | None = None, name: str | None = None) -> list[tuple[str, str, str, str]]:
    """(name, spec JSON, source, added_at) of the stored tasks; none when the home has no catalog yet."""
    home = Path(home or oncobench_home()).absolute()
    catalog = home / "catalog.duckdb"
    if not catalog.exists():  # reading never creates a home
        return []
    with _catalog_lock(home, reading=True):
        con = duckdb.connect(str(catalog), read_only=True)
        try:
            if not con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'tasks'").fetchall():
                return []
            query = "SELECT name, spec, source, added_at FROM tasks"
            args: list[str] = []
            if name is not None:
                query += " WHERE name = ?"
                args.append(name)
            return [tuple(r) for r in con.execute(query + " ORDER BY name", args).fetchall()]
        finally:
            con.close()


def stored_names(home: Path | None = None) -> list[str]:
    return [r[0] for r in _rows(home)]


def stored_spec(name: str, home: Path | None = None) -> Any | None:
    """The stored TaskSpec named ``name``, None when there is none (raises when its row does not load)."""
    rows = _rows(home, name)
    return spec_from_json(name, rows[0][1]) if rows else None


def stored_tasks(home: Path | None = None) -> list[dict[str, Any]]:
    """Every stored row: name, source, added_at, and ``spec`` or ``error`` (a row that does not load)."""
    out = []
    for name, text, source, added_at in _rows(home):
        row: dict[str, Any] = {"name": name, "source": source, "added_at": added_at}
        try:
            row["spec"] = spec_from_json(name, text)
        except TaskDefinitionError as exc:
            row["error"] = str(exc)
        out.append(row)
    return out


def all_task_specs(home: Path | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """({name: spec} of built-in, Python-registered and stored tasks, {name: why} of stored ones that do not load).

    A broken stored task is logged and left out, never raised: one bad row must not hide the others.
    """
    from oncobench.benchmark import catalog  # noqa: F401  (registers the built-in tasks)
    from oncobench.benchmark.tasks import TASKS

    specs, broken = dict(TASKS), {}
    for row in stored_tasks(home):
        if row["name"] in specs:
            continue  # a Python registration of the same name shadows the stored one in this process
        if "error" in row:
            log.warning("%s; skipped", row["error"])
            broken[row["name"]] = row["error"]
        else:
            specs[row["name"]] = row["spec"]
    return specs, broken


def store_tasks(specs: Iterable[Any], *, source: str, replace: bool = False, home: Path | None = None) -> list[str]:
    """Store task definitions in one transaction; returns the names written (unchanged ones are not).

    A built-in task's name is refused; a stored task of the same name with another definition is refused
    unless ``replace`` (results and leaderboard entries name the task, so a silent redefinition would mix
    protocols under one name).
    """
    from oncobench.benchmark import catalog  # noqa: F401  (registers the built-in tasks)
    from oncobench.benchmark.tasks import TASKS

    specs = list(specs)
    home = Path(home or oncobench_home()).absolute()
    written = []
    with catalog_transaction(home) as con:
        con.execute(_TABLE)
        for spec in specs:
            if spec.name in TASKS and TASKS[spec.name] is not spec:
                raise TaskDefinitionError(f"task {spec.name!r} is already registered in Python (a built-in "
                                          "task, or one your code registered); choose another name")
            text = spec_to_json(spec)
            old = con.execute("SELECT spec, source FROM tasks WHERE name = ?", [spec.name]).fetchall()
            if old and old[0][0] == text:
                continue
            if old and not replace:
                raise TaskDefinitionError(
                    f"task {spec.name!r} is already stored (from {old[0][1]}) with another definition; "
                    f"`oncobench tasks remove {spec.name}` first, or add it with --replace")
            con.execute("DELETE FROM tasks WHERE name = ?", [spec.name])
            con.execute("INSERT INTO tasks VALUES (?, ?, ?, ?)",
                        [spec.name, text, source, _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")])
            written.append(spec.name)
    for name in written:
        log.info("task %s stored in %s", name, home / "catalog.duckdb")
    return written


def loadable_tasks(pairs: Iterable[tuple[str, str | None]], *, what: str,
                   load: Callable[[str, str | None], Any] | None = None) -> list[Any]:
    """The tasks of (name, dataset) pairs that load on their data; the others are logged as skipped.

    For listings over many tasks (leaderboard pages, export, API, cross-task ranks): a task whose definition no
    longer loads (dataset removed, column gone, corrupt stored row, a Python task unknown to this process)
    must never take down the others.
    """
    from oncobench.benchmark.tasks import load_task

    load = load or (lambda name, dataset: load_task(name, dataset=dataset))
    out = []
    for name, dataset in pairs:
        try:
            task = load(name, dataset)
            task.patients  # the definition against the data: a vanished column or endpoint fails here
        except Exception as exc:  # noqa: BLE001  any failure of one definition is that task's alone
            log.warning("%s: task %s on %s skipped (its definition does not load: %s)", what, name, dataset, exc)
            continue
        out.append(task)
    return out


def remove_task(name: str, home: Path | None = None) -> None:
    """Delete a stored task (its results and leaderboard entries stay; they name the task)."""
    home = Path(home or oncobench_home()).absolute()
    if not any(r[0] == name for r in _rows(home, name)):
        known = stored_names(home)
        raise TaskDefinitionError(f"no stored task {name!r}; stored: {', '.join(known) or 'none'} "
                                  "(built-in tasks cannot be removed)")
    with catalog_transaction(home) as con:
        con.execute(_TABLE)
        con.execute("DELETE FROM tasks WHERE name = ?", [name])
