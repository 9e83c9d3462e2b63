import pytest

from oncobench.datasets.barcode import harmonize_barcode, normalize_barcode, parse_barcode, tss_code


def test_full_aliquot_barcode_fields():
    b = parse_barcode("TCGA-A1-A0SB-01A-11R-A144-07")
    assert (b.project, b.tss, b.participant) == ("TCGA", "A1", "A0SB")
    assert (b.sample, b.vial, b.portion, b.analyte, b.plate, b.center) == ("01", "A", "11", "R", "A144", "07")
    assert b.patient_id == "TCGA-A1-A0SB"
    assert b.sample_type == "primary solid tumor"
    assert b.is_tumor is True


def test_dotted_cprmt_barcode_and_normal_sample():
    assert normalize_barcode(" tcga.c8.a12p.01 ") == "TCGA-C8-A12P-01"
    b = parse_barcode("TCGA.C8.A12P.11")
    assert b.patient_id == "TCGA-C8-A12P" and b.is_tumor is False and b.sample_type == "solid tissue normal"


def test_patient_barcode_has_no_sample():
    b = parse_barcode("TCGA-2F-A9KO")
    assert b.sample is None and b.is_tumor is None and harmonize_barcode("TCGA-2F-A9KO-01Z-00-DX1") == "TCGA-2F-A9KO"


@pytest.mark.parametrize("bad", ["", "TCGA-2F", "GSM12345", "TCGA-2F-A9K"])
def test_bad_barcode_message(bad):
    with pytest.raises(ValueError, match="not a TCGA barcode.*expected TCGA-XX-XXXX"):
        parse_barcode(bad)


@pytest.mark.parametrize("raw,code", [(5, "05"), ("5", "05"), (5.0, "05"), ("5.0", "05"), ("a1", "A1"), ("AA", "AA"), (44, "44")])
def test_tss_code_restores_leading_zero(raw, code):
    assert tss_code(raw) == code


def test_tss_code_rejects_garbage():
    with pytest.raises(ValueError, match="not a TSS code: '123'"):
        tss_code("123")
