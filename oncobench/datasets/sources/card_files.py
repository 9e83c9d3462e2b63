"""The file formats a dataset card may name: CSV/TSV (optionally gzip-compressed), Parquet, Excel sheets, HDF5.

Every reader returns the same thing, a :class:`RawTable`: the header (column names as in the file) and the
body cells (float64 when the whole body parsed as numbers, else objects: strings, ``None`` for empty).
What the cells mean (IDs, features, clinical values) is decided by :mod:`oncobench.datasets.sources.generic`.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from oncobench.datasets.errors import InputFormatError

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
SUFFIXES = TEXT_SUFFIXES + (".parquet", ".xlsx", ".h5", ".hdf5")


@dataclass
class RawTable:
    """Header and body of one file; ``cells`` is float64 (every cell a number or missing) or object."""

    path: Path
    header: list[str]
    cells: np.ndarray
    numeric_except: int | None = None  # every column but this one (the ID) already parsed as float64

    def column_cells(self, keep: list[int]) -> np.ndarray:
        """The body restricted to ``keep``; float64 when those columns parsed as numbers."""
        part = self.cells[:, keep]
        if self.cells.dtype == object and self.numeric_except is not None and self.numeric_except not in keep:
            return part.astype(np.float64)
        return part


def suffix_of(path: Path | str) -> str:
    """The card-relevant suffix, compound for compressed text (``.csv.gz``); '' when unsupported."""
    name = str(path).lower()
    return next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")


def separator(path: Path) -> str:
    return "\t" if suffix_of(path).startswith(".tsv") or suffix_of(path).startswith(".txt") else ","


def _text(path: Path) -> str:
    """The whole file as text (gzip undone, UTF-8, a byte-order mark dropped)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if suffix_of(path).endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise InputFormatError(path, f"cannot decompress ({exc})", expected="a gzip-compressed text file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def text_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank line of a CSV/TSV."""
    try:
        reader = csv.reader(io.StringIO(_text(path), newline=""), delimiter=separator(path))
        return [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:
        raise InputFormatError(path, f"cannot parse as {separator(path)!r}-separated text ({exc})") from None


def text_table(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and body of a CSV/TSV as strings ("" = empty cell)."""
    rows = text_rows(path)
    if not rows or not any(cell.strip() for cell in rows[0][1]):
        raise InputFormatError(path, "empty file", expected="a header row and data rows")
    header = [cell.strip() for cell in rows[0][1]]
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise InputFormatError(path, "rows of different lengths", row=line,
                                   expected=f"{len(header)} fields as in the header", found=f"{len(row)} fields")
    body = np.array([row for _, row in rows[1:]], dtype=object).reshape(len(rows) - 1, len(header))
    return header, body


def _first_row(path: Path) -> list[str]:
    """The header (first non-blank line), names stripped; cheap for big files."""
    if suffix_of(path).endswith(".gz"):
        return text_table(path)[0]
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            row = next((r for r in csv.reader(handle, delimiter=separator(path)) if r), [])
    except (UnicodeDecodeError, csv.Error):
        return text_table(path)[0]  # raises the clear error
    if not any(cell.strip() for cell in row):
        raise InputFormatError(path, "empty file", expected="a header row and data rows")
    return [cell.strip() for cell in row]


def _read_text(path: Path, missing: Sequence[str], force_text: bool, id_column: str | int | None) -> RawTable:
    if not force_text:
        header = _first_row(path)
        id_at = id_column if isinstance(id_column, int) else (header.index(id_column) if id_column in header else -1)
        schema = {f"c{j}": (pl.String if j == id_at else pl.Float64) for j in range(len(header))}
        source = io.BytesIO(gzip.decompress(path.read_bytes())) if suffix_of(path).endswith(".gz") else path
        try:  # fast path: typed parse of the whole file; the slow path below only names the bad cell
            frame = pl.read_csv(source, separator=separator(path), has_header=False, skip_rows=1,
                                schema=schema, null_values=["NA", *missing])
            frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines read as all-null rows
            if frame.height and 0 <= id_at < len(header):
                ids = np.array([None if v is None else v for v in frame.get_column(f"c{id_at}").to_list()], dtype=object)
                values = frame.drop(f"c{id_at}").to_numpy().astype(np.float64)
                cells = np.empty((frame.height, len(header)), dtype=object)
                cells[:, id_at] = ids
                cells[:, [j for j in range(len(header)) if j != id_at]] = values
                return RawTable(path, header, cells, numeric_except=id_at)
            if frame.height:
                return RawTable(path, header, frame.to_numpy().astype(np.float64))
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, pl.exceptions.NoDataError, OSError):
            pass
    header, body = text_table(path)
    return RawTable(path, header, body)


def _read_parquet(path: Path) -> RawTable:
    frame = pl.read_parquet(path)
    if frame.width == 0:
        raise InputFormatError(path, "empty file", expected="a header row and data rows")
    numeric = all(dtype.is_numeric() or dtype == pl.Null for dtype in frame.dtypes)
    if numeric:
        return RawTable(path, list(frame.columns), frame.to_numpy().astype(np.float64))
    cells = np.array([[None if v is None else str(v) for v in row] for row in frame.iter_rows()], dtype=object)
    return RawTable(path, list(frame.columns), cells.reshape(frame.height, frame.width))


def _read_excel(path: Path, sheet: str | None) -> RawTable:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise InputFormatError(path, f"cannot open as an Excel workbook ({type(exc).__name__}: {exc})") from None
    try:
        if sheet is None:
            if len(book.sheetnames) > 1:
                raise InputFormatError(path, f"the workbook has {len(book.sheetnames)} sheets and the card names none",
                                       expected=f'sheet = one of {book.sheetnames}')
            sheet = book.sheetnames[0]
        if sheet not in book.sheetnames:
            raise InputFormatError(path, f"no sheet {sheet!r}", expected=f"one of {book.sheetnames}")
        rows = [list(r) for r in book[sheet].iter_rows(values_only=True)]
    finally:
        book.close()
    rows = [r for r in rows if any(c is not None and str(c).strip() for c in r)]
    if not rows:
        raise InputFormatError(path, f"sheet {sheet!r} is empty", expected="a header row and data rows")
    width = max(len(r) for r in rows)
    header = ["" if c is None else str(c).strip() for c in rows[0]] + [""] * (width - len(rows[0]))
    body = [["" if c is None else (repr(c) if isinstance(c, float) else str(c)) for c in r] + [""] * (width - len(r))
            for r in rows[1:]]
    return RawTable(path, header, np.array(body, dtype=object).reshape(len(body), width))


def _read_hdf5(path: Path, keys: dict[str, str]) -> RawTable:
    """``keys``: ``values`` (a 2-D dataset), ``rows`` and ``columns`` (1-D string datasets naming its axes)."""
    import h5py

    def text(values: np.ndarray) -> list[str]:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputFormatError(path, f"cannot open as HDF5 ({exc})") from None
    with handle:
        found = {}
        for key in ("values", "rows", "columns"):
            name = keys.get(key)
            if name is None or name not in handle or not isinstance(handle[name], h5py.Dataset):
                raise InputFormatError(path, f"no HDF5 dataset {name!r} for hdf5.{key}",
                                       expected=f"one of {sorted(_datasets(handle))}")
            found[key] = handle[name][()]
    values, rows, columns = found["values"], text(found["rows"]), text(found["columns"])
    if values.ndim != 2 or values.shape != (len(rows), len(columns)):
        raise InputFormatError(path, f"dataset {keys['values']!r} has shape {values.shape}",
                               expected=f"({len(rows)}, {len(columns)}) from hdf5.rows and hdf5.columns")
    cells = np.empty((len(rows), len(columns) + 1), dtype=object)
    cells[:, 0] = rows
    cells[:, 1:] = values
    return RawTable(path, ["", *columns], cells)


def _datasets(handle) -> list[str]:
    import h5py

    names: list[str] = []
    handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def read_raw_table(path: Path, *, missing: Sequence[str] = (), force_text: bool = False,
                   sheet: str | None = None, hdf5: dict[str, str] | None = None,
                   id_column: str | int | None = None) -> RawTable:
    """Read any supported file; an HDF5 matrix comes back with its row names as a first, unnamed column."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (named in the dataset card)")
    suffix = suffix_of(path)
    if suffix == ".parquet":
        table = _read_parquet(path)
    elif suffix == ".xlsx":
        table = _read_excel(path, sheet)
    elif suffix in (".h5", ".hdf5"):
        if not hdf5:
            raise InputFormatError(path, "an HDF5 file needs an hdf5 table in the card",
                                   expected='hdf5 = { values = "...", rows = "...", columns = "..." }')
        table = _read_hdf5(path, hdf5)
    else:
        table = _read_text(path, missing, force_text, id_column)
    if table.cells.shape[0] == 0:
        raise InputFormatError(path, "header only, no data rows", expected="at least one data row")
    return table
