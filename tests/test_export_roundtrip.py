"""Export round trip: read back with plain polars / pyarrow / mudata, every column, cell and split comes back."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.export import export_dataset, verify_export


@pytest.fixture(scope="module")
def mini() -> Dataset:
    return load_dataset("tcga-mini")


def _assert_matrix(ds: Dataset, modality: str, table: pl.DataFrame) -> None:
    values, features = ds.matrix(modality)
    assert table.columns == ["patient_id", *features], modality
    assert table["patient_id"].to_list() == ds.modality_patients(modality), modality
    got = table.drop("patient_id").cast(pl.Float32).to_numpy()
    assert got.dtype == np.float32 and np.array_equal(got, values, equal_nan=True), modality


def test_clinical_covariates_and_outcomes_get_distinct_names(mini, tmp_path):
    assert "clinical" in mini.modalities  # the covariate modality that used to overwrite the outcome table
    out = export_dataset(mini, "parquet", tmp_path)
    outcomes = pl.read_parquet(out / "clinical.parquet")
    covariates = pl.read_parquet(out / "modalities" / "clinical.parquet")
    assert {"os", "os_time", "cohort", "pam50"} <= set(outcomes.columns)
    assert covariates.width == 1 + mini.modality_info("clinical")["n_features"]
    assert not {"os", "os_time", "cohort"} & set(covariates.columns)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_parquet_and_csv_round_trip_every_column_cell_and_split(mini, tmp_path, fmt):
    out = export_dataset(mini, fmt, tmp_path)
    assert verify_export(out)["layout"].startswith(f"clinical.{fmt}")

    def read(name: str, schema: dict | None = None) -> pl.DataFrame:
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            return pl.from_arrow(pq.read_table(path))  # a second reader: pyarrow
        return pl.read_csv(path, schema_overrides=schema, infer_schema_length=None)

    clinical = read("clinical", mini.clinical.schema)
    assert clinical.columns == mini.clinical.columns
    assert clinical.cast(mini.clinical.schema).equals(mini.clinical)
    assert read("presence", mini.presence.schema).equals(mini.presence)
    for modality in mini.modalities:
        _assert_matrix(mini, modality, read(f"modalities/{modality}"))
    for scheme in mini.schemes:
        table = mini.split_table(scheme)
        assert read(f"splits/{scheme}", table.schema).equals(table), scheme
    exported = {p.relative_to(out).as_posix() for p in out.rglob(f"*.{fmt}")}
    assert exported == {f"clinical.{fmt}", f"presence.{fmt}"} | {f"modalities/{m}.{fmt}" for m in mini.modalities} | {
        f"splits/{s}.{fmt}" for s in mini.schemes}


def test_mudata_round_trip_every_column_cell_and_split(mini, tmp_path):
    mudata = pytest.importorskip("mudata", reason="MuData export needs the 'export' extra")
    out = export_dataset(mini, "mudata", tmp_path)
    with warnings.catch_warnings(), mudata.set_options(pull_on_update=False):
        warnings.simplefilter("ignore", FutureWarning)
        mdata = mudata.read_h5mu(out / "tcga-mini_1.0.h5mu")
    assert set(mdata.mod) == set(mini.modalities)
    obs = pl.from_pandas(mdata.obs.reset_index(names="patient_id"))
    assert sorted(obs["patient_id"].to_list()) == sorted(mini.patients)
    obs = obs.select(mini.clinical.columns).cast(mini.clinical.schema)
    assert obs.sort("patient_id").equals(mini.clinical.sort("patient_id"))
    for modality in mini.modalities:
        adata = mdata[modality]
        values, features = mini.matrix(modality, list(adata.obs_names))
        assert list(adata.var_names) == features and adata.X.dtype == np.float32
        assert list(adata.obs_names) == mini.modality_patients(modality)
        assert np.array_equal(adata.X, values, equal_nan=True), modality
    for scheme in mini.schemes:
        assert pl.read_parquet(out / "splits" / f"{scheme}.parquet").equals(mini.split_table(scheme)), scheme


@pytest.mark.realdata
def test_tcga_pancan_parquet_round_trip(pancan, tmp_path):
    out = export_dataset(pancan, "parquet", tmp_path)
    verify_export(out)
    assert pl.read_parquet(out / "clinical.parquet").equals(pancan.clinical)
    for modality in pancan.modalities:
        _assert_matrix(pancan, modality, pl.read_parquet(out / "modalities" / f"{modality}.parquet"))
    for scheme in pancan.schemes:
        assert pl.read_parquet(out / "splits" / f"{scheme}.parquet").equals(pancan.split_table(scheme))
