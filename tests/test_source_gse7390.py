"""GSE7390 reader: golden values on the file bundled with scikit-survival, bad input on tiny ARFF files."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.provenance import sha256_file
from oncobench.datasets.sources import gse7390

SHA256 = "233f4c1c06b2ee299fffcba0f9881f6ed66a3566ccbec30b5004f0d298b52570"  # scikit-survival 0.25-0.28
HEADER = ("@relation t\n@attribute age numeric\n@attribute size numeric\n"
          "@attribute grade {well differentiated,intermediate,poorly differentiated,unkown}\n"
          "@attribute er {negative,positive}\n@attribute t.tdm numeric\n@attribute e.tdm {0,1}\n"
          "@attribute X219340_s_at numeric\n@attribute X200726_at numeric\n@data\n")


@pytest.fixture(scope="module")
def bundled():
    return gse7390.read_gse7390()


# ------------------------------------------------------------------------------- bundled file (no raw dir)
def test_golden(bundled):
    clinical, rna = bundled
    assert clinical.columns == ["patient_id", "age", "size", "grade", "er", "dm_time_days", "dm_event"]
    assert clinical.height == 198 and int(clinical["dm_event"].sum()) == 51 and clinical["dm_event"].dtype == pl.Int8
    assert clinical["patient_id"].to_list() == [f"GSE7390-{i:03d}" for i in range(1, 199)]
    assert clinical.row(0) == ("GSE7390-001", 57.0, 3.0, "poorly differentiated", "negative", 723.0, 1)
    assert clinical.row(197) == ("GSE7390-198", 39.0, 2.5, "poorly differentiated", "negative", 1781.0, 0)
    assert dict(clinical["grade"].value_counts().iter_rows()) == {
        "intermediate": 83, "poorly differentiated": 83, "well differentiated": 30, None: 2}  # 'unkown' -> null
    assert dict(clinical["er"].value_counts().iter_rows()) == {"positive": 134, "negative": 64}
    assert rna.modality == "rna" and rna.shape == (198, 76) and rna.patients == tuple(clinical["patient_id"])
    assert rna.features[:3] == ("219340_s_at", "217771_at", "202418_at")  # file order, R's 'X' removed
    assert not any(f.startswith("X") for f in rna.features) and not np.isnan(rna.values).any()
    assert rna.values[0, 0] == np.float32(7.01410950575358)
    assert rna.provenance.files[0].sha256 == SHA256 and rna.provenance.files[0].name == gse7390.FILE_NAME


def test_matches_scikit_survival_loader(bundled):
    # an independent parse of the same file (sksurv sorts the columns; rows keep file order)
    from sksurv.datasets import load_breast_cancer

    clinical, rna = bundled
    x, y = load_breast_cancer()
    assert np.array_equal(rna.values, x[["X" + f for f in rna.features]].to_numpy(np.float32))
    assert np.array_equal(clinical["dm_time_days"].to_numpy(), y["t.tdm"])
    assert np.array_equal(clinical["dm_event"].to_numpy().astype(bool), y["e.tdm"])
    assert np.array_equal(clinical["size"].to_numpy(), x["size"].to_numpy())


@pytest.mark.realdata
def test_raw_copy_is_the_installed_file(raw_dir, bundled):
    copy = raw_dir / "gse7390_breast_metastasis_sksurv" / gse7390.FILE_NAME
    assert sha256_file(copy) == sha256_file(gse7390.bundled_path()) == SHA256
    clinical, rna = gse7390.read_gse7390(copy)
    assert clinical.equals(bundled[0]) and np.array_equal(rna.values, bundled[1].values)


# --------------------------------------------------------------------------------------------- bad input
def test_tiny_file_missing_values_and_typo(tmp_path):
    path = tmp_path / "t.arff"
    path.write_text("% comment\n" + HEADER + "50,?,unkown,negative,100,1,7.5,8\n?,2,intermediate,positive,50,0,?,9.25\n")
    clinical, rna = gse7390.read_gse7390(path)
    assert clinical.rows() == [("GSE7390-001", 50.0, None, None, "negative", 100.0, 1),
                               ("GSE7390-002", None, 2.0, "intermediate", "positive", 50.0, 0)]
    assert rna.features == ("219340_s_at", "200726_at") and rna.values[0].tolist() == [7.5, 8.0]
    assert np.isnan(rna.values[1, 0]) and rna.values[1, 1] == 9.25  # '?' = not measured


@pytest.mark.parametrize("text,message", [
    ("", "t.arff: not an ARFF file"),
    (HEADER, "t.arff: header only, no data rows"),
    (HEADER + "50,2,intermediate,positive,50,0,7.5,high\n",
     r"t.arff, row 1 \(line 11\), column 'X200726_at': non-numeric cell.*found 'high'"),
    (HEADER + "50,2,intermediate,positive,50,0,7.5,8\n50,2,intermediate,positive,50,0,7.5\n",
     r"t.arff, row 2 \(line 12\): wrong number of values; expected 8 comma-separated values, found 7"),
    (HEADER + "50,2,G2,positive,50,0,7.5,8\n", r"t.arff, row 1 \(line 11\), column 'grade': unknown grade value.*'G2'"),
    (HEADER + "50,2,intermediate,positive,-5,0,7.5,8\n", "column 't.tdm': negative time to distant metastasis"),
    (HEADER + "50,2,intermediate,positive,?,0,7.5,8\n", r"column 't.tdm': non-numeric cell; expected a finite number, found '\?'"),
    (HEADER + "50,2,intermediate,positive,5,?,7.5,8\n", r"column 'e.tdm': unknown e.tdm value; expected 0 / 1"),
    (HEADER.replace("X200726_at", "ESR1") + "50,2,intermediate,positive,5,0,7.5,8\n", "column 'ESR1': unexpected attribute"),
    (HEADER.replace("@attribute er {negative,positive}\n", "") + "50,2,intermediate,5,0,7.5,8\n", r"missing attributes \['er'\]"),
])
def test_bad_input(tmp_path, text, message):
    path = tmp_path / "t.arff"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        gse7390.read_gse7390(path)
