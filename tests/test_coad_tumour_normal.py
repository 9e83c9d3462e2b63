"""coad-tumour-normal: rows are samples, splits grouped by patient, values read from the right block.

Expected figures come from the raw DMtest files (``covariate``: group 0 = normal, 1 = tumour; beta columns named
by 12-character barcodes, the tumour of a paired patient with a ``.1`` suffix), read here with polars alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from oncobench.benchmark.job import Job, run_job
from oncobench.benchmark.tasks import Task, task_spec

DMTEST = "tcga_coad_dmtest_methylation/derived"


@pytest.fixture(scope="module")
def raw_coad(raw_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(covariate: column, patient, group; beta: CpG x raw column), straight from the raw CSV exports."""
    cov = pl.read_csv(raw_dir / DMTEST / "coad_covariate.csv", schema_overrides={"age": pl.Float64}).rename({"": "column"})
    cov = cov.with_columns(pl.col("column").str.slice(0, 12).alias("patient"))
    beta = pl.read_csv(raw_dir / DMTEST / "coad_beta_1000cpg.csv.gz", null_values=["NA"], infer_schema_length=None).rename({"": "cpg"})
    return cov, beta


@pytest.fixture(scope="module")
def task(pancan11) -> Task:
    return Task(task_spec("coad-tumour-normal"), pancan11)


@pytest.mark.realdata
def test_sizes_match_the_raw_files(task: Task, raw_coad, pancan11) -> None:
    cov, _ = raw_coad
    tumours = set(cov.filter(pl.col("group") == 1)["patient"].to_list())
    normals = set(cov.filter(pl.col("group") == 0)["patient"].to_list())
    assert (len(tumours), len(normals), len(normals & tumours)) == (296, 38, 38)  # PROVENANCE.md's figures
    # tcga-pancan 1.1 keeps the patients of its COADREAD cohort: the task has exactly those raw samples.
    store = set(pancan11.clinical.filter(pl.col("cohort") == "coadread")["patient_id"].to_list())
    table = task._table
    got_t = set(table.filter(pl.col("label") == "tumour")["patient"].to_list())
    got_n = set(table.filter(pl.col("label") == "normal")["patient"].to_list())
    assert got_t == tumours & store and got_n == normals & store
    assert (len(got_t), len(got_n)) == (251, 24)
    assert task.classes == ("normal", "tumour") and len(task.patients) == 275
    assert all(s == f"{p}-{'11' if lab == 'normal' else '01'}"
               for s, p, lab in table.select("patient_id", "patient", "label").iter_rows())


@pytest.mark.realdata
def test_a_patients_two_samples_never_split(task: Task) -> None:
    table = task._table
    paired = table.group_by("patient").len().filter(pl.col("len") == 2)["patient"].to_list()
    assert len(paired) == 24
    patient_of = dict(zip(table["patient_id"].to_list(), table["patient"].to_list()))
    assert len(task.folds) == 15
    for repeat, fold in task.folds:
        split = task.get_split(fold, repeat)
        role = {}
        for name, ids in (("train", split.train), ("valid", split.valid), ("test", split.test)):
            for sample in ids:
                assert role.setdefault(patient_of[sample], name) == name, (
                    f"repeat {repeat} fold {fold}: patient {patient_of[sample]} in {role[patient_of[sample]]} and {name}")
        assert {patient_of[s] for s in split.train}.isdisjoint({patient_of[s] for s in split.test})
        assert sorted(split.train + split.valid + split.test) == sorted(task.patients)
    # every paired patient has both samples in a test fold once per repeat
    for repeat in {r for r, _ in task.folds}:
        tested = [s for r, f in task.folds if r == repeat for s in task.get_split(f, repeat).test]
        assert sum(patient_of[s] in set(paired) for s in tested) == 48


@pytest.mark.realdata
def test_tumour_and_normal_rows_hold_their_raw_columns(task: Task, raw_coad) -> None:
    cov, beta = raw_coad
    paired = cov.filter(pl.col("group") == 0)["patient"].to_list()
    patient = next(p for p in paired if f"{p}-11" in task.patients)
    normal_col = cov.filter((pl.col("patient") == patient) & (pl.col("group") == 0))["column"].item()
    tumour_col = cov.filter((pl.col("patient") == patient) & (pl.col("group") == 1))["column"].item()
    block = task.features([f"{patient}-01", f"{patient}-11"])["methylation"]
    assert len(block.features) == 1000 and set(block.features) == set(beta["cpg"].to_list())
    raw = beta.select("cpg", tumour_col, normal_col).to_pandas().set_index("cpg").loc[list(block.features)]
    np.testing.assert_allclose(block.values[0], raw[tumour_col].to_numpy(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(block.values[1], raw[normal_col].to_numpy(), rtol=1e-6, equal_nan=True)
    assert not np.allclose(block.values[0], block.values[1], equal_nan=True)


@pytest.mark.realdata
def test_runs_and_the_clinical_reference_cannot_tell_samples_apart(task: Task) -> None:
    out = run_job(task, Job("coad-tumour-normal", "logreg", 0, 0, 0))
    assert math.isfinite(out.test.metrics["auroc"]) and out.test.n == len(task.get_split(0, 0).test)
    clin = task.features(list(task.patients), ["clinical"])["clinical"].values
    rows = {p: i for i, p in enumerate(task.patients)}
    for p in task._table.group_by("patient").len().filter(pl.col("len") == 2)["patient"].to_list():
        np.testing.assert_array_equal(clin[rows[f"{p}-01"]], clin[rows[f"{p}-11"]])
