"""New versions made from a built one (imported splits, an added modality) and removing a version.

A derived version holds every file of its base byte for byte (hard links where the filesystem allows,
else copies) except those it replaces, plus its own; its manifest says what it was derived from
(``derived_from``: version, content hash, change). The base version is never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from oncobench.datasets.dataset import Dataset
from oncobench.datasets.errors import DatasetNotFoundError
from oncobench.datasets.store import (EMBEDDED_ROOT, VersionWriter, build_version, catalog_transaction, oncobench_home,
                                      resolve_version)

log = logging.getLogger(__name__)

# manifest keys build_version writes itself
OWN_KEYS = ("name", "version", "pipeline_version", "files", "content_hash", "built_at")


def derive_version(base: Dataset, version: str, add: Callable[[VersionWriter], None],
                   update: Callable[[dict[str, Any]], None], *, change: str,
                   replace: tuple[str, ...] = (), home: Path | None = None) -> Path:
    """Write ``base.name@version``: the base's files (but ``replace``), what ``add`` writes, the manifest ``update`` edits."""
    if version == base.version:
        raise ValueError(f"{base.id}: a derived version needs a new version name")

    def write(writer: VersionWriter) -> None:
        for entry in base.manifest["files"]:
            if entry["name"] in replace:
                continue
            target = writer.path(entry["name"])
            try:
                os.link(base.path / entry["name"], target)
            except OSError:  # another filesystem, or links not allowed
                shutil.copy2(base.path / entry["name"], target)
        add(writer)
        manifest = {k: v for k, v in base.manifest.items() if k not in OWN_KEYS}
        update(manifest)
        history = list(manifest.get("derived_from_chain", []))
        manifest["derived_from"] = {"version": base.version, "content_hash": base.content_hash, "change": change}
        manifest["derived_from_chain"] = history + [manifest["derived_from"]]
        writer.manifest.update(manifest)

    folder = build_version(base.name, version, write, home=home)
    log.info("%s@%s derived from %s: %s", base.name, version, base.id, change)
    return folder


def remove_version(name: str, version: str, home: Path | None = None) -> Path:
    """Delete a built version from the catalog (one transaction) and its folder; embedded versions are refused."""
    home = home or oncobench_home()
    folder = resolve_version(name, version, home)
    if EMBEDDED_ROOT in folder.parents:
        raise ValueError(f"{name}@{version} is embedded in the package; it cannot be removed")
    with catalog_transaction(home) as con:  # under the catalog lock, like every other catalog write
        n = con.execute("SELECT count(*) FROM datasets WHERE name = ? AND version = ?", [name, version]).fetchone()[0]
        if not n:
            raise DatasetNotFoundError(f"{name}@{version} is not in the catalog of {home}")
        con.execute("DELETE FROM files WHERE name = ? AND version = ?", [name, version])
        con.execute("DELETE FROM datasets WHERE name = ? AND version = ?", [name, version])
    # out of sight in one rename, then deleted: a reader never sees half a folder
    trash = folder.with_name(f".removing-{folder.name}-{uuid.uuid4().hex[:8]}")
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
    log.info("removed %s@%s (%s)", name, version, folder)
    return folder
