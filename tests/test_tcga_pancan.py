"""tcga-pancan built from the real raw folder (session fixture ``pancan``): golden coverage and invariants."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from oncobench.cli import main

pytestmark = pytest.mark.realdata

PATIENTS_PER_COHORT = {
    "blca": 373, "brca": 956, "coadread": 340, "gbmlgg": 569, "hnsc": 416, "kirc": 345, "kirp": 260,
    "lihc": 333, "luad": 453, "lusc": 450, "paad": 166, "skcm": 230, "stad": 349, "ucec": 480,
}


def test_patients_and_cohorts(pancan):
    clinical = pancan.clinical
    assert clinical.height == 5720 and clinical["patient_id"].n_unique() == 5720
    counts = dict(clinical.group_by("cohort").len().iter_rows())
    assert counts == PATIENTS_PER_COHORT
    assert clinical["cancer_type"].null_count() == 0  # every PORPOISE patient has a TCGA-CDR row


def test_modalities_presence_and_comparability(pancan):
    assert set(pancan.modalities) == {"rna", "cnv", "mutation", "mirna", "protein", "pathology", "clinical"}
    presence = pancan.presence.join(pancan.clinical.select("patient_id", "cohort"), on="patient_id")
    # UCEC has no RNA; every other cohort does
    rna_by_cohort = dict(presence.group_by("cohort").agg(pl.col("rna").sum()).iter_rows())
    assert rna_by_cohort["ucec"] == 0 and all(v == PATIENTS_PER_COHORT[c] for c, v in rna_by_cohort.items() if c != "ucec")
    assert pancan.modality_info("rna")["comparable_across_cohorts"] is False
    assert pancan.modality_info("mirna")["comparable_across_cohorts"] is True
    # 1,526 RNA genes are measured by all 13 cohorts with RNA
    assert len(pancan.measured_features("rna")) == 1526
    # missing modalities are normal: pathology and protein cover subsets
    assert 0 < presence["protein"].sum() < presence["pathology"].sum() < 5720


def test_not_measured_is_nan_and_measured_zero_is_zero(pancan):
    values, features = pancan.matrix("mutation")
    assert np.isnan(values).any() and (values == 0).any()
    finite = values[np.isfinite(values)]
    assert set(np.unique(finite)) <= {0.0, 1.0}


def test_rna_is_stored_unscaled_within_cohort_zscores(pancan, raw_dir):
    ids = pancan.clinical.filter(pl.col("cohort") == "brca")["patient_id"].to_list()
    values, features = pancan.matrix("rna", ids)
    measured = ~np.all(np.isnan(values), axis=0)
    means = np.nanmean(values[:, measured], axis=0)
    sds = np.nanstd(values[:, measured], axis=0)
    # cBioPortal z-scores of the whole TCGA cohort: near 0 / 1 on PORPOISE's subset, never rescaled by us
    assert np.median(np.abs(means)) < 0.15 and 0.8 < np.median(sds) < 1.2
    # stored values equal the raw cells exactly (read here independently with pandas)
    import zipfile

    import pandas as pd

    path = raw_dir / "porpoise_tcga14_multiomics_survival/datasets_csv_mutsig/tcga_brca_all_clean.csv.zip"
    with zipfile.ZipFile(path) as archive:
        raw = pd.read_csv(archive.open(archive.namelist()[0]), low_memory=False)
    raw = raw.sort_values(["case_id", "slide_id"]).drop_duplicates("case_id").set_index("case_id")
    for patient, gene in [(ids[0], "ERBB2"), (ids[100], "EGFR"), (ids[-1], "TP53")]:
        got, names = pancan.matrix("rna", [patient])
        assert got[0, names.index(gene)] == np.float32(raw.loc[patient, f"{gene}_rnaseq"])


def test_splits_are_grouped_and_site_split_shares_no_site(pancan):
    assert set(pancan.schemes) == {"kfold", "holdout", "site", "porpoise"}
    clinical = pancan.clinical
    hospital = dict(zip(clinical["patient_id"].to_list(), clinical["hospital"].to_list()))
    tss = dict(zip(clinical["patient_id"].to_list(), clinical["tss_code"].to_list()))
    for fold in range(pancan.manifest["splits"]["site"]["n_folds"]):
        train, valid, test = pancan.split("site", fold=fold)
        assert not {tss[p] for p in train} & {tss[p] for p in test + valid}
        assert not {hospital[p] for p in train} & {hospital[p] for p in test + valid}
    kfold = pancan.split_table("kfold")
    assert kfold.group_by(["repeat", "fold", "patient_id"]).len()["len"].max() == 1
    assert kfold.filter(pl.col("role") == "test").group_by("repeat").len()["len"].to_list() == [5720] * 3


def test_porpoise_split_matches_published_files(pancan, raw_dir):
    table = pancan.split_table("porpoise")
    published = pl.read_csv(raw_dir / "porpoise_tcga14_multiomics_survival/splits/5foldcv/tcga_blca/splits_0.csv")
    val = set(published["val"].drop_nulls().to_list())
    test = set(table.filter((pl.col("fold") == 0) & (pl.col("role") == "test"))["patient_id"].to_list())
    assert val <= test and len(val) > 50


def test_cli_info_and_site_split_export(pancan, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ONCOBENCH_HOME", str(pancan.path.parents[2]))
    assert main(["datasets", "info", "tcga-pancan"]) == 0
    out = capsys.readouterr().out
    assert "patients: 5720 in 14 cohorts" in out
    assert main(["splits", "export", "tcga-pancan", "--scheme", "site", "--out", str(tmp_path / "site")]) == 0
    assert main(["splits", "verify", str(tmp_path / "site")]) == 0


def test_shared_features_remove_the_missingness_signature_of_cohorts(pancan):
    # genes only some cohorts measured would let NaN patterns encode the cohort; the shared set has none
    values, features = pancan.matrix("rna")
    shared = pancan.measured_features("rna")
    assert len(shared) == 1526 and np.isnan(values).any()
    assert not np.isnan(values[:, [features.index(g) for g in shared]]).any()
    assert pancan.measured_features("cnv") == []  # no CNV gene is shared by the 11 cohorts with CNV
    assert len(pancan.measured_features("mutation")) == 3
    assert pancan.measured_features("mirna") == pancan.features("mirna")  # one 383-miRNA panel, all cohorts
