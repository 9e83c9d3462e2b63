"""cpRMT reader: golden values on the real files, the protein decision, bad input on tiny files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.sources import cprmt

CP = "cprmt_tcga_brca_4omics_pam50"


# ---------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def folder(raw_dir: Path) -> Path:
    return raw_dir / CP


@pytest.fixture(scope="module")
def protein(folder: Path):
    return cprmt.read_protein(folder)


@pytest.fixture(scope="module")
def both_protein_files(folder: Path):
    return (cprmt.read_cprmt_matrix(folder / "data/brca/tkde/tkde_protein_subset.txt", "protein"),
            cprmt.read_cprmt_matrix(folder / "data/brca/pkdd2014/protein_subset.txt", "protein"))


@pytest.mark.realdata
@pytest.mark.parametrize("name,modality,shape,first,nans", [
    ("tkde/tkde_protein_subset.txt", "protein", (363, 131), "1433EPSILON", 0),
    ("tkde/tkde_mirna_subset.txt", "mirna", (363, 138), "MIMAT0000064", 0),
    ("tkde/tkde_cnv_subset.txt", "cnv", (363, 82), "Amplification Peak 1 - CN values", 0),  # two spaces in the file
    ("pkdd2014/protein_subset.txt", "protein", (94, 171), "c.Myc", 0),
    ("pkdd2014/mirna_subset.txt", "mirna", (94, 138), "MIMAT0000064", 0),
    ("pkdd2014/cnv_subset.txt", "cnv", (94, 141), "Amp_1", 0),
    ("pkdd2014/mrna_subset.txt", "rna", (94, 1761), "A2M", 9),
])
def test_every_table_golden(folder, name, modality, shape, first, nans):
    block = cprmt.read_cprmt_matrix(folder / "data/brca" / name, modality, root=folder.parent)
    assert block.shape == shape and block.features[0] == first and int(np.isnan(block.values).sum()) == nans
    assert block.provenance.files[0].name == f"{CP}/data/brca/{name}"
    assert block.provenance.transform == cprmt.FILE_TRANSFORMS[Path(name).name][0]
    assert block.provenance.comparable_across_cohorts is (modality != "protein")
    assert block.provenance.extra["normal_samples_dropped"] == [] and block.provenance.extra["extra_tumour_samples_dropped"] == []
    assert all(p.startswith("TCGA-") and len(p) == 12 for p in block.patients)


@pytest.mark.realdata
def test_dotted_barcodes_and_exact_cells(both_protein_files):
    tkde, pkdd = both_protein_files
    assert "TCGA-C8-A12P" in pkdd.patients  # written TCGA.C8.A12P.01
    assert pkdd.values[pkdd.patients.index("TCGA-C8-A12P"), pkdd.features.index("c.Met")] == np.float32(0.010089643)
    assert tkde.values[tkde.patients.index("TCGA-A1-A0SH"), 0] == np.float32(-0.173035433379547)
    assert tkde.values[tkde.patients.index("TCGA-E2-A1BD"), tkde.features.index("EGFR")] == np.float32(-0.568541579675904)


@pytest.mark.realdata
def test_the_two_protein_tables_are_on_different_scales(both_protein_files):
    # the facts behind read_protein's decision (module notes): same patients and antibodies, other normalisation
    tkde, pkdd = both_protein_files
    shared = sorted(set(tkde.patients) & set(pkdd.patients))
    assert len(shared) == 93 and set(pkdd.patients) - set(tkde.patients) == {"TCGA-BH-A18V"}
    tkde_by_key = {cprmt.antibody_key(f): f for f in tkde.features}
    pairs = [(f, tkde_by_key[cprmt.antibody_key(f)]) for f in pkdd.features if cprmt.antibody_key(f) in tkde_by_key]
    assert len(pairs) == 127
    a = pkdd.subset(shared, [p for p, _ in pairs]).values.astype(np.float64)
    b = tkde.subset(shared, [t for _, t in pairs]).values.astype(np.float64)
    per_antibody = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(len(pairs))]
    assert 0.9 < np.median(per_antibody) < 0.95  # the same measurements ...
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.5  # ... on other offsets: never mixed in one column
    assert np.abs(np.median(a, axis=0)).max() > 4 and np.median(np.abs(np.median(b, axis=0))) < 0.2
    for pkdd_name, tkde_name, r in [("4E.BP1_pT37", "4EBP1PT37T46", 0.95), ("JNK_pT183_pT185", "JNKPT183Y185", 0.9)]:
        x = pkdd.subset(shared, [pkdd_name]).values[:, 0]
        y = tkde.subset(shared, [tkde_name]).values[:, 0]
        assert np.corrcoef(x, y)[0, 1] > r and cprmt.PKDD_ALIASES[pkdd_name] == tkde_name


@pytest.mark.realdata
def test_protein_block_keeps_each_file_in_its_own_columns(protein, both_protein_files, folder):
    protein_folder = folder
    tkde, pkdd = both_protein_files
    assert protein.modality == "protein" and protein.shape == (364, 172)
    assert protein.features[:131] == tkde.features and protein.features[131:133] == ("XBP1", "P21")
    only = protein.provenance.extra["pkdd2014_columns"]
    assert len(only) == 41 and only["CMET"] == "c.Met" and only["BCLX"] == "Bcl.X" and "LBK1" not in only
    values = protein.values
    # tkde columns: measured for tkde's 363 patients; BH-A18V (pkdd2014 only) has NaN there
    a18v = protein.patients.index("TCGA-BH-A18V")
    assert np.isnan(values[:, :131]).sum() == 131 and np.isnan(values[a18v, :131]).all()
    assert (np.isnan(values[:, 131:]).sum(axis=0) == 364 - 94).all()
    assert np.isfinite(values[a18v]).sum() == 41
    assert values[protein.patients.index("TCGA-C8-A12P"), protein.features.index("CMET")] == np.float32(0.010089643)
    assert values[a18v, protein.features.index("XBP1")] == np.float32(0.232784397)
    assert np.array_equal(protein.subset(tkde.patients, tkde.features).values, tkde.values)
    assert protein.provenance.comparable_across_cohorts is False
    tkde_only = cprmt.read_protein(protein_folder, pkdd2014_antibodies=False)
    assert tkde_only.shape == (363, 131) and np.array_equal(tkde_only.values, tkde.values)
    assert [f.name for f in protein.provenance.files] == [f"{CP}/data/brca/tkde/tkde_protein_subset.txt",
                                                          f"{CP}/data/brca/pkdd2014/protein_subset.txt"]


@pytest.mark.realdata
def test_mirna_tables_are_linear_and_log2(folder):
    tkde = cprmt.read_cprmt_matrix(folder / "data/brca/tkde/tkde_mirna_subset.txt", "mirna")
    pkdd = cprmt.read_cprmt_matrix(folder / "data/brca/pkdd2014/mirna_subset.txt", "mirna")
    shared = sorted(set(tkde.patients) & set(pkdd.patients))
    linear = tkde.subset(shared, pkdd.features).values.astype(np.float64)
    assert np.abs(pkdd.subset(shared).values - np.log2(linear + 1)).max() < 0.006


@pytest.mark.realdata
def test_pam50_golden(folder, protein):
    pam50 = cprmt.read_pam50(folder)
    assert pam50.columns == ["patient_id", "pam50"] and pam50.height == pam50["patient_id"].n_unique() == 363
    assert dict(pam50["pam50"].value_counts().iter_rows()) == {"LumA": 159, "LumB": 86, "Basal": 68, "Her2": 45, "Normal": 5}
    assert pam50.row(0) == ("TCGA-A1-A0SH", "LumA")
    assert set(pam50["patient_id"]) == set(protein.patients) - {"TCGA-BH-A18V"}


# --------------------------------------------------------------------------------------------- bad input
def test_tumour_samples_only_and_one_per_patient(tmp_path, caplog):
    path = tmp_path / "protein.txt"
    # header one field shorter than the rows (R's write.table), dotted and quoted barcodes mixed
    path.write_text('TCGA.AA.0001.06\t"TCGA-AA-0001-01"\tTCGA.AA.0001.11\tTCGA.AA.0002.01B\tTCGA.AA.0002.01A\n'
                    '"AKT"\t6\t1\t11\t2.5\t-0.5\n')
    with caplog.at_level(logging.INFO):
        block = cprmt.read_cprmt_matrix(path, "protein")
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002") and block.features == ("AKT",)
    assert block.values[:, 0].tolist() == [1.0, -0.5]  # primary 01 before metastatic 06; vial A before B
    assert block.provenance.extra["normal_samples_dropped"] == ["TCGA.AA.0001.11"]
    assert sorted(block.provenance.extra["extra_tumour_samples_dropped"]) == ["TCGA.AA.0001.06", "TCGA.AA.0002.01B"]
    assert "1 normal samples dropped" in caplog.text


def test_identical_duplicate_features_collapse(tmp_path):
    path = tmp_path / "mirna.txt"
    path.write_text("TCGA.AA.0001.01\nMIMAT1\t1\nMIMAT1\t1\nMIMAT2\t\n")
    block = cprmt.read_cprmt_matrix(path, "mirna")
    assert block.features == ("MIMAT1", "MIMAT2") and np.isnan(block.values[0, 1])  # empty cell = not measured


@pytest.mark.parametrize("text,message", [
    ("", "protein.txt: empty file"),
    ("TCGA.AA.0001.01\tTCGA.AA.0002.01\n", "protein.txt: header only"),
    ("TCGA.AA.0001.01\tTCGA.AA.0002.01\nAKT\t1\t2\nEGFR\t0.5\tn/a?\n",
     r"protein.txt, row 3 \(EGFR\), column 'TCGA.AA.0002.01': non-numeric cell.*found 'n/a\?'"),
    ("TCGA.AA.0001.01\tTCGA.AA.0002.01\nAKT\t1\tinf\n", r"protein.txt, row 2 \(AKT\), column 'TCGA.AA.0002.01': infinite value"),
    ("TCGA.AA.0001.01\tPATIENT7\nAKT\t1\t2\n", r"protein.txt, row 1, column '#3': not a TCGA sample barcode.*'PATIENT7'"),
    ("TCGA.AA.0001.01\tTCGA.AA.0002\nAKT\t1\t2\n", r"protein.txt, row 1, column '#3': not a TCGA sample barcode"),
    ("TCGA.AA.0001.01\nAKT\t1\t2\t3\n", "protein.txt: not a rectangular table"),
    ("TCGA.AA.0001.01\nAKT\t1\nAKT\t2\n", r"protein.txt, column '\(first column\)': feature 'AKT' appears in rows 2 and 3 with different"),
])
def test_matrix_bad_input(tmp_path, text, message):
    path = tmp_path / "protein.txt"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        cprmt.read_cprmt_matrix(path, "protein")


def test_matrix_refuses_an_unknown_modality(tmp_path):
    with pytest.raises(ValueError, match="modality 'rppa'"):
        cprmt.read_cprmt_matrix(tmp_path / "x.txt", "rppa")


def _pam50(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / CP
    (folder / cprmt.TKDE).mkdir(parents=True)
    (folder / cprmt.TKDE / "tkde_pam50_subset.txt").write_text(text)
    return folder


@pytest.mark.parametrize("text,message", [
    ("", "tkde_pam50_subset.txt: empty file"),
    ("Type\tPAM50\tcolor\n", "tkde_pam50_subset.txt: header only"),
    ("Type\tcolor\nTCGA-AA-0001-01\ttumor\tblue\n", "tkde_pam50_subset.txt: no 'PAM50' column"),
    ("Type\tPAM50\tcolor\nTCGA-AA-0001-01\ttumor\tLumA\tblue\nTCGA-AA-0002-01\ttumor\tClaudin\tred\n",
     r"tkde_pam50_subset.txt, row 3, column 'PAM50': unknown PAM50 label.*found 'Claudin'"),
    ("Type\tPAM50\tcolor\nTCGA-AA-0001\ttumor\tLumA\tblue\n",
     r"tkde_pam50_subset.txt, row 2, column '\(first column\)': not a TCGA sample barcode"),
])
def test_pam50_bad_input(tmp_path, text, message):
    with pytest.raises(InputFormatError, match=message):
        cprmt.read_pam50(_pam50(tmp_path, text))


def test_pam50_drops_normal_samples(tmp_path):
    folder = _pam50(tmp_path, "Type\tPAM50\tcolor\nTCGA-AA-0002-01\ttumor\tBasal\tred\nTCGA-AA-0001-11\tnormal\tNormal\tgreen\n")
    assert cprmt.read_pam50(folder).rows() == [("TCGA-AA-0002", "Basal")]
