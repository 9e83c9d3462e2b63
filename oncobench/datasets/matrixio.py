"""The on-disk matrix layout: one Parquet file per (dataset, version, modality).

Layout (chosen by measurement, see README "Design notes" and ``benchmarks/test_layout.py``): two
columns, ``patient_id`` (string) and ``values`` (FixedSizeBinary of 4 x n_features bytes: one row's
float32 values, little-endian, row-major), uncompressed, PLAIN encoding, one row group, page
checksums written. Feature names live in the schema metadata. Reading memory-maps the file and views
the binary column as a float32 array without decoding, which keeps a load within ~2x of ``np.load``;
a list<float> column pays one repetition level per value and a wide table one column per feature.
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


def _little_endian(values: np.ndarray) -> np.ndarray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    return values.byteswap() if sys.byteorder == "big" else values


def write_matrix(path: str | Path, patients: Sequence[str], features: Sequence[str], values: np.ndarray) -> None:
    """Write a patient x feature float32 matrix atomically (temporary file + rename)."""
    path = Path(path)
    n, m = values.shape
    if n != len(patients) or m != len(features):
        raise ValueError(f"{path.name}: shape {values.shape} does not match {len(patients)} x {len(features)}")
    buf = pa.py_buffer(_little_endian(values).tobytes())
    column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(max(4 * m, 1)), n, [None, buf]) if m else pa.array(
        [b"\0"] * n, pa.binary(1)
    )
    meta = {"layout": LAYOUT, "features": list(features), "n_features": m}
    table = pa.table({"patient_id": pa.array(list(patients), pa.string()), "values": column})
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(
            table, tmp, compression="none", use_dictionary=False, write_statistics=False,
            write_page_checksum=True, row_group_size=max(n, 1), data_page_size=1 << 26,
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def read_matrix(path: str | Path, rows: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Read the float32 values (all rows, or the row positions ``rows`` in that order) and feature names."""
    path = Path(path)
    table = pq.read_table(path, columns=["values"], memory_map=True)
    features = _meta(path, table.schema)["features"]
    m = len(features)
    chunks = table.column("values").chunks
    if m == 0:
        n = table.num_rows
        full = np.empty((n, 0), np.float32)
    else:
        parts = [np.frombuffer(c.buffers()[1], dtype="<f4", count=len(c) * m, offset=c.offset * 4 * m).reshape(-1, m) for c in chunks]
        full = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if rows is None:
        return np.array(full, dtype=np.float32), features  # own the memory: the file may be replaced later
    return np.ascontiguousarray(full[np.asarray(rows, dtype=np.intp)], dtype=np.float32), features
