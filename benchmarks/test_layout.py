"""The measurement that chose the store's matrix layout (:mod:`oncobench.datasets.matrixio`).

One random float32 matrix (10,000 patients x 20,000 features = 800 MB by default; set
``ONCOBENCH_BENCH_ROWS`` / ``ONCOBENCH_BENCH_COLS`` for a quick run) is written once per session in each
candidate layout; each benchmark then reads one layout back into a numpy array. ``np.load`` of a ``.npy``
file is the baseline (the memory-bandwidth limit): every other read reports ``ratio_to_npy``, and the write
time and file size of its layout, in ``benchmark.extra_info``. Reads are warm-cache (the files were just
written). Only the files live on disk during the session; at most one layout is in memory at a time.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oncobench.datasets import matrixio

if TYPE_CHECKING:
    from conftest import BenchReport

ROWS = int(os.environ.get("ONCOBENCH_BENCH_ROWS", "10000"))
COLS = int(os.environ.get("ONCOBENCH_BENCH_COLS", "20000"))
SEED = 20261122
MATRIXIO_TARGET = 3.0  # the store's read must stay within 3x of np.load


def _patients(n: int) -> list[str]:
    return [f"P{i:06d}" for i in range(n)]


def _features(m: int) -> list[str]:
    return [f"g{j:05d}" for j in range(m)]


# ---- writers: (values, patients, features, path) -> None ------------------------------------------------

def _write_npy(values: np.ndarray, patients: list[str], features: list[str], path: Path) -> None:
    np.save(path, values)


def _write_matrixio(values: np.ndarray, patients: list[str], features: list[str], path: Path) -> None:
    matrixio.write_matrix(path, patients, features, values)


def _wide_table(values: np.ndarray, patients: list[str], features: list[str]) -> pa.Table:
    columns = np.ascontiguousarray(values.T)  # one contiguous buffer per feature: pa.array shares it
    arrays = [pa.array(patients, pa.string())] + [pa.array(columns[j]) for j in range(columns.shape[0])]
    return pa.Table.from_arrays(arrays, names=["patient_id", *features])


def _write_wide_dict(values: np.ndarray, patients: list[str], features: list[str], path: Path) -> None:
    pq.write_table(_wide_table(values, patients, features), path)  # pyarrow defaults: snappy, dictionary on


def _write_wide_plain(values: np.ndarray, patients: list[str], features: list[str], path: Path) -> None:
    pq.write_table(_wide_table(values, patients, features), path, use_dictionary=False)


def _write_fixed_size_list(values: np.ndarray, patients: list[str], features: list[str], path: Path) -> None:
    column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
    pq.write_table(pa.table({"patient_id": pa.array(patients, pa.string()), "values": column}), path)


def _write_long(values: np.ndarray, patients: list[str], features: list[str], path: Path) -> None:
    n, m = values.shape
    patient = pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.arange(n, dtype=np.int32), m)), pa.array(patients))
    feature = pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(m, dtype=np.int32), n)), pa.array(features))
    pq.write_table(pa.table({"patient_id": patient, "feature": feature, "value": pa.array(values.reshape(-1))}), path)


# ---- readers: path -> (n, m) float32 array in the written patient/feature order ---------------------------

def _read_npy(path: Path) -> np.ndarray:
    return np.load(path)


def _read_matrixio(path: Path) -> np.ndarray:
    return matrixio.read_matrix(path)[0]


def _read_wide_polars(path: Path) -> np.ndarray:
    return pl.read_parquet(path).drop("patient_id").to_numpy()  # Fortran order: polars stores columns


def _read_fixed_size_list(path: Path) -> np.ndarray:
    column = pq.read_table(path, columns=["values"]).column("values").combine_chunks()
    return column.flatten().to_numpy().reshape(len(column), column.type.list_size)


def _positions(column: pa.ChunkedArray) -> tuple[int, list[np.ndarray]]:
    """Number of distinct names and, per chunk, each dictionary code's position among the sorted names."""
    dictionaries = [chunk.dictionary for chunk in column.chunks]
    if all(d.equals(dictionaries[0]) for d in dictionaries):  # pyarrow writes the full dictionary per row group
        dictionaries = dictionaries[:1]
    names = sorted(set().union(*(d.to_pylist() for d in dictionaries)))
    position = {name: i for i, name in enumerate(names)}
    maps = [np.array([position[x] for x in d.to_pylist()], dtype=np.int64) for d in dictionaries]
    return len(names), maps * column.num_chunks if len(maps) == 1 else maps


def _read_long_pivot(path: Path) -> np.ndarray:
    # Keep the ID columns dictionary-encoded: decoding 2 x 200M strings would need ~10 GB. The pivot places
    # each value by its (patient, feature) codes, rows and columns in sorted ID order; it does not rely on
    # the file's row order.
    table = pq.read_table(path, read_dictionary=["patient_id", "feature"])
    n, rows = _positions(table.column("patient_id"))
    m, cols = _positions(table.column("feature"))
    out = np.full((n, m), np.nan, dtype=np.float32)
    flat = out.reshape(-1)
    chunks = zip(table.column("patient_id").chunks, table.column("feature").chunks, table.column("value").chunks)
    for (p_chunk, f_chunk, v_chunk), row_map, col_map in zip(chunks, rows, cols):
        flat[row_map[p_chunk.indices.to_numpy()] * m + col_map[f_chunk.indices.to_numpy()]] = v_chunk.to_numpy()
    return out


def _read_wide_duckdb(path: Path) -> np.ndarray:
    con = duckdb.connect()
    try:
        columns = con.sql(f"SELECT * EXCLUDE (patient_id) FROM read_parquet('{path.as_posix()}')").fetchnumpy()
    finally:
        con.close()
    return np.column_stack(list(columns.values()))


def _return_free_memory() -> None:
    """Hand memory freed by Arrow's pool and by glibc's malloc back to the OS."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc: np.load's buffers may then come warm from the heap
    _LIBC = None


@dataclass(frozen=True)
class Layout:
    """A candidate layout: its writer, its reader back to numpy, and how many timed rounds it gets."""

    name: str
    file: str
    write: Callable[[np.ndarray, list[str], list[str], Path], None]
    read: Callable[[Path], np.ndarray]
    description: str
    rounds: int = 3


# npy first: it is the baseline of every ratio, so it must run first.
LAYOUTS = [
    # The asserted pair gets more rounds: on this VM about one fresh 800 MB allocation in ten stalls for 0.3-1 s,
    # which moves a 3-round mean (and the ratio) by up to 2x.
    Layout("npy", "matrix.npy", _write_npy, _read_npy, ".npy, np.load (baseline)", rounds=10),
    Layout("matrixio", "matrixio.parquet", _write_matrixio, _read_matrixio,
           "OncoBench matrixio: patient_id + FixedSizeBinary row bytes, uncompressed, memory-mapped read", rounds=10),
    Layout("wide_dict_polars", "wide_dict.parquet", _write_wide_dict, _read_wide_polars,
           "wide Parquet (one column per feature), pyarrow defaults incl. dictionary; polars read + to_numpy"),
    Layout("wide_plain_polars", "wide_plain.parquet", _write_wide_plain, _read_wide_polars,
           "wide Parquet, use_dictionary=False; polars read + to_numpy"),
    Layout("fixed_size_list_pyarrow", "fixed_size_list.parquet", _write_fixed_size_list, _read_fixed_size_list,
           "one FixedSizeList<float32> column, pyarrow defaults; pyarrow read"),
    Layout("long_pivot", "long.parquet", _write_long, _read_long_pivot,
           "long (patient_id, feature, value) Parquet, pyarrow defaults; pyarrow read + pivot by codes"),
    Layout("wide_dict_duckdb", "wide_dict.parquet", _write_wide_dict, _read_wide_duckdb,
           "the wide Parquet (defaults) read by DuckDB: SELECT * -> fetchnumpy -> column_stack"),
]


@dataclass(frozen=True)
class Written:
    path: Path
    write_seconds: float
    bytes: int


@dataclass(frozen=True)
class LayoutFiles:
    written: dict[str, Written]
    probe_rows: np.ndarray
    probe_row_values: np.ndarray
    probe_col: int
    probe_col_values: np.ndarray


@pytest.fixture(scope="session")
def layout_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LayoutFiles]:
    """Write the matrix once in every layout (timed once each); keep only a probe of the values in memory."""
    folder = tmp_path_factory.mktemp("layouts")
    values = np.random.default_rng(SEED).standard_normal((ROWS, COLS), dtype=np.float32)
    patients, features = _patients(ROWS), _features(COLS)
    written: dict[str, Written] = {}
    for layout in LAYOUTS:
        path = folder / layout.file
        if layout.file not in {w.path.name for w in written.values()}:
            start = time.perf_counter()
            layout.write(values, patients, features, path)
            seconds = time.perf_counter() - start
        else:  # DuckDB reads the file the polars layout wrote
            seconds = next(w.write_seconds for w in written.values() if w.path == path)
        written[layout.name] = Written(path, seconds, path.stat().st_size)
    _return_free_memory()
    os.sync()  # flush the written GBs now: background write-back during the reads made their timings erratic
    probe_rows = np.unique([0, ROWS // 3, ROWS - 1])
    probe_col = min(17, COLS - 1)
    files = LayoutFiles(written, probe_rows, values[probe_rows].copy(), probe_col, values[:, probe_col].copy())
    del values
    yield files
    shutil.rmtree(folder, ignore_errors=True)  # several GB at full size


@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout.name for layout in LAYOUTS])
def test_read(benchmark: Any, layout: Layout, layout_files: LayoutFiles, bench_report: BenchReport) -> None:
    """Read one layout to a numpy array; report the ratio of its mean to np.load's."""
    written = layout_files.written[layout.name]
    benchmark.group = f"layout read {ROWS}x{COLS} float32"
    holder: dict[str, np.ndarray] = {}

    def fresh_round() -> tuple[tuple[Path], dict]:
        # Untimed, before each round: free the previous round's array (pytest-benchmark would hold it during the
        # next read: +800 MB) and return freed memory to the OS, so that every round of every layout reads into
        # fresh pages, as the first load in a new process does. Left warm, the allocators' reuse decided the
        # ratio: matrixio took 0.22 s or 0.75 s per round depending on whether mimalloc had purged yet.
        holder.clear()
        _return_free_memory()
        return (written.path,), {}

    def read(path: Path) -> None:
        holder["result"] = layout.read(path)

    benchmark.pedantic(read, setup=fresh_round, rounds=layout.rounds, warmup_rounds=1, iterations=1)
    result = holder.pop("result")

    assert result.shape == (ROWS, COLS) and result.dtype == np.float32, f"{layout.name}: got {result.shape} {result.dtype}"
    np.testing.assert_array_equal(result[layout_files.probe_rows], layout_files.probe_row_values, err_msg=layout.name)
    np.testing.assert_array_equal(result[:, layout_files.probe_col], layout_files.probe_col_values, err_msg=layout.name)
    del result

    mean = bench_report.keep(f"layout/{layout.name}", benchmark)
    npy = layout_files.written["npy"]
    npy_mean = bench_report.baseline("layout/npy", lambda: _read_npy(npy.path), rounds=LAYOUTS[0].rounds)
    ratio = mean / npy_mean
    npy_median = bench_report.medians.get("layout/npy")
    median_ratio = benchmark.stats.stats.median / npy_median if npy_median else None
    benchmark.extra_info.update({
        "layout": layout.description,
        "shape": [ROWS, COLS],
        "read_mean_s": round(mean, 4),
        "ratio_to_npy": round(ratio, 3),
        "median_ratio_to_npy": None if median_ratio is None else round(median_ratio, 3),
        "rounds": layout.rounds,
        "write_s": round(written.write_seconds, 3),
        "write_ratio_to_npy": round(written.write_seconds / npy.write_seconds, 3),
        "file_bytes": written.bytes,
        "size_ratio_to_npy": round(written.bytes / npy.bytes, 4),
    })
    bench_report.lines.append(
        f"layout {ROWS}x{COLS} {layout.name:<24} read {mean:8.3f} s = {ratio:6.2f}x np.load"
        f" (median {median_ratio or float('nan'):5.2f}x) | "
        f"write {written.write_seconds:7.2f} s | {written.bytes / 1e6:8.1f} MB"
    )
    if layout.name == "matrixio":
        bench_report.target(f"matrixio read {ratio:.2f}x np.load, target < {MATRIXIO_TARGET:g}x", ratio < MATRIXIO_TARGET)
        assert ratio < MATRIXIO_TARGET, f"matrixio read is {ratio:.2f}x np.load; target < {MATRIXIO_TARGET:g}x"
