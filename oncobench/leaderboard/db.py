"""The leaderboard database: entries, per-fold scores and API tokens in DuckDB, predictions as Parquet beside it.

``<home>/leaderboard/leaderboard.duckdb`` has one writer process at a time (DuckDB's rule). So that ``oncobench
serve`` and the CLI share a home, nothing keeps the file open: every operation opens it, runs one short
transaction and closes it, retrying while another process holds the lock. Inside a process one lock serialises
the operations. Each submission is one transaction, and its prediction files are written to a hidden folder
renamed into place only when the transaction commits.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import secrets
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import duckdb
import polars as pl

from oncobench.datasets.errors import OncoBenchError
from oncobench.datasets.store import oncobench_home
from oncobench.leaderboard.copies import TOLERANCE, copied_from
from oncobench.leaderboard.entries import DuplicateSubmissionError, Entry, FoldScore, nan_to_none
from oncobench.leaderboard.intervals import fold_summary

log = logging.getLogger(__name__)

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
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS last_used_at TIMESTAMP;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS revoked_at TIMESTAMP;
"""

BUSY_TIMEOUT_S = 120.0  # how long an operation waits for another process's transaction before giving up
NEAR_SCORE = 1e-6  # per-fold scores this close are worth comparing the predictions themselves

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_SCHEMA_READY: set[str] = set()


class LeaderboardBusyError(OncoBenchError):
    """Another process held the leaderboard database for longer than the busy timeout."""


@dataclass(frozen=True)
class TokenInfo:
    """What ``tokens list`` shows of a token: never the secret, nor its hash."""

    name: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _lock(path: Path) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path.resolve()), threading.RLock())


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


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _stamp(value: object) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") if isinstance(value, _dt.datetime) else str(value)


class LeaderboardDB:
    """Entries and tokens of the OncoBench home's leaderboard (a handle: the file is opened per operation)."""

    def __init__(self, home: Path | None = None, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.root = (home or oncobench_home()) / "leaderboard"
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "leaderboard.duckdb"
        self.predictions_root = self.root / "predictions"
        self.lock = _lock(self.path)
        self.busy_timeout = busy_timeout
        with self.connection():
            pass  # creates or migrates the schema now, so a broken file is reported here

    def close(self) -> None:
        """Nothing to release: no connection outlives an operation."""

    def __enter__(self) -> "LeaderboardDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The database, open for one short operation (this process's other threads wait for it)."""
        with self.lock:
            con = self._open()
            try:
                key = str(self.path)
                if key not in _SCHEMA_READY:
                    con.execute(SCHEMA)
                    _SCHEMA_READY.add(key)
                yield con
            finally:
                con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        existed = self.path.exists()
        if not existed:
            _SCHEMA_READY.discard(str(self.path))  # a new file (a fresh home at a reused path) needs the schema
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                # DuckDB: "Could not set lock on file ...: Conflicting lock is held in ... (PID n)"
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise LeaderboardBusyError(f"{self.path} stayed locked by another process for {self.busy_timeout:.0f} s: "
                                               f"{exc}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    # ---- entries ---------------------------------------------------------------------------------------
    def add(self, entry: Entry, frames: Mapping[tuple[int, int], pl.DataFrame] | None = None) -> Entry:
        """Store an entry (the next version of its method) and its prediction files; refuse duplicates: the same
        predictions by hash, or (with ``frames``) the same values as another entry's within ``copies.TOLERANCE``."""
        staging = None
        if frames:
            staging = self.predictions_root / f".{entry.predictions_sha256}.{uuid.uuid4().hex}.tmp"
            staging.mkdir(parents=True)
            for (fold, seed), frame in frames.items():
                frame.write_parquet(staging / f"fold{fold}_seed{seed}.parquet")
        try:
            with self.connection() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    stored = self._insert(con, entry, frames)
                    if staging is not None:
                        final = self.predictions_root / entry.predictions_sha256
                        if final.exists():
                            shutil.rmtree(final)
                        staging.rename(final)
                        staging = None
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        return stored

    def _insert(self, con: duckdb.DuckDBPyConnection, entry: Entry,
                frames: Mapping[tuple[int, int], pl.DataFrame] | None) -> Entry:
        dup = con.execute(
            "SELECT entry_id, method, version FROM entries WHERE task = ? AND dataset = ? AND predictions_sha256 = ?",
            [entry.task, entry.dataset, entry.predictions_sha256]).fetchone()
        if dup:
            raise DuplicateSubmissionError([f"these predictions (sha256 {entry.predictions_sha256[:16]}...) were already "
                                            f"submitted as {dup[1]} v{dup[2]} (entry {dup[0]})"])
        if frames:
            copy = self._near_copy(con, entry, frames)
            if copy is not None:
                raise DuplicateSubmissionError([f"these predictions equal those of {copy[1]} v{copy[2]} (entry {copy[0]}) "
                                                f"within {TOLERANCE:g}"])
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM entries WHERE task = ? AND dataset = ? AND method = ?",
                              [entry.task, entry.dataset, entry.method]).fetchone()[0]
        now = entry.submitted_at or _now().isoformat(timespec="seconds")
        entry_id = con.execute(
            "INSERT INTO entries (task, dataset, split_key, evaluator_version, method, version, status, role, primary_metric, "
            "predictions_sha256, submitted_at, meta, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING entry_id",
            [entry.task, entry.dataset, entry.split_key, entry.evaluator_version, entry.method, version, entry.status,
             entry.role, entry.primary, entry.predictions_sha256, now, _json(entry.meta), _json(entry.summary)]).fetchone()[0]
        con.executemany(
            "INSERT INTO folds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[entry_id, f.repeat, f.fold, f.seed, f.split_sha256, f.predictions_sha256, _json(f.test), _json(f.valid)]
             for f in entry.folds])
        return Entry(**{**entry.__dict__, "entry_id": entry_id, "version": version, "submitted_at": now})

    def _near_copy(self, con: duckdb.DuckDBPyConnection, entry: Entry,
                   frames: Mapping[tuple[int, int], pl.DataFrame]) -> tuple[int, str, int] | None:
        """(entry_id, method, version) of a stored entry of the same task whose predictions the new ones copy.

        Only entries whose primary score on every fold is within ``NEAR_SCORE`` of the new entry's are opened:
        predictions equal within the tolerance score (all but) the same, so this spares reading every entry.
        """
        new_scores: dict[int, list[float]] = {}
        for f in entry.folds:
            new_scores.setdefault(f.fold, []).append(f.test.get(entry.primary, math.nan))
        rows = con.execute(
            "SELECT e.entry_id, e.method, e.version, e.predictions_sha256, f.fold, f.seed, f.test FROM entries e "
            "JOIN folds f USING (entry_id) WHERE e.task = ? AND e.dataset = ? ORDER BY e.entry_id, f.fold, f.seed",
            [entry.task, entry.dataset]).fetchall()
        stored: dict[tuple[int, str, int, str], dict[tuple[int, int], float]] = {}
        for entry_id, method, version, sha, fold, seed, test in rows:
            score = json.loads(test).get(entry.primary)
            stored.setdefault((entry_id, method, version, sha), {})[(fold, seed)] = math.nan if score is None else score

        def near(a: float, b: float) -> bool:
            return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= NEAR_SCORE

        for (entry_id, method, version, sha), scores in stored.items():
            if not all(any(near(s, t) for (fold, _), t in scores.items() if fold == f) for f, ss in new_scores.items()
                       for s in ss):
                continue
            folder = self.predictions_root / sha
            theirs = {key: pl.read_parquet(folder / f"fold{key[0]}_seed{key[1]}.parquet") for key in scores
                      if (folder / f"fold{key[0]}_seed{key[1]}.parquet").is_file()}
            if copied_from(frames, theirs):
                return entry_id, method, version
        return None

    def has_predictions(self, task: str, dataset: str, predictions_sha256: str) -> bool:
        with self.connection() as con:
            return con.execute("SELECT count(*) FROM entries WHERE task = ? AND dataset = ? AND predictions_sha256 = ?",
                               [task, dataset, predictions_sha256]).fetchone()[0] > 0

    def entries(self, task: str | None = None, dataset: str | None = None) -> list[Entry]:
        """Entries (every version), optionally of one task and dataset.

        The summary is recomputed from the per-fold scores (:func:`intervals.fold_summary`), so entries stored
        before the interval rules changed show intervals by today's rules.
        """
        where, args = [], []
        if task is not None:
            where.append("task = ?")
            args.append(task)
        if dataset is not None:
            where.append("dataset = ?")
            args.append(dataset)
        condition = " WHERE " + " AND ".join(where) if where else ""
        with self.connection() as con:
            rows = con.execute(f"SELECT * FROM entries{condition} ORDER BY entry_id", args).fetchall()
            cols = [d[0] for d in con.description]
            fold_rows = con.execute(
                f"SELECT * FROM folds WHERE entry_id IN (SELECT entry_id FROM entries{condition}) "
                "ORDER BY entry_id, repeat, fold, seed", args).fetchall()
        folds: dict[int, list[FoldScore]] = {}
        for r in fold_rows:
            folds.setdefault(r[0], []).append(FoldScore(r[1], r[2], r[3], r[4], r[5], _none_to_nan(json.loads(r[6])),
                                                        _none_to_nan(json.loads(r[7]))))
        out = []
        for row in rows:
            r = dict(zip(cols, row))
            entry_folds = tuple(folds.get(r["entry_id"], []))
            out.append(Entry(task=r["task"], dataset=r["dataset"], split_key=r["split_key"], evaluator_version=r["evaluator_version"],
                             method=r["method"], status=r["status"], folds=entry_folds,
                             summary=fold_summary(entry_folds) if entry_folds else _none_to_nan(json.loads(r["summary"])),
                             primary=r["primary_metric"], predictions_sha256=r["predictions_sha256"], role=r["role"],
                             version=r["version"], entry_id=r["entry_id"], submitted_at=str(r["submitted_at"]),
                             meta=json.loads(r["meta"])))
        return out

    def tasks(self) -> list[tuple[str, str]]:
        with self.connection() as con:
            return [tuple(r) for r in con.execute("SELECT DISTINCT task, dataset FROM entries ORDER BY task, dataset").fetchall()]

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
        with self.connection() as con:
            orphan = con.execute("SELECT count(*) FROM folds WHERE entry_id NOT IN (SELECT entry_id FROM entries)").fetchone()[0]
            empty = con.execute("SELECT count(*) FROM entries WHERE entry_id NOT IN (SELECT entry_id FROM folds)").fetchone()[0]
        return ([f"{orphan} fold rows without an entry"] if orphan else []) + ([f"{empty} entries without folds"] if empty else [])

    # ---- tokens ----------------------------------------------------------------------------------------
    def create_token(self, name: str) -> str:
        """A new API token for ``name`` (shown once; only its sha256 is stored)."""
        if not name or len(name) > 100:
            raise ValueError("a token name is 1-100 characters")
        token = secrets.token_urlsafe(32)
        with self.connection() as con:
            if con.execute("SELECT count(*) FROM tokens WHERE name = ?", [name]).fetchone()[0]:
                raise ValueError(f"a token named {name!r} exists already")
            con.execute("INSERT INTO tokens (name, token_sha256, created_at) VALUES (?, ?, ?)",
                        [name, _token_hash(token), _now()])
        return token

    def tokens(self) -> list[TokenInfo]:
        """Every token by name: created, last used, revoked (never the secret or its hash)."""
        with self.connection() as con:
            rows = con.execute("SELECT name, created_at, last_used_at, revoked_at FROM tokens ORDER BY name").fetchall()
        return [TokenInfo(name, _stamp(created), _stamp(used), _stamp(revoked)) for name, created, used, revoked in rows]

    def revoke_token(self, name: str) -> TokenInfo:
        """Revoke ``name``'s token for good (requests with it get 401); revoking twice keeps the first time."""
        with self.connection() as con:
            row = con.execute("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE name = ? "
                              "RETURNING name, created_at, last_used_at, revoked_at", [_now(), name]).fetchone()
        if row is None:
            raise KeyError(f"no token named {name!r}; `oncobench tokens list` shows them")
        return TokenInfo(row[0], _stamp(row[1]), _stamp(row[2]), _stamp(row[3]))

    def authenticate(self, token: str) -> TokenInfo | None:
        """The token's record (its last use set to now unless it is revoked), or None for an unknown token."""
        with self.connection() as con:
            row = con.execute("SELECT name, created_at, last_used_at, revoked_at FROM tokens WHERE token_sha256 = ?",
                              [_token_hash(token)]).fetchone()
            if row is None:
                return None
            if row[3] is None:
                con.execute("UPDATE tokens SET last_used_at = ? WHERE name = ?", [_now(), row[0]])
        return TokenInfo(row[0], _stamp(row[1]), _stamp(row[2]), _stamp(row[3]))

    def token_name(self, token: str) -> str | None:
        """The name of a valid (known, not revoked) token, else None."""
        with self.connection() as con:
            row = con.execute("SELECT name FROM tokens WHERE token_sha256 = ? AND revoked_at IS NULL",
                              [_token_hash(token)]).fetchone()
        return row[0] if row else None
