"""Loading one modality for one split into numpy, against pandas-from-CSV and np.load, timed in the same run.

Target (tcga-pancan, modality ``rna``, kfold repeat 0 fold 0, train patients): ``Dataset.matrix`` is at
least 20x faster than pandas reading the same data from CSV, and within 3x of ``np.load`` of the same
array from ``.npy``. The small modalities (``mirna``, ``pathology``) are measured and recorded, not
asserted: at a few MB the fixed cost of opening a Parquet file dominates.

Two datasets: ``tcga-pancan`` built from $ONCOBENCH_RAW_DIR (skipped when unset), and
``synthetic-pancan-shape``, random values with tcga-pancan's patient count, cohorts and matrix shapes, so
the suite also runs without the raw data. Baselines:

- ``npy``: the store's train x feature array saved with ``np.save``, read with ``np.load``;
- ``pandas_csv``: the whole modality (``patient_id`` + features, ``%.9g`` so float32 round-trips) read by
  ``pandas.read_csv`` (default C engine), train rows selected by ``patient_id`` in split order (NaN rows
  for train patients without the modality, as the store gives), ``to_numpy(float32)``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from oncobench.datasets import matrixio
from oncobench.datasets.build import DatasetContent, write_dataset
from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.splits import SplitSpec, draw_split

if TYPE_CHECKING:
    from conftest import BenchReport

SPEEDUP_VS_PANDAS_TARGET = 20.0
RATIO_TO_NPY_TARGET = 3.0
TARGET_MODALITY = "rna"
MODALITIES = ("rna", "mirna", "pathology")
SCHEME, REPEAT, FOLD = "kfold", 0, 0
SYNTHETIC = "synthetic-pancan-shape"
SEED = 20261122
# Milliseconds each: many rounds, so that one page-fault stall does not move the mean (and the ratio) much.
FAST_ROUNDS, FAST_WARMUP = 50, 5

# tcga-pancan's shapes, from the raw folders' PROVENANCE.md: 5,720 PORPOISE patients in 14 cohorts; RNA for 13
# of them over a 1,608-gene union of per-cohort top-MAD genes (~1,550 each); Subtype-GAN miRNA, 383 miRNAs in
# ~10 cohorts; pathology from four sources (~640 features, most patients have only the ~20 TIL-map ones).
COHORT_SIZES = (373, 956, 340, 569, 416, 345, 260, 333, 453, 450, 166, 230, 349, 480)
SYNTHETIC_MODALITIES = {  # modality: (cohorts with it, features in the union, features each cohort measures)
    "rna": (13, 1608, 1550),
    "mirna": (10, 383, 383),
    "pathology": (13, 640, 30),
}


def _synthetic_content() -> DatasetContent:
    """Random float32 values in tcga-pancan's shapes: cohorts measure different feature subsets (NaN elsewhere)."""
    rng = np.random.default_rng(SEED)
    cohorts = np.repeat([f"c{k:02d}" for k in range(len(COHORT_SIZES))], COHORT_SIZES)
    patients = [f"TCGA-{10 + k:02d}-{i:04d}" for i, k in enumerate(np.repeat(np.arange(len(COHORT_SIZES)), COHORT_SIZES))]
    clinical = pl.DataFrame({"patient_id": patients, "cohort": cohorts.tolist(), "cancer_type": cohorts.tolist()})
    prov = Provenance(source="synthetic", files=(), transform="none (random normal)", licence="CC0",
                      citation="none", comparable_across_cohorts=True)
    blocks = {}
    for modality, (n_cohorts, n_features, per_cohort) in SYNTHETIC_MODALITIES.items():
        keep = np.isin(cohorts, [f"c{k:02d}" for k in range(n_cohorts)])
        values = rng.standard_normal((int(keep.sum()), n_features), dtype=np.float32)
        for cohort in np.unique(cohorts[keep]):
            unmeasured = rng.permutation(n_features)[per_cohort:]
            values[np.ix_(cohorts[keep] == cohort, unmeasured)] = np.nan
        features = tuple(f"{modality}_{j:04d}" for j in range(n_features))
        blocks[modality] = [FeatureBlock(modality, tuple(np.array(patients)[keep]), features, values, prov)]
    spec = SplitSpec(SCHEME, n_folds=5, n_repeats=1, seed=SEED)
    split = draw_split(patients, cohorts.tolist(), spec)
    return DatasetContent(
        name=SYNTHETIC, version="1", clinical=clinical, blocks=blocks, splits={SCHEME: (split, spec)},
        split_checks={SCHEME: {"labels": dict(zip(patients, cohorts.tolist()))}},
        card={"description": "random values in tcga-pancan's shapes, for the load benchmark"},
    )


@dataclass
class LoadCase:
    """An opened dataset, the train patients of the benchmarked split, and per-modality baseline files."""

    name: str
    dataset: Dataset
    train: list[str]
    folder: Path
    inputs: dict[str, "LoadInputs"] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadInputs:
    expected: np.ndarray  # the store's answer: train x features
    npy: Path
    csv: Path
    n_rows_in_file: int


@pytest.fixture(scope="session", params=["tcga-pancan", SYNTHETIC])
def load_case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LoadCase:
    """Build the dataset once per session into the session's temporary ONCOBENCH_HOME and open it."""
    if request.param == "tcga-pancan":
        raw_dir = request.getfixturevalue("raw_dir")
        from oncobench.datasets.recipes import build_recipe  # errors (not skips) while a reader is missing

        build_recipe("tcga-pancan", raw_dir=raw_dir, progress=False)
    else:
        write_dataset(_synthetic_content())
    dataset = load_dataset(request.param)  # checksums verified once here, not in the timed loads
    train, _, _ = dataset.split(SCHEME, fold=FOLD, repeat=REPEAT)
    folder = tmp_path_factory.mktemp(f"load-{request.param}")
    return LoadCase(request.param, dataset, train, folder)


@pytest.fixture
def inputs(load_case: LoadCase, modality: str) -> LoadInputs:
    """The baseline files of ``modality`` (written once per session): train array as .npy, whole modality as CSV."""
    if modality not in load_case.dataset.modalities:
        pytest.skip(f"{load_case.dataset.id} has no modality {modality!r}")
    if modality not in load_case.inputs:
        ds = load_case.dataset
        expected, features = ds.matrix(modality, load_case.train)
        npy = load_case.folder / f"{modality}_train.npy"
        np.save(npy, expected)
        values, _ = ds.matrix(modality)
        rows, _ = matrixio.read_matrix_index(ds.path / "modalities" / f"{modality}.parquet")
        frame = pd.DataFrame(values, columns=features)
        frame.insert(0, "patient_id", rows)
        csv = load_case.folder / f"{modality}.csv"
        frame.to_csv(csv, index=False, float_format="%.9g")
        load_case.inputs[modality] = LoadInputs(expected, npy, csv, len(rows))
    return load_case.inputs[modality]


def _pandas_csv(csv: Path, train: list[str]) -> np.ndarray:
    return pd.read_csv(csv, index_col="patient_id").reindex(train).to_numpy(np.float32)


def _key(case: LoadCase, modality: str, what: str) -> str:
    return f"load/{case.name}/{modality}/{what}"


def _checksum(values: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(values).tobytes())


@pytest.mark.parametrize("modality", MODALITIES)
def test_npy_baseline(
    benchmark: Any, load_case: LoadCase, inputs: LoadInputs, modality: str, bench_report: BenchReport
) -> None:
    """np.load of the same train x features array (the bandwidth floor)."""
    benchmark.group = f"load {load_case.name} {modality}"
    result = benchmark.pedantic(np.load, args=(inputs.npy,), rounds=FAST_ROUNDS, warmup_rounds=FAST_WARMUP)
    assert _checksum(result) == _checksum(inputs.expected), f"{modality}: the .npy copy differs from the store's array"
    mean = bench_report.keep(_key(load_case, modality, "npy"), benchmark)
    benchmark.extra_info.update({"shape": list(result.shape), "mean_s": round(mean, 6)})


@pytest.mark.parametrize("modality", MODALITIES)
def test_pandas_csv_baseline(
    benchmark: Any, load_case: LoadCase, inputs: LoadInputs, modality: str, bench_report: BenchReport
) -> None:
    """pandas.read_csv of the whole modality, train rows selected by patient_id, to float32 numpy."""
    benchmark.group = f"load {load_case.name} {modality}"
    result = benchmark.pedantic(_pandas_csv, args=(inputs.csv, load_case.train), rounds=3, warmup_rounds=1)
    np.testing.assert_array_equal(result, inputs.expected, err_msg=f"{modality}: the CSV round trip differs from the store")
    mean = bench_report.keep(_key(load_case, modality, "pandas_csv"), benchmark)
    benchmark.extra_info.update({"shape": list(result.shape), "mean_s": round(mean, 6),
                                 "csv_bytes": inputs.csv.stat().st_size, "rows_in_csv": inputs.n_rows_in_file})


def _ratios(load_case: LoadCase, inputs: LoadInputs, modality: str, benchmark: Any,
            bench_report: BenchReport) -> tuple[float, float, float]:
    """Mean of ``benchmark``, its speed-up over pandas CSV and its ratio to np.load (baselines of this run)."""
    mean = bench_report.mean(benchmark)
    npy = bench_report.baseline(_key(load_case, modality, "npy"), lambda: np.load(inputs.npy),
                                rounds=FAST_ROUNDS, warmup_rounds=FAST_WARMUP)
    pandas = bench_report.baseline(_key(load_case, modality, "pandas_csv"),
                                   lambda: _pandas_csv(inputs.csv, load_case.train))
    return mean, pandas / mean, mean / npy


@pytest.mark.parametrize("modality", MODALITIES)
def test_store_matrix(
    benchmark: Any, load_case: LoadCase, inputs: LoadInputs, modality: str, bench_report: BenchReport
) -> None:
    """``Dataset.matrix(modality, train)`` on an open dataset; targets (rna): >= 20x pandas CSV, <= 3x np.load."""
    ds = load_case.dataset
    benchmark.group = f"load {load_case.name} {modality}"
    result, _ = benchmark.pedantic(ds.matrix, args=(modality, load_case.train),
                                   rounds=FAST_ROUNDS, warmup_rounds=FAST_WARMUP)
    assert _checksum(result) == _checksum(inputs.expected), f"{modality}: Dataset.matrix is not deterministic"

    mean, speedup, ratio = _ratios(load_case, inputs, modality, benchmark, bench_report)
    benchmark.extra_info.update({
        "dataset": ds.id, "split": f"{SCHEME} repeat {REPEAT} fold {FOLD} train", "shape": list(result.shape),
        "mean_s": round(mean, 6), "speedup_vs_pandas_csv": round(speedup, 1), "ratio_to_npy": round(ratio, 3),
        "targets": f"speedup >= {SPEEDUP_VS_PANDAS_TARGET:g}, ratio_to_npy <= {RATIO_TO_NPY_TARGET:g} ({TARGET_MODALITY} only)",
    })
    label = f"load {load_case.name} {modality} {result.shape[0]}x{result.shape[1]}: {mean * 1e3:.2f} ms"
    if modality != TARGET_MODALITY:
        bench_report.lines.append(f"{label}, {speedup:.1f}x faster than pandas CSV, {ratio:.2f}x np.load (recorded)")
        return
    bench_report.target(f"{label}, {speedup:.1f}x faster than pandas CSV (target >= {SPEEDUP_VS_PANDAS_TARGET:g}x)",
                        speedup >= SPEEDUP_VS_PANDAS_TARGET)
    bench_report.target(f"{label}, {ratio:.2f}x np.load (target <= {RATIO_TO_NPY_TARGET:g}x)", ratio <= RATIO_TO_NPY_TARGET)
    assert speedup >= SPEEDUP_VS_PANDAS_TARGET, f"{modality}: only {speedup:.1f}x faster than pandas CSV; target >= 20x"
    assert ratio <= RATIO_TO_NPY_TARGET, f"{modality}: {ratio:.2f}x np.load; target <= 3x"


@pytest.mark.parametrize("modality", MODALITIES)
def test_store_open_and_matrix(
    benchmark: Any, load_case: LoadCase, inputs: LoadInputs, modality: str, bench_report: BenchReport
) -> None:
    """A new ``Dataset`` (manifest, patient index; checksums off) plus the load: a first load's cost. Recorded only."""
    path = load_case.dataset.path
    benchmark.group = f"load {load_case.name} {modality}"

    def open_and_load() -> np.ndarray:
        return Dataset(path).matrix(modality, load_case.train)[0]

    result = benchmark.pedantic(open_and_load, rounds=FAST_ROUNDS, warmup_rounds=FAST_WARMUP)
    assert _checksum(result) == _checksum(inputs.expected), f"{modality}: a fresh Dataset gives another array"
    mean, speedup, ratio = _ratios(load_case, inputs, modality, benchmark, bench_report)
    benchmark.extra_info.update({"mean_s": round(mean, 6), "speedup_vs_pandas_csv": round(speedup, 1),
                                 "ratio_to_npy": round(ratio, 3)})
    bench_report.lines.append(
        f"open+load {load_case.name} {modality}: {mean * 1e3:.2f} ms, {speedup:.1f}x faster than pandas CSV, "
        f"{ratio:.2f}x np.load (recorded)"
    )
