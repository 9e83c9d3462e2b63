"""Readers of Subtype-GAN, cpRMT and GSE7390: golden values on the real files, bad input on tiny files.

PORPOISE, TCGA-CDR and TSS readers are tested in test_source_porpoise.py, _tcga_cdr.py and _tss.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from oncobench.datasets.errors import DegenerateBlockError, InputFormatError
from oncobench.datasets.provenance import sha256_file
from oncobench.datasets.sources import cprmt, gse7390, subtypegan

SG = "subtypegan_tcga10_clinical_mirna"


# ---------------------------------------------------------------------------------------------- real data
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
