"""Split schemes: grouped, stratified, seeded, invariants checked."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from oncobench.datasets.errors import SplitError
from oncobench.datasets.splits import SplitSpec, check_split, draw_split, split_ids


def _cohort(n=300, seed=0):
    rng = np.random.default_rng(seed)
    patients = [f"P{i:04d}" for i in range(n)]
    label = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]).tolist()
    site = [f"S{int(i)}" for i in rng.integers(0, 30, n)]
    return patients, label, site


def test_kfold_every_patient_tested_once_per_repeat_and_stratified():
    patients, label, _ = _cohort()
    table = draw_split(patients, label, SplitSpec("kfold", n_folds=5, n_repeats=2, seed=1))
    assert table.height == 300 * 5 * 2
    tests = table.filter(pl.col("role") == "test")
    for repeat in (0, 1):
        ids = tests.filter(pl.col("repeat") == repeat)["patient_id"].to_list()
        assert sorted(ids) == sorted(patients)  # each patient in exactly one test fold
    train, valid, test = split_ids(table, fold=0, repeat=0)
    assert not set(train) & set(test) and not set(train) & set(valid) and not set(valid) & set(test)
    assert len(test) == 60 and 25 <= len(valid) <= 35
    # stratified: class shares in the test fold within 5 points of the whole
    share = {c: label.count(c) / 300 for c in "abc"}
    lab = dict(zip(patients, label))
    for c in "abc":
        assert abs(sum(lab[p] == c for p in test) / len(test) - share[c]) < 0.05
    check_split(table, name="t", labels=lab)


def test_same_seed_same_split_other_seed_other_split():
    patients, label, _ = _cohort()
    a = draw_split(patients, label, SplitSpec("kfold", seed=3))
    b = draw_split(patients, label, SplitSpec("kfold", seed=3))
    c = draw_split(patients, label, SplitSpec("kfold", seed=4))
    assert a.equals(b) and not a.equals(c)


def test_site_split_keeps_hospitals_on_one_side():
    patients, label, site = _cohort()
    table = draw_split(patients, label, SplitSpec("site", n_folds=5, seed=0, valid_splits=4), groups=site)
    groups = dict(zip(patients, site))
    check_split(table, name="site", labels=dict(zip(patients, label)), groups=groups)
    for fold in range(5):
        train, valid, test = split_ids(table, fold=fold)
        assert not {groups[p] for p in train} & {groups[p] for p in test + valid}


def test_holdout_has_three_roles():
    patients, label, _ = _cohort()
    train, valid, test = split_ids(draw_split(patients, label, SplitSpec("holdout", seed=0)))
    assert len(train) + len(valid) + len(test) == 300 and len(test) == 60 and valid


def test_check_split_catches_violations():
    table = pl.DataFrame({"patient_id": ["a", "a", "b", "c"], "repeat": [0] * 4, "fold": [0] * 4,
                          "role": ["train", "test", "train", "test"]})
    with pytest.raises(SplitError, match="patient a appears 2 times in repeat 0 fold 0"):
        check_split(table, name="x")
    table = pl.DataFrame({"patient_id": ["a", "b", "c"], "repeat": [0] * 3, "fold": [0] * 3, "role": ["train", "test", "test"]})
    with pytest.raises(SplitError, match=r"classes \['z'\] are in valid/test but not in train"):
        check_split(table, name="x", labels={"a": "y", "b": "y", "c": "z"})
    with pytest.raises(SplitError, match=r"hospital \['H1'\] on both train and held-out sides"):
        check_split(table, name="x", groups={"a": "H1", "b": "H1", "c": "H2"}, group_name="hospital")
    with pytest.raises(SplitError, match="unknown roles"):
        check_split(table.with_columns(pl.lit("dev").alias("role")), name="x")


def test_duplicate_patients_and_too_few_groups_refused():
    with pytest.raises(SplitError, match="duplicate patient IDs"):
        draw_split(["a", "a"], ["x", "x"], SplitSpec("kfold"))
    with pytest.raises(SplitError, match="only 2 groups for 5 folds"):
        draw_split([f"p{i}" for i in range(10)], ["x"] * 10, SplitSpec("site"), groups=["g1", "g2"] * 5)


def test_unknown_fold_message():
    patients, label, _ = _cohort(50)
    with pytest.raises(SplitError, match="no repeat 0 fold 7"):
        split_ids(draw_split(patients, label, SplitSpec("kfold")), fold=7)
