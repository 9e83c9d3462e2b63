"""The on-disk matrix layout: one Parquet file per (dataset, version, modality).

Layout (chosen by measurement, see README "Design notes" and ``benchmarks/test_layout.py``): two
columns, ``patient_id`` (string) and ``values`` (FixedSizeBinary of 4 x n_features bytes: one row's
float32 values, little-endian, row-major), uncompressed, PLAIN encoding, non-nullable, page checksums
written, and exactly one data page per row group (row groups of at most 1 GiB). Feature names live in
the schema metadata. Because each page then ends with its rows' raw float32 bytes, reading maps those
bytes straight into numpy (``np.memmap`` at the offset the Parquet footer gives) with no decoding; the
writer checks this on every file it writes, and the reader falls back to pyarrow's decoder if a file
does not have that shape. A list<float> column pays one repetition level per value and a wide table
one column per feature (see the README's design notes for the measurements).
A wide, self-describing copy for other tools comes from ``oncobench datasets export``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from oncobench.datasets.errors import InputFormatError

LAYOUT = "oncobench-matrix/1: patient_id + values FixedSizeBinary(float32 little-endian row-major)"
_META_KEY = b"oncobench"
_ROW_GROUP_BYTES = 1 << 30
_MAX_PAGE_HEADER = 4096  # a data page header is a few dozen bytes; more means the page holds something else


def _little_endian(values: np.ndarray) -> np.ndarray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    return values.byteswap() if sys.byteorder == "big" else values


def write_matrix(path: str | Path, patients: Sequence[str], features: Sequence[str], values: np.ndarray) -> None:
    """Write a patient x feature float32 matrix atomically (temporary file + rename)."""
    path = Path(path)
    n, m = values.shape
    if n != len(patients) or m != len(features):
        raise ValueError(f"{path.name}: shape {values.shape} does not match {len(patients)} x {len(features)}")
    values = _little_endian(values)
    width = max(4 * m, 1)
    buf = pa.py_buffer(values if m else b"\0" * n)  # zero-copy view of the contiguous array
    column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, buf])
    meta = {"layout": LAYOUT, "features": list(features), "n_features": m}
    schema = pa.schema(
        [pa.field("patient_id", pa.string(), nullable=False), pa.field("values", pa.binary(width), nullable=False)],
        metadata={_META_KEY: json.dumps(meta).encode()},
    )
    table = pa.table({"patient_id": pa.array(list(patients), pa.string()), "values": column}, schema=schema)
    rows_per_group = max(1, min(max(n, 1), _ROW_GROUP_BYTES // width))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(
            table, tmp, compression="none", use_dictionary=False, write_statistics=False,
            write_page_checksum=True, row_group_size=rows_per_group, max_rows_per_page=rows_per_group,
            data_page_size=_ROW_GROUP_BYTES + (1 << 20),
        )
        if m:  # the reader's fast path relies on this shape: check the first and last row of each row group
            parts = _mapped_values(tmp, m)
            if parts is None:
                raise RuntimeError(f"{path.name}: the Parquet writer did not produce one data page per row group")
            start = 0
            for part in parts:
                for local in {0, len(part) - 1}:
                    if not np.array_equal(part[local], values[start + local], equal_nan=True):
                        raise RuntimeError(f"{path.name}: read-back of row {start + local} differs from the written values")
                start += len(part)
            del parts
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class MatrixWriter:
    """Write a matrix in row chunks (one row group each) without holding it in memory; same layout as
    :func:`write_matrix`, published by rename on :meth:`close`, removed if the writer fails.

    Use as a context manager: ``with MatrixWriter(path, features) as w: w.write(patients, values)``.
    """

    def __init__(self, path: str | Path, features: Sequence[str]) -> None:
        self.path = Path(path)
        self.features = list(features)
        self.m = len(self.features)
        if self.m == 0:
            raise ValueError(f"{self.path.name}: a streamed matrix needs at least one feature")
        self.width = 4 * self.m
        meta = {"layout": LAYOUT, "features": self.features, "n_features": self.m}
        self.schema = pa.schema(
            [pa.field("patient_id", pa.string(), nullable=False), pa.field("values", pa.binary(self.width), nullable=False)],
            metadata={_META_KEY: json.dumps(meta).encode()},
        )
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="none", use_dictionary=False,
                                       write_statistics=False, write_page_checksum=True,
                                       data_page_size=_ROW_GROUP_BYTES + (1 << 20),
                                       max_rows_per_page=max(1, _ROW_GROUP_BYTES // self.width))
        self.rows = 0
        self.samples: list[tuple[int, np.ndarray]] = []  # first and last row of each chunk, for the read-back check

    def write(self, patients: Sequence[str], values: np.ndarray) -> None:
        n = len(patients)
        if values.shape != (n, self.m):
            raise ValueError(f"{self.path.name}: chunk shape {values.shape}; expected ({n}, {self.m})")
        if n * self.width > _ROW_GROUP_BYTES:
            raise ValueError(f"{self.path.name}: a chunk of {n} rows exceeds {_ROW_GROUP_BYTES} bytes; write smaller chunks")
        values = _little_endian(values)
        column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(self.width), n, [None, pa.py_buffer(values)])
        table = pa.table({"patient_id": pa.array(list(patients), pa.string()), "values": column}, schema=self.schema)
        self.writer.write_table(table, row_group_size=n)
        for local in {0, n - 1}:
            self.samples.append((self.rows + local, values[local].copy()))
        self.rows += n

    def close(self) -> None:
        self.writer.close()
        parts = _mapped_values(self.tmp, self.m)
        if parts is None:
            raise RuntimeError(f"{self.path.name}: the Parquet writer did not produce one data page per row group")
        offsets = np.cumsum([0] + [len(p) for p in parts])
        for row, expected in self.samples:
            g = int(np.searchsorted(offsets, row, side="right") - 1)
            if not np.array_equal(parts[g][row - offsets[g]], expected, equal_nan=True):
                raise RuntimeError(f"{self.path.name}: read-back of row {row} differs from the written values")
        del parts
        os.replace(self.tmp, self.path)

    def __enter__(self) -> "MatrixWriter":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.close()
            else:
                self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _meta(path: Path, schema: pa.Schema) -> dict:
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise InputFormatError(path, "not an OncoBench matrix file", expected=f"schema metadata {_META_KEY.decode()!r}")
    return json.loads(raw)


def read_matrix_index(path: str | Path) -> tuple[list[str], list[str]]:
    """Patients and features of a matrix file, without reading the values."""
    path = Path(path)
    table = pq.read_table(path, columns=["patient_id"], memory_map=True)
    return table.column("patient_id").to_pylist(), _meta(path, table.schema)["features"]


def _mapped_values(path: Path, m: int, metadata: pq.FileMetaData | None = None) -> list[np.ndarray] | None:
    """Memory-mapped (rows x m) float32 views of each row group's values, or None if the file is not laid out so."""
    metadata = metadata or pq.ParquetFile(path).metadata
    size = path.stat().st_size
    parts = []
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        chunk = group.column(1)
        n = group.num_rows
        end = chunk.data_page_offset + chunk.total_compressed_size
        start = end - n * 4 * m
        if chunk.compression != "UNCOMPRESSED" or chunk.has_dictionary_page or not (
            0 < start - chunk.data_page_offset <= _MAX_PAGE_HEADER
        ) or end > size:
            return None
        parts.append(np.memmap(path, dtype="<f4", mode="r", offset=start, shape=(n, m)))
    return parts


def read_matrix(path: str | Path, rows: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Read the float32 values (all rows, or the row positions ``rows`` in that order) and feature names.

    The result is an ordinary in-memory array (the file may be replaced later).
    """
    path = Path(path)
    parquet = pq.ParquetFile(path)
    features = _meta(path, parquet.schema_arrow)["features"]
    m = len(features)
    n = parquet.metadata.num_rows
    if m == 0:
        return np.empty((n if rows is None else len(rows), 0), np.float32), features
    parts = _mapped_values(path, m, parquet.metadata)
    if parts is None:  # not our one-page layout: decode with pyarrow
        chunks = pq.read_table(path, columns=["values"]).column("values").chunks
        parts = [np.frombuffer(c.buffers()[1], dtype="<f4", count=len(c) * m, offset=c.offset * 4 * m).reshape(-1, m)
                 for c in chunks]
    if rows is None:
        return (np.array(parts[0], dtype=np.float32) if len(parts) == 1 else np.concatenate(parts)), features
    rows = np.asarray(rows, dtype=np.intp)
    if len(parts) == 1:
        return np.ascontiguousarray(parts[0][rows], dtype=np.float32), features
    # several row groups (a streamed file): gather per group, never concatenating the whole matrix
    out = np.empty((len(rows), m), dtype=np.float32)
    offsets = np.cumsum([0] + [len(p) for p in parts])
    group = np.searchsorted(offsets, rows, side="right") - 1
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise IndexError(f"{path.name}: row positions outside 0..{n - 1}")
    for g in np.unique(group):
        mask = group == g
        out[mask] = parts[g][rows[mask] - offsets[g]]
    return out, features
