"""The OncoBench store: versioned dataset folders with a sha256 manifest, indexed by a DuckDB catalog.

A version folder holds ``manifest.json``, ``clinical.parquet``, ``presence.parquet``,
``modalities/<modality>.parquet`` (see :mod:`oncobench.datasets.matrixio`) and ``splits/<scheme>.parquet``.
It is built under a hidden temporary name and renamed into place in one step, then registered in
``catalog.duckdb`` in one transaction, so a build killed midway leaves the previous versions
readable, the catalog consistent and no half dataset visible. A version is immutable: building it
again with other content raises :class:`ImmutableVersionError`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from oncobench.datasets.errors import ChecksumError, DatasetNotFoundError, ImmutableVersionError
from oncobench.datasets.provenance import sha256_file

log = logging.getLogger(__name__)

PIPELINE_VERSION = "1"
MANIFEST = "manifest.json"
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
        """
    )
    return con


def register_version(folder: Path, home: Path | None = None) -> None:
    """Record a published version folder in the catalog (one transaction; idempotent)."""
    home = home or oncobench_home()
    manifest = read_manifest(folder)
    con = _catalog(home)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM files WHERE name = ? AND version = ?", [manifest["name"], manifest["version"]])
        con.execute("DELETE FROM datasets WHERE name = ? AND version = ?", [manifest["name"], manifest["version"]])
        con.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)",
            [manifest["name"], manifest["version"], manifest["content_hash"], str(folder), manifest["built_at"],
             manifest["pipeline_version"], manifest.get("n_patients")],
        )
        con.executemany(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
            [[manifest["name"], manifest["version"], f["name"], f["sha256"], f["bytes"], f["kind"]] for f in manifest["files"]],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


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
    the content hash and the build time are added here.
    """
    home = home or oncobench_home()
    parent = (root or datasets_root(home)) / name
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(".building-*"):  # left by a killed build: never visible, safe to drop
        shutil.rmtree(stale, ignore_errors=True)
    tmp = parent / f".building-{version}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
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
            "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        final = parent / version
        if final.exists():
            old = read_manifest(final)
            if old["content_hash"] != manifest["content_hash"]:
                raise ImmutableVersionError(
                    f"{name}@{version} already exists at {final} with content hash {old['content_hash'][:12]}, "
                    f"this build gives {manifest['content_hash'][:12]}: a version is never overwritten; "
                    "bump the recipe version or delete the old folder deliberately"
                )
            log.info("%s@%s already built with the same content (%s)", name, version, old["content_hash"][:12])
            shutil.rmtree(tmp)
            if root is None:
                register_version(final, home)
            return final
        _write_json_atomic(tmp / MANIFEST, manifest)
        os.rename(tmp, final)  # the publish step: atomic on one filesystem
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if root is None:  # a folder outside the home (the package's embedded data) is found without the catalog
        register_version(final, home)
    log.info("built %s@%s (%s) at %s", name, version, manifest["content_hash"][:12], final)
    return final


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=1, sort_keys=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise DatasetNotFoundError(f"{folder}: no {MANIFEST}; not a built OncoBench dataset version")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def verify_files(folder: Path, entries: list[dict[str, Any]]) -> None:
    """Check files (``name``, ``sha256`` entries of a manifest) under ``folder``; raise :class:`ChecksumError` on the first mismatch."""
    for entry in entries:
        path = folder / entry["name"]
        if not path.is_file():
            raise ChecksumError(f"{path}: listed in {folder / MANIFEST} but missing")
        found = sha256_file(path)
        if found != entry["sha256"]:
            raise ChecksumError(f"{path}: sha256 {found} does not match the manifest's {entry['sha256']}; the file is corrupt or was edited")


def verify_version(folder: Path, manifest: dict[str, Any] | None = None) -> None:
    """Check every file of a version against its manifest sha256 and the content hash against the file list."""
    manifest = manifest or read_manifest(folder)
    verify_files(folder, manifest["files"])
    if content_hash({e["name"]: e["sha256"] for e in manifest["files"]}) != manifest["content_hash"]:
        raise ChecksumError(f"{folder / MANIFEST}: content hash does not match its file list")


def _version_key(version: str) -> tuple:
    # (0, n) for numbers, (1, text) otherwise: "1.0+splits.x" must compare with "1.0" without a TypeError
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.replace("-", ".").replace("+", ".").split("."))


def list_versions(home: Path | None = None) -> list[dict[str, Any]]:
    """Every known version: built ones from the catalog, plus those embedded in the package."""
    home = home or oncobench_home()
    rows: list[dict[str, Any]] = []
    catalog = home / "catalog.duckdb"
    if catalog.exists():
        con = duckdb.connect(str(catalog), read_only=True)
        try:
            for name, version, chash, path, built_at in con.execute(
                "SELECT name, version, content_hash, path, built_at FROM datasets ORDER BY name, version"
            ).fetchall():
                if Path(path, MANIFEST).is_file():
                    rows.append({"name": name, "version": version, "content_hash": chash, "path": path,
                                 "built_at": built_at, "origin": "built"})
        finally:
            con.close()
    seen = {(r["name"], r["version"]) for r in rows}
    if EMBEDDED_ROOT.is_dir():
        for manifest_path in sorted(EMBEDDED_ROOT.glob(f"*/*/{MANIFEST}")):
            folder = manifest_path.parent
            m = read_manifest(folder)
            if (m["name"], m["version"]) not in seen:
                rows.append({"name": m["name"], "version": m["version"], "content_hash": m["content_hash"],
                             "path": str(folder), "built_at": m["built_at"], "origin": "embedded"})
    return rows


def resolve_version(name: str, version: str | None = None, home: Path | None = None) -> Path:
    """The folder of ``name@version`` (newest version when ``version`` is None)."""
    if version is None and "@" in name:
        name, version = name.split("@", 1)
    candidates = [r for r in list_versions(home) if r["name"] == name]
    if not candidates:
        known = sorted({r["name"] for r in list_versions(home)})
        from oncobench.datasets.recipes import RECIPES

        how = (f"`oncobench datasets build {name} --raw-dir DIR`" if name in RECIPES else
               "`oncobench datasets build path/to/card.toml [--raw-dir DIR]` (a dataset card)")
        raise DatasetNotFoundError(f"no dataset {name!r}; known: {', '.join(known) or 'none'} (build one with {how})")
    if version is not None:
        match = [r for r in candidates if r["version"] == version]
        if not match:
            raise DatasetNotFoundError(
                f"no version {version!r} of {name!r}; known: {', '.join(r['version'] for r in candidates)}"
            )
        return Path(match[0]["path"])
    return Path(max(candidates, key=lambda r: _version_key(r["version"]))["path"])
