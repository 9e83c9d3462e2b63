"""Omics and clinical readers (PORPOISE, TCGA-CDR, TSS/purity, Subtype-GAN, cpRMT, GSE7390).

Real-data tests (marked ``realdata``) assert golden figures measured on the raw files, including cell
values looked up in the raw files with pandas, independently of the readers. Bad-input tests write
tiny files to ``tmp_path`` and check the error type and what its message names (file, row, column,
expected).
"""

from __future__ import annotations

import hashlib
import zipfile
from functools import reduce
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import polars as pl
import pytest

from oncobench.datasets.errors import DegenerateBlockError, InputFormatError
from oncobench.datasets.harmonize import frame_block
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.sources import cprmt, gse7390, porpoise, subtypegan, tcga_cdr, tss

realdata = pytest.mark.realdata

PORPOISE = "porpoise_tcga14_multiomics_survival"
CDR_FILE = Path("tcga_cdr_pancancer_clinical") / "TCGA-CDR-SupplementalTableS1.xlsx"
TSS_FOLDER = Path("tcga_tss_centers_and_purity")
SUBTYPEGAN = "subtypegan_tcga10_clinical_mirna"
CPRMT = "cprmt_tcga_brca_4omics_pam50"
GSE_FILE = Path("gse7390_breast_metastasis_sksurv") / "breast_cancer_GSE7390-metastasis.arff"

PORPOISE_PATIENTS = {
    "blca": 373, "brca": 956, "coadread": 340, "gbmlgg": 569, "hnsc": 416, "kirc": 345, "kirp": 260, "lihc": 333,
    "luad": 453, "lusc": 450, "paad": 166, "skcm": 230, "stad": 349, "ucec": 480,
}


def _raw_porpoise_csv(zip_path: Path) -> pd.DataFrame:
    """A PORPOISE cohort read straight with pandas (no reader code), for independent look-ups."""
    with zipfile.ZipFile(zip_path) as archive:
        with archive.open(archive.namelist()[0]) as handle:
            return pd.read_csv(handle, low_memory=False, keep_default_na=False, na_values=[""])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# =========================================================================================== PORPOISE
@pytest.fixture(scope="module")
def porpoise_all(raw_dir: Path):
    return porpoise.read_porpoise(raw_dir / PORPOISE)


@pytest.fixture(scope="module")
def porpoise_splits(raw_dir: Path) -> pl.DataFrame:
    return porpoise.read_porpoise_splits(raw_dir / PORPOISE)


@realdata
def test_porpoise_patients_per_cohort(porpoise_all):
    clinical, _ = porpoise_all
    assert dict(clinical.group_by("cohort").len().iter_rows()) == PORPOISE_PATIENTS
    assert clinical.height == clinical["patient_id"].n_unique() == 5720
    assert clinical.columns[0] == "patient_id"
    assert (clinical["event"] == 1 - clinical["censorship"]).all()


@realdata
def test_porpoise_golden_cells_and_smallest_slide(porpoise_all):
    clinical, blocks = porpoise_all
    rows = {r["patient_id"]: r for r in clinical.iter_rows(named=True)}
    # looked up in tcga_gbmlgg_all_clean.csv.zip: 17 slides; 'DX1.' sorts before 'DX10.'
    hemi = rows["TCGA-HT-7607"]
    assert (hemi["cohort"], hemi["n_slides"], hemi["survival_months"], hemi["censorship"], hemi["event"]) == \
        ("gbmlgg", 17, 3.15, 0, 1)
    assert hemi["slide_id"].startswith("TCGA-HT-7607-01Z-00-DX1.7FD5F49C")
    # tcga_brca_all_clean.csv.zip, 4 slides of TCGA-OK-A5Q2; tcga_ucec: TCGA-2E-A9G8
    assert (rows["TCGA-OK-A5Q2"]["survival_months"], rows["TCGA-OK-A5Q2"]["censorship"]) == (2.1, 1)
    assert (rows["TCGA-2E-A9G8"]["survival_months"], rows["TCGA-2E-A9G8"]["event"]) == (41.03, 0)

    def cell(modality: str, patient: str, gene: str) -> float:
        block = blocks[modality]
        return float(block.values[block.patients.index(patient), block.features.index(gene)])

    assert cell("rna", "TCGA-HT-7607", "EGFR") == pytest.approx(-0.8851, abs=1e-6)
    assert cell("rna", "TCGA-OK-A5Q2", "ERBB2") == pytest.approx(2.5294, abs=1e-6)
    assert cell("rna", "TCGA-OK-A5Q2", "AAK1") == pytest.approx(-0.3934, abs=1e-6)
    assert cell("mutation", "TCGA-HT-7607", "IDH1") == 1.0
    assert cell("mutation", "TCGA-OK-A5Q2", "PIK3CA") == 1.0
    assert cell("mutation", "TCGA-2E-A9G8", "TP53") == 1.0
    assert cell("mutation", "TCGA-2E-A9G8", "PTEN") == 0.0  # a measured 0 stays 0
    assert cell("cnv", "TCGA-OK-A5Q2", "ERBB2") == 0.0
    assert "TCGA-2E-A9G8" not in blocks["rna"].patients  # UCEC has no RNA


@realdata
def test_porpoise_rna_block_shape_and_shared_genes(porpoise_all):
    clinical, blocks = porpoise_all
    rna = blocks["rna"]
    assert rna.shape == (5240, 1608)
    assert rna.provenance.comparable_across_cohorts is False
    assert blocks["mutation"].provenance.comparable_across_cohorts is True
    measured = rna.provenance.extra["measured_features_by_cohort"]
    assert sorted(measured) == sorted(c for c in PORPOISE_PATIENTS if c != "ucec")
    assert rna.provenance.extra["cohorts_without_modality"] == ["ucec"]
    assert len(reduce(set.intersection, (set(f) for f in measured.values()))) == 1526
    # the same figure from the values alone: no cohort has a NaN in a gene it measured
    assert int((~np.isnan(rna.values)).all(axis=0).sum()) == 1526
    cohort_of = dict(zip(clinical["patient_id"].to_list(), clinical["cohort"].to_list()))
    assert sum(PORPOISE_PATIENTS[c] for c in measured) == rna.shape[0]
    assert {cohort_of[p] for p in rna.patients} == set(measured)


@realdata
def test_porpoise_rna_is_a_within_cohort_zscore(porpoise_all):
    clinical, blocks = porpoise_all
    rna = blocks["rna"]
    cohort_of = dict(zip(clinical["patient_id"].to_list(), clinical["cohort"].to_list()))
    rows = np.array([cohort_of[p] for p in rna.patients])
    features = np.array(rna.features)
    for cohort, genes in rna.provenance.extra["measured_features_by_cohort"].items():
        part = rna.values[rows == cohort][:, np.isin(features, genes)].astype(np.float64)
        # cBioPortal z-scores: typical gene centred with unit sd (a few genes carry extreme outliers)
        assert abs(np.median(part.mean(axis=0))) < 0.05, cohort
        assert 0.95 < np.median(part.std(axis=0)) < 1.1, cohort


@realdata
def test_porpoise_mutation_and_cnv_values_nan_only_where_not_measured(porpoise_all):
    clinical, blocks = porpoise_all
    cohort_of = dict(zip(clinical["patient_id"].to_list(), clinical["cohort"].to_list()))
    for modality, allowed in (("mutation", {0.0, 1.0}), ("cnv", {-2.0, -1.0, 0.0, 1.0, 2.0})):
        block = blocks[modality]
        finite = block.values[~np.isnan(block.values)]
        assert set(np.unique(finite).tolist()) == allowed
        rows = np.array([cohort_of[p] for p in block.patients])
        expected_nan = np.ones(block.shape, dtype=bool)
        for cohort, genes in block.provenance.extra["measured_features_by_cohort"].items():
            expected_nan[np.ix_(rows == cohort, np.isin(np.array(block.features), genes))] = False
        assert np.array_equal(np.isnan(block.values), expected_nan), modality
    assert blocks["mutation"].shape[0] == 5720
    assert blocks["cnv"].provenance.extra["cohorts_without_modality"] == ["kirp", "lusc", "skcm"]


@realdata
def test_porpoise_paad_block_matches_raw_csv(raw_dir: Path, porpoise_all):
    """Every RNA cell of PAAD equals the raw CSV's row with the smallest slide_id (independent pandas read)."""
    _, blocks = porpoise_all
    raw = _raw_porpoise_csv(porpoise.cohort_path(raw_dir / PORPOISE, "paad"))
    first = raw.sort_values(["case_id", "slide_id"]).drop_duplicates("case_id").set_index("case_id")
    genes = [c[: -len("_rnaseq")] for c in raw.columns if c.endswith("_rnaseq")]
    rna = blocks["rna"]
    sub = rna.subset(list(first.index), genes)
    expected = first[[g + "_rnaseq" for g in genes]].to_numpy(dtype=np.float32)
    assert sub.values.shape == (166, 1553)
    assert np.array_equal(sub.values, expected)


@realdata
def test_porpoise_published_splits(porpoise_all, porpoise_splits):
    clinical, _ = porpoise_all
    s = porpoise_splits
    assert s.columns == ["patient_id", "cohort", "repeat", "fold", "role"]
    assert set(s["role"].unique()) == {"train", "test"}
    assert set(s["fold"].unique()) == {0, 1, 2, 3, 4}
    assert s.height == 5 * 5720
    for (cohort, fold), part in s.group_by("cohort", "fold"):
        train = set(part.filter(pl.col("role") == "train")["patient_id"])
        test = set(part.filter(pl.col("role") == "test")["patient_id"])
        assert not train & test, (cohort, fold)
        assert len(train | test) == PORPOISE_PATIENTS[cohort]
    # the 5 test folds partition each cohort, and the split patients are the cohort's patients
    tests = s.filter(pl.col("role") == "test")
    assert tests.height == tests["patient_id"].n_unique() == 5720
    assert set(tests["patient_id"]) == set(clinical["patient_id"])
    blca0 = s.filter((pl.col("cohort") == "blca") & (pl.col("fold") == 0))
    assert blca0.group_by("role").len().sort("role").rows() == [("test", 75), ("train", 298)]
    # raw splits_0.csv of BLCA: first val entry TCGA-2F-A9KO, first train entry TCGA-2F-A9KP
    assert blca0.filter(pl.col("patient_id") == "TCGA-2F-A9KO")["role"].to_list() == ["test"]
    assert blca0.filter(pl.col("patient_id") == "TCGA-2F-A9KP")["role"].to_list() == ["train"]


# -------------------------------------------------------------------------------- PORPOISE bad input
def _slide(patient: str, slide: str = "DX1", **values) -> dict:
    row = {"case_id": patient, "slide_id": f"{patient}-01Z-00-{slide}.svs", "age": 60, "site": patient.split("-")[1],
           "survival_months": 12.5, "censorship": 1, "is_female": 0, "oncotree_code": "BLCA", "train": 1,
           "TP53_rnaseq": 0.5, "EGFR_rnaseq": -1.0, "TP53_cnv": 1, "TP53_mut": 0}
    row.update(values)
    return row


def _porpoise_zip(path: Path, content: list[dict] | str) -> Path:
    """A PORPOISE-style zip: one member whose name also ends in .csv.zip, holding a plain CSV."""
    text = content if isinstance(content, str) else pd.DataFrame(content).to_csv()
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"./{path.name}", text)
    return path


def test_porpoise_cohort_reads_a_tiny_zip(tmp_path: Path):
    path = _porpoise_zip(tmp_path / "tcga_blca_all_clean.csv.zip",
                         [_slide("TCGA-AA-0002", site="5"), _slide("TCGA-AA-0001", TP53_mut=1, censorship=0)])
    clinical, blocks = porpoise.read_porpoise_cohort(path)
    assert clinical["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002"]
    assert clinical["cohort"].to_list() == ["blca", "blca"]  # from the file name
    assert clinical["event"].to_list() == [1, 0]
    assert set(blocks) == {"rna", "cnv", "mutation"}
    assert blocks["rna"].features == ("TP53", "EGFR")
    assert blocks["mutation"].values[:, 0].tolist() == [1.0, 0.0]
    checks = blocks["rna"].provenance.extra["cohort_checks"]["blca"]
    assert checks["site_mismatches"] == 1  # site '5' -> '05' differs from the barcode's 'AA'; the barcode wins
    assert clinical["tss_code"].to_list() == ["AA", "AA"]


def test_porpoise_duplicate_slides_keep_the_smallest_slide_id(tmp_path: Path):
    rows = [
        _slide("TCGA-AA-0001", "DX2", survival_months=30.0, TP53_rnaseq=9.0, TP53_mut=1),
        _slide("TCGA-AA-0001", "DX10", survival_months=20.0, TP53_rnaseq=8.0, TP53_mut=1),
        _slide("TCGA-AA-0001", "DX1", survival_months=10.0, TP53_rnaseq=7.0, TP53_mut=0),
        _slide("TCGA-AA-0002", "DX1"),
    ]
    clinical, blocks = porpoise.read_porpoise_cohort(_porpoise_zip(tmp_path / "tcga_blca_all_clean.csv.zip", rows))
    first = clinical.row(0, named=True)
    # 'DX1.svs' < 'DX10.svs' < 'DX2.svs': DX1 represents the patient in the clinical table and every block
    assert (first["n_slides"], first["slide_id"], first["survival_months"]) == (3, "TCGA-AA-0001-01Z-00-DX1.svs", 10.0)
    assert blocks["rna"].values[0, 0] == pytest.approx(7.0)
    assert blocks["mutation"].values[0, 0] == 0.0
    checks = blocks["rna"].provenance.extra["cohort_checks"]["blca"]
    assert checks["molecular_conflicts"] == {"rna": 1, "cnv": 0, "mutation": 1}
    assert checks["clinical_conflicts"] == {"survival_months": 1}
    assert checks["slides"] == 4 and checks["patients"] == 2


def test_porpoise_empty_csv_and_header_only(tmp_path: Path):
    empty = _porpoise_zip(tmp_path / "tcga_blca_all_clean.csv.zip", "")
    with pytest.raises(InputFormatError, match=r"tcga_blca_all_clean\.csv\.zip: the CSV inside is empty"):
        porpoise.read_porpoise_cohort(empty)
    header = ",".join(["", *_slide("TCGA-AA-0001")]) + "\n"
    only = _porpoise_zip(tmp_path / "tcga_brca_all_clean.csv.zip", header)
    with pytest.raises(InputFormatError, match=r"tcga_brca_all_clean\.csv\.zip: .*header but no rows"):
        porpoise.read_porpoise_cohort(only)


def test_porpoise_non_numeric_cells_name_row_and_column(tmp_path: Path):
    path = _porpoise_zip(tmp_path / "tcga_blca_all_clean.csv.zip",
                         [_slide("TCGA-AA-0001"), _slide("TCGA-AA-0002", EGFR_rnaseq="high")])
    with pytest.raises(InputFormatError) as err:
        porpoise.read_porpoise_cohort(path)
    msg = str(err.value)
    assert "tcga_blca_all_clean.csv.zip" in msg and "row 3 (TCGA-AA-0002)" in msg
    assert "column 'EGFR_rnaseq'" in msg and "'high'" in msg and "expected a number" in msg
    bad_age = _porpoise_zip(tmp_path / "tcga_kirc_all_clean.csv.zip", [_slide("TCGA-AA-0001", age="sixty")])
    with pytest.raises(InputFormatError, match=r"row 2, column 'age': non-numeric cell.*'sixty'"):
        porpoise.read_porpoise_cohort(bad_age)
    bad_censor = _porpoise_zip(tmp_path / "tcga_lihc_all_clean.csv.zip", [_slide("TCGA-AA-0001", censorship=2)])
    with pytest.raises(InputFormatError, match=r"row 2, column 'censorship': censorship must be 0 or 1"):
        porpoise.read_porpoise_cohort(bad_censor)
    bad_id = _porpoise_zip(tmp_path / "tcga_luad_all_clean.csv.zip", [_slide("TCGA-AA-0001"), _slide("patient-2")])
    with pytest.raises(InputFormatError, match=r"row 3, column 'case_id'.*expected a TCGA patient barcode"):
        porpoise.read_porpoise_cohort(bad_id)


def test_porpoise_missing_required_column_is_named(tmp_path: Path):
    row = _slide("TCGA-AA-0001")
    del row["censorship"]
    path = _porpoise_zip(tmp_path / "tcga_blca_all_clean.csv.zip", [row])
    with pytest.raises(InputFormatError, match=r"tcga_blca_all_clean\.csv\.zip: missing columns \['censorship'\]"):
        porpoise.read_porpoise_cohort(path)


def test_porpoise_truncated_and_fake_zips(tmp_path: Path):
    rows = [_slide(f"TCGA-AA-{i:04d}", TP53_rnaseq=float(i)) for i in range(300)]
    whole = _porpoise_zip(tmp_path / "whole" / "tcga_blca_all_clean.csv.zip", rows).read_bytes()
    cut = tmp_path / "tcga_blca_all_clean.csv.zip"
    cut.write_bytes(whole[: len(whole) // 2])  # the central directory at the end is gone
    with pytest.raises(InputFormatError, match=r"tcga_blca_all_clean\.csv\.zip: not a readable zip archive.*expected a zip"):
        porpoise.read_porpoise_cohort(cut)
    damaged = bytearray(whole)
    damaged[100:400] = bytes(300)  # compressed data damaged, directory intact
    bad = tmp_path / "tcga_brca_all_clean.csv.zip"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(InputFormatError, match=r"tcga_brca_all_clean\.csv\.zip: .*(damaged|not a readable)"):
        porpoise.read_porpoise_cohort(bad)
    fake = tmp_path / "tcga_kirc_all_clean.csv.zip"
    fake.write_text(pd.DataFrame(rows[:2]).to_csv())  # a plain CSV under a .csv.zip name
    with pytest.raises(InputFormatError, match=r"tcga_kirc_all_clean\.csv\.zip: not a readable zip archive"):
        porpoise.read_porpoise_cohort(fake)
    with pytest.raises(FileNotFoundError, match="tcga_hnsc_all_clean.csv.zip"):
        porpoise.read_porpoise_cohort(tmp_path / "tcga_hnsc_all_clean.csv.zip")


def test_porpoise_zip_with_two_members_is_refused(tmp_path: Path):
    path = tmp_path / "tcga_blca_all_clean.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", pd.DataFrame([_slide("TCGA-AA-0001")]).to_csv())
        archive.writestr("b.csv", pd.DataFrame([_slide("TCGA-AA-0002")]).to_csv())
    with pytest.raises(InputFormatError, match=r"unexpected archive content; expected exactly one CSV member, found 2"):
        porpoise.read_porpoise_cohort(path)


def test_porpoise_merge_absent_modality_and_unmeasured_genes(tmp_path: Path):
    folder = tmp_path / "porpoise"
    _porpoise_zip(porpoise.cohort_path(folder, "blca"), [_slide("TCGA-AA-0001"), _slide("TCGA-AA-0002", TP53_mut=1)])
    ucec = [{k: v for k, v in _slide("TCGA-BB-0001").items() if not k.endswith("_rnaseq")} | {"PTEN_mut": 1}]
    _porpoise_zip(porpoise.cohort_path(folder, "ucec"), ucec)
    clinical, blocks = porpoise.read_porpoise(folder, cohorts=("blca", "ucec"))
    assert clinical["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-BB-0001"]
    assert blocks["rna"].patients == ("TCGA-AA-0001", "TCGA-AA-0002")  # UCEC: no rows, not NaN rows
    assert blocks["rna"].provenance.extra["cohorts_without_modality"] == ["ucec"]
    mut = blocks["mutation"]
    assert mut.features == ("PTEN", "TP53")
    values = dict(zip(mut.patients, mut.values.tolist()))
    assert values["TCGA-BB-0001"] == [1.0, 0.0]
    assert values["TCGA-AA-0002"][1] == 1.0 and np.isnan(values["TCGA-AA-0002"][0])  # blca never measured PTEN
    assert values["TCGA-AA-0001"][1] == 0.0  # measured zero stays zero


def test_porpoise_patient_in_two_cohorts_is_refused(tmp_path: Path):
    folder = tmp_path / "porpoise"
    _porpoise_zip(porpoise.cohort_path(folder, "blca"), [_slide("TCGA-AA-0001")])
    _porpoise_zip(porpoise.cohort_path(folder, "brca"), [_slide("TCGA-AA-0001", "DX2")])
    with pytest.raises(InputFormatError, match=r"patient TCGA-AA-0001 appears in cohorts \['blca', 'brca'\]"):
        porpoise.read_porpoise(folder, cohorts=("blca", "brca"))
    with pytest.raises(ValueError, match="unknown PORPOISE cohorts"):
        porpoise.read_porpoise(folder, cohorts=("blca", "prad"))


def _splits(folder: Path, cohort: str, folds: dict[int, str]) -> None:
    where = folder / "splits" / "5foldcv" / f"tcga_{cohort}"
    where.mkdir(parents=True, exist_ok=True)
    for k in range(5):
        (where / f"splits_{k}.csv").write_text(folds.get(k, ",train,val\n0,TCGA-AA-0001,TCGA-AA-0002\n1,TCGA-AA-0003,\n"))


def test_porpoise_splits_bad_input(tmp_path: Path):
    ok = tmp_path / "ok"
    _splits(ok, "blca", {})
    table = porpoise.read_porpoise_splits(ok, cohorts=("blca",))
    assert table.filter(pl.col("fold") == 0).sort("patient_id")["role"].to_list() == ["train", "test", "train"]
    both = tmp_path / "both"
    _splits(both, "blca", {2: ",train,val\n0,TCGA-AA-0001,TCGA-AA-0001\n"})
    with pytest.raises(InputFormatError, match=r"splits_2\.csv, column 'val': patient TCGA-AA-0001 is in both train and val"):
        porpoise.read_porpoise_splits(both, cohorts=("blca",))
    empty = tmp_path / "empty"
    _splits(empty, "blca", {1: ""})
    with pytest.raises(InputFormatError, match=r"splits_1\.csv: empty split file"):
        porpoise.read_porpoise_splits(empty, cohorts=("blca",))
    columns = tmp_path / "columns"
    _splits(columns, "blca", {0: ",train,test\n0,TCGA-AA-0001,TCGA-AA-0002\n"})
    with pytest.raises(InputFormatError, match=r"splits_0\.csv: missing columns; expected columns ,train,val"):
        porpoise.read_porpoise_splits(columns, cohorts=("blca",))
    twice = tmp_path / "twice"
    _splits(twice, "blca", {3: ",train,val\n0,TCGA-AA-0001,TCGA-AA-0002\n1,TCGA-AA-0001,\n"})
    with pytest.raises(InputFormatError, match=r"splits_3\.csv, column 'train': patient TCGA-AA-0001 listed twice"):
        porpoise.read_porpoise_splits(twice, cohorts=("blca",))
    bad = tmp_path / "bad"
    _splits(bad, "blca", {4: ",train,val\n0,TCGA-AA-0001,nobody\n"})
    with pytest.raises(InputFormatError, match=r"splits_4\.csv, row 2, column 'val'"):
        porpoise.read_porpoise_splits(bad, cohorts=("blca",))


# ======================================================================================== TCGA-CDR
@pytest.fixture(scope="module")
def cdr(raw_dir: Path) -> pl.DataFrame:
    return tcga_cdr.read_tcga_cdr(raw_dir / CDR_FILE)


@pytest.fixture(scope="module")
def tss_info(raw_dir: Path) -> pl.DataFrame:
    return tcga_cdr.read_tss_info(raw_dir / CDR_FILE)


@realdata
def test_cdr_counts_and_endpoints(cdr):
    assert cdr.height == cdr["patient_id"].n_unique() == 11160
    assert cdr.columns[:5] == ["patient_id", "cancer_type", "age", "sex", "race"]
    assert cdr["cancer_type"].n_unique() == 33
    counts = {e: (cdr[e].drop_nulls().len(), int(cdr[e].sum())) for e in ("os", "dss", "dfi", "pfi")}
    assert counts == {"os": (11151, 3622), "dss": (10648, 2499), "dfi": (5531, 1118), "pfi": (10953, 3996)}
    assert cdr["os_time"].drop_nulls().len() == 11094
    assert cdr.filter(pl.col("redaction") == "Redacted").height == 57
    assert cdr["redaction"].null_count() == 11160 - 57
    per_type = dict(cdr.group_by("cancer_type").len().iter_rows())
    assert (per_type["BRCA"], per_type["CHOL"], per_type["GBM"]) == (1097, 45, 596)
    # the stray sheet 'Sheet1' (500 duplicated PRAD rows) is never read: PRAD as in the main sheet
    assert per_type["PRAD"] == 500
    assert cdr["patient_id"].str.contains(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$").all()
    for e in ("os", "dss", "dfi", "pfi"):
        assert set(cdr[e].drop_nulls().unique().to_list()) <= {0, 1}
        assert cdr[f"{e}_time"].drop_nulls().min() >= 0


@realdata
def test_cdr_golden_patients(cdr):
    rows = {r["patient_id"]: r for r in cdr.filter(pl.col("patient_id").is_in(
        ["TCGA-OR-A5J1", "TCGA-OR-A5J2", "TCGA-A2-A0T2", "TCGA-D3-A5GT"])).iter_rows(named=True)}
    a = rows["TCGA-OR-A5J1"]  # first row of the main sheet
    assert (a["cancer_type"], a["age"], a["sex"], a["os"], a["os_time"], a["dfi"], a["dfi_time"], a["pfi_time"]) == \
        ("ACC", 58.0, "MALE", 1, 1355.0, 1, 754.0, 754.0)
    assert a["clinical_stage"] is None and a["histological_grade"] is None  # '[Not Applicable]' / '[Not Available]'
    assert a["birth_days"] == -21496.0 and a["last_contact_days"] is None
    b = rows["TCGA-OR-A5J2"]
    assert (b["dfi"], b["dfi_time"], b["pfi_time"]) == (None, None, 289.0)
    c = rows["TCGA-A2-A0T2"]
    assert (c["cancer_type"], c["os"], c["os_time"], c["age"]) == ("BRCA", 1, 255.0, 66.0)
    # multi-valued follow-up cells stay as written unless every entry is a marker
    assert rows["TCGA-D3-A5GT"]["new_tumor_event_site"] == "Lung|Liver|[Not Available]"


@realdata
def test_tss_info_sheet(tss_info):
    assert tss_info.columns == ["tss_code", "source_site", "disease_type"]
    assert tss_info.height == tss_info["tss_code"].n_unique() == 830
    assert (tss_info["tss_code"].str.len_chars() == 2).all()
    codes = {r["tss_code"]: r for r in tss_info.iter_rows(named=True)}
    assert codes["05"]["source_site"] == "Indivumed" and codes["05"]["disease_type"] == "Lung adenocarcinoma"
    assert codes["01"]["source_site"] == "International Genomics Consortium"
    assert codes["NA"]["source_site"] == "Duke University"  # 'NA' is a code, not a missing value
    assert codes["A1"]["source_site"] == "UCSF"


# -------------------------------------------------------------------------------- TCGA-CDR bad input
CDR_HEADER = [None, "bcr_patient_barcode", "type", "age_at_initial_pathologic_diagnosis", "gender", "race",
              "OS", "OS.time", "DSS", "DSS.time", "DFI", "DFI.time", "PFI", "PFI.time", "Redaction"]


def _cdr_row(i: int, patient: str, cancer: str = "BRCA", **values) -> list:
    cells = {"age_at_initial_pathologic_diagnosis": 50, "gender": "FEMALE", "race": "WHITE", "OS": 1, "OS.time": 100,
             "DSS": 1, "DSS.time": 100, "DFI": "#N/A", "DFI.time": "#N/A", "PFI": 1, "PFI.time": 80, "Redaction": None}
    cells.update(values)
    return [i, patient, cancer, *(cells[c] for c in CDR_HEADER[3:])]


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_cdr_tiny_workbook_markers_and_types(tmp_path: Path):
    path = _workbook(tmp_path / "cdr.xlsx", {"TCGA-CDR": [
        CDR_HEADER,
        _cdr_row(1, "TCGA-AA-0001", "brca", race="[Not Available]", Redaction="Redacted"),
        _cdr_row(2, "TCGA-AA-0002-01A", "LUAD", OS=0, **{"OS.time": 400.5, "PFI": "[Not Available]"}),
    ]})
    table = tcga_cdr.read_tcga_cdr(path)
    assert table["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002"]  # sample barcode -> patient
    assert table["cancer_type"].to_list() == ["BRCA", "LUAD"]
    assert table["race"].to_list() == [None, "WHITE"]
    assert table["redaction"].to_list() == ["Redacted", None]
    assert table["os"].to_list() == [1, 0] and table["os"].dtype == pl.Int8
    assert table["os_time"].to_list() == [100.0, 400.5]
    assert table["pfi"].to_list() == [1, None] and table["dfi_time"].to_list() == [None, None]


def test_cdr_workbook_without_main_sheet_names_sheets_found(tmp_path: Path):
    path = _workbook(tmp_path / "other.xlsx", {"Sheet1": [CDR_HEADER, _cdr_row(1, "TCGA-AA-0001")],
                                               "TSS_Info": [["TSS Code", "Source Site", "Disease type"]]})
    with pytest.raises(InputFormatError) as err:
        tcga_cdr.read_tcga_cdr(path)
    msg = str(err.value)
    assert "other.xlsx" in msg and "no sheet 'TCGA-CDR'" in msg and "found sheets ['Sheet1', 'TSS_Info']" in msg


def test_cdr_extra_sheet_next_to_main_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _workbook(tmp_path / "cdr.xlsx", {
        "TCGA-CDR": [CDR_HEADER, _cdr_row(1, "TCGA-AA-0001", "PRAD"), _cdr_row(2, "TCGA-AA-0002", "PRAD")],
        # the stray copy: a conflicting duplicate of patient 1, a patient of its own and a bad cell
        "Sheet1": [CDR_HEADER, _cdr_row(1, "TCGA-AA-0001", "PRAD", **{"OS.time": 999}),
                   _cdr_row(3, "TCGA-AA-0003", "PRAD", OS="dead")],
    })
    parsed: list = []
    original = pd.ExcelFile.parse

    def spy(self, sheet_name=0, *args, **kwargs):
        parsed.append(sheet_name)
        return original(self, sheet_name, *args, **kwargs)

    monkeypatch.setattr(pd.ExcelFile, "parse", spy)
    table = tcga_cdr.read_tcga_cdr(path)
    assert parsed == ["TCGA-CDR"]
    assert table["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002"]
    assert table["os_time"].to_list() == [100.0, 100.0]


def test_cdr_header_only_and_missing_column(tmp_path: Path):
    only = _workbook(tmp_path / "only.xlsx", {"TCGA-CDR": [CDR_HEADER]})
    with pytest.raises(InputFormatError, match=r"only\.xlsx: sheet 'TCGA-CDR' has no rows"):
        tcga_cdr.read_tcga_cdr(only)
    header = [c for c in CDR_HEADER if c != "PFI.time"]
    row = _cdr_row(1, "TCGA-AA-0001")
    del row[CDR_HEADER.index("PFI.time")]
    missing = _workbook(tmp_path / "missing.xlsx", {"TCGA-CDR": [header, row]})
    with pytest.raises(InputFormatError, match=r"missing\.xlsx: sheet 'TCGA-CDR' lacks columns \['PFI\.time'\]"):
        tcga_cdr.read_tcga_cdr(missing)


def test_cdr_bad_cells_name_row_and_column(tmp_path: Path):
    text = _workbook(tmp_path / "text.xlsx", {"TCGA-CDR": [
        CDR_HEADER, _cdr_row(1, "TCGA-AA-0001"), _cdr_row(2, "TCGA-AA-0002", **{"OS.time": "about a year"})]})
    with pytest.raises(InputFormatError) as err:
        tcga_cdr.read_tcga_cdr(text)
    msg = str(err.value)
    assert "text.xlsx" in msg and "row 3" in msg and "column 'OS.time'" in msg and "'about a year'" in msg
    event = _workbook(tmp_path / "event.xlsx", {"TCGA-CDR": [CDR_HEADER, _cdr_row(1, "TCGA-AA-0001", DSS=2)]})
    with pytest.raises(InputFormatError, match=r"row 2, column 'DSS': .*endpoint event must be 0 or 1.*found 2"):
        tcga_cdr.read_tcga_cdr(event)
    negative = _workbook(tmp_path / "neg.xlsx", {"TCGA-CDR": [CDR_HEADER, _cdr_row(1, "TCGA-AA-0001", **{"PFI.time": -3})]})
    with pytest.raises(InputFormatError, match=r"row 2, column 'PFI\.time': .*negative endpoint time"):
        tcga_cdr.read_tcga_cdr(negative)
    barcode = _workbook(tmp_path / "id.xlsx", {"TCGA-CDR": [CDR_HEADER, _cdr_row(1, "TCGA-AA-0001"), _cdr_row(2, "P-2")]})
    with pytest.raises(InputFormatError, match=r"row 3, column 'bcr_patient_barcode'"):
        tcga_cdr.read_tcga_cdr(barcode)


def test_cdr_duplicate_patients(tmp_path: Path):
    same = _workbook(tmp_path / "same.xlsx", {"TCGA-CDR": [
        CDR_HEADER, _cdr_row(1, "TCGA-AA-0001"), _cdr_row(2, "TCGA-AA-0001"), _cdr_row(3, "TCGA-AA-0002")]})
    assert tcga_cdr.read_tcga_cdr(same)["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002"]
    conflict = _workbook(tmp_path / "conflict.xlsx", {"TCGA-CDR": [
        CDR_HEADER, _cdr_row(1, "TCGA-AA-0001"), _cdr_row(2, "TCGA-AA-0002"), _cdr_row(3, "TCGA-AA-0001", OS=0)]})
    with pytest.raises(InputFormatError) as err:
        tcga_cdr.read_tcga_cdr(conflict)
    msg = str(err.value)
    assert "conflict.xlsx" in msg and "duplicate patient_id 'TCGA-AA-0001'" in msg
    assert "sheet 'TCGA-CDR' row 2 and sheet 'TCGA-CDR' row 4" in msg and "column 'os'" in msg and "found 1 vs 0" in msg


def test_cdr_not_an_xlsx(tmp_path: Path):
    path = tmp_path / "TCGA-CDR-SupplementalTableS1.xlsx"
    path.write_text("bcr_patient_barcode,type\nTCGA-AA-0001,BRCA\n")
    with pytest.raises(InputFormatError, match=r"TCGA-CDR-SupplementalTableS1\.xlsx: not a readable xlsx workbook"):
        tcga_cdr.read_tcga_cdr(path)


def test_tss_info_codes_are_two_character_text(tmp_path: Path):
    rows = [["https://gdc.cancer.gov/resources-tcga-users/tcga-code-tables/tissue-source-site-codes"],
            ["TSS Code", "Source Site", "Disease type"], [1, "International Genomics Consortium", "Ovarian"],
            ["NA", "Duke University", "Uterine Carcinosarcoma"], [None, None, None], ["A1", "UCSF", "Breast"]]
    table = tcga_cdr.read_tss_info(_workbook(tmp_path / "cdr.xlsx", {"TCGA-CDR": [CDR_HEADER], "TSS_Info": rows}))
    assert table["tss_code"].to_list() == ["01", "NA", "A1"]
    bad = _workbook(tmp_path / "bad.xlsx", {"TSS_Info": [*rows[:3], ["ABC", "x", "y"]]})
    with pytest.raises(InputFormatError, match=r"bad\.xlsx, row 4, column 'TSS Code'.*'ABC'"):
        tcga_cdr.read_tss_info(bad)
    no_header = _workbook(tmp_path / "noheader.xlsx", {"TSS_Info": [["01", "a", "b"]]})
    with pytest.raises(InputFormatError, match=r"noheader\.xlsx: sheet 'TSS_Info' has no 'TSS Code' header row"):
        tcga_cdr.read_tss_info(no_header)
    conflict = _workbook(tmp_path / "conflict.xlsx", {"TSS_Info": [*rows[:3], ["01", "Other site", "Ovarian"]]})
    with pytest.raises(InputFormatError, match=r"duplicate tss_code '01' with conflicting values"):
        tcga_cdr.read_tss_info(conflict)


# ============================================================================== TSS centers / purity
@pytest.fixture(scope="module")
def centers(raw_dir: Path) -> pl.DataFrame:
    return tss.read_centers(raw_dir / TSS_FOLDER / "centers.csv")


@pytest.fixture(scope="module")
def purity(raw_dir: Path) -> pl.DataFrame:
    return tss.read_purity(raw_dir / TSS_FOLDER / "ncomms9971-s2.xlsx")


@realdata
def test_centers_golden(raw_dir: Path, centers):
    assert centers.columns == ["tss_code", "source_site", "country", "state", "region"]
    assert centers.height == centers["tss_code"].n_unique() == 265
    assert (centers["tss_code"].str.len_chars() == 2).all()
    assert centers.filter(pl.col("tss_code") == "05").row(0) == ("05", "Indivumed", "Germany", "Other", "Europe")
    raw = pd.read_csv(raw_dir / TSS_FOLDER / "centers.csv", dtype=str, keep_default_na=False)
    assert raw["TSS Code"].iloc[0] == "5"  # the trap: the leading zero was lost upstream
    assert centers["tss_code"].to_list() == raw["TSS Code"].str.zfill(2).to_list()
    assert dict(centers.group_by("region").len().iter_rows()) == {
        "South": 69, "Northeast": 53, "Midwest": 50, "West": 36, "Europe": 24, "Canada": 17, "Other": 16}


@realdata
def test_purity_golden(purity):
    assert purity.columns == ["sample_id", "patient_id", "sample_type_code", "cancer_type",
                              "estimate", "absolute", "lump", "ihc", "cpe"]
    assert purity.height == purity["sample_id"].n_unique() == 9364
    assert purity["patient_id"].n_unique() == 9220
    assert dict(purity.group_by("sample_type_code").len().iter_rows()) == {"01": 8914, "06": 390, "02": 57, "05": 2, "07": 1}
    first = purity.row(0, named=True)
    assert (first["sample_id"], first["cancer_type"], first["estimate"], first["absolute"], first["lump"], first["ihc"],
            first["cpe"]) == ("TCGA-OR-A5J1-01A", "ACC", 0.9368, None, 0.9774, 0.8, 0.9246)
    for column in ("estimate", "absolute", "lump", "ihc", "cpe"):
        values = purity[column].drop_nulls()
        assert values.min() >= 0 and values.max() <= 1
    chosen = tss.patient_purity(purity)
    assert chosen.height == chosen["patient_id"].n_unique() == 8852
    assert chosen["purity_cpe"].null_count() == 148


def test_centers_bad_input(tmp_path: Path):
    header = ",TSS Code,Source Site,Country,State,Region\n"
    ok = tmp_path / "ok.csv"
    ok.write_text(header + "0,5,Indivumed,Germany,Other,Europe\n1,A1,UCSF,USA,CA,West\n2,A1,UCSF,USA,CA,West\n")
    assert tss.read_centers(ok)["tss_code"].to_list() == ["05", "A1"]  # padded; identical duplicate collapsed
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputFormatError, match=r"empty\.csv: empty file"):
        tss.read_centers(empty)
    only = tmp_path / "only.csv"
    only.write_text(header)
    with pytest.raises(InputFormatError, match=r"only\.csv: header only, no rows"):
        tss.read_centers(only)
    missing = tmp_path / "missing.csv"
    missing.write_text(",TSS Code,Source Site,Country,State\n0,5,Indivumed,Germany,Other\n")
    with pytest.raises(InputFormatError, match=r"missing\.csv: missing columns \['Region'\]"):
        tss.read_centers(missing)
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "0,5,Indivumed,Germany,Other,Europe\n1,ABC,Somewhere,USA,CA,West\n")
    with pytest.raises(InputFormatError, match=r"bad\.csv, row 3, column 'TSS Code'.*'ABC'"):
        tss.read_centers(bad)
    conflict = tmp_path / "conflict.csv"
    conflict.write_text(header + "0,5,Indivumed,Germany,Other,Europe\n1,05,Elsewhere,USA,CA,West\n")
    with pytest.raises(InputFormatError, match=r"conflict\.csv, row 3, column 'TSS Code': TSS code '05' listed twice"):
        tss.read_centers(conflict)


PURITY_HEADER = ["Sample ID", "Cancer type", "ESTIMATE", "ABSOLUTE", "LUMP", "IHC", "CPE"]


def _purity_book(path: Path, rows: list[list], header: list = PURITY_HEADER) -> Path:
    titles = [["Supplementary Data 1"], ["Tumor purity estimates"], [None]]
    return _workbook(path, {"Sheet1": [*titles, header, *rows]})


def test_purity_bad_input(tmp_path: Path):
    ok = _purity_book(tmp_path / "ok.xlsx", [["TCGA-AA-0001-01A", "brca", 0.5, "NaN", 0.4, 0.9, 0.6],
                                             ["TCGA-AA-0001-06A", "BRCA", 0.2, 0.3, 0.4, 0.5, 0.1]])
    table = tss.read_purity(ok)
    assert table["sample_type_code"].to_list() == ["01", "06"] and table["absolute"].to_list() == [None, 0.3]
    assert table["cancer_type"].to_list() == ["BRCA", "BRCA"]
    assert tss.patient_purity(table).rows() == [("TCGA-AA-0001", 0.6)]  # the metastasis (06) is not used
    outside = _purity_book(tmp_path / "outside.xlsx", [["TCGA-AA-0001-01A", "BRCA", 0.5, 0.5, 0.5, 0.5, 0.5],
                                                       ["TCGA-AA-0002-01A", "BRCA", 0.5, 0.5, 0.5, 0.5, 1.5]])
    with pytest.raises(InputFormatError, match=r"outside\.xlsx, row 6, column 'CPE': purity outside \[0, 1\]"):
        tss.read_purity(outside)
    text = _purity_book(tmp_path / "text.xlsx", [["TCGA-AA-0001-01A", "BRCA", "high", 0.5, 0.5, 0.5, 0.5]])
    with pytest.raises(InputFormatError, match=r"text\.xlsx, row 5, column 'ESTIMATE': non-numeric cell.*'high'"):
        tss.read_purity(text)
    moved = _workbook(tmp_path / "moved.xlsx", {"Sheet1": [PURITY_HEADER, ["TCGA-AA-0001-01A", "BRCA", 1, 1, 1, 1, 1]]})
    with pytest.raises(InputFormatError, match=r"moved\.xlsx: missing columns \[.*'Sample ID'.*\] in the header row \(row 4\)"):
        tss.read_purity(moved)
    only = _purity_book(tmp_path / "only.xlsx", [])
    with pytest.raises(InputFormatError, match=r"only\.xlsx: header only"):
        tss.read_purity(only)
    twice = _purity_book(tmp_path / "twice.xlsx", [["TCGA-AA-0001-01A", "BRCA", 0.5, 0.5, 0.5, 0.5, 0.5]] * 2)
    with pytest.raises(InputFormatError, match=r"twice\.xlsx, row 6, column 'Sample ID': sample 'TCGA-AA-0001-01A' listed twice"):
        tss.read_purity(twice)
    patient = _purity_book(tmp_path / "patient.xlsx", [["TCGA-AA-0001", "BRCA", 0.5, 0.5, 0.5, 0.5, 0.5]])
    with pytest.raises(InputFormatError, match=r"patient\.xlsx, row 5, column 'Sample ID': patient barcode without a sample"):
        tss.read_purity(patient)


# ====================================================================================== Subtype-GAN
SUBTYPEGAN_ROWS = {"BLCA": (399, 175), "BRCA": (1031, 141), "GBM": (127, 97), "KIRC": (488, 163), "LUAD": (490, 177),
                   "PAAD": (176, 92), "SKCM": (446, 211), "STAD": (407, 158), "UCEC": (510, 82), "UVM": (80, 14)}


@pytest.fixture(scope="module")
def sg_clinic(raw_dir: Path) -> pl.DataFrame:
    return subtypegan.read_all_clinic(raw_dir / SUBTYPEGAN)


@pytest.fixture(scope="module")
def sg_mirna(raw_dir: Path):
    return subtypegan.read_all_mirna(raw_dir / SUBTYPEGAN)


@realdata
def test_subtypegan_clinic_golden(sg_clinic):
    assert sg_clinic.height == sg_clinic["patient_id"].n_unique() == sum(n for n, _ in SUBTYPEGAN_ROWS.values())
    per = {c: (n, e) for c, n, e in sg_clinic.group_by("cohort").agg(pl.len(), pl.col("os_event").sum()).iter_rows()}
    assert per == SUBTYPEGAN_ROWS
    # BLCA.clinic line 2
    row = sg_clinic.filter(pl.col("patient_id") == "TCGA-HQ-A2OF").row(0, named=True)
    assert row == {"patient_id": "TCGA-HQ-A2OF", "cohort": "BLCA", "os_event": 0, "os_days": 1947.0, "sex": "FEMALE",
                   "age": 52.0, "pathologic_m": "M0", "pathologic_n": "N0", "pathologic_t": "T3b",
                   "pathologic_stage": "Stage III"}
    # BLCA.clinic line 103 says days = -64: a data-entry error, recorded as null
    assert sg_clinic.filter(pl.col("patient_id") == "TCGA-CF-A9FH")["os_days"].to_list() == [None]
    assert sg_clinic["os_days"].drop_nulls().min() >= 0
    assert sg_clinic.filter(pl.col("cohort") == "GBM")["pathologic_stage"].null_count() == 127


@realdata
def test_subtypegan_pam50_golden(raw_dir: Path):
    pam50 = subtypegan.read_pam50(raw_dir / SUBTYPEGAN / "results" / "BRCA.merge")
    assert pam50.height == pam50["patient_id"].n_unique() == 1031
    assert dict(pam50.group_by("pam50").len().iter_rows()) == {"LumA": 523, "LumB": 196, "Basal": 171, "Her2": 77,
                                                               "Normal": 64}
    assert pam50.filter(pl.col("patient_id") == "TCGA-D8-A1XJ")["pam50"].to_list() == ["Her2"]  # line 2


@realdata
def test_subtypegan_mirna_golden(raw_dir: Path, sg_mirna, sg_clinic):
    block = sg_mirna
    assert block.modality == "mirna" and block.shape == (2996, 383)
    extra = block.provenance.extra
    assert extra["cohorts"] == ["BLCA", "KIRC", "LUAD", "PAAD", "SKCM", "STAD", "UCEC", "UVM"]
    assert set(extra["refused_cohorts"]) == {"BRCA", "GBM"}
    assert "constant (0.0 in all" in extra["refused_cohorts"]["GBM"]
    assert str(raw_dir) not in extra["refused_cohorts"]["GBM"]  # provenance stays machine-independent
    assert extra["refused_patients"] == []
    assert not np.isnan(block.values).any()
    values = block.values.astype(np.float64)
    assert np.abs(values.mean(axis=1)).max() < 1e-5 and np.abs(values.std(axis=1) - 1).max() < 1e-5
    # the miRNA patients are exactly the .clinic patients of the cohorts kept
    kept = sg_clinic.filter(pl.col("cohort").is_in(extra["cohorts"]))["patient_id"]
    assert set(block.patients) == set(kept) and len(block.patients) == kept.len()
    # fea/BLCA/miRNA.fea: row hsa-let-7a-5p, column TCGA-HQ-A2OF
    assert block.features[:2] == ("hsa-let-7a-2-3p", "hsa-let-7a-5p")
    i = block.patients.index("TCGA-HQ-A2OF")
    assert block.values[i, 1] == np.float32(2.4966900071918623)
    assert block.values[i, 0] == np.float32(-1.4036474407176214)


# ----------------------------------------------------------------------------- Subtype-GAN bad input
CLINIC_HEADER = ",".join(subtypegan.CLINIC_COLUMNS) + "\n"


def test_subtypegan_clinic_bad_input(tmp_path: Path):
    ok = tmp_path / "blca.clinic"
    ok.write_text(CLINIC_HEADER + "TCGA-AA-0002,1,3981.0,male,60,M0,[Not Available],T2,Stage II\n"
                  "TCGA-AA-0001,0,-5,FEMALE,[Not Available],MX,N0,T1,[Discrepancy]\n")
    table = subtypegan.read_clinic(ok)
    assert table.rows() == [("TCGA-AA-0001", "BLCA", 0, None, "FEMALE", None, "MX", "N0", "T1", None),
                            ("TCGA-AA-0002", "BLCA", 1, 3981.0, "MALE", 60.0, "M0", None, "T2", "Stage II")]
    empty = tmp_path / "empty.clinic"
    empty.write_text("")
    with pytest.raises(InputFormatError, match=r"empty\.clinic: empty file"):
        subtypegan.read_clinic(empty)
    only = tmp_path / "only.clinic"
    only.write_text(CLINIC_HEADER)
    with pytest.raises(InputFormatError, match=r"only\.clinic: header only"):
        subtypegan.read_clinic(only)
    missing = tmp_path / "missing.clinic"
    missing.write_text("bcr_patient_barcode,status,gender\nTCGA-AA-0001,0,MALE\n")
    with pytest.raises(InputFormatError, match=r"missing\.clinic: missing columns \['days', "):
        subtypegan.read_clinic(missing)
    text = tmp_path / "text.clinic"
    text.write_text(CLINIC_HEADER + "TCGA-AA-0001,0,10,MALE,60,M0,N0,T1,Stage I\n"
                    "TCGA-AA-0002,0,ten,MALE,60,M0,N0,T1,Stage I\n")
    with pytest.raises(InputFormatError, match=r"text\.clinic, row 3, column 'days': non-numeric cell.*'ten'"):
        subtypegan.read_clinic(text)
    twice = tmp_path / "twice.clinic"
    twice.write_text(CLINIC_HEADER + "TCGA-AA-0001,0,10,MALE,60,M0,N0,T1,Stage I\n"
                     "TCGA-AA-0001-01A,1,20,MALE,60,M0,N0,T1,Stage I\n")
    with pytest.raises(InputFormatError, match=r"twice\.clinic, column 'bcr_patient_barcode': .*appears twice \(rows 2 and 3\)"):
        subtypegan.read_clinic(twice)
    status = tmp_path / "status.clinic"
    status.write_text(CLINIC_HEADER + "TCGA-AA-0001,2,10,MALE,60,M0,N0,T1,Stage I\n")
    with pytest.raises(InputFormatError, match=r"status\.clinic, row 2, column 'status': invalid vital status"):
        subtypegan.read_clinic(status)


def test_subtypegan_pam50_bad_input(tmp_path: Path):
    path = tmp_path / "BRCA.merge"
    path.write_text(",x,y,SubtypeGAN,subtype,status,days\nTCGA-AA-0001,1,2,C1,LumA,0,10\nTCGA-AA-0002,1,2,C1,Luminal,0,10\n")
    with pytest.raises(InputFormatError, match=r"BRCA\.merge, row 3, column 'subtype': unknown PAM50 label.*'Luminal'"):
        subtypegan.read_pam50(path)
    path.write_text(",x,y,SubtypeGAN,status,days\nTCGA-AA-0001,1,2,C1,0,10\n")
    with pytest.raises(InputFormatError, match=r"BRCA\.merge: no 'subtype' column"):
        subtypegan.read_pam50(path)


def _mirna(path: Path, patients: list[str], rows: dict[str, list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["," + ",".join(patients)] + [f"{name}," + ",".join(str(v) for v in values) for name, values in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_subtypegan_mirna_bad_input(tmp_path: Path):
    zeros = _mirna(tmp_path / "GBM" / "miRNA.fea", ["TCGA-AA-0001", "TCGA-AA-0002"], {"mir-1": [0, 0], "mir-2": [0, 0]})
    with pytest.raises(DegenerateBlockError, match=r"GBM/miRNA\.fea: GBM miRNA block is constant \(0\.0 in all 4 cells\)"):
        subtypegan.read_mirna(zeros, "GBM")
    text = _mirna(tmp_path / "a.fea", ["TCGA-AA-0001", "TCGA-AA-0002"], {"mir-1": [1, -1], "mir-2": [-1, "x"]})
    with pytest.raises(InputFormatError, match=r"a\.fea, row 3 \(mir-2\), column 'TCGA-AA-0002': non-numeric cell"):
        subtypegan.read_mirna(text, "BLCA")
    barcode = _mirna(tmp_path / "b.fea", ["TCGA-AA-0001", "sample-2"], {"mir-1": [1, -1], "mir-2": [-1, 1]})
    with pytest.raises(InputFormatError, match=r"b\.fea, row 1, column '#3': not a TCGA barcode.*'sample-2'"):
        subtypegan.read_mirna(barcode, "BLCA")
    conflict = _mirna(tmp_path / "c.fea", ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0001-01A"],
                      {"mir-1": [1, -1, 2], "mir-2": [-1, 1, -2]})
    with pytest.raises(InputFormatError, match=r"c\.fea.*duplicate patient ID 'TCGA-AA-0001' with conflicting values"):
        subtypegan.read_mirna(conflict, "BLCA")
    twice = _mirna(tmp_path / "d.fea", ["TCGA-AA-0001"], {"mir-1": [1], "mir-1 ": [-1]})
    with pytest.raises(InputFormatError, match=r"d\.fea, column '\(first column\)': miRNA 'mir-1' appears twice"):
        subtypegan.read_mirna(twice, "BLCA")
    empty = tmp_path / "e.fea"
    empty.write_text("")
    with pytest.raises(InputFormatError, match=r"e\.fea: empty file"):
        subtypegan.read_mirna(empty, "BLCA")


def test_subtypegan_all_mirna_refuses_the_zero_cohort(tmp_path: Path):
    folder = tmp_path / "subtypegan"
    _mirna(folder / "fea" / "BLCA" / "miRNA.fea", ["TCGA-AA-0002", "TCGA-AA-0001"], {"mir-1": [1, -1], "mir-2": [-1, 1]})
    _mirna(folder / "fea" / "UVM" / "miRNA.fea", ["TCGA-BB-0001"], {"mir-1": [0.5], "mir-2": [-0.5]})
    _mirna(folder / "fea" / "GBM" / "miRNA.fea", ["TCGA-CC-0001"], {"mir-1": [0], "mir-2": [0]})
    block = subtypegan.read_all_mirna(folder)
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002", "TCGA-BB-0001")
    assert block.values.tolist() == [[-1.0, 1.0], [1.0, -1.0], [0.5, -0.5]]
    refused = block.provenance.extra["refused_cohorts"]
    assert set(refused) == set(subtypegan.COHORTS) - {"BLCA", "UVM"}
    assert refused["GBM"].startswith("subtypegan/fea/GBM/miRNA.fea: GBM miRNA block is constant")
    assert refused["KIRC"] == "subtypegan/fea/KIRC/miRNA.fea is not in the source snapshot"
    _mirna(folder / "fea" / "UVM" / "miRNA.fea", ["TCGA-BB-0001"], {"mir-1": [0.5], "mir-9": [-0.5]})
    with pytest.raises(InputFormatError, match=r"UVM/miRNA\.fea, row 3: miRNA names differ between cohorts"):
        subtypegan.read_all_mirna(folder)


# ============================================================================================ cpRMT
@pytest.fixture(scope="module")
def cprmt_protein(raw_dir: Path):
    return cprmt.read_protein(raw_dir / CPRMT, pkdd2014_antibodies=False)


@realdata
def test_cprmt_tkde_protein_and_pam50(raw_dir: Path, cprmt_protein):
    block = cprmt_protein
    assert block.modality == "protein" and block.shape == (363, 131)
    assert not np.isnan(block.values).any()
    assert block.provenance.comparable_across_cohorts is False
    # tkde_protein_subset.txt: row "1433EPSILON", first column "TCGA-A1-A0SH-01"
    assert block.patients[0] == "TCGA-A1-A0SH" and block.features[0] == "1433EPSILON"
    assert block.values[0, 0] == np.float32(-0.173035433379547)
    pam50 = cprmt.read_pam50(raw_dir / CPRMT)
    assert pam50.height == pam50["patient_id"].n_unique() == 363
    assert dict(pam50.group_by("pam50").len().iter_rows()) == {"LumA": 159, "LumB": 86, "Basal": 68, "Her2": 45, "Normal": 5}
    assert pam50["patient_id"].to_list() == list(block.patients)
    assert pam50.filter(pl.col("patient_id") == "TCGA-A1-A0SH")["pam50"].to_list() == ["LumA"]


@realdata
def test_cprmt_pkdd2014_dotted_barcodes(raw_dir: Path):
    folder = raw_dir / CPRMT / "data" / "brca" / "pkdd2014"
    protein = cprmt.read_cprmt_matrix(folder / "protein_subset.txt", "protein")
    assert protein.shape == (94, 171)
    # header 'TCGA.C8.A12P.01' -> patient TCGA-C8-A12P; row c.Myc
    assert protein.values[protein.patients.index("TCGA-C8-A12P"), protein.features.index("c.Myc")] == np.float32(-0.516084224)
    mrna = cprmt.read_cprmt_matrix(folder / "mrna_subset.txt", "rna")
    assert mrna.shape == (94, 1761) and int(np.isnan(mrna.values).sum()) == 9
    assert mrna.values[mrna.patients.index("TCGA-C8-A12P"), mrna.features.index("A2M")] == np.float32(0.36675)
    assert mrna.patients == protein.patients
    pam50 = cprmt.read_pam50(raw_dir / CPRMT)
    assert len(set(protein.patients) & set(pam50["patient_id"])) == 93
    merged = cprmt.read_protein(raw_dir / CPRMT)
    assert merged.shape == (364, 172) and len(merged.provenance.extra["pkdd2014_columns"]) == 41


# ---------------------------------------------------------------------------------- cpRMT bad input
def _table(path: Path, samples: list[str], rows: dict[str, list], quote: bool = False) -> Path:
    q = (lambda s: f'"{s}"') if quote else (lambda s: s)
    lines = ["\t".join(q(s) for s in samples)] + ["\t".join([q(n), *map(str, v)]) for n, v in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cprmt_matrix_samples_and_barcodes(tmp_path: Path):
    path = _table(tmp_path / "t.txt", ["TCGA.AA.0002.01", "TCGA.AA.0001.06", "TCGA.AA.0001.01", "TCGA.AA.0003.11"],
                  {"g1": [1, 2, 3, 4], "g2": [5, 6, 7, 8], "g1 ": [1, 2, 3, 4]})
    block = cprmt.read_cprmt_matrix(path, "rna")
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002")
    assert block.features == ("g1", "g2")  # identical duplicate row collapsed
    assert block.values.tolist() == [[3.0, 7.0], [1.0, 5.0]]  # the primary tumour (01) before the metastasis (06)
    assert block.provenance.extra["normal_samples_dropped"] == ["TCGA.AA.0003.11"]
    assert block.provenance.extra["extra_tumour_samples_dropped"] == ["TCGA.AA.0001.06"]
    quoted = _table(tmp_path / "q.txt", ["TCGA-AA-0001-01"], {"1433EPSILON": [0.5]}, quote=True)
    assert cprmt.read_cprmt_matrix(quoted, "protein").patients == ("TCGA-AA-0001",)


def test_cprmt_matrix_bad_input(tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InputFormatError, match=r"empty\.txt: empty file"):
        cprmt.read_cprmt_matrix(empty, "rna")
    only = _table(tmp_path / "only.txt", ["TCGA-AA-0001-01"], {})
    with pytest.raises(InputFormatError, match=r"only\.txt: header only"):
        cprmt.read_cprmt_matrix(only, "rna")
    text = _table(tmp_path / "text.txt", ["TCGA-AA-0001-01", "TCGA-AA-0002-01"], {"g1": [1, 2], "g2": [3, "n/a?"]})
    with pytest.raises(InputFormatError, match=r"text\.txt, row 3 \(g2\), column 'TCGA-AA-0002-01': non-numeric cell.*'n/a\?'"):
        cprmt.read_cprmt_matrix(text, "rna")
    barcode = _table(tmp_path / "barcode.txt", ["TCGA-AA-0001-01", "TCGA-AA-0002"], {"g1": [1, 2]})
    with pytest.raises(InputFormatError, match=r"barcode\.txt, row 1, column '#3': not a TCGA sample barcode"):
        cprmt.read_cprmt_matrix(barcode, "rna")
    conflict = _table(tmp_path / "conflict.txt", ["TCGA-AA-0001-01"], {"g1": [1], "g2": [2], "g1 ": [3]})
    with pytest.raises(InputFormatError, match=r"conflict\.txt.*feature 'g1' appears in rows 2 and 4 with different values"):
        cprmt.read_cprmt_matrix(conflict, "rna")
    with pytest.raises(ValueError, match="modality 'methylation'"):
        cprmt.read_cprmt_matrix(text, "methylation")


def test_cprmt_pam50_bad_input(tmp_path: Path):
    where = tmp_path / cprmt.TKDE
    where.mkdir(parents=True)
    path = where / "tkde_pam50_subset.txt"
    path.write_text("Type\tPAM50\tcolor\nTCGA-AA-0001-01\ttumor\tLumA\tblue\nTCGA-AA-0002-01\ttumor\tLuminal\tred\n")
    with pytest.raises(InputFormatError, match=r"tkde_pam50_subset\.txt, row 3, column 'PAM50': unknown PAM50 label"):
        cprmt.read_pam50(tmp_path)
    path.write_text("Type\tSubtype\tcolor\nTCGA-AA-0001-01\ttumor\tLumA\tblue\n")
    with pytest.raises(InputFormatError, match=r"tkde_pam50_subset\.txt: no 'PAM50' column"):
        cprmt.read_pam50(tmp_path)
    path.write_text("Type\tPAM50\tcolor\n")
    with pytest.raises(InputFormatError, match=r"tkde_pam50_subset\.txt: header only"):
        cprmt.read_pam50(tmp_path)


# ========================================================================================== GSE7390
@pytest.fixture(scope="module")
def gse(raw_dir: Path):
    return gse7390.read_gse7390(raw_dir / GSE_FILE)


@realdata
def test_gse7390_golden(raw_dir: Path, gse):
    clinical, rna = gse
    assert _sha256(raw_dir / GSE_FILE) == _sha256(gse7390.bundled_path())
    assert clinical.height == 198 and int(clinical["dm_event"].sum()) == 51
    assert rna.shape == (198, 76) and rna.modality == "rna"
    assert clinical["patient_id"].to_list() == list(rna.patients)
    assert clinical.row(0) == ("GSE7390-001", 57.0, 3.0, "poorly differentiated", "negative", 723.0, 1)
    assert clinical["grade"].null_count() == 2  # the file's 'unkown'
    assert rna.features[:3] == ("219340_s_at", "217771_at", "202418_at")  # file order, R's 'X' removed
    assert rna.values[0, 0] == np.float32(7.01410950575358)
    assert not np.isnan(rna.values).any()


@realdata
def test_gse7390_matches_sksurv_loader(gse):
    load_breast_cancer = pytest.importorskip("sksurv.datasets").load_breast_cancer
    clinical, rna = gse
    x, y = load_breast_cancer()
    expected = x[["X" + f for f in rna.features]].to_numpy(dtype=np.float32)
    assert np.array_equal(rna.values, expected)
    assert clinical["dm_event"].to_list() == y["e.tdm"].astype(int).tolist()
    assert clinical["dm_time_days"].to_list() == y["t.tdm"].tolist()


# -------------------------------------------------------------------------------- GSE7390 bad input
ARFF_HEADER = """@relation tiny
@attribute age numeric
@attribute size numeric
@attribute grade {well differentiated,intermediate,poorly differentiated,unkown}
@attribute er {negative,positive}
@attribute t.tdm numeric
@attribute e.tdm {0,1}
@attribute X219340_s_at numeric
@attribute X217771_at numeric
@data
"""


def test_gse7390_tiny_arff_and_bad_input(tmp_path: Path):
    ok = tmp_path / "ok.arff"
    ok.write_text(ARFF_HEADER + "57,3,'poorly differentiated',negative,723,1,7.0,9.9\n% comment\n"
                  "60,?,unkown,positive,6591,0,7.3,6.4\n")
    clinical, rna = gse7390.read_gse7390(ok)
    assert clinical.rows() == [("GSE7390-001", 57.0, 3.0, "poorly differentiated", "negative", 723.0, 1),
                               ("GSE7390-002", 60.0, None, None, "positive", 6591.0, 0)]
    assert rna.features == ("219340_s_at", "217771_at")
    empty = tmp_path / "empty.arff"
    empty.write_text("")
    with pytest.raises(InputFormatError, match=r"empty\.arff: not an ARFF file"):
        gse7390.read_gse7390(empty)
    only = tmp_path / "only.arff"
    only.write_text(ARFF_HEADER)
    with pytest.raises(InputFormatError, match=r"only\.arff: header only, no data rows"):
        gse7390.read_gse7390(only)
    text = tmp_path / "text.arff"
    text.write_text(ARFF_HEADER + "57,3,intermediate,negative,723,1,7.0,9.9\n57,3,intermediate,negative,723,1,7.0,big\n")
    with pytest.raises(InputFormatError, match=r"text\.arff, row 2 \(line 12\), column 'X217771_at': non-numeric cell.*'big'"):
        gse7390.read_gse7390(text)
    short = tmp_path / "short.arff"
    short.write_text(ARFF_HEADER + "57,3,intermediate,negative,723,1,7.0\n")
    with pytest.raises(InputFormatError, match=r"short\.arff, row 1 \(line 11\): wrong number of values; expected 8"):
        gse7390.read_gse7390(short)
    missing = tmp_path / "missing.arff"
    missing.write_text(ARFF_HEADER.replace("@attribute e.tdm {0,1}\n", "") + "57,3,intermediate,negative,723,7.0,9.9\n")
    with pytest.raises(InputFormatError, match=r"missing\.arff: missing attributes \['e\.tdm'\]"):
        gse7390.read_gse7390(missing)
    grade = tmp_path / "grade.arff"
    grade.write_text(ARFF_HEADER + "57,3,high,negative,723,1,7.0,9.9\n")
    with pytest.raises(InputFormatError, match=r"grade\.arff, row 1 \(line 11\), column 'grade': unknown grade value"):
        gse7390.read_gse7390(grade)
    event = tmp_path / "event.arff"
    event.write_text(ARFF_HEADER + "57,3,intermediate,negative,723,?,7.0,9.9\n")
    with pytest.raises(InputFormatError, match=r"column 'e\.tdm': unknown e\.tdm value"):
        gse7390.read_gse7390(event)


# ===================================================================== harmonize.frame_block (shared)
PROV = Provenance("tiny", (), "none", "CC0", "none", True)


def test_frame_block_bad_input_and_slide_rule():
    frame = pd.DataFrame({"id": ["TCGA-AA-0002-01Z-00-DX1", "TCGA-AA-0001", "TCGA-AA-0002-01Z-00-DX2"],
                          "slide": ["b", "z", "a"], "f1": [1.0, 2.0, 3.0], "f2": ["4", "", "6"]})
    block = frame_block(frame, path="t.csv", id_column="id", feature_columns=["f1", "f2"], modality="pathology",
                        provenance=PROV, prefix="img_", order_key=frame["slide"].tolist(), on_conflict="first")
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002") and block.features == ("img_f1", "img_f2")
    assert block.values[0, 0] == 2.0 and np.isnan(block.values[0, 1])  # empty cell = not measured
    assert block.values[1].tolist() == [3.0, 6.0]  # slide 'a' sorts first
    # (the row/column this message names are collapse_duplicate_rows' 1-based row index and '#<j>', not the
    # file's row and column name: see the report)
    with pytest.raises(InputFormatError, match=r"t\.csv.*duplicate patient ID 'TCGA-AA-0002' with conflicting .*1\.0 vs 3\.0"):
        frame_block(frame, path="t.csv", id_column="id", feature_columns=["f1", "f2"], modality="pathology",
                    provenance=PROV)
    with pytest.raises(InputFormatError, match=r"t\.csv: missing columns \['f3'\]"):
        frame_block(frame, path="t.csv", id_column="id", feature_columns=["f1", "f3"], modality="pathology",
                    provenance=PROV)
    with pytest.raises(InputFormatError, match=r"t\.csv: header only"):
        frame_block(frame.iloc[:0], path="t.csv", id_column="id", feature_columns=["f1"], modality="pathology",
                    provenance=PROV)
    bad = frame.assign(f2=["4", "5", "six"])
    with pytest.raises(InputFormatError, match=r"t\.csv, row 4 \(TCGA-AA-0002-01Z-00-DX2\), column 'f2': non-numeric cell"):
        frame_block(bad, path="t.csv", id_column="id", feature_columns=["f1", "f2"], modality="pathology",
                    provenance=PROV, order_key=frame["slide"].tolist(), on_conflict="first")
    with pytest.raises(InputFormatError, match=r"t\.csv, row 3, column 'id'.*expected a TCGA barcode"):
        frame_block(frame.assign(id=["TCGA-AA-0001", "slide-9", "TCGA-AA-0003"]), path="t.csv", id_column="id",
                    feature_columns=["f1"], modality="pathology", provenance=PROV)
