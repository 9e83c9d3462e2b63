"""Subtype-GAN reader: golden values on the real files, bad input on tiny files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from oncobench.datasets.errors import DegenerateBlockError, InputFormatError
from oncobench.datasets.sources import subtypegan

SG = "subtypegan_tcga10_clinical_mirna"
HEADER = ",".join(subtypegan.CLINIC_COLUMNS) + "\n"
ROW = "TCGA-AA-0001,1,100,MALE,60,M0,N0,T1,Stage I\n"

# rows / deaths per cohort, from the folder's PROVENANCE.md
COHORT_ROWS_DEATHS = {"BLCA": (399, 175), "BRCA": (1031, 141), "GBM": (127, 97), "KIRC": (488, 163),
                      "LUAD": (490, 177), "PAAD": (176, 92), "SKCM": (446, 211), "STAD": (407, 158),
                      "UCEC": (510, 82), "UVM": (80, 14)}


# ---------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def folder(raw_dir: Path) -> Path:
    return raw_dir / SG


@pytest.fixture(scope="module")
def clinic(folder: Path) -> pl.DataFrame:
    return subtypegan.read_all_clinic(folder)


@pytest.fixture(scope="module")
def mirna(folder: Path):
    return subtypegan.read_all_mirna(folder)


@pytest.mark.realdata
def test_clinic_golden(clinic):
    per = clinic.group_by("cohort").agg(pl.len(), pl.col("os_event").sum())
    assert {c: (n, int(d)) for c, n, d in per.iter_rows()} == COHORT_ROWS_DEATHS
    assert clinic.height == clinic["patient_id"].n_unique() == 4154  # no patient in two cohorts
    assert clinic.columns == ["patient_id", "cohort", "os_event", "os_days", "sex", "age", "pathologic_m",
                              "pathologic_n", "pathologic_t", "pathologic_stage"]
    assert clinic["os_event"].dtype == pl.Int8 and clinic["patient_id"].str.contains(r"^TCGA-..-....$").all()
    row = clinic.filter(pl.col("patient_id") == "TCGA-DK-A1AC").row(0, named=True)  # days written '3981.0'
    assert row == {"patient_id": "TCGA-DK-A1AC", "cohort": "BLCA", "os_event": 0, "os_days": 3981.0, "sex": "MALE",
                   "age": 72.0, "pathologic_m": "M0", "pathologic_n": "N0", "pathologic_t": "T3b",
                   "pathologic_stage": "Stage III"}
    # 29 missing markers ([Not Available], [Completed], [Discrepancy] ...) + 5 negative days -> null
    assert clinic["os_days"].null_count() == 34 and clinic["os_days"].min() == 0.0
    assert clinic.filter(pl.col("patient_id").is_in(["TCGA-CF-A9FH", "TCGA-A8-A082", "TCGA-PL-A8LV"]))["os_days"].null_count() == 3
    gbm = clinic.filter(pl.col("cohort") == "GBM")
    assert gbm.select("pathologic_m", "pathologic_n", "pathologic_t", "pathologic_stage").null_count().row(0) == (127,) * 4
    assert clinic.filter(pl.col("cohort") == "UCEC")["pathologic_stage"].null_count() == 510  # '[Not Applicable]'
    assert set(clinic["sex"]) == {"FEMALE", "MALE"}
    assert not any(str(v).startswith("[") for c in ("pathologic_m", "pathologic_stage") for v in clinic[c].drop_nulls())


@pytest.mark.realdata
def test_pam50_golden(folder, clinic):
    pam50 = subtypegan.read_pam50(folder / "results" / "BRCA.merge")
    assert dict(pam50["pam50"].value_counts().iter_rows()) == {"LumA": 523, "LumB": 196, "Basal": 171, "Her2": 77, "Normal": 64}
    labels = dict(pam50.iter_rows())
    assert (labels["TCGA-D8-A1XJ"], labels["TCGA-EW-A6SA"]) == ("Her2", "LumB")
    assert set(labels) == set(clinic.filter(pl.col("cohort") == "BRCA")["patient_id"])


@pytest.mark.realdata
def test_mirna_golden(mirna, folder, clinic):
    assert mirna.modality == "mirna" and mirna.shape == (2996, 383)
    extra = mirna.provenance.extra
    assert extra["cohorts"] == ["BLCA", "KIRC", "LUAD", "PAAD", "SKCM", "STAD", "UCEC", "UVM"]
    assert set(extra["refused_cohorts"]) == {"BRCA", "GBM"} and extra["refused_patients"] == []
    assert extra["refused_cohorts"]["GBM"].startswith(f"{SG}/fea/GBM/miRNA.fea: GBM miRNA block is constant (0.0 in all 48641")
    assert "not in the source snapshot" in extra["refused_cohorts"]["BRCA"]
    assert [f.name for f in mirna.provenance.files][:2] == [f"{SG}/fea/BLCA/miRNA.fea", f"{SG}/fea/KIRC/miRNA.fea"]
    # exactly the .clinic patients of the 8 ingested cohorts
    assert set(mirna.patients) == set(clinic.filter(pl.col("cohort").is_in(extra["cohorts"]))["patient_id"])
    assert mirna.features[:2] == ("hsa-let-7a-2-3p", "hsa-let-7a-5p") and mirna.features[-1] == "hsa-miR-99b-3p"
    raw = pd.read_csv(folder / "fea" / "BLCA" / "miRNA.fea", index_col=0)  # features x patients
    for patient, name in [("TCGA-HQ-A2OF", "hsa-let-7a-5p"), ("TCGA-ZF-AA4V", "hsa-miR-99b-3p")]:
        got = mirna.values[mirna.patients.index(patient), mirna.features.index(name)]
        assert got == np.float32(raw.loc[name, patient])
    assert mirna.values[mirna.patients.index("TCGA-HQ-A2OF"), 1] == np.float32(2.4966900071918623)


@pytest.mark.realdata
def test_mirna_is_standardised_per_sample_not_per_cohort(mirna):
    values = mirna.values.astype(np.float64)
    assert not np.isnan(values).any()
    # per patient (across the 383 miRNAs): mean 0 and population sd (ddof=0) exactly 1
    assert np.abs(values.mean(axis=1)).max() < 1e-5
    assert np.abs(values.std(axis=1) - 1.0).max() < 1e-5
    # per miRNA within one cohort the means are far from 0: no cohort statistic was removed
    uvm = [i for i, p in enumerate(mirna.patients) if p.startswith("TCGA-V")]  # UVM TSS codes V3, V4, VD, WC
    assert np.abs(values[uvm].mean(axis=0)).max() > 2
    assert mirna.provenance.comparable_across_cohorts is True


@pytest.mark.realdata
def test_gbm_mirna_refused_and_warned(folder, caplog):
    with pytest.raises(DegenerateBlockError, match=r"GBM/miRNA.fea: GBM miRNA block is constant \(0.0 in all 48641 cells\)"):
        subtypegan.read_mirna(folder / "fea" / "GBM" / "miRNA.fea", "GBM")
    with caplog.at_level(logging.WARNING, logger="oncobench.datasets.sources.subtypegan"):
        subtypegan.read_all_mirna(folder)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("GBM/miRNA.fea" in w and "refused" in w for w in warnings)


# --------------------------------------------------------------------------------------------- bad input
def test_clinic_parses_markers_floats_and_cohort(tmp_path, caplog):
    path = tmp_path / "blca.clinic"
    path.write_text(HEADER + "TCGA-AA-0002,0,3981.0,FEMALE,[Not Available],M0,[Not Available],T2,Stage II\n"
                    + "tcga-aa-0001,1,[Completed],MALE,60,MX,N1,T3,[Discrepancy]\n"
                    + "TCGA-AA-0003,0,-7.0,MALE,50,M0,N0,T1,Stage I\n")
    with caplog.at_level(logging.WARNING):
        table = subtypegan.read_clinic(path)
    assert table["patient_id"].to_list() == ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003"]
    assert table["cohort"].to_list() == ["BLCA"] * 3
    assert table["os_days"].to_list() == [None, 3981.0, None] and table["age"].to_list() == [60.0, None, 50.0]
    assert table["pathologic_n"].to_list() == ["N1", None, "N0"] and table["pathologic_stage"][0] is None
    assert "blca.clinic: 1 negative 'days' values (rows 4) recorded as null" in caplog.text


@pytest.mark.parametrize("text,message", [
    ("", "BLCA.clinic: empty file"),
    (HEADER, "BLCA.clinic: header only, no data rows"),
    (HEADER + "TCGA-AA-0001,1,many,MALE,60,M0,N0,T1,Stage I\n", "BLCA.clinic, row 2, column 'days': non-numeric cell; expected days"),
    (HEADER + ROW + "TCGA-AA-0002,2,5,MALE,60,M0,N0,T1,Stage I\n", "BLCA.clinic, row 3, column 'status': invalid vital status"),
    (HEADER + "XX-1,1,5,MALE,60,M0,N0,T1,Stage I\n", "BLCA.clinic, row 2, column 'bcr_patient_barcode': not a TCGA barcode"),
    (HEADER + ROW + ROW, r"BLCA.clinic, column 'bcr_patient_barcode': patient 'TCGA-AA-0001' appears twice \(rows 2 and 3\)"),
    (HEADER + "TCGA-AA-0001,1,5,M,60,M0,N0,T1,Stage I\n", "BLCA.clinic, row 2, column 'gender': unknown sex"),
    ("bcr_patient_barcode,status\nTCGA-AA-0001,1\n", r"BLCA.clinic: missing columns \['days'"),
])
def test_clinic_bad_input(tmp_path, text, message):
    path = tmp_path / "BLCA.clinic"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        subtypegan.read_clinic(path)


def test_all_clinic_refuses_a_patient_in_two_cohorts(tmp_path):
    (tmp_path / "results").mkdir()
    for i, cohort in enumerate(subtypegan.COHORTS):
        (tmp_path / "results" / f"{cohort}.clinic").write_text(HEADER + ROW.replace("0001", f"{i:04d}"))
    assert subtypegan.read_all_clinic(tmp_path).height == 10
    (tmp_path / "results" / "UVM.clinic").write_text(HEADER + ROW.replace("0001", "0000"))  # BLCA's patient
    with pytest.raises(InputFormatError, match=r"patient 'TCGA-AA-0000' appears in cohorts \['BLCA', 'UVM'\]"):
        subtypegan.read_all_clinic(tmp_path)


@pytest.mark.parametrize("text,message", [
    (",x,subtype\nTCGA-AA-0001,1,LumC\n", r"BRCA.merge, row 2, column 'subtype': unknown PAM50 label.*found 'LumC'"),
    (",x,subtype\n", "BRCA.merge: header only"),
    ("", "BRCA.merge: empty file"),
    (",x,y\nTCGA-AA-0001,1,2\n", "BRCA.merge: no 'subtype' column"),
    (",subtype\nTCGA-AA-0001,LumA\nTCGA-AA-0001,LumB\n", "patient 'TCGA-AA-0001' appears twice"),
])
def test_pam50_bad_input(tmp_path, text, message):
    path = tmp_path / "BRCA.merge"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        subtypegan.read_pam50(path)


def test_mirna_is_transposed_and_sorted(tmp_path):
    path = tmp_path / "miRNA.fea"
    path.write_text(",TCGA-AA-0002,TCGA-AA-0001\nhsa-let-7a,1.0,-1.0\nhsa-let-7b,-1.0,1.0\nhsa-let-7c,0.5,0.25\n")
    block = subtypegan.read_mirna(path, "X")
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002") and block.features == ("hsa-let-7a", "hsa-let-7b", "hsa-let-7c")
    assert block.values.tolist() == [[-1.0, 1.0, 0.25], [1.0, -1.0, 0.5]]
    assert block.provenance.files[0].name == "miRNA.fea" and block.provenance.extra["cohorts"] == ["X"]


@pytest.mark.parametrize("text,message", [
    ("", "miRNA.fea: empty file"),
    (",TCGA-AA-0001,TCGA-AA-0002\n", "miRNA.fea: header only"),
    (",TCGA-AA-0001,TCGA-AA-0002\nhsa-let-7a,0.5,-0.5\nhsa-let-7b,0.1,x\n",
     r"miRNA.fea, row 3 \(hsa-let-7b\), column 'TCGA-AA-0002': non-numeric cell.*found 'x'"),
    (",TCGA-AA-0001,BAD\nhsa-let-7a,0.5,-0.5\n", r"miRNA.fea, row 1, column '#3': not a TCGA barcode.*'BAD'"),
    (",TCGA-AA-0001,TCGA-AA-0002\nhsa-let-7a,1,2\nhsa-let-7a,3,4\n", "miRNA 'hsa-let-7a' appears twice"),
])
def test_mirna_bad_input(tmp_path, text, message):
    path = tmp_path / "miRNA.fea"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        subtypegan.read_mirna(path, "X")


def test_all_zero_mirna_block_is_refused(tmp_path):
    path = tmp_path / "miRNA.fea"
    path.write_text(",TCGA-AA-0001,TCGA-AA-0002\nhsa-let-7a,0,0\nhsa-let-7b,0.0,0\n")
    with pytest.raises(DegenerateBlockError, match=r"miRNA.fea: GBM miRNA block is constant \(0.0 in all 4 cells\): refused"):
        subtypegan.read_mirna(path, "GBM")


def test_patient_with_a_constant_profile_is_dropped(tmp_path, caplog):
    path = tmp_path / "miRNA.fea"
    path.write_text(",TCGA-AA-0001,TCGA-AA-0002\nhsa-let-7a,1,0\nhsa-let-7b,-1,0\n")
    with caplog.at_level(logging.WARNING):
        block = subtypegan.read_mirna(path, "X")
    assert block.patients == ("TCGA-AA-0001",) and block.provenance.extra["refused_patients"] == ["TCGA-AA-0002"]
    assert "1 patients with a constant miRNA profile dropped: TCGA-AA-0002" in caplog.text


def _fea(folder: Path, cohort: str, text: str) -> None:
    (folder / "fea" / cohort).mkdir(parents=True)
    (folder / "fea" / cohort / "miRNA.fea").write_text(text)


def test_all_mirna_refuses_degenerate_cohorts_and_records_why(tmp_path, caplog):
    folder = tmp_path / SG
    _fea(folder, "BLCA", ",TCGA-AA-0001\nhsa-let-7a,1\nhsa-let-7b,-1\n")
    _fea(folder, "UVM", ",TCGA-VD-0001\nhsa-let-7a,-1\nhsa-let-7b,1\n")
    _fea(folder, "GBM", ",TCGA-06-0001\nhsa-let-7a,0\nhsa-let-7b,0\n")
    with caplog.at_level(logging.WARNING):
        block = subtypegan.read_all_mirna(folder)
    assert block.patients == ("TCGA-AA-0001", "TCGA-VD-0001") and block.values.tolist() == [[1, -1], [-1, 1]]
    refused = block.provenance.extra["refused_cohorts"]
    assert set(refused) == set(subtypegan.COHORTS) - {"BLCA", "UVM"}
    assert refused["GBM"].startswith(f"{SG}/fea/GBM/miRNA.fea: GBM miRNA block is constant")
    assert str(tmp_path) not in refused["GBM"]  # provenance does not depend on where the raw folder lives
    assert any(r.levelno == logging.WARNING and "fea/GBM/miRNA.fea" in r.getMessage() for r in caplog.records)


def test_all_mirna_refuses_different_mirna_names(tmp_path):
    folder = tmp_path / SG
    _fea(folder, "BLCA", ",TCGA-AA-0001\nhsa-let-7a,1\nhsa-let-7b,-1\n")
    _fea(folder, "UVM", ",TCGA-VD-0001\nhsa-let-7a,-1\nhsa-let-7c,1\n")
    with pytest.raises(InputFormatError, match=r"fea/UVM/miRNA.fea, row 3: miRNA names differ between cohorts"):
        subtypegan.read_all_mirna(folder)


def test_all_mirna_needs_one_usable_cohort(tmp_path):
    with pytest.raises(InputFormatError, match="no usable miRNA file"):
        subtypegan.read_all_mirna(tmp_path)
