"""Where a block of values came from and what was done to it."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class SourceFile:
    """One raw file a block was read from (name relative to the raw folder, sha256, size)."""

    name: str
    sha256: str
    bytes: int

    @classmethod
    def of(cls, path: str | Path, root: str | Path | None = None) -> "SourceFile":
        path = Path(path)
        name = str(path.relative_to(root)) if root is not None else path.name
        return cls(name=name, sha256=sha256_file(path), bytes=path.stat().st_size)


@dataclass(frozen=True)
class Provenance:
    """Provenance of one modality from one source.

    ``comparable_across_cohorts`` is False when values were scaled within each cohort (PORPOISE's
    cBioPortal z-scores) or come from cohort-specific models: a pan-cancer model must not compare
    them across cohorts. ``missing`` says what NaN means in the block (always "not measured"; a
    measured zero stays 0).
    """

    source: str
    files: tuple[SourceFile, ...]
    transform: str
    licence: str
    citation: str
    comparable_across_cohorts: bool
    notes: str = ""
    missing: str = "NaN = not measured for this patient/feature; 0 is a measured value"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = [asdict(f) for f in self.files]
        return out
