"""What verification costs: opening tcga-pancan verified vs unverified, plus one split load.

Every ``Dataset`` open verifies the version (manifest hash, each file's sha256, content hash); hashes are
remembered per process and file identity, so only the first open in a process reads every byte.

Measured (tcga-pancan built from $ONCOBENCH_RAW_DIR; kfold repeat 0 fold 0, ``rna`` of the train patients):

- ``unverified``: the bare reads an unverified open did: ``manifest.json`` parsed, the split table and the
  matrix rows read (the baseline);
- ``first open``: ``Dataset(folder)`` + the same split load with the hash memory cleared each round;
- ``cached re-open``: the same with the hash memory warm (a second open in one process).

Both ratios to the baseline are reported in one run; none is asserted (recorded figures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oncobench.datasets import matrixio
from oncobench.datasets.dataset import Dataset
from oncobench.datasets.splits import split_ids
from oncobench.datasets.store import forget_verified, read_manifest
from conftest import BenchReport

SCHEME, FOLD, REPEAT, MODALITY = "kfold", 0, 0, "rna"
ROUNDS = 5


@pytest.fixture(scope="module")
def folder(raw_dir: Path) -> Path:
    from oncobench.datasets.recipes import build_recipe

    return build_recipe("tcga-pancan", raw_dir=raw_dir, progress=False)


def _unverified(folder: Path) -> np.ndarray:
    import polars as pl

    read_manifest(folder)
    train, _, _ = split_ids(pl.read_parquet(folder / "splits" / f"{SCHEME}.parquet"), fold=FOLD, repeat=REPEAT)
    path = folder / "modalities" / f"{MODALITY}.parquet"
    rows, _ = matrixio.read_matrix_index(path)
    position = {p: i for i, p in enumerate(rows)}
    return matrixio.read_matrix(path, np.array([position[p] for p in train if p in position], dtype=np.intp))[0]


def _verified(folder: Path) -> np.ndarray:
    ds = Dataset(folder)
    train, _, _ = ds.split(SCHEME, fold=FOLD, repeat=REPEAT)
    have = set(ds.modality_patients(MODALITY))
    return ds.matrix(MODALITY, [p for p in train if p in have])[0]


def test_unverified_open_and_split_load(benchmark: Any, folder: Path, bench_report: BenchReport) -> None:
    benchmark.group = "verify tcga-pancan"
    result = benchmark.pedantic(_unverified, args=(folder,), rounds=ROUNDS, warmup_rounds=1)
    assert np.array_equal(result, _verified(folder), equal_nan=True)
    bench_report.keep("verify:unverified", benchmark)


def test_first_verified_open_and_split_load(benchmark: Any, folder: Path, bench_report: BenchReport) -> None:
    benchmark.group = "verify tcga-pancan"
    benchmark.pedantic(_verified, args=(folder,), setup=forget_verified, rounds=ROUNDS, warmup_rounds=1)
    _report(benchmark, folder, bench_report, "first verified open (every file hashed)")


def test_cached_verified_reopen_and_split_load(benchmark: Any, folder: Path, bench_report: BenchReport) -> None:
    benchmark.group = "verify tcga-pancan"
    _verified(folder)
    benchmark.pedantic(_verified, args=(folder,), rounds=ROUNDS, warmup_rounds=1)
    _report(benchmark, folder, bench_report, "cached verified re-open (hashes remembered)")


def _report(benchmark: Any, folder: Path, bench_report: BenchReport, what: str) -> None:
    mean = bench_report.mean(benchmark)
    base = bench_report.baseline("verify:unverified", lambda: _unverified(folder), rounds=ROUNDS)
    size = sum(f["bytes"] for f in read_manifest(folder)["files"])
    benchmark.extra_info.update({"mean_s": round(mean, 4), "unverified_mean_s": round(base, 4),
                                 "ratio_to_unverified": round(mean / base, 2), "bytes_verified": size})
    bench_report.lines.append(f"tcga-pancan {what} + {SCHEME} split + {MODALITY} train rows: {mean * 1e3:.1f} ms = "
                              f"{mean / base:.2f}x the unverified open ({base * 1e3:.1f} ms; {size / 1e6:.0f} MB hashed "
                              "on a first open) (recorded)")
