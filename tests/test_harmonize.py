import numpy as np
import pytest

from oncobench.datasets.errors import DegenerateBlockError, InputFormatError
from oncobench.datasets.harmonize import (
    FeatureBlock, clean_feature_name, collapse_duplicate_rows, refuse_degenerate, to_float32,
)
from oncobench.datasets.provenance import Provenance

PROV = Provenance("s", (), "none", "CC0", "none", True)


def test_to_float32_names_the_bad_cell():
    cells = np.array([["1", "2"], ["3", "abc"]], dtype=object)
    with pytest.raises(InputFormatError) as err:
        to_float32(cells, path="x.csv", row_labels=["p1", "p2"], column_labels=["g1", "g2"])
    msg = str(err.value)
    assert "x.csv" in msg and "row p2" in msg and "column 'g2'" in msg and "'abc'" in msg


def test_to_float32_refuses_inf_and_optional_nan():
    with pytest.raises(InputFormatError, match="row p1, column 'g2': infinite value"):
        to_float32(np.array([[1.0, np.inf]]), path="x.csv", row_labels=["p1"], column_labels=["g1", "g2"])
    with pytest.raises(InputFormatError, match="infinite value"):
        to_float32(np.array([[1e300]]), path="x.csv", row_labels=["p1"], column_labels=["g1"])
    out = to_float32(np.array([["1", ""]], dtype=object), path="x", row_labels=["p"], column_labels=["a", "b"])
    assert out.dtype == np.float32 and out[0, 0] == 1 and np.isnan(out[0, 1])
    with pytest.raises(InputFormatError, match="missing value"):
        to_float32(out, path="x", row_labels=["p"], column_labels=["a", "b"], allow_nan=False)


def test_collapse_duplicates_identical_conflicting_and_first_rule():
    values = np.array([[1, 2], [1, 2], [3, 4]], dtype=np.float32)
    ids, rows, conflicts = collapse_duplicate_rows(["a", "a", "b"], values, path="f")
    assert ids == ["a", "b"] and conflicts == 0 and rows.tolist() == [[1, 2], [3, 4]]
    values = np.array([[1, 2], [1, 5]], dtype=np.float32)
    with pytest.raises(InputFormatError, match=r"row 2, .*duplicate patient ID 'a' with conflicting values.*found 2\.0 vs 5\.0"):
        collapse_duplicate_rows(["a", "a"], values, path="f")
    ids, rows, conflicts = collapse_duplicate_rows(["a", "a"], values, path="f", order_key=["s2", "s1"], on_conflict="first")
    assert rows.tolist() == [[1, 5]] and conflicts == 1  # the row whose key sorts first wins


def test_refuse_degenerate_block():
    with pytest.raises(DegenerateBlockError, match="constant"):
        refuse_degenerate(np.zeros((3, 4), np.float32), path="GBM/miRNA.fea", what="miRNA block")
    refuse_degenerate(np.array([[0, 1]], np.float32), path="x", what="ok")


def test_feature_block_invariants():
    with pytest.raises(TypeError, match="float32"):
        FeatureBlock("rna", ("a",), ("g",), np.zeros((1, 1)), PROV)
    with pytest.raises(ValueError, match="duplicate feature 'g'"):
        FeatureBlock("rna", ("a",), ("g", "g"), np.zeros((1, 2), np.float32), PROV)
    with pytest.raises(ValueError, match="unknown modality"):
        FeatureBlock("genes", ("a",), ("g",), np.zeros((1, 1), np.float32), PROV)
    block = FeatureBlock("rna", ("a", "b"), ("g1", "g2"), np.array([[1, 2], [3, 4]], np.float32), PROV)
    assert block.subset(["b"], ["g2", "g1"]).values.tolist() == [[4, 3]]


def test_clean_feature_name():
    assert clean_feature_name(' "hsa-let-7a-5p" ') == "hsa-let-7a-5p"
    assert clean_feature_name("AREA  (MM2)\tOF") == "AREA (MM2) OF"
