"""PORPOISE reader: golden values on the real 14 cohorts, bad input on tiny zips."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.sources import porpoise

FOLDER = "porpoise_tcga14_multiomics_survival"
# PROVENANCE.md: patients, slides, OS events, rnaseq / cnv / mut genes per cohort
GOLDEN = {
    "blca": (373, 437, 169, 1554, 256, 371), "brca": (956, 1022, 130, 1558, 1333, 21),
    "coadread": (340, 345, 81, 1550, 4, 1103), "gbmlgg": (569, 1011, 187, 1544, 30, 16),
    "hnsc": (416, 437, 197, 1557, 477, 174), "kirc": (345, 350, 92, 1556, 937, 10),
    "kirp": (260, 284, 40, 1557, 0, 20), "lihc": (333, 347, 115, 1550, 955, 69),
    "luad": (453, 515, 158, 1555, 517, 864), "lusc": (450, 484, 192, 1556, 0, 850),
    "paad": (166, 180, 90, 1553, 82, 14), "skcm": (230, 268, 89, 1602, 0, 738),
    "stad": (349, 374, 140, 1558, 41, 934), "ucec": (480, 538, 75, 0, 5, 1406),
}


# ---------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def porpoise_data(raw_dir: Path):
    return porpoise.read_porpoise(raw_dir / FOLDER)


@pytest.mark.realdata
def test_patients_slides_and_events_per_cohort(porpoise_data):
    clinical, _ = porpoise_data
    assert clinical.columns == ["patient_id", "cohort", "oncotree_code", "age", "is_female", "tss_code",
                                "survival_months", "censorship", "event", "n_slides", "slide_id"]
    assert clinical.height == clinical["patient_id"].n_unique() == 5720
    per = {c: (n, s, e) for c, n, s, e in clinical.group_by("cohort").agg(
        pl.len(), pl.col("n_slides").sum(), pl.col("event").sum()).iter_rows()}
    assert per == {c: g[:3] for c, g in GOLDEN.items()}
    assert (clinical["event"] == 1 - clinical["censorship"]).all()
    assert clinical["patient_id"].str.contains(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$").all()
    # missing clinical cells stay null: SKCM lacks oncotree codes, a few ages are empty
    assert clinical.select(pl.col("oncotree_code").null_count(), pl.col("age").null_count(),
                           pl.col("is_female").null_count()).row(0) == (133, 22, 1)


@pytest.mark.realdata
def test_site_codes_are_padded_and_agree_with_the_barcode(porpoise_data):
    clinical, blocks = porpoise_data
    assert (clinical["tss_code"] == clinical["patient_id"].str.slice(5, 2)).all()
    checks = blocks["mutation"].provenance.extra["cohort_checks"]
    assert {c: (v["site_mismatches"], v["site_empty"]) for c, v in checks.items()} == {c: (0, 0) for c in GOLDEN}
    # LUAD writes TSS 05 as the integer '5'
    row = clinical.filter(pl.col("patient_id") == "TCGA-05-4249").row(0, named=True)
    assert (row["tss_code"], row["age"], row["survival_months"], row["censorship"], row["event"], row["is_female"]) == \
        ("05", 67.0, 50.03, 1, 0, 0)


@pytest.mark.realdata
def test_pan_cancer_blocks_union_genes_with_nan_for_unmeasured(porpoise_data):
    clinical, blocks = porpoise_data
    assert {m: b.shape for m, b in blocks.items()} == {"rna": (5240, 1608), "cnv": (4780, 2896), "mutation": (5720, 2355)}
    cohort_of = dict(zip(clinical["patient_id"].to_list(), clinical["cohort"].to_list()))
    for index, modality in enumerate(("rna", "cnv", "mutation"), start=3):
        block = blocks[modality]
        rows = np.array([cohort_of[p] for p in block.patients])
        measured = block.provenance.extra["measured_features_by_cohort"]
        assert {c: len(f) for c, f in measured.items()} == {c: g[index] for c, g in GOLDEN.items() if g[index]}
        for cohort, features in measured.items():
            cols = np.isin(np.array(block.features), features)
            part = block.values[rows == cohort]
            assert part.shape[0] == GOLDEN[cohort][0]
            assert not np.isnan(part[:, cols]).any()  # no NaN in any measured feature cell in this source
            assert np.isnan(part[:, ~cols]).all()  # NaN = gene not in this cohort's list
    assert "ucec" not in set(np.array([cohort_of[p] for p in blocks["rna"].patients]))
    assert blocks["rna"].provenance.extra["cohorts_without_modality"] == ["ucec"]
    assert blocks["cnv"].provenance.extra["cohorts_without_modality"] == ["kirp", "lusc", "skcm"]
    shared = ~np.isnan(blocks["rna"].values).any(axis=0)
    assert int(shared.sum()) == 1526  # RNA genes shared by the 13 cohorts with RNA
    mutation_shared = [f for f, k in zip(blocks["mutation"].features, ~np.isnan(blocks["mutation"].values).any(axis=0)) if k]
    assert mutation_shared == ["MUC16", "RAS", "TTN"]
    assert not (~np.isnan(blocks["cnv"].values)).all(axis=0).any()  # no CNV gene shared by all cohorts with CNV


@pytest.mark.realdata
def test_values_stay_as_given_and_measured_zero_stays_zero(porpoise_data):
    _, blocks = porpoise_data
    mutation, cnv, rna = blocks["mutation"].values, blocks["cnv"].values, blocks["rna"].values
    assert set(np.unique(mutation[~np.isnan(mutation)])) == {0.0, 1.0}
    assert set(np.unique(cnv[~np.isnan(cnv)])) == {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert (int((mutation == 0).sum()), int(np.nansum(mutation)), int((cnv == 0).sum())) == (2339864, 253532, 724964)
    assert float(np.nanmax(rna)) == pytest.approx(36893.305, rel=1e-6)  # unscaled, extreme values kept
    block = blocks["rna"]
    assert block.values[block.patients.index("TCGA-BF-A1PU"), block.features.index("AAK1")] == np.float32(-1.5378)


@pytest.mark.realdata
def test_blocks_match_an_independent_pandas_read_of_one_cohort(porpoise_data, raw_dir):
    _, blocks = porpoise_data
    with zipfile.ZipFile(porpoise.cohort_path(raw_dir / FOLDER, "gbmlgg")) as archive:
        raw = pd.read_csv(archive.open(archive.namelist()[0]), low_memory=False)
    first = raw.sort_values(["case_id", "slide_id"]).drop_duplicates("case_id").set_index("case_id")
    assert len(first) == 569
    for suffix, modality in porpoise.SUFFIXES.items():
        columns = [c for c in raw.columns if c.endswith(suffix)]
        block = blocks[modality].subset(list(first.index), [c[: -len(suffix)] for c in columns])
        np.testing.assert_array_equal(block.values, first[columns].to_numpy(np.float32))


@pytest.mark.realdata
def test_rna_are_within_cohort_z_scores(porpoise_data):
    clinical, blocks = porpoise_data
    block = blocks["rna"]
    assert block.provenance.comparable_across_cohorts is False
    assert blocks["cnv"].provenance.comparable_across_cohorts and blocks["mutation"].provenance.comparable_across_cohorts
    cohort_of = dict(zip(clinical["patient_id"].to_list(), clinical["cohort"].to_list()))
    rows = np.array([cohort_of[p] for p in block.patients])
    for cohort in sorted(set(rows)):
        part = block.values[rows == cohort]
        part = part[:, ~np.isnan(part).all(axis=0)].astype(np.float64)
        # cBioPortal scored each gene over the whole cohort: in PORPOISE's subset mean ~0 and sd ~1
        assert np.median(np.abs(part.mean(axis=0))) < 0.2, cohort
        assert 0.95 < np.median(part.std(axis=0, ddof=1)) < 1.15, cohort


@pytest.mark.realdata
def test_provenance_records_rule_conflicts_and_files(porpoise_data):
    _, blocks = porpoise_data
    extra = blocks["cnv"].provenance.extra
    assert extra["duplicate_rule"] == porpoise.DUPLICATE_RULE
    assert extra["conflicting_patients"] == {c: 0 for c, g in GOLDEN.items() if g[4]}
    assert all(v["clinical_conflicts"] == {} for v in extra["cohort_checks"].values())
    assert extra["features_measured_per_cohort"]["ucec"] == 5
    files = blocks["rna"].provenance.files
    assert len(files) == 14 and files[0].name == f"{FOLDER}/datasets_csv_mutsig/tcga_blca_all_clean.csv.zip"
    assert files[0].sha256 == "d432e00dca23c4c7bc7ad574c69f67dd4e3a4656a2d695ac3420427569e52728"


@pytest.mark.realdata
def test_published_splits(raw_dir, porpoise_data):
    clinical, _ = porpoise_data
    splits = porpoise.read_porpoise_splits(raw_dir / FOLDER)
    assert splits.columns == ["patient_id", "cohort", "repeat", "fold", "role"]
    assert splits.height == 28600 and set(splits["repeat"]) == {0} and set(splits["fold"]) == set(range(5))
    test = splits.filter(pl.col("role") == "test")
    assert test.height == test["patient_id"].n_unique() == 5720  # every patient tested exactly once
    assert set(splits["patient_id"]) == set(clinical["patient_id"])
    per = splits.group_by("cohort", "fold").agg(pl.len(), pl.col("patient_id").n_unique().alias("unique"))
    assert per.height == 70 and (per["len"] == per["unique"]).all()
    assert dict(per.group_by("cohort").agg(pl.col("len").first()).iter_rows()) == {c: g[0] for c, g in GOLDEN.items()}
    joined = splits.join(clinical.select("patient_id", pl.col("cohort").alias("data_cohort")), on="patient_id")
    assert (joined["cohort"] == joined["data_cohort"]).all()


# --------------------------------------------------------------------------------------------- bad input
HEADER = ",case_id,slide_id,age,site,survival_months,censorship,is_female,oncotree_code,train,TP53_rnaseq,TP53_mut,MYC_cnv\n"


def _zip_csv(path: Path, text: str, members: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for k in range(members):
            archive.writestr(f"./inner{k}.csv.zip", text)
    return path


def _row(i: int, case: str, slide: str, *, site: str = "AA", age: str = "50", censorship: str = "1",
         rna: str = "0.5", mut: str = "1", cnv: str = "0") -> str:
    return f"{i},{case},{slide},{age},{site},10.5,{censorship},1,X,1,{rna},{mut},{cnv}\n"


def test_slide_rows_collapse_to_the_smallest_slide_and_conflicts_are_counted(tmp_path):
    text = HEADER + _row(0, "TCGA-AA-0001", "s2.svs", rna="9.0") + _row(1, "TCGA-AA-0001", "s1.svs", age="51") \
        + _row(2, "TCGA-AA-0002", "s3.svs")
    clinical, blocks = porpoise.read_porpoise_cohort(_zip_csv(tmp_path / "tcga_x_all_clean.csv.zip", text))
    assert clinical["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002"]
    assert clinical["slide_id"].to_list() == ["s1.svs", "s3.svs"] and clinical["n_slides"].to_list() == [2, 1]
    assert clinical["age"].to_list() == [51.0, 50.0] and clinical["event"].to_list() == [0, 0]
    assert blocks["rna"].values[:, 0].tolist() == [0.5, 0.5]  # s1's value, not s2's 9.0
    checks = blocks["rna"].provenance.extra["cohort_checks"]["x"]
    assert checks["molecular_conflicts"] == {"rna": 1, "cnv": 0, "mutation": 0}
    assert checks["clinical_conflicts"] == {"age": 1}
    assert blocks["rna"].provenance.extra["conflicting_patients"] == {"x": 1}


def test_site_codes_pad_zeros_keep_na_and_count_mismatches(tmp_path):
    text = HEADER + _row(0, "TCGA-05-0001", "a", site="5") + _row(1, "TCGA-NA-0002", "b", site="NA") \
        + _row(2, "TCGA-A1-0003", "c", site="B2") + _row(3, "TCGA-A2-0004", "d", site="")
    clinical, blocks = porpoise.read_porpoise_cohort(_zip_csv(tmp_path / "tcga_x_all_clean.csv.zip", text))
    assert clinical["tss_code"].to_list() == ["05", "A1", "A2", "NA"]  # the barcode's TSS, sorted by patient
    checks = blocks["mutation"].provenance.extra["cohort_checks"]["x"]
    assert (checks["site_mismatches"], checks["site_empty"]) == (1, 1)


def _cohort_folder(root: Path, cohorts: dict[str, str]) -> Path:
    for cohort, text in cohorts.items():
        _zip_csv(porpoise.cohort_path(root, cohort), text)
    return root


def test_pan_cancer_merge_keeps_measured_zero_and_nan_for_unmeasured(tmp_path):
    blca = HEADER + _row(0, "TCGA-AA-0001", "a", mut="0", cnv="0") + _row(1, "TCGA-AA-0002", "b", mut="1", cnv="-2")
    ucec = ",case_id,slide_id,age,site,survival_months,censorship,is_female,oncotree_code,KRAS_mut,TP53_mut\n" \
        "0,TCGA-BB-0003,c,60,BB,5,0,1,UCEC,0,1\n"
    clinical, blocks = porpoise.read_porpoise(_cohort_folder(tmp_path, {"blca": blca, "ucec": ucec}), cohorts=("blca", "ucec"))
    assert clinical["cohort"].to_list() == ["blca", "blca", "ucec"] and clinical["event"].to_list() == [0, 0, 1]
    mutation = blocks["mutation"]
    assert mutation.features == ("KRAS", "TP53") and mutation.patients == ("TCGA-AA-0001", "TCGA-AA-0002", "TCGA-BB-0003")
    np.testing.assert_array_equal(mutation.values, np.array([[np.nan, 0], [np.nan, 1], [0, 1]], dtype=np.float32))
    assert blocks["rna"].patients == ("TCGA-AA-0001", "TCGA-AA-0002")  # UCEC has no RNA: no rows, not NaN rows
    assert blocks["cnv"].values.tolist() == [[0.0], [-2.0]]
    assert blocks["mutation"].provenance.extra["measured_features_by_cohort"] == {"blca": ["TP53"], "ucec": ["KRAS", "TP53"]}
    assert blocks["rna"].provenance.extra["cohorts_without_modality"] == ["ucec"]


def test_patient_in_two_cohorts_and_unknown_cohort(tmp_path):
    text = HEADER + _row(0, "TCGA-AA-0001", "a")
    folder = _cohort_folder(tmp_path, {"blca": text, "brca": text})
    with pytest.raises(InputFormatError, match=r"patient TCGA-AA-0001 appears in cohorts \['blca', 'brca'\]"):
        porpoise.read_porpoise(folder, cohorts=("blca", "brca"))
    with pytest.raises(ValueError, match="unknown PORPOISE cohorts"):
        porpoise.read_porpoise(folder, cohorts=("prad",))


@pytest.mark.parametrize("text,message", [
    ("", "the CSV inside is empty"),
    (HEADER, "the CSV inside has a header but no rows"),
    (HEADER + _row(0, "TCGA-AA-0001", "s1", rna="abc"), "row 2 (TCGA-AA-0001), column 'TP53_rnaseq': non-numeric cell"),
    (HEADER + _row(0, "TCGA-AA-0001", "s1") + _row(1, "TCGA-AA-0002", "s2", mut="yes"),
     "row 3 (TCGA-AA-0002), column 'TP53_mut': non-numeric cell; expected a number (or empty for missing), found 'yes'"),
    (HEADER + _row(0, "TCGA-AA-0001", "s1", age="old"), "row 2, column 'age': non-numeric cell"),
    (HEADER + _row(0, "TCGA-AA-0001", "s1", censorship="2"), "row 2, column 'censorship': censorship must be 0 or 1"),
    (HEADER + _row(0, "TCGA-AA-0001", "s1", censorship=""), "row 2, column 'censorship': censorship must be 0 or 1"),
    (HEADER + _row(0, "patient-7", "s1"), "row 2, column 'case_id': not a TCGA barcode"),
    (HEADER + _row(0, "TCGA-AA-0001", "s1", site="ABC"), "row 2, column 'site': not a TSS code"),
    (",case_id,slide_id\n0,TCGA-AA-0001,s1\n", "missing columns ['age'"),
    (HEADER + "0,TCGA-AA-0001,s1,50\n1,TCGA-AA-0002,s2,50,AA,1,1,1,X,1,0,0,0,9\n", "the CSV inside does not parse"),
])
def test_bad_tables_name_file_row_and_column(tmp_path, text, message):
    with pytest.raises(InputFormatError) as err:
        porpoise.read_porpoise_cohort(_zip_csv(tmp_path / "tcga_x_all_clean.csv.zip", text))
    assert "tcga_x_all_clean.csv.zip" in str(err.value) and message in str(err.value)


def test_truncated_fake_and_multi_member_zips(tmp_path):
    good = _zip_csv(tmp_path / "good.zip", HEADER + _row(0, "TCGA-AA-0001", "s1") * 200)
    truncated = tmp_path / "tcga_t_all_clean.csv.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputFormatError, match="tcga_t_all_clean.csv.zip: not a readable zip archive"):
        porpoise.read_porpoise_cohort(truncated)
    fake = tmp_path / "tcga_f_all_clean.csv.zip"
    fake.write_text("<!DOCTYPE html><html>404</html>")
    with pytest.raises(InputFormatError, match="tcga_f_all_clean.csv.zip: not a readable zip archive"):
        porpoise.read_porpoise_cohort(fake)
    two = _zip_csv(tmp_path / "tcga_m_all_clean.csv.zip", HEADER, members=2)
    with pytest.raises(InputFormatError, match="tcga_m_all_clean.csv.zip: unexpected archive content.*found 2 members"):
        porpoise.read_porpoise_cohort(two)
    with pytest.raises(FileNotFoundError, match="tcga_none_all_clean.csv.zip"):
        porpoise.read_porpoise_cohort(tmp_path / "tcga_none_all_clean.csv.zip")


def _splits(root: Path, text: str, cohort: str = "x") -> Path:
    folder = root / "splits/5foldcv" / f"tcga_{cohort}"
    folder.mkdir(parents=True)
    for k in range(5):
        (folder / f"splits_{k}.csv").write_text(text)
    return root


def test_splits_map_val_to_test(tmp_path):
    table = porpoise.read_porpoise_splits(_splits(tmp_path, ",train,val\n0,TCGA-AA-0002,TCGA-AA-0001\n1,TCGA-AA-0003,\n"),
                                          cohorts=("x",))
    first = table.filter(pl.col("fold") == 0)
    assert first.rows() == [("TCGA-AA-0002", "x", 0, 0, "train"), ("TCGA-AA-0003", "x", 0, 0, "train"),
                            ("TCGA-AA-0001", "x", 0, 0, "test")]
    assert table.height == 15


@pytest.mark.parametrize("text,message", [
    (",train,val\n0,TCGA-AA-0001,TCGA-AA-0002\n1,TCGA-AA-0002,\n",
     "splits_0.csv, column 'val': patient TCGA-AA-0002 is in both train and val"),
    (",train,val\n0,TCGA-AA-0001,TCGA-AA-0002\n1,TCGA-AA-0001,\n", "splits_0.csv, column 'train': patient TCGA-AA-0001 listed twice"),
    (",train,val\n0,TCGA-AA-0001,not-a-barcode\n", "splits_0.csv, row 2, column 'val': not a TCGA barcode"),
    (",train,test\n0,TCGA-AA-0001,TCGA-AA-0002\n", "splits_0.csv: missing columns; expected columns ,train,val"),
    ("", "splits_0.csv: empty split file"),
])
def test_bad_split_files(tmp_path, text, message):
    with pytest.raises(InputFormatError) as err:
        porpoise.read_porpoise_splits(_splits(tmp_path, text), cohorts=("x",))
    assert message in str(err.value)
