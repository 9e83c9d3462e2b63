"""Exceptions for bad input: every message names the file, the row/column and what was expected."""

from __future__ import annotations

from pathlib import Path


class OncoBenchError(Exception):
    """Base class of every OncoBench error."""


class InputFormatError(OncoBenchError, ValueError):
    """A raw or user file does not have the expected content.

    The message always names the file and, when known, the row and column, and says what was
    expected and what was found.
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        row: int | str | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        self.path = str(path)
        self.row = row
        self.column = column
        self.expected = expected
        self.found = found
        where = [self.path]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        msg = f"{', '.join(where)}: {problem}"
        if expected is not None:
            msg += f"; expected {expected}"
        if found is not None:
            msg += f", found {found}"
        super().__init__(msg)


class DegenerateBlockError(InputFormatError):
    """A data block carries no information (all zeros, constant): refused instead of ingested."""


class ChecksumError(OncoBenchError):
    """A file's sha256 does not match the manifest or the pinned value."""


class ManifestError(ChecksumError):
    """A version's ``manifest.json`` is missing, unreadable, or does not match its own hash or the catalog."""


class StaleVersionError(ManifestError):
    """A version built before the manifest carried its own hash: it cannot be verified, only rebuilt."""


class DatasetNotFoundError(OncoBenchError, KeyError):
    """No dataset (or version) of that name is known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ImmutableVersionError(OncoBenchError):
    """A built dataset version exists with other content; a version is never overwritten."""


class SplitError(OncoBenchError, ValueError):
    """A split violates an invariant (patient on both sides, class missing from training...)."""
