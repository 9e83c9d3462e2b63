"""Pathology image-feature readers: Saltz 2018 TIL maps, PathAI HIFs, Kather 2019, Digi-WSI.

Real-data tests assert golden numbers measured on the raw files (and cells looked up by hand in them);
unit tests feed tiny bad files written to tmp_path and check the error names file, row and column.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.pins import PINS
from oncobench.datasets.sources import digi, kather, pathai, saltz

TIL = "imaging_saltz2018_tilmaps_tcga13"
HIF = "imaging_pathai_hif2gene_hifs"
KATHER = "imaging_kather2019_crc_tissue_fractions"
DIGI = "digi_wsis_tcga_tnbc_pathomics"
THORSSON = ("Study", "Leukocyte Fraction", "Immune Subtype", "OS", "OS_time", "Lymphocytes", "Neutrophils",
            "Eosinophils", "Mast Cells", "Dendritic Cells", "Macrophages")


def _row(block: FeatureBlock, patient: str) -> dict[str, float]:
    return dict(zip(block.features, block.values[block.patients.index(patient)].tolist()))


def _assert_pinned(block: FeatureBlock) -> None:
    """Every file named in the provenance is a pinned raw file with the pinned sha256 and size."""
    pins = {p.name: p for p in PINS}
    for f in block.provenance.files:
        assert f.name in pins, f.name
        assert (f.sha256, f.bytes) == (pins[f.name].sha256, pins[f.name].bytes)


# ----------------------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def til_csv(raw_dir: Path) -> FeatureBlock:
    return saltz.read_saltz(raw_dir / TIL / "DERIVED_TILMap_TableS1.csv")


@pytest.fixture(scope="module")
def hif(raw_dir: Path) -> FeatureBlock:
    return pathai.read_pathai(raw_dir / HIF)


@pytest.mark.realdata
def test_til_shape_exclusion_and_features(raw_dir: Path, til_csv: FeatureBlock) -> None:
    with open(raw_dir / TIL / "DERIVED_TILMap_TableS1.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len({r["ParticipantBarcode"] for r in rows}) == 4612  # before exclusion
    ink = sorted(r["ParticipantBarcode"] for r in rows if r["TIL_on_ink_artifact"] == "Y")
    assert len(ink) == 16 and all(p.startswith("TCGA-86-") for p in ink)

    assert til_csv.shape == (4596, 22)
    assert til_csv.modality == "pathology"
    assert not set(ink) & set(til_csv.patients)
    assert til_csv.provenance.extra["excluded_ink_artifact_patients"] == ink
    assert all(f.startswith("til:") for f in til_csv.features)
    names = {f.removeprefix("til:") for f in til_csv.features}
    assert not names & set(THORSSON)
    assert {"Number of TIL Patches", "til_percentage", "Det_Ratio_Adjusted", "Global_Pattern=Brisk Diffuse"} <= names
    assert list(til_csv.patients) == sorted(til_csv.patients)


@pytest.mark.realdata
def test_til_global_pattern_indicators(til_csv: FeatureBlock) -> None:
    cols = [i for i, f in enumerate(til_csv.features) if f.startswith("til:Global_Pattern=")]
    assert len(cols) == 5
    ind = til_csv.values[:, cols]
    assert set(np.unique(ind[~np.isnan(ind)]).tolist()) == {0.0, 1.0}
    unscored = np.isnan(ind).all(axis=1)
    assert np.isnan(ind[unscored]).all() and not np.isnan(ind[~unscored]).any()  # NaN row-wise, never mixed
    assert unscored.sum() == 127  # the 127 unscored slides; none of them is an ink-artifact slide
    assert (ind[~unscored].sum(axis=1) == 1).all()
    counts = dict(zip(til_csv.features[cols[0]:cols[-1] + 1], ind[~unscored].sum(axis=0).tolist()))
    # PROVENANCE counts minus the 16 ink-artifact slides
    assert sum(counts.values()) == 4612 - 127 - 16
    assert counts["til:Global_Pattern=Indeterminate"] == 32


@pytest.mark.realdata
def test_til_cells_and_provenance(raw_dir: Path, til_csv: FeatureBlock) -> None:
    row = _row(til_csv, "TCGA-4Z-AA7O")  # first row of the csv, BLCA, Brisk Band-like
    assert row["til:Number of TIL Patches"] == 22265
    assert row["til:til_percentage"] == pytest.approx(15.7387640847, rel=1e-6)
    assert row["til:number_of_clusters"] == 35
    assert row["til:Det_Ratio_Adjusted"] == pytest.approx(-385.846054169164, rel=1e-6)
    assert row["til:Global_Pattern=Brisk Band-like"] == 1.0 and row["til:Global_Pattern=Brisk Diffuse"] == 0.0
    unscored = _row(til_csv, "TCGA-FD-A3B6")  # Global_Pattern empty in the csv
    assert unscored["til:Number of TIL Patches"] == 647
    assert np.isnan(unscored["til:Global_Pattern=Brisk Diffuse"])

    prov = til_csv.provenance
    assert prov.comparable_across_cohorts is True
    assert "Cell Press" in prov.licence and "Saltz" in prov.citation
    assert prov.files[0].name == f"{TIL}/DERIVED_TILMap_TableS1.csv"
    _assert_pinned(til_csv)


@pytest.mark.realdata
def test_til_xlsx_equals_derived_csv(raw_dir: Path, til_csv: FeatureBlock) -> None:
    xlsx = saltz.read_saltz(raw_dir / TIL / "mmc2 - modified.xlsx")  # what the tcga-pancan recipe reads
    assert xlsx.patients == til_csv.patients and xlsx.features == til_csv.features
    np.testing.assert_array_equal(xlsx.values, til_csv.values)
    _assert_pinned(xlsx)
    cohorts = saltz.read_saltz_cohorts(raw_dir / TIL / "DERIVED_TILMap_TableS1.csv")
    assert cohorts.columns == ["patient_id", "til_cohort"] and cohorts.height == 4612
    counts = dict(cohorts.group_by("til_cohort").len().iter_rows())
    assert counts["BRCA"] == 944 and counts["UVM"] == 63 and len(counts) == 13


@pytest.mark.realdata
def test_pathai_counts_and_features(raw_dir: Path, hif: FeatureBlock) -> None:
    assert hif.shape == (2458, 607)
    expected = {"luad": 444, "lusc": 412, "skcm": 326, "stad": 372}
    got = set(hif.patients)
    for cancer, n in expected.items():
        ids = set(pd.read_csv(raw_dir / HIF / f"{cancer}.hifs.csv", usecols=["bcr_patient_barcode"])["bcr_patient_barcode"])
        assert len(ids) == n and ids <= got
    brca = set(pd.read_csv(raw_dir / HIF / "DERIVED_brca_hifs_USE_plus_HOLDOUT.csv", usecols=["bcr_patient_barcode"])["bcr_patient_barcode"])
    assert len(brca) == 904 and brca <= got
    assert sum(expected.values()) + 904 == 2458

    assert all(f.startswith("hif:") for f in hif.features)
    assert not any(re.search(r"_(HE|FFPE)$", f) for f in hif.features)
    assert not any("HRD" in f for f in hif.features)
    luad_columns = pd.read_csv(raw_dir / HIF / "luad.hifs.csv", nrows=0).columns.tolist()
    clinical = luad_columns[-52:]
    assert clinical[0] == "os" and clinical[-1] == "age_at_initial_pathologic_diagnosis"
    names = {f.removeprefix("hif:") for f in hif.features}
    assert not names & set(clinical) and not names & {"split", "CASE_ID", "H & E_ID", "FFPE_ID", "case"}
    assert hif.features[0] == "hif:AREA (MM2) OF [EPITHELIAL] IN [TISSUE]"
    assert list(hif.patients) == sorted(hif.patients)


@pytest.mark.realdata
def test_pathai_one_slide_per_patient(raw_dir: Path, hif: FeatureBlock) -> None:
    skcm = pd.read_csv(raw_dir / HIF / "skcm.hifs.csv")
    hif_columns = [c for c in skcm.columns if c.endswith("_FFPE")]
    assert len(hif_columns) == 607
    # TCGA-FS-A1Z7 has 6 slides with 76, 28, 52, 10, 14, 0 missing HIFs: slide 88782 (complete) wins,
    # not the smallest ID 82303 (76 missing)
    slides = skcm[skcm["bcr_patient_barcode"] == "TCGA-FS-A1Z7"]
    assert sorted(slides["FFPE_ID"]) == [82303, 84970, 85027, 85122, 87910, 88782]
    by_name = [f.removeprefix("hif:") + "_FFPE" for f in hif.features]  # the csv's column order differs
    chosen = slides[slides["FFPE_ID"] == 88782][by_name].to_numpy(np.float64)[0]
    got = hif.values[hif.patients.index("TCGA-FS-A1Z7")]
    np.testing.assert_array_equal(got, chosen.astype(np.float32))
    assert got[0] == pytest.approx(5.399744)  # AREA (MM2) OF [EPITHELIAL] IN [TISSUE]_FFPE, by hand
    # TCGA-FS-A1ZN: four complete slides (80422, 83523, 86795, 91242) tie: the smallest ID 80422
    row = _row(hif, "TCGA-FS-A1ZN")
    assert row["hif:AREA (MM2) OF [EPITHELIAL] IN [TISSUE]"] == pytest.approx(66.139064)
    assert row["hif:AREA (MM2) OF [STROMA] IN [TISSUE]"] == pytest.approx(50.895492)
    # a single-slide patient keeps its NaN (not measured) cells
    assert np.isnan(hif.values[hif.patients.index("TCGA-EE-A2A0")]).sum() == 4
    luad = _row(hif, "TCGA-49-AARO")  # LUAD, one slide (75661)
    assert luad["hif:AREA (MM2) OF [EPITHELIAL] IN [TISSUE]"] == pytest.approx(52.827568)


@pytest.mark.realdata
def test_pathai_brca_equals_derived_csv(raw_dir: Path, hif: FeatureBlock) -> None:
    brca = pd.read_csv(raw_dir / HIF / "DERIVED_brca_hifs_USE_plus_HOLDOUT.csv")
    # the csv's make.names columns 1..607 follow the canonical order of pancancer.hif.clusters.csv
    assert brca.columns[1] == "AREA..MM2..OF..EPITHELIAL..IN..TISSUE._HE"
    assert brca.columns[608:].tolist() == ["HRD_Score", "HRD_Score_Binarized", "split"]
    for patient in ("TCGA-3C-AALI", brca["bcr_patient_barcode"].iloc[-1]):
        cells = brca.loc[brca["bcr_patient_barcode"] == patient].iloc[0, 1:608].to_numpy(np.float64)
        np.testing.assert_array_equal(hif.values[hif.patients.index(patient)], cells.astype(np.float32))
    assert _row(hif, "TCGA-3C-AALI")["hif:AREA (MM2) OF [EPITHELIAL] IN [TISSUE]"] == pytest.approx(71.806464)


@pytest.mark.realdata
def test_pathai_provenance(hif: FeatureBlock) -> None:
    prov = hif.provenance
    assert prov.comparable_across_cohorts is False
    assert prov.licence.startswith("CC BY-NC-SA 4.0")
    assert "Diao" in prov.citation
    assert prov.extra["slide_type"] == {"luad": "HE", "stad": "HE", "lusc": "FFPE", "skcm": "FFPE", "brca": "HE"}
    assert "fewest missing" in prov.extra["slide_rule"]
    assert sorted(f.name.split("/")[-1] for f in prov.files) == [
        "DERIVED_brca_hifs_USE_plus_HOLDOUT.csv", "luad.hifs.csv", "lusc.hifs.csv", "pancancer.hif.clusters.csv",
        "skcm.hifs.csv", "stad.hifs.csv"]
    _assert_pinned(hif)


@pytest.mark.realdata
def test_kather(raw_dir: Path) -> None:
    block = kather.read_kather(raw_dir / KATHER / "TCGA_MEASUREMENTS.xlsx")
    assert block.shape == (500, 9)
    assert block.features == ("kather:ADI", "kather:BACK", "kather:DEB", "kather:LYM", "kather:MUC", "kather:MUS",
                              "kather:NORM", "kather:STR", "kather:TUM")
    assert not np.isnan(block.values).any()
    sums = block.values.sum(axis=1)
    assert sums.min() == pytest.approx(1.0, abs=1e-3) and sums.max() == pytest.approx(2.19, abs=0.01)  # not a composition
    row = _row(block, "TCGA-CM-6675")  # first row of sheet Tabelle1
    assert row["kather:TUM"] == pytest.approx(0.7988610432699249)
    assert row["kather:DEB"] == pytest.approx(0.09097853295831843)
    assert row["kather:ADI"] == pytest.approx(0.0002835770831089969)
    prov = block.provenance
    assert prov.comparable_across_cohorts is True and prov.licence == "MIT" and "Kather" in prov.citation
    _assert_pinned(block)


@pytest.mark.realdata
def test_digi(raw_dir: Path) -> None:
    path = raw_dir / DIGI / "TCGA-cohort.csv"
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"  # the BOM the reader must strip
    block = digi.read_digi(path)
    assert block.shape == (111, 2) and block.features == ("digi:sTILs", "digi:TAS")
    assert not np.isnan(block.values).any()
    row = _row(block, "TCGA-A1-A0SK")  # row 1
    assert row["digi:sTILs"] == pytest.approx(0.0521978) and row["digi:TAS"] == pytest.approx(1.69834711)
    assert _row(block, "TCGA-OL-A66P")["digi:sTILs"] == 0.0  # a measured zero stays 0 (row 111)
    prov = block.provenance
    assert prov.comparable_across_cohorts is True and prov.licence == "BSD-3-Clause" and "Albusayli" in prov.citation
    _assert_pinned(block)


# ----------------------------------------------------------------------------------------------- bad input: Saltz
SALTZ_HEADER = ["ParticipantBarcode", "Study", *saltz.IMAGE_COLUMNS, "Global_Pattern", "TIL_on_ink_artifact"]


def _saltz_file(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(SALTZ_HEADER)]
    for i, r in enumerate(rows):
        cells = {c: str(i + 1) for c in saltz.IMAGE_COLUMNS}
        cells.update({"Study": "BLCA", "Global_Pattern": "Brisk Diffuse", "TIL_on_ink_artifact": "-"}, **r)
        lines.append(",".join(cells.get(c, "") for c in SALTZ_HEADER))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_saltz_tiny_file(tmp_path: Path) -> None:
    path = _saltz_file(tmp_path / "til.csv", [
        {"ParticipantBarcode": "TCGA-AA-0002", "Global_Pattern": ""},
        {"ParticipantBarcode": "TCGA-AA-0001"},
        {"ParticipantBarcode": "TCGA-AA-0003", "TIL_on_ink_artifact": "y"},
    ])
    block = saltz.read_saltz(path)
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002")
    assert block.provenance.extra["excluded_ink_artifact_patients"] == ["TCGA-AA-0003"]
    row = _row(block, "TCGA-AA-0001")
    assert row["til:Number of TIL Patches"] == 2 and row["til:Global_Pattern=Brisk Diffuse"] == 1.0
    assert np.isnan(_row(block, "TCGA-AA-0002")["til:Global_Pattern=Brisk Diffuse"])


def test_saltz_empty_file(tmp_path: Path) -> None:
    (tmp_path / "til.csv").write_text("")
    with pytest.raises(InputFormatError, match=r"til\.csv.*empty file"):
        saltz.read_saltz(tmp_path / "til.csv")


def test_saltz_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"til\.csv.*header only"):
        saltz.read_saltz(_saltz_file(tmp_path / "til.csv", []))


def test_saltz_non_numeric_cell(tmp_path: Path) -> None:
    path = _saltz_file(tmp_path / "til.csv", [{"ParticipantBarcode": "TCGA-AA-0001"},
                                             {"ParticipantBarcode": "TCGA-AA-0002", "til_percentage": "high"}])
    with pytest.raises(InputFormatError) as info:
        saltz.read_saltz(path)
    msg = str(info.value)
    assert "til.csv" in msg and "row 3 (TCGA-AA-0002)" in msg and "'til_percentage'" in msg and "'high'" in msg


def test_saltz_missing_column(tmp_path: Path) -> None:
    frame = pd.read_csv(_saltz_file(tmp_path / "full.csv", [{"ParticipantBarcode": "TCGA-AA-0001"}]))
    frame.drop(columns=["Global_Pattern"]).to_csv(tmp_path / "til.csv", index=False)
    with pytest.raises(InputFormatError, match=r"til\.csv.*missing columns \['Global_Pattern'\]"):
        saltz.read_saltz(tmp_path / "til.csv")


# ---------------------------------------------------------------------------------------------- bad input: PathAI
def _hif_name(i: int) -> str:
    return f"COUNT OF [C{i}] IN [TISSUE]"


def _pathai_folder(folder: Path, *, luad_rows: list[tuple[str, int, float | None]] | None = None) -> Path:
    """A tiny hif2gene folder: 607 HIFs; one patient per cancer unless ``luad_rows`` gives (patient, slide, value)."""
    folder.mkdir()
    names = [_hif_name(i) for i in range(607)]
    pd.DataFrame({"": [f"{n}_HE" for n in names], "x": 1}).to_csv(folder / "pancancer.hif.clusters.csv", index=False)
    tss = {"luad": "49", "lusc": "33", "skcm": "FS", "stad": "R5"}
    for cancer, code in tss.items():
        slide_column, suffix = ("H & E_ID", "_HE") if cancer in ("luad", "stad") else ("FFPE_ID", "_FFPE")
        rows = luad_rows if cancer == "luad" and luad_rows is not None else [(f"TCGA-{code}-0001", 5, 1.0)]
        frame = pd.DataFrame({"CASE_ID": range(len(rows)), slide_column: [r[1] for r in rows]})
        hifs = pd.DataFrame({f"{n}{suffix}": [r[2] for r in rows] for n in names})
        frame = pd.concat([frame, hifs], axis=1)
        frame["os"] = 1
        frame["bcr_patient_barcode"] = [r[0] for r in rows]
        frame.to_csv(folder / f"{cancer}.hifs.csv", index=False)
    brca = pd.DataFrame({"bcr_patient_barcode": ["TCGA-3C-0001"]})
    brca = pd.concat([brca, pd.DataFrame({re.sub(r"[^A-Za-z0-9_.]", ".", f"{n}_HE"): [2.0] for n in names})], axis=1)
    brca["HRD_Score"], brca["split"] = 10, "USE"
    brca.to_csv(folder / "DERIVED_brca_hifs_USE_plus_HOLDOUT.csv", index=False)
    return folder


def test_pathai_tiny_folder_and_slide_rule(tmp_path: Path) -> None:
    folder = _pathai_folder(tmp_path / "hif", luad_rows=[
        ("TCGA-49-0001", 10, 10.0), ("TCGA-49-0001", 9, 9.0),  # tie on missing: smallest ID 9, not "10" < "9"
        ("TCGA-49-0002", 1, None), ("TCGA-49-0002", 2, 2.0),   # slide 1 misses all HIFs: slide 2 wins
    ])
    block = pathai.read_pathai(folder)
    assert block.shape == (6, 607)
    assert block.patients == tuple(sorted(block.patients))
    assert block.features[0] == f"hif:{_hif_name(0)}"
    assert (block.values[block.patients.index("TCGA-49-0001")] == 9.0).all()
    assert (block.values[block.patients.index("TCGA-49-0002")] == 2.0).all()
    assert (block.values[block.patients.index("TCGA-3C-0001")] == 2.0).all()  # BRCA via make.names


def test_pathai_empty_file(tmp_path: Path) -> None:
    folder = _pathai_folder(tmp_path / "hif")
    (folder / "lusc.hifs.csv").write_text("")
    with pytest.raises(InputFormatError, match=r"lusc\.hifs\.csv.*empty file"):
        pathai.read_pathai(folder)


def test_pathai_header_only(tmp_path: Path) -> None:
    folder = _pathai_folder(tmp_path / "hif", luad_rows=[])
    with pytest.raises(InputFormatError, match=r"luad\.hifs\.csv.*header only"):
        pathai.read_pathai(folder)


def test_pathai_non_numeric_cell(tmp_path: Path) -> None:
    folder = _pathai_folder(tmp_path / "hif")
    frame = pd.read_csv(folder / "skcm.hifs.csv")
    column = f"{_hif_name(3)}_FFPE"
    frame[column] = frame[column].astype(object)
    frame.loc[0, column] = "n/a?"
    frame.to_csv(folder / "skcm.hifs.csv", index=False)
    with pytest.raises(InputFormatError) as info:
        pathai.read_pathai(folder)
    msg = str(info.value)
    assert "skcm.hifs.csv" in msg and "row 2 (TCGA-FS-0001)" in msg and _hif_name(3) in msg and "'n/a?'" in msg


def test_pathai_missing_columns(tmp_path: Path) -> None:
    folder = _pathai_folder(tmp_path / "hif")
    frame = pd.read_csv(folder / "stad.hifs.csv")
    frame.drop(columns=[f"{_hif_name(5)}_HE"]).to_csv(folder / "stad.hifs.csv", index=False)
    with pytest.raises(InputFormatError, match=rf"stad\.hifs\.csv.*missing columns.*{re.escape(_hif_name(5))}"):
        pathai.read_pathai(folder)
    folder = _pathai_folder(tmp_path / "hif2")
    frame = pd.read_csv(folder / "stad.hifs.csv")
    frame.drop(columns=["H & E_ID"]).to_csv(folder / "stad.hifs.csv", index=False)
    with pytest.raises(InputFormatError, match=r"stad\.hifs\.csv.*H & E_ID"):
        pathai.read_pathai(folder)


def test_pathai_wrong_hif_count_and_shared_patient(tmp_path: Path) -> None:
    folder = _pathai_folder(tmp_path / "hif")
    names = pd.read_csv(folder / "pancancer.hif.clusters.csv")
    names.iloc[:600].to_csv(folder / "pancancer.hif.clusters.csv", index=False)
    with pytest.raises(InputFormatError, match=r"pancancer\.hif\.clusters\.csv.*600 HIF names; expected 607"):
        pathai.read_pathai(folder)
    folder = _pathai_folder(tmp_path / "hif2", luad_rows=[("TCGA-33-0001", 1, 1.0)])  # also a LUSC patient
    with pytest.raises(InputFormatError, match="two cancers"):
        pathai.read_pathai(folder)


# ---------------------------------------------------------------------------------------------- bad input: Kather
def _kather_file(path: Path, ids: list[str], **overrides: list) -> Path:
    data = {"ID": ids, **{c: [0.1 * (i + 1) for i in range(len(ids))] for c in kather.CLASSES}, "msi_status": "MSS"}
    data.update(overrides)
    pd.DataFrame(data).to_excel(path, sheet_name="Tabelle1", index=False)
    return path


def test_kather_tiny_file(tmp_path: Path) -> None:
    block = kather.read_kather(_kather_file(tmp_path / "k.xlsx", ["TCGA-AA-0002", "TCGA-AA-0001-01A"]))
    assert block.patients == ("TCGA-AA-0001", "TCGA-AA-0002") and len(block.features) == 9
    assert _row(block, "TCGA-AA-0001")["kather:TUM"] == pytest.approx(0.2)


def test_kather_empty_file(tmp_path: Path) -> None:
    (tmp_path / "k.xlsx").write_bytes(b"")
    with pytest.raises(InputFormatError, match=r"k\.xlsx.*Tabelle1"):
        kather.read_kather(tmp_path / "k.xlsx")


def test_kather_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"k\.xlsx.*header only"):
        kather.read_kather(_kather_file(tmp_path / "k.xlsx", []))


def test_kather_non_numeric_cell(tmp_path: Path) -> None:
    path = _kather_file(tmp_path / "k.xlsx", ["TCGA-AA-0001", "TCGA-AA-0002"], TUM=[0.5, "lots"])
    with pytest.raises(InputFormatError) as info:
        kather.read_kather(path)
    msg = str(info.value)
    assert "k.xlsx" in msg and "row 3 (TCGA-AA-0002)" in msg and "'TUM'" in msg and "'lots'" in msg


def test_kather_missing_column_and_bad_id(tmp_path: Path) -> None:
    frame = pd.read_excel(_kather_file(tmp_path / "full.xlsx", ["TCGA-AA-0001"]), sheet_name="Tabelle1")
    frame.drop(columns=["STR"]).to_excel(tmp_path / "k.xlsx", sheet_name="Tabelle1", index=False)
    with pytest.raises(InputFormatError, match=r"k\.xlsx.*missing columns \['STR'\]"):
        kather.read_kather(tmp_path / "k.xlsx")
    path = _kather_file(tmp_path / "ids.xlsx", ["TCGA-AA-0001", "patient 7"])
    with pytest.raises(InputFormatError, match=r"ids\.xlsx, row 3, column 'ID'"):
        kather.read_kather(path)


# ------------------------------------------------------------------------------------------------ bad input: Digi
def _digi_file(path: Path, body: str, *, bom: bool = True) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.replace("\n", "\r\n").encode())
    return path


def test_digi_bom_first_column(tmp_path: Path) -> None:
    # the ID column first: it parses only if the BOM is stripped from the header
    path = _digi_file(tmp_path / "d.csv", "TCGA Cases IDs,Digi-sTILs Score,Digi-TAS Score\nTCGA-AA-0001,0.25,3\n")
    block = digi.read_digi(path)
    assert block.patients == ("TCGA-AA-0001",)
    np.testing.assert_array_equal(block.values, np.array([[0.25, 3.0]], np.float32))


def test_digi_bare_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _digi_file(tmp_path / "d.csv", "TCGA Cases IDs,Digi-sTILs Score,Digi-TAS Score\nTCGA-AA-0001,0.25,3\n")
    monkeypatch.chdir(tmp_path)
    assert digi.read_digi("d.csv").provenance.files[0].name.endswith("d.csv")


def test_digi_empty_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match=r"d\.csv.*empty file"):
        digi.read_digi(_digi_file(tmp_path / "d.csv", "", bom=False))
    with pytest.raises(InputFormatError, match=r"h\.csv.*header only"):
        digi.read_digi(_digi_file(tmp_path / "h.csv", "Number,TCGA Cases IDs,Digi-sTILs Score,Digi-TAS Score\n"))


def test_digi_non_numeric_and_missing_value(tmp_path: Path) -> None:
    header = "Number,TCGA Cases IDs,Digi-sTILs Score,Digi-TAS Score\n"
    path = _digi_file(tmp_path / "d.csv", header + "1,TCGA-AA-0001,0.1,2\n2,TCGA-AA-0002,0.2,x2\n")
    with pytest.raises(InputFormatError) as info:
        digi.read_digi(path)
    msg = str(info.value)
    assert "d.csv" in msg and "row 3 (TCGA-AA-0002)" in msg and "TAS" in msg and "'x2'" in msg
    path = _digi_file(tmp_path / "n.csv", header + "1,TCGA-AA-0001,,2\n")
    with pytest.raises(InputFormatError, match=r"n\.csv, row 2 \(TCGA-AA-0001\), column 'sTILs': missing value"):
        digi.read_digi(path)


def test_digi_missing_column(tmp_path: Path) -> None:
    path = _digi_file(tmp_path / "d.csv", "Number,TCGA Cases IDs,Digi-sTILs Score\n1,TCGA-AA-0001,0.1\n")
    with pytest.raises(InputFormatError, match=r"d\.csv.*missing columns \['Digi-TAS Score'\]"):
        digi.read_digi(path)
