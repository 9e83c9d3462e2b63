"""The leaderboard database: entries, per-fold scores and API tokens in DuckDB, predictions as Parquet beside it.

``<home>/leaderboard/leaderboard.duckdb`` has one writer process at a time (DuckDB's rule): the API server owns
it while it runs; inside a process one lock serialises writers. Each submission is one transaction, and its
prediction files are written to a hidden folder renamed into place only when the transaction commits.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import secrets
import shutil
import threading
import uuid
from pathlib import Path
from typing import Mapping

import duckdb
import polars as pl

from oncobench.datasets.errors import OncoBenchError
from oncobench.datasets.store import oncobench_home
from oncobench.leaderboard.entries import DuplicateSubmissionError, Entry, FoldScore, nan_to_none

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS entry_ids START 1;
CREATE TABLE IF NOT EXISTS entries (
    entry_id INTEGER PRIMARY KEY DEFAULT nextval('entry_ids'),
    task VARCHAR NOT NULL, dataset VARCHAR NOT NULL, split_key VARCHAR NOT NULL, evaluator_version VARCHAR NOT NULL,
    method VARCHAR NOT NULL, version INTEGER NOT NULL, status VARCHAR NOT NULL, role VARCHAR NOT NULL,
    primary_metric VARCHAR NOT NULL, predictions_sha256 VARCHAR NOT NULL, submitted_at TIMESTAMP NOT NULL,
    meta VARCHAR NOT NULL, summary VARCHAR NOT NULL,
    UNIQUE (task, dataset, predictions_sha256),
    UNIQUE (task, dataset, method, version)
);
CREATE TABLE IF NOT EXISTS folds (
    entry_id INTEGER NOT NULL, repeat INTEGER NOT NULL, fold INTEGER NOT NULL, seed INTEGER NOT NULL,
    split_sha256 VARCHAR NOT NULL, predictions_sha256 VARCHAR NOT NULL, test VARCHAR NOT NULL, valid VARCHAR NOT NULL,
    PRIMARY KEY (entry_id, repeat, fold, seed)
);
CREATE TABLE IF NOT EXISTS tokens (
    name VARCHAR PRIMARY KEY, token_sha256 VARCHAR NOT NULL UNIQUE, created_at TIMESTAMP NOT NULL
);
"""

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class LeaderboardBusyError(OncoBenchError):
    """Another process (for example ``oncobench serve``) holds the leaderboard database."""


def _lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path.resolve()), threading.Lock())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json(value: object) -> str:
    return json.dumps(nan_to_none(value), sort_keys=True, default=str)  # NaN (an undefined metric) -> null


def _none_to_nan(value: object) -> object:
    if value is None:
        return float("nan")
    if isinstance(value, dict):
        return {k: _none_to_nan(v) for k, v in value.items()}
    return value


class LeaderboardDB:
    """Entries and tokens of the OncoBench home's leaderboard."""

    def __init__(self, home: Path | None = None) -> None:
        self.root = (home or oncobench_home()) / "leaderboard"
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "leaderboard.duckdb"
        self.predictions_root = self.root / "predictions"
        self.lock = _lock(self.path)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise LeaderboardBusyError(f"{self.path} is in use by another process (is `oncobench serve` running? "
                                       f"submit through its API instead): {exc}") from None
        with self.lock:
            self.con.execute(SCHEMA)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "LeaderboardDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- entries ---------------------------------------------------------------------------------------
    def add(self, entry: Entry, frames: Mapping[tuple[int, int], pl.DataFrame] | None = None) -> Entry:
        """Store an entry (the next version of its method) and its prediction files; refuse duplicates by hash."""
        staging = None
        if frames:
            staging = self.predictions_root / f".{entry.predictions_sha256}.{uuid.uuid4().hex}.tmp"
            staging.mkdir(parents=True)
            for (fold, seed), frame in frames.items():
                frame.write_parquet(staging / f"fold{fold}_seed{seed}.parquet")
        try:
            with self.lock:
                self.con.execute("BEGIN TRANSACTION")
                try:
                    stored = self._insert(entry)
                    if staging is not None:
                        final = self.predictions_root / entry.predictions_sha256
                        if final.exists():
                            shutil.rmtree(final)
                        staging.rename(final)
                        staging = None
                    self.con.execute("COMMIT")
                except BaseException:
                    self.con.execute("ROLLBACK")
                    raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        return stored

    def _insert(self, entry: Entry) -> Entry:
        dup = self.con.execute(
            "SELECT entry_id, method, version FROM entries WHERE task = ? AND dataset = ? AND predictions_sha256 = ?",
            [entry.task, entry.dataset, entry.predictions_sha256]).fetchone()
        if dup:
            raise DuplicateSubmissionError([f"these predictions (sha256 {entry.predictions_sha256[:16]}...) were already "
                                            f"submitted as {dup[1]} v{dup[2]} (entry {dup[0]})"])
        version = self.con.execute("SELECT coalesce(max(version), 0) + 1 FROM entries WHERE task = ? AND dataset = ? AND method = ?",
                                   [entry.task, entry.dataset, entry.method]).fetchone()[0]
        now = entry.submitted_at or _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
        entry_id = self.con.execute(
            "INSERT INTO entries (task, dataset, split_key, evaluator_version, method, version, status, role, primary_metric, "
            "predictions_sha256, submitted_at, meta, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING entry_id",
            [entry.task, entry.dataset, entry.split_key, entry.evaluator_version, entry.method, version, entry.status,
             entry.role, entry.primary, entry.predictions_sha256, now, _json(entry.meta), _json(entry.summary)]).fetchone()[0]
        self.con.executemany(
            "INSERT INTO folds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[entry_id, f.repeat, f.fold, f.seed, f.split_sha256, f.predictions_sha256, _json(f.test), _json(f.valid)]
             for f in entry.folds])
        return Entry(**{**entry.__dict__, "entry_id": entry_id, "version": version, "submitted_at": now})

    def has_predictions(self, task: str, dataset: str, predictions_sha256: str) -> bool:
        with self.lock:
            return self.con.execute("SELECT count(*) FROM entries WHERE task = ? AND dataset = ? AND predictions_sha256 = ?",
                                    [task, dataset, predictions_sha256]).fetchone()[0] > 0

    def entries(self, task: str | None = None, dataset: str | None = None) -> list[Entry]:
        """Entries (every version), optionally of one task and dataset."""
        where, args = [], []
        if task is not None:
            where.append("task = ?")
            args.append(task)
        if dataset is not None:
            where.append("dataset = ?")
            args.append(dataset)
        condition = " WHERE " + " AND ".join(where) if where else ""
        with self.lock:
            rows = self.con.execute(f"SELECT * FROM entries{condition} ORDER BY entry_id", args).fetchall()
            cols = [d[0] for d in self.con.description]
            fold_rows = self.con.execute(
                f"SELECT * FROM folds WHERE entry_id IN (SELECT entry_id FROM entries{condition}) "
                "ORDER BY entry_id, repeat, fold, seed", args).fetchall()
        folds: dict[int, list[FoldScore]] = {}
        for r in fold_rows:
            folds.setdefault(r[0], []).append(FoldScore(r[1], r[2], r[3], r[4], r[5], _none_to_nan(json.loads(r[6])),
                                                        _none_to_nan(json.loads(r[7]))))
        out = []
        for row in rows:
            r = dict(zip(cols, row))
            out.append(Entry(task=r["task"], dataset=r["dataset"], split_key=r["split_key"], evaluator_version=r["evaluator_version"],
                             method=r["method"], status=r["status"], folds=tuple(folds.get(r["entry_id"], [])),
                             summary=_none_to_nan(json.loads(r["summary"])), primary=r["primary_metric"],
                             predictions_sha256=r["predictions_sha256"], role=r["role"], version=r["version"],
                             entry_id=r["entry_id"], submitted_at=str(r["submitted_at"]), meta=json.loads(r["meta"])))
        return out

    def tasks(self) -> list[tuple[str, str]]:
        with self.lock:
            return [tuple(r) for r in self.con.execute("SELECT DISTINCT task, dataset FROM entries ORDER BY task, dataset").fetchall()]

    def predictions(self, entry: Entry) -> dict[tuple[int, int], pl.DataFrame]:
        folder = self.predictions_root / entry.predictions_sha256
        out = {}
        for f in entry.folds:
            path = folder / f"fold{f.fold}_seed{f.seed}.parquet"
            if path.exists():
                out[(f.fold, f.seed)] = pl.read_parquet(path)
        return out

    def integrity(self) -> list[str]:
        """Problems in the stored state (used by the concurrency test): orphan folds, entries without folds."""
        with self.lock:
            orphan = self.con.execute("SELECT count(*) FROM folds WHERE entry_id NOT IN (SELECT entry_id FROM entries)").fetchone()[0]
            empty = self.con.execute("SELECT count(*) FROM entries WHERE entry_id NOT IN (SELECT entry_id FROM folds)").fetchone()[0]
        return ([f"{orphan} fold rows without an entry"] if orphan else []) + ([f"{empty} entries without folds"] if empty else [])

    # ---- tokens ----------------------------------------------------------------------------------------
    def create_token(self, name: str) -> str:
        """A new API token for ``name`` (shown once; only its sha256 is stored)."""
        if not name or len(name) > 100:
            raise ValueError("a token name is 1-100 characters")
        token = secrets.token_urlsafe(32)
        with self.lock:
            if self.con.execute("SELECT count(*) FROM tokens WHERE name = ?", [name]).fetchone()[0]:
                raise ValueError(f"a token named {name!r} exists already")
            self.con.execute("INSERT INTO tokens VALUES (?, ?, ?)", [name, _token_hash(token), _dt.datetime.now()])
        return token

    def token_name(self, token: str) -> str | None:
        with self.lock:
            row = self.con.execute("SELECT name FROM tokens WHERE token_sha256 = ?", [_token_hash(token)]).fetchone()
        return row[0] if row else None
