"""Methylation readers, CpG overlap, block merge rule, miniACC and Wissel readers, tcga-pancan 1.1 coverage."""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from oncobench.datasets.block_merge import merge_into
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.sources import methylation, miniacc, wissel_paad

OLD_10_HASH = "a7bd495c51a73fa5e51390aceb99c34b8e650761a090d73bc009fa78a01561fe"


def _rows(path: Path) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:
        return list(csv.reader(fh))


def _prov(source: str) -> Provenance:
    return Provenance(source=source, files=(), transform="t", licence="l", citation="c", comparable_across_cohorts=True)


# ---------------------------------------------------------------------------------------------- synthetic
def _write_coad(folder: Path, beta_cell: str = "0.5") -> None:
    (folder / "derived").mkdir(parents=True)
    with gzip.open(folder / methylation.COAD_BETA, "wt") as fh:
        fh.write('"","TCGA-AA-3492","TCGA-AA-3492.1","TCGA-AA-3494"\n')
        fh.write(f'"cg00000029",0.2,{beta_cell},0.3\n"cg00000108",0.4,NA,0.6\n')
    (folder / methylation.COAD_COVARIATE).write_text(
        '"","group","gender","age"\n"TCGA-AA-3492",0,"FEMALE",90\n"TCGA-AA-3492.1",1,"FEMALE",90\n"TCGA-AA-3494",1,"MALE",55\n')


def test_coad_reader_splits_tumour_and_normal_by_group(tmp_path: Path) -> None:
    _write_coad(tmp_path)
    tumour, normal = methylation.read_coad_dmtest(tmp_path)
    assert tumour.modality == "methylation" and normal.modality == "methylation_normal"
    assert tumour.patients == ("TCGA-AA-3492", "TCGA-AA-3494") and normal.patients == ("TCGA-AA-3492",)
    assert tumour.features == ("cg00000029", "cg00000108")
    np.testing.assert_allclose(tumour.values, [[0.5, np.nan], [0.3, 0.6]], rtol=1e-6)
    np.testing.assert_allclose(normal.values, [[0.2, 0.4]], rtol=1e-6)


def test_beta_out_of_range_names_file_cpg_and_sample(tmp_path: Path) -> None:
    _write_coad(tmp_path, beta_cell="1.7")
    with pytest.raises(InputFormatError) as err:
        methylation.read_coad_dmtest(tmp_path)
    msg = str(err.value)
    assert "coad_beta_1000cpg.csv.gz" in msg and "row cg00000029" in msg and "column 'TCGA-AA-3492.1'" in msg
    assert "expected a methylation beta value in [0, 1]" in msg and "1.7" in msg


def test_bad_cpg_id_and_bad_group_are_refused(tmp_path: Path) -> None:
    _write_coad(tmp_path / "a")
    cov = tmp_path / "a" / methylation.COAD_COVARIATE
    cov.write_text(cov.read_text().replace('"TCGA-AA-3494",1', '"TCGA-AA-3494",2'))
    with pytest.raises(InputFormatError, match=r"row 4, column 'group': bad group; expected 0 \(normal\) or 1 \(tumour\)"):
        methylation.read_coad_dmtest(tmp_path / "a")
    with pytest.raises(InputFormatError, match="not a 450k CpG probe ID"):
        methylation._check_cpgs(Path("x.csv"), ["cg00000029", "rs123"])


def test_cpg_overlap_by_hand() -> None:
    got = methylation.cpg_overlap({"a": ["cg1", "cg2", "cg3"], "b": ["cg2", "cg3", "cg4"], "c": ["cg3", "cg9"]})
    assert got["n_cpgs"] == {"a": 3, "b": 3, "c": 2}
    assert got["pairwise"] == {"a & b": 2, "a & c": 1, "b & c": 1}
    assert got["all"] == 1 and got["all_cpgs"] == ["cg3"]


def test_merge_into_base_wins_and_counts_differences() -> None:
    base = FeatureBlock("cnv", ("p1", "p2"), ("g1", "g2"), np.array([[1, np.nan], [0, 2]], np.float32), _prov("A"))
    extra = FeatureBlock("cnv", ("p2", "p3"), ("g2", "g3"), np.array([[1, 5], [-1, -2]], np.float32), _prov("B"))
    merged, record = merge_into(base, extra)
    assert merged.patients == ("p1", "p2", "p3") and merged.features == ("g1", "g2", "g3")
    np.testing.assert_array_equal(merged.values, np.array(
        [[1, np.nan, np.nan], [0, 2, 5], [np.nan, -1, -2]], np.float32))
    assert record["overlap_cells"] == 1 and record["cells_differing"] == 1 and record["winner"] == "A"
    assert record["patients_added"] == 1 and record["features_added"] == 1
    assert merged.provenance.source == "A+B"


# ---------------------------------------------------------------------------------------------- real files
@pytest.mark.realdata
def test_brca_reader_golden_values(raw_dir: Path) -> None:
    folder = raw_dir / "tcga_brca_rjive_expr_meth_mirna"
    rows = _rows(folder / methylation.BRCA_FILE)
    block = methylation.read_brca_rjive(folder)
    assert block.shape == (len(rows[0]) - 1, len(rows) - 1) == (348, 574)
    i, j = block.patients.index("TCGA-A1-A0SH"), block.features.index(rows[1][0])
    assert block.values[i, j] == pytest.approx(float(rows[1][1]), rel=1e-6)
    last = rows[-1]
    assert block.values[-1, -1] == pytest.approx(float(last[-1]), rel=1e-6)
    assert 0 <= np.nanmin(block.values) and np.nanmax(block.values) <= 1


@pytest.mark.realdata
def test_coad_reader_real_counts(raw_dir: Path) -> None:
    folder = raw_dir / "tcga_coad_dmtest_methylation"
    cov = _rows(folder / methylation.COAD_COVARIATE)[1:]
    tumour, normal = methylation.read_coad_dmtest(folder)
    assert tumour.shape == (sum(r[1] == "1" for r in cov), 1000) == (296, 1000)
    assert normal.shape == (sum(r[1] == "0" for r in cov), 1000) == (38, 1000)
    assert set(normal.patients) <= set(tumour.patients)
    beta = _rows(folder / methylation.COAD_BETA)
    col = beta[0].index(normal.patients[0])  # the normal column carries the bare barcode
    assert normal.values[0, 0] == pytest.approx(float(beta[1][col]), rel=1e-6)
    assert int(np.isnan(tumour.values).sum() + np.isnan(normal.values).sum()) == sum(
        c == "NA" for r in beta[1:] for c in r[1:])


@pytest.mark.realdata
def test_paad_reader_and_real_cpg_overlap(raw_dir: Path) -> None:
    paad = methylation.read_paad_wissel(raw_dir / "tcga_paad_wissel2023_6omics_survival")
    header = _rows(raw_dir / "tcga_paad_wissel2023_6omics_survival" / methylation.PAAD_FILE)[0]
    paad_cpgs = {h[5:] for h in header if h.startswith("meth_")}
    brca_cpgs = {r[0] for r in _rows(raw_dir / "tcga_brca_rjive_expr_meth_mirna" / methylation.BRCA_FILE)[1:]}
    coad_cpgs = {r[0] for r in _rows(raw_dir / "tcga_coad_dmtest_methylation" / methylation.COAD_BETA)[1:]}
    assert paad.shape == (81, 2000) and set(paad.features) == paad_cpgs
    got = methylation.cpg_overlap({"brca": brca_cpgs, "coad": coad_cpgs, "paad": paad.features})
    assert got["pairwise"] == {"brca & coad": len(brca_cpgs & coad_cpgs), "brca & paad": len(brca_cpgs & paad_cpgs),
                               "coad & paad": len(coad_cpgs & paad_cpgs)} == {"brca & coad": 0, "brca & paad": 152,
                                                                              "coad & paad": 4}
    assert got["all"] == 0


@pytest.mark.realdata
def test_miniacc_and_wissel_readers(raw_dir: Path) -> None:
    acc = miniacc.read_miniacc(raw_dir / "tcga_acc_miniacc_5assays")
    assert {m: b.shape for m, b in acc.items()} == {"rna": (79, 198), "cnv": (90, 198), "protein": (46, 33),
                                                   "mutation": (90, 97), "mirna": (80, 471)}
    gistic = _rows(raw_dir / "tcga_acc_miniacc_5assays" / "derived" / "gistict.csv")
    assert acc["cnv"].values[1, 0] == float(gistic[1][2])  # DIRAS3 of the second aliquot column (-2)
    assert acc["cnv"].patients[1] == "TCGA-OR-A5J2"
    w = wissel_paad.read_wissel_omics(raw_dir / "tcga_paad_wissel2023_6omics_survival")
    assert {m: b.shape for m, b in w.items()} == {m: (81, n) for m, n in
                                                  (("rna", 2000), ("cnv", 2000), ("protein", 190), ("mutation", 2000))}
    assert wissel_paad.short_name("protein", "rppa_X4EBP1_pS65") == "4EBP1PS65"
    assert wissel_paad.short_name("rna", "gex_PNLIP.5406") == "PNLIP"


@pytest.mark.realdata
def test_pancan_10_content_hash_unchanged(pancan) -> None:
    assert pancan.manifest["version"] == "1.0"
    assert pancan.manifest["content_hash"] == OLD_10_HASH
    assert "methylation" not in pancan.manifest["modalities"]


@pytest.mark.realdata
def test_pancan_11_coverage(pancan11, raw_dir: Path) -> None:
    m = pancan11.manifest
    assert m["version"] == "1.1" and m["n_patients"] == 5720 + 92 and len(m["cohorts"]) == 15 and "acc" in m["cohorts"]
    clin = pancan11.clinical
    cohort = dict(zip(clin["patient_id"].to_list(), clin["cohort"].to_list()))
    brca = {f"TCGA-{c[5:7]}-{c[8:12]}" for c in _rows(raw_dir / "tcga_brca_rjive_expr_meth_mirna" / methylation.BRCA_FILE)[0][1:]}
    cov = _rows(raw_dir / "tcga_coad_dmtest_methylation" / methylation.COAD_COVARIATE)[1:]
    coad_t = {r[0][:12] for r in cov if r[1] == "1"}
    coad_n = {r[0][:12] for r in cov if r[1] == "0"}
    paad = {r[0] for r in _rows(raw_dir / "tcga_paad_wissel2023_6omics_survival" / methylation.PAAD_FILE)[1:]}
    presence = pancan11.presence
    have = set(presence.filter(presence["methylation"])["patient_id"].to_list())
    expected = {p for p in brca | coad_t | paad if p in cohort}
    assert have == expected and len(have) == 325 + 251 + 81
    assert {cohort[p] for p in have} == {"brca", "coadread", "paad"}
    normals = set(presence.filter(presence["methylation_normal"])["patient_id"].to_list())
    assert normals == {p for p in coad_n if p in cohort} and len(normals) == 24
    acc_ids = {r[1] for r in _rows(raw_dir / "tcga_acc_miniacc_5assays" / "derived" / "colData.csv")[1:]}
    assert {p for p, c in cohort.items() if c == "acc"} == acc_ids
    acc_rows = clin.filter(clin["cohort"] == "acc")
    assert acc_rows["os"].null_count() == 0 and set(acc_rows["cancer_type"].to_list()) == {"ACC"}
    rules = {r["other"]: r for r in m["modalities"]["cnv"]["merge_rules"]}
    assert rules["Wissel 2023 PAAD"]["winner"] == "porpoise" and rules["Wissel 2023 PAAD"]["cells_differing"] == 0
    assert m["modalities"]["methylation"]["cpg_overlap"]["pairwise"]["brca_rjive & paad_wissel"] == 152
    # a tumour task never picks the normal block up on its own
    from oncobench.benchmark.tasks import TaskSpec
    assert TaskSpec.__dataclass_fields__["dataset"].default == "tcga-pancan@1.0"
    json.dumps(m["card"]["merge_rules"])  # recorded, serialisable


@pytest.mark.realdata
def test_pancan_11_tasks_and_wissel_split(pancan11, raw_dir: Path) -> None:
    from oncobench.benchmark.tasks import Task, task_spec
    from oncobench.datasets.summary import merge_report

    rows = _rows(raw_dir / "tcga_paad_wissel2023_6omics_survival" / "derived" / "paad_subsampling_100x_80_20.csv.gz")
    col = rows[0]
    first = {r[col.index("patient_id")] for r in rows[1:] if r[col.index("iter")] == "1" and r[col.index("set")] == "test"}
    task = Task(task_spec("os-paad-methylation-wissel"), pancan11)
    assert len(task.patients) == 81 and task.inputs == ("methylation",) and task.modalities == ("methylation", "clinical")
    split = task.get_split(0, 0)
    assert set(split.test) == first and len(split.train) + len(split.test) == 81
    assert pancan11.manifest["splits"]["wissel100"]["n_repeats"] == 100
    acc = Task(task_spec("acc-coc"), pancan11)
    col_data = _rows(raw_dir / "tcga_acc_miniacc_5assays" / "derived" / "colData.csv")
    coc = [r[col_data[0].index("COC")] for r in col_data[1:]]
    assert acc.classes == ("COC1", "COC2", "COC3") and len(acc.patients) == sum(c != "NA" for c in coc) == 76
    pam50 = Task(task_spec("brca-pam50-methylation"), pancan11)
    assert pam50.inputs == ("rna", "methylation") and pam50.modalities == ("rna", "methylation", "clinical")
    # a task that takes "every modality" of COADREAD on 1.1 never takes the normal-tissue block
    coad = Task(replace(task_spec("os-coadread"), dataset="tcga-pancan@1.1", min_coverage=0.05), pancan11)
    assert "methylation" in coad.modalities and "methylation_normal" not in coad.modalities
    report = merge_report(pancan11)
    assert "cnv          Wissel 2023 PAAD into porpoise: porpoise wins; 6642 shared values, 0 differed" in report
    assert "brca_rjive & paad_wissel 152" in report


def test_build_version_only_for_pancan() -> None:
    from oncobench.datasets.errors import DatasetNotFoundError
    from oncobench.datasets.recipes import build_recipe, tcga_pancan

    with pytest.raises(DatasetNotFoundError, match="--version applies to tcga-pancan"):
        build_recipe("tcga-mini", version="1.1")
    with pytest.raises(DatasetNotFoundError, match=r"tcga-pancan has no version '2.0'; buildable: 1.0, 1.1"):
        tcga_pancan.build(raw_dir=Path("."), version="2.0")
