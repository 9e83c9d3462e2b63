"""Readers of the omics and clinical sources: golden values on the real files, bad input on tiny files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import polars as pl
import pytest

from oncobench.datasets.errors import DegenerateBlockError, InputFormatError
from oncobench.datasets.provenance import sha256_file
from oncobench.datasets.sources import cprmt, gse7390, porpoise, subtypegan, tcga_cdr, tss

PORPOISE = "porpoise_tcga14_multiomics_survival"
CDR = "tcga_cdr_pancancer_clinical"
SG = "subtypegan_tcga10_clinical_mirna"


# ---------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def porpoise_data(raw_dir: Path):
    return porpoise.read_porpoise(raw_dir / PORPOISE)


@pytest.mark.realdata
def test_porpoise_golden(porpoise_data, raw_dir):
    clinical, blocks = porpoise_data
    assert clinical.height == 5720 and clinical["patient_id"].n_unique() == 5720
    assert dict(clinical.group_by("cohort").len().iter_rows())["ucec"] == 480
    assert {m: b.shape for m, b in blocks.items()} == {"rna": (5240, 1608), "cnv": (4780, 2896), "mutation": (5720, 2355)}
    assert (clinical["event"] == 1 - clinical["censorship"]).all()
    assert int(clinical["event"].sum()) == 1755  # OS events summed from PROVENANCE's per-cohort table
    mutation = blocks["mutation"].values
    assert set(np.unique(mutation[np.isfinite(mutation)])) == {0.0, 1.0}
    assert blocks["rna"].provenance.comparable_across_cohorts is False
    # a cell read independently with pandas
    with zipfile.ZipFile(raw_dir / PORPOISE / "datasets_csv_mutsig/tcga_blca_all_clean.csv.zip") as archive:
        raw = pd.read_csv(archive.open(archive.namelist()[0]), low_memory=False)
    first = raw.sort_values(["case_id", "slide_id"]).iloc[0]
    rna = blocks["rna"]
    assert rna.values[rna.patients.index(first["case_id"]), rna.features.index("TP53")] == np.float32(first["TP53_rnaseq"])


@pytest.mark.realdata
def test_porpoise_published_splits(raw_dir):
    splits = porpoise.read_porpoise_splits(raw_dir / PORPOISE)
    assert splits.filter(pl.col("role") == "test").height == 5720  # every patient tested once
    per = splits.group_by(["cohort", "fold"]).agg(pl.col("patient_id").n_unique(), pl.len())
    assert (per["patient_id"] == per["len"]).all() and per.height == 70


@pytest.mark.realdata
def test_tcga_cdr_golden(raw_dir):
    cdr = tcga_cdr.read_tcga_cdr(raw_dir / CDR / "TCGA-CDR-SupplementalTableS1.xlsx")
    assert cdr.height == 11160 and cdr["cancer_type"].n_unique() == 33
    for endpoint, known, events in (("os", 11151, 3622), ("dss", 10648, 2499), ("dfi", 5531, 1118), ("pfi", 10953, 3996)):
        part = cdr.filter(pl.col(endpoint).is_not_null())
        assert (part.height, int(part[endpoint].sum())) == (known, events)
    assert cdr["redaction"].drop_nulls().len() == 57
    # the stray Sheet1 (500 duplicated PRAD rows) is never read: PRAD appears once per patient
    prad = cdr.filter(pl.col("cancer_type") == "PRAD")
    assert prad.height == prad["patient_id"].n_unique()
    row = cdr.filter(pl.col("patient_id") == "TCGA-OR-A5J1").row(0, named=True)
    assert (row["cancer_type"], row["age"], row["os_time"], row["pfi_time"]) == ("ACC", 58.0, 1355.0, 754.0)
    assert row["clinical_stage"] is None  # '[Not Applicable]' -> null
    info = tcga_cdr.read_tss_info(raw_dir / CDR / "TCGA-CDR-SupplementalTableS1.xlsx")
    assert info.filter(pl.col("tss_code") == "02")["source_site"].item() == "MD Anderson Cancer Center"
    assert info["tss_code"].str.len_chars().eq(2).all()
    ancestry = tcga_cdr.read_genetic_ancestry(raw_dir / CDR / "Genetic_Ancestry.xlsx")
    assert ancestry.height == 11122 and set(ancestry["eigenstrat"].drop_nulls()) == {"EA", "AA", "EAA", "OA"}


@pytest.mark.realdata
def test_tss_centres_and_purity(raw_dir):
    folder = raw_dir / "tcga_tss_centers_and_purity"
    centers = tss.read_centers(folder / "centers.csv")
    assert centers.height == 265 and centers.filter(pl.col("tss_code") == "05")["source_site"].item() == "Indivumed"
    purity = tss.read_purity(folder / "ncomms9971-s2.xlsx")
    assert purity.height == 9364
    first = purity.row(0, named=True)
    assert (first["sample_id"], first["patient_id"], first["cpe"]) == ("TCGA-OR-A5J1-01A", "TCGA-OR-A5J1", 0.9246)
    per_patient = tss.patient_purity(purity)
    assert per_patient["patient_id"].n_unique() == per_patient.height == 8852


@pytest.mark.realdata
def test_subtypegan_golden(raw_dir):
    clinic = subtypegan.read_all_clinic(raw_dir / SG)
    counts = dict(clinic.group_by("cohort").len().iter_rows())
    assert counts == {"BLCA": 399, "BRCA": 1031, "GBM": 127, "KIRC": 488, "LUAD": 490, "PAAD": 176, "SKCM": 446,
                      "STAD": 407, "UCEC": 510, "UVM": 80}
    pam50 = dict(subtypegan.read_pam50(raw_dir / SG / "results/BRCA.merge")["pam50"].value_counts().iter_rows())
    assert pam50 == {"LumA": 523, "LumB": 196, "Basal": 171, "Her2": 77, "Normal": 64}
    mirna = subtypegan.read_all_mirna(raw_dir / SG)
    assert mirna.shape == (2996, 383) and set(mirna.provenance.extra["refused_cohorts"]) == {"GBM", "BRCA"}
    # standardised per sample: every patient's profile has mean 0 and sd 1, so levels compare across cohorts
    assert np.abs(mirna.values.mean(axis=1)).max() < 1e-5
    assert np.allclose(mirna.values.std(axis=1), 1.0, atol=1e-2)
    with pytest.raises(DegenerateBlockError, match=r"GBM/miRNA.fea: GBM miRNA block is constant \(0.0 in all"):
        subtypegan.read_mirna(raw_dir / SG / "fea/GBM/miRNA.fea", "GBM")


@pytest.mark.realdata
def test_cprmt_golden(raw_dir):
    folder = raw_dir / "cprmt_tcga_brca_4omics_pam50"
    protein = cprmt.read_protein(folder)
    assert protein.shape == (363, 131) and protein.features[:2] == ("1433EPSILON", "4EBP1")
    assert protein.values[protein.patients.index("TCGA-A1-A0SH"), 0] == pytest.approx(-0.173035, abs=1e-6)
    pam50 = dict(cprmt.read_pam50(folder)["pam50"].value_counts().iter_rows())
    assert pam50 == {"LumA": 159, "LumB": 86, "Basal": 68, "Her2": 45, "Normal": 5}
    dotted = cprmt.read_cprmt_matrix(folder / "data/brca/pkdd2014/protein_subset.txt", "protein")
    assert dotted.shape == (94, 171) and "TCGA-C8-A12P" in dotted.patients


@pytest.mark.realdata
def test_gse7390_matches_the_raw_copy(raw_dir):
    clinical, rna = gse7390.read_gse7390()
    assert clinical.height == 198 and int(clinical["dm_event"].sum()) == 51 and rna.shape == (198, 76)
    assert sha256_file(gse7390.bundled_path()) == sha256_file(raw_dir / "gse7390_breast_metastasis_sksurv" / gse7390.FILE_NAME)
    assert not any(f.startswith("X") for f in rna.features)


# --------------------------------------------------------------------------------------------- bad input
def _zip_csv(path: Path, text: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("./inner.csv.zip", text)
    return path


HEADER = "Unnamed: 0,case_id,slide_id,age,site,survival_months,censorship,is_female,oncotree_code,train,TP53_rnaseq,TP53_mut\n"


def test_porpoise_slide_rows_collapse_to_the_smallest_slide(tmp_path):
    text = HEADER + "0,TCGA-AA-0001,s2.svs,50,AA,10,1,1,X,1,0.5,1\n1,TCGA-AA-0001,s1.svs,50,AA,10,1,1,X,1,0.5,1\n"
    clinical, blocks = porpoise.read_porpoise_cohort(_zip_csv(tmp_path / "tcga_x_all_clean.csv.zip", text))
    assert clinical["slide_id"].to_list() == ["s1.svs"] and clinical["n_slides"].to_list() == [2]
    assert blocks["mutation"].values.tolist() == [[1.0]] and clinical["event"].to_list() == [0]


@pytest.mark.parametrize("text,message", [
    ("", "the CSV inside is empty"),
    (HEADER, "the CSV inside has a header but no rows"),
    (HEADER + "0,TCGA-AA-0001,s1,50,AA,10,1,1,X,1,abc,1\n", "row 2 (TCGA-AA-0001), column 'TP53_rnaseq': non-numeric cell"),
    ("case_id,slide_id\nTCGA-AA-0001,s1\n", "missing columns ['age'"),
    (HEADER + "0,TCGA-AA-0001,s1,50,AA,10,2,1,X,1,0.1,1\n", "censorship must be 0 or 1"),
])
def test_porpoise_bad_tables(tmp_path, text, message):
    with pytest.raises(InputFormatError) as err:
        porpoise.read_porpoise_cohort(_zip_csv(tmp_path / "tcga_x_all_clean.csv.zip", text))
    assert "tcga_x_all_clean.csv.zip" in str(err.value) and message in str(err.value)


def test_porpoise_truncated_and_fake_zip(tmp_path):
    good = _zip_csv(tmp_path / "good.zip", HEADER + "0,TCGA-AA-0001,s1,50,AA,10,1,1,X,1,0.1,1\n" * 50)
    truncated = tmp_path / "tcga_t_all_clean.csv.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputFormatError, match="tcga_t_all_clean.csv.zip: not a readable zip archive"):
        porpoise.read_porpoise_cohort(truncated)
    fake = tmp_path / "tcga_f_all_clean.csv.zip"
    fake.write_text("<!DOCTYPE html><html>404</html>")
    with pytest.raises(InputFormatError, match="tcga_f_all_clean.csv.zip: not a readable zip archive"):
        porpoise.read_porpoise_cohort(fake)


def test_porpoise_split_with_a_patient_on_both_sides(tmp_path):
    folder = tmp_path / "splits/5foldcv/tcga_x"
    folder.mkdir(parents=True)
    for k in range(5):
        (folder / f"splits_{k}.csv").write_text(",train,val\n0,TCGA-AA-0001,TCGA-AA-0002\n1,TCGA-AA-0002,\n")
    with pytest.raises(InputFormatError, match="splits_0.csv, column 'val': patient TCGA-AA-0002 is in both train and val"):
        porpoise.read_porpoise_splits(tmp_path, cohorts=("x",))


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


CDR_HEADER = ["bcr_patient_barcode", "type", "age_at_initial_pathologic_diagnosis", "gender", "OS", "OS.time", "DSS",
              "DSS.time", "DFI", "DFI.time", "PFI", "PFI.time"]


def test_tcga_cdr_reads_only_the_main_sheet(tmp_path):
    main = [CDR_HEADER, ["TCGA-AA-0001", "PRAD", 60, "MALE", 0, 100, 0, 100, "#N/A", "#N/A", 1, 50]]
    extra = [CDR_HEADER] + [["TCGA-AA-0001", "PRAD", 60, "MALE", 0, 100, 0, 100, None, None, 1, 50]] * 3
    path = _workbook(tmp_path / "cdr.xlsx", {"Sheet1": extra, "TCGA-CDR": main})
    table = tcga_cdr.read_tcga_cdr(path)
    assert table.height == 1 and table["dfi"].to_list() == [None] and table["pfi_time"].to_list() == [50.0]


def test_tcga_cdr_without_main_sheet_names_the_sheets(tmp_path):
    path = _workbook(tmp_path / "cdr.xlsx", {"Sheet1": [CDR_HEADER]})
    with pytest.raises(InputFormatError, match=r"cdr.xlsx: no sheet 'TCGA-CDR'.*found sheets \['Sheet1'\]"):
        tcga_cdr.read_tcga_cdr(path)
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputFormatError, match="broken.xlsx: not a readable xlsx workbook"):
        tcga_cdr.read_tcga_cdr(tmp_path / "broken.xlsx")


def test_tcga_cdr_duplicate_patient_and_bad_endpoint(tmp_path):
    row = ["TCGA-AA-0001", "PRAD", 60, "MALE", 0, 100, 0, 100, 0, 10, 1, 50]
    path = _workbook(tmp_path / "dup.xlsx", {"TCGA-CDR": [CDR_HEADER, row, row]})
    with pytest.raises(InputFormatError, match="duplicate patient 'TCGA-AA-0001'"):
        tcga_cdr.read_tcga_cdr(path)
    bad = list(row)
    bad[5] = "soon"
    path = _workbook(tmp_path / "bad.xlsx", {"TCGA-CDR": [CDR_HEADER, bad]})
    with pytest.raises(InputFormatError, match="bad.xlsx, row 2, column 'OS.time': non-numeric endpoint value"):
        tcga_cdr.read_tcga_cdr(path)


def test_centers_restore_leading_zeros_and_refuse_bad_codes(tmp_path):
    path = tmp_path / "centers.csv"
    path.write_text(",TSS Code,Source Site,Country,State,Region\n0,5,Indivumed,Germany,Other,Europe\n")
    assert tss.read_centers(path)["tss_code"].to_list() == ["05"]
    path.write_text(",TSS Code,Source Site,Country,State,Region\n0,123,X,Y,Z,W\n")
    with pytest.raises(InputFormatError, match="centers.csv, row 2, column 'TSS Code': not a TSS code"):
        tss.read_centers(path)
    path.write_text("")
    with pytest.raises(InputFormatError, match="centers.csv: empty file"):
        tss.read_centers(path)


def test_subtypegan_bad_files(tmp_path):
    clinic = tmp_path / "BLCA.clinic"
    clinic.write_text(",".join(subtypegan.CLINIC_COLUMNS) + "\n")
    with pytest.raises(InputFormatError, match="BLCA.clinic: header only"):
        subtypegan.read_clinic(clinic)
    clinic.write_text(",".join(subtypegan.CLINIC_COLUMNS) + "\nTCGA-AA-0001,1,many,MALE,60,M0,N0,T1,Stage I\n")
    with pytest.raises(InputFormatError, match="BLCA.clinic, row 2, column 'days': non-numeric cell"):
        subtypegan.read_clinic(clinic)
    fea = tmp_path / "miRNA.fea"
    fea.write_text(",TCGA-AA-0001,TCGA-AA-0002\nhsa-let-7a,0,0\nhsa-let-7b,0,0\n")
    with pytest.raises(DegenerateBlockError, match="miRNA.fea: X miRNA block is constant"):
        subtypegan.read_mirna(fea, "X")
    fea.write_text(",TCGA-AA-0001,TCGA-AA-0002\nhsa-let-7a,0.5,x\n")
    with pytest.raises(InputFormatError, match="miRNA.fea, row TCGA-AA-0002, column 'hsa-let-7a': non-numeric cell"):
        subtypegan.read_mirna(fea, "X")


def test_cprmt_keeps_tumour_samples_and_refuses_bad_cells(tmp_path):
    path = tmp_path / "protein.txt"
    path.write_text("\tTCGA.AA.0001.01\tTCGA.AA.0001.11\tTCGA.AA.0002.01\nAKT\t1.5\t9\t-0.5\n")
    block = cprmt.read_cprmt_matrix(path, "protein")
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002") and block.values[:, 0].tolist() == [1.5, -0.5]
    path.write_text("\tTCGA.AA.0001.01\nAKT\tn/a?\n")
    with pytest.raises(InputFormatError, match="protein.txt, row TCGA.AA.0001.01, column 'AKT': non-numeric cell"):
        cprmt.read_cprmt_matrix(path, "protein")
    path.write_text("")
    with pytest.raises(InputFormatError, match="protein.txt: empty file"):
        cprmt.read_cprmt_matrix(path, "protein")
