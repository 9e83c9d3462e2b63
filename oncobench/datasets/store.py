"""The OncoBench store: versioned dataset folders with a sha256 manifest, indexed by a DuckDB catalog.

A version folder holds ``manifest.json``, ``clinical.parquet``, ``presence.parquet``,
``modalities/<modality>.parquet`` (see :mod:`oncobench.datasets.matrixio`) and ``splits/<scheme>.parquet``.
It is built under a hidden temporary name and renamed into place in one step, then registered in
``catalog.duckdb`` in one transaction, so a build killed midway leaves the previous versions
readable, the catalog consistent and no half dataset visible. A version is immutable: building it
again with other content raises :class:`ImmutableVersionError`. Builds of one dataset are serialised
by a file lock.

Integrity: ``manifest_sha256`` covers every manifest field but ``built_at`` (``content_hash`` covers the
data files only, as it always did); the catalog records both, with paths relative to the home. Every
open verifies the whole version (:func:`open_version`); file hashes are remembered per process and
file identity, so re-opening or re-reading costs a ``stat`` per file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb
from filelock import FileLock, Timeout

from oncobench.datasets.errors import (
    ChecksumError,
    DatasetNotFoundError,
    ImmutableVersionError,
    ManifestError,
    StaleVersionError,
)
from oncobench.datasets.provenance import sha256_file

log = logging.getLogger(__name__)

PIPELINE_VERSION = "1"
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest_sha256"
_UNHASHED = (MANIFEST_HASH, "built_at")
EMBEDDED_ROOT = Path(__file__).parent / "embedded"


def oncobench_home() -> Path:
    """``$ONCOBENCH_HOME`` or ``~/.oncobench`` (created on first write, never on read)."""
    return Path(os.environ.get("ONCOBENCH_HOME") or Path.home() / ".oncobench").expanduser()


def datasets_root(home: Path | None = None) -> Path:
    return (home or oncobench_home()) / "datasets"


def content_hash(files: dict[str, str]) -> str:
    """sha256 over the sorted (relative name, file sha256) pairs of a version's data files."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\n".encode())
    return digest.hexdigest()


@dataclass
class VersionWriter:
    """Collects the files of one version inside a hidden build folder; :func:`build_version` publishes it."""

    folder: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    def path(self, relative: str) -> Path:
        out = self.folder / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        return out


@contextmanager
def _catalog_lock(home: Path, *, reading: bool = False) -> Iterator[None]:
    # DuckDB allows one writer per file and refuses readers in other processes while it writes:
    # every catalog connection (read or write) is made under this lock and kept short.
    lock = FileLock(home / ".catalog.lock")
    try:
        lock.acquire()
    except OSError as exc:  # PermissionError, or EROFS on a read-only file system
        if not reading or isinstance(exc, Timeout):
            raise
        # a home the user may read but not write (a shared install): nobody here can write its catalog either
        log.debug("%s is not writable: catalog read without the lock", home)
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _catalog(home: Path) -> duckdb.DuckDBPyConnection:
    home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home / "catalog.duckdb"))
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS datasets (
            name VARCHAR, version VARCHAR, content_hash VARCHAR, path VARCHAR, built_at VARCHAR,
            pipeline_version VARCHAR, n_patients BIGINT, PRIMARY KEY (name, version));
        CREATE TABLE IF NOT EXISTS files (
            name VARCHAR, version VARCHAR, file VARCHAR, sha256 VARCHAR, bytes BIGINT, kind VARCHAR,
            PRIMARY KEY (name, version, file));
        ALTER TABLE datasets ADD COLUMN IF NOT EXISTS manifest_sha256 VARCHAR;
        """
    )
    return con


@contextmanager
def catalog_transaction(home: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """One catalog write: under the catalog lock, in one transaction (rolled back on any error), connection closed."""
    with _catalog_lock(Path(home)):
        con = _catalog(Path(home))
        try:
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()


def register_version(folder: Path, home: Path | None = None) -> None:
    """Record a published version folder in the catalog (one transaction; idempotent).

    The path is stored relative to the home, so a copied or moved home finds its own files.
    """
    home = home or oncobench_home()
    manifest = read_manifest(folder)
    try:
        relative = Path(folder).absolute().relative_to(Path(home).absolute()).as_posix()
    except ValueError:
        raise ValueError(f"{folder} is not inside the home {home}; only the home's own versions are catalogued") from None
    with catalog_transaction(Path(home)) as con:
        con.execute("DELETE FROM files WHERE name = ? AND version = ?", [manifest["name"], manifest["version"]])
        con.execute("DELETE FROM datasets WHERE name = ? AND version = ?", [manifest["name"], manifest["version"]])
        con.execute(
            "INSERT INTO datasets (name, version, content_hash, path, built_at, pipeline_version, n_patients, "
            "manifest_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [manifest["name"], manifest["version"], manifest["content_hash"], relative, manifest.get("built_at"),
             manifest.get("pipeline_version"), manifest.get("n_patients"), manifest.get(MANIFEST_HASH)],
        )
        con.executemany(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
            [[manifest["name"], manifest["version"], f["name"], f["sha256"], f["bytes"], f["kind"]]
             for f in manifest["files"]],
        )


@contextmanager
def build_lock(parent: Path, name: str) -> Iterator[None]:
    """Hold the per-dataset build lock (``<parent>/../.locks/<name>.lock``); waits while another build holds it.

    The holder's pid is written beside the lock (``<name>.owner``) so a waiting build can say whom it waits for.
    """
    locks = parent.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(locks / f"{name}.lock")
    owner = locks / f"{name}.owner"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = owner.read_text(encoding="utf-8").strip() if owner.is_file() else "unknown"
        log.warning("another build of %s is running (pid %s, lock %s): waiting for it to finish",
                    name, holder, locks / f"{name}.lock")
        lock.acquire()
        log.info("build lock of %s acquired after waiting", name)
    try:
        _write_text_atomic(owner, f"{os.getpid()}\n")
        yield
    finally:
        lock.release()


def build_version(
    name: str,
    version: str,
    write: Callable[[VersionWriter], None],
    *,
    home: Path | None = None,
    root: Path | None = None,
) -> Path:
    """Build a dataset version atomically and register it; returns the published folder.

    ``write`` fills the writer's folder and ``manifest`` (card, sources, modalities...). File checksums,
    the content hash, the manifest hash and the build time are added here. Builds of one dataset are
    serialised by :func:`build_lock`: a second build waits, then finds the version published.
    """
    home = home or oncobench_home()
    parent = (root or datasets_root(home)) / name
    parent.mkdir(parents=True, exist_ok=True)
    with build_lock(parent, name):
        # Under the lock no other build of this dataset is alive: every .building-* folder is a killed build's.
        for stale in parent.glob(".building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = parent / f".building-{version}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            final = _build_in(tmp, parent, name, version, write)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if root is None:  # a folder outside the home (the package's embedded data) is found without the catalog
            register_version(final, home)
    return final


def _build_in(tmp: Path, parent: Path, name: str, version: str, write: Callable[[VersionWriter], None]) -> Path:
    writer = VersionWriter(tmp)
    write(writer)
    files = []
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        rel = path.relative_to(tmp).as_posix()
        kind = rel.split("/")[0] if "/" in rel else rel.removesuffix(".parquet")
        files.append({"name": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size, "kind": kind})
    manifest = {
        "name": name,
        "version": version,
        "pipeline_version": PIPELINE_VERSION,
        **writer.manifest,
        "files": files,
        "content_hash": content_hash({f["name"]: f["sha256"] for f in files}),
    }
    manifest[MANIFEST_HASH] = manifest_hash(manifest)
    manifest["built_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    check_declared(tmp, manifest)
    final = parent / version
    if final.exists():
        _keep_existing(final, manifest)
        shutil.rmtree(tmp)
        return final
    _write_json_atomic(tmp / MANIFEST, manifest)
    os.rename(tmp, final)  # the publish step: atomic on one filesystem
    log.info("built %s@%s (%s) at %s", name, version, manifest["content_hash"][:12], final)
    return final


def _keep_existing(final: Path, manifest: dict[str, Any]) -> None:
    """A rebuild of a published version: same content is a no-op, other content is refused.

    A version built before manifests carried their own hash gets the new manifest (its data files are
    verified against the old manifest first and are the same files: same content hash).
    """
    ident = f"{manifest['name']}@{manifest['version']}"
    try:
        old = open_version(final)
        stale = False
    except StaleVersionError:
        old = read_manifest(final)
        stale = True
    except ChecksumError as exc:
        raise ChecksumError(f"{ident} is already published at {final} but is damaged ({exc}); "
                            "move that folder away deliberately, then rebuild") from None
    if old["content_hash"] != manifest["content_hash"] or (not stale and old[MANIFEST_HASH] != manifest[MANIFEST_HASH]):
        raise ImmutableVersionError(
            f"{ident} already exists at {final} with content hash {old['content_hash'][:12]} "
            f"(manifest {str(old.get(MANIFEST_HASH))[:12]}), this build gives {manifest['content_hash'][:12]} "
            f"(manifest {manifest[MANIFEST_HASH][:12]}): a version is never overwritten; "
            "bump the recipe version or delete the old folder deliberately"
        )
    if stale:
        verify_files(final, old["files"])
        _write_json_atomic(final / MANIFEST, manifest)
        log.warning("%s: manifest rewritten with its manifest hash (data files unchanged, content %s)",
                    ident, manifest["content_hash"][:12])
    else:
        log.info("%s already built with the same content (%s)", ident, old["content_hash"][:12])


def seal_legacy_manifest(folder: Path) -> dict[str, Any]:
    """Give a version built before manifest hashes its ``manifest_sha256``, in place; returns the new manifest.

    Every data file is verified against the old manifest first (and the content hash against the file
    list); nothing but the added hash changes. Used to upgrade the embedded tcga-mini without touching its data.
    """
    manifest = read_manifest(folder)
    if MANIFEST_HASH in manifest:
        return open_version(folder)
    verify_files(folder, manifest["files"])
    if content_hash({e["name"]: e["sha256"] for e in manifest["files"]}) != manifest["content_hash"]:
        raise ChecksumError(f"{folder / MANIFEST}: content hash does not match its file list")
    check_declared(folder, manifest)
    manifest[MANIFEST_HASH] = manifest_hash(manifest)
    _write_json_atomic(folder / MANIFEST, manifest)
    return open_version(folder)


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=1, sort_keys=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(folder: Path, *, listed_as: str | None = None) -> dict[str, Any]:
    """The parsed ``manifest.json`` of ``folder``; :class:`ManifestError` naming the file when missing or unreadable.

    ``listed_as`` (``name@version``) says the catalog points here, so a missing manifest is a damaged version.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        where = f"; the catalog lists {listed_as} here (deleted or damaged: move that folder away, then rebuild it)" if listed_as else ""
        raise ManifestError(f"{path}: missing{where}; expected the manifest.json of a built OncoBench dataset version")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc}); expected the JSON manifest written by "
                            "`oncobench datasets build`") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: found a JSON {type(manifest).__name__}; expected a JSON object "
                            "(the manifest of a dataset version)")
    return manifest


def manifest_hash(manifest: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of every manifest field except the hash itself and ``built_at``.

    It covers everything that changes what a user gets (modalities, comparability, endpoints, splits,
    card, file list, content hash...). ``built_at`` is left out: rebuilding the same data keeps the hash.
    """
    body = {k: v for k, v in manifest.items() if k not in _UNHASHED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- per-process memory of hashed files ------------------------------------------------------------------
# (realpath) -> (identity, sha256). The identity changes whenever the file is written, replaced or touched,
# so a remembered hash is only reused for the very bytes that were hashed.
_HASHES: dict[str, tuple[tuple[int, ...], str]] = {}
_MANIFESTS_OK: dict[str, tuple[tuple[int, ...] | None, str]] = {}  # manifest checked against its own hash


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_sha256(path: Path) -> str:
    """sha256 of a file, hashed once per process per file identity (path, inode, size, mtime, ctime)."""
    key = os.path.realpath(path)
    before = os.stat(key)
    hit = _HASHES.get(key)
    if hit is not None and hit[0] == _identity(before):
        return hit[1]
    digest = sha256_file(key)
    if _identity(os.stat(key)) == _identity(before):  # not written while we read it: safe to remember
        _HASHES[key] = (_identity(before), digest)
    return digest


def forget_verified() -> None:
    """Drop the remembered hashes (the next open hashes every file again)."""
    _HASHES.clear()
    _MANIFESTS_OK.clear()


def verify_file(folder: Path, entry: dict[str, Any]) -> Path:
    """Check one manifest entry (``name``, ``sha256``) under ``folder``; returns its path or raises :class:`ChecksumError`."""
    path = Path(folder) / entry["name"]
    if not path.is_file():
        raise ChecksumError(f"{path}: listed in {Path(folder) / MANIFEST} but missing")
    found = file_sha256(path)
    if found != entry["sha256"]:
        raise ChecksumError(f"{path}: sha256 {found} does not match the manifest's {entry['sha256']}; "
                            "the file is corrupt or was edited")
    return path


def verify_files(folder: Path, entries: list[dict[str, Any]]) -> None:
    """Check files (``name``, ``sha256`` entries of a manifest) under ``folder``; raise :class:`ChecksumError` on the first mismatch."""
    for entry in entries:
        verify_file(folder, entry)


def check_declared(folder: Path, manifest: dict[str, Any]) -> None:
    """Every table, modality and split the manifest declares must be one of its listed files."""
    listed = {f["name"] for f in manifest["files"]}
    wanted = [("table", "clinical", "clinical.parquet"), ("table", "presence", "presence.parquet")]
    wanted += [("modality", m, f"modalities/{m}.parquet") for m in manifest.get("modalities", {})]
    wanted += [("split", s, f"splits/{s}.parquet") for s in manifest.get("splits", {})]
    for kind, item, name in wanted:
        if name not in listed:
            raise ManifestError(f"{Path(folder) / MANIFEST}: declares {kind} {item!r} but lists no file {name}; "
                                "the version is incomplete (rebuild it)")


def open_version(folder: Path, catalog: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and verify a version; returns its manifest.

    Checks, in order: the manifest's own hash, the catalog's record (``catalog``: a :func:`list_versions`
    row) against the manifest, that every declared table/modality/split is a listed file, every file's
    sha256 (remembered per file identity, so a re-open costs one ``stat`` per file), and the content hash.
    """
    folder = Path(folder)
    listed_as = f"{catalog['name']}@{catalog['version']}" if catalog else None
    identity = _identity(os.stat(folder / MANIFEST)) if (folder / MANIFEST).is_file() else None
    manifest = read_manifest(folder, listed_as=listed_as)
    path = folder / MANIFEST
    missing = [k for k in ("name", "version", "files", "content_hash") if k not in manifest]
    if missing:
        raise ManifestError(f"{path}: no field {', '.join(missing)}; expected a dataset manifest with name, version, "
                            "files and content_hash")
    ident = f"{manifest['name']}@{manifest['version']}"
    recorded = manifest.get(MANIFEST_HASH)
    if recorded is None:
        raise StaleVersionError(
            f"{path}: {ident} was built before OncoBench recorded a manifest hash; rebuild it "
            f"(`oncobench datasets build {manifest['name']}`): the data files stay the same, the manifest is rewritten")
    if _MANIFESTS_OK.get(os.path.realpath(path)) != (identity, recorded):
        found = manifest_hash(manifest)
        if found != recorded:
            raise ManifestError(f"{path}: manifest sha256 {found} does not match its recorded {recorded}; "
                                "the manifest was edited or is corrupt")
        _MANIFESTS_OK[os.path.realpath(path)] = (identity, recorded)
    if catalog is not None:
        db = Path(catalog["home"]) / "catalog.duckdb"
        if catalog["content_hash"] != manifest["content_hash"]:
            raise ChecksumError(f"{db} records content hash {catalog['content_hash']} for {ident}, the manifest {path} "
                                f"has {manifest['content_hash']}; the version was altered after it was registered")
        if catalog.get("manifest_sha256") not in (None, recorded):
            raise ChecksumError(f"{db} records manifest sha256 {catalog['manifest_sha256']} for {ident}, the manifest "
                                f"{path} has {recorded}; the version was altered after it was registered")
    check_declared(folder, manifest)
    verify_files(folder, manifest["files"])
    if content_hash({e["name"]: e["sha256"] for e in manifest["files"]}) != manifest["content_hash"]:
        raise ChecksumError(f"{path}: content hash does not match its file list")
    return manifest


def _version_key(version: str) -> tuple:
    # (0, n) for numbers, (1, text) otherwise: "1.0+splits.x" must compare with "1.0" without a TypeError
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.replace("-", ".").replace("+", ".").split("."))


def list_versions(home: Path | None = None) -> list[dict[str, Any]]:
    """Every known version: built ones from the catalog, plus those embedded in the package.

    A catalogued version is listed even when its folder is damaged (opening it then says what is wrong);
    its path is the home's own folder (stored relative to the home, so a copied home reads its copy).
    """
    home = Path(home or oncobench_home()).absolute()
    rows: list[dict[str, Any]] = []
    catalog = home / "catalog.duckdb"
    if catalog.exists():
        with _catalog_lock(home, reading=True):
            con = duckdb.connect(str(catalog), read_only=True)
            try:
                has_hash = "manifest_sha256" in [c[0] for c in con.execute("DESCRIBE datasets").fetchall()]
                found = con.execute(
                    "SELECT name, version, content_hash, path, built_at, "
                    + ("manifest_sha256" if has_hash else "NULL") + " FROM datasets ORDER BY name, version"
                ).fetchall()
            finally:
                con.close()
        for name, version, chash, path, built_at, mhash in found:
            if Path(path).is_absolute():
                # a catalog written before paths were relative: never follow it into another home
                path = datasets_root(home) / name / version
            rows.append({"name": name, "version": version, "content_hash": chash, "path": str(home / path),
                         "built_at": built_at, "origin": "built", "manifest_sha256": mhash, "home": str(home)})
    seen = {(r["name"], r["version"]) for r in rows}
    if EMBEDDED_ROOT.is_dir():
        for manifest_path in sorted(EMBEDDED_ROOT.glob(f"*/*/{MANIFEST}")):
            folder = manifest_path.parent
            m = read_manifest(folder)
            if (m["name"], m["version"]) not in seen:
                rows.append({"name": m["name"], "version": m["version"], "content_hash": m["content_hash"],
                             "path": str(folder), "built_at": m.get("built_at"), "origin": "embedded"})
    return rows


def resolve_entry(name: str, version: str | None = None, home: Path | None = None) -> dict[str, Any]:
    """The :func:`list_versions` row of ``name@version`` (newest version when ``version`` is None)."""
    if version is None and "@" in name:
        name, version = name.split("@", 1)
    rows = list_versions(home)
    candidates = [r for r in rows if r["name"] == name]
    if not candidates:
        known = sorted({r["name"] for r in rows})
        from oncobench.datasets.recipes import RECIPES

        version_opt = f" --version {version}" if version is not None and name == "tcga-pancan" else ""
        how = (f"`oncobench datasets build {name}{version_opt} --raw-dir DIR`" if name in RECIPES else
               "`oncobench datasets build path/to/card.toml [--raw-dir DIR]` (a dataset card)")
        raise DatasetNotFoundError(f"no dataset {name!r}; known: {', '.join(known) or 'none'} (build one with {how})")
    if version is not None:
        match = [r for r in candidates if r["version"] == version]
        if not match:
            raise DatasetNotFoundError(
                f"no version {version!r} of {name!r}; known: {', '.join(r['version'] for r in candidates)}"
            )
        return match[0]
    return max(candidates, key=lambda r: _version_key(r["version"]))


def resolve_version(name: str, version: str | None = None, home: Path | None = None) -> Path:
    """The folder of ``name@version`` (newest version when ``version`` is None)."""
    return Path(resolve_entry(name, version, home)["path"])
