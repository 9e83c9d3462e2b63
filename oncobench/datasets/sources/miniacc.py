"""TCGA-ACC from MultiAssayExperiment's ``miniACC``: five assays (features x aliquot columns) and clinical subtypes.

Each assay's columns are aliquot barcodes mapped to patients by ``sampleMap.csv`` (assay, primary, colname);
a column absent from the map, or mapped to another patient than its barcode says, is refused, and so is a
normal-tissue aliquot (ACC is a tumour cohort here).

References
----------
Zheng S et al. Comprehensive pan-genomic characterization of adrenocortical carcinoma. Cancer Cell 29:723, 2016.
Ramos M et al. Software for the integration of multiomics experiments in Bioconductor. Cancer Res 77:e39, 2017.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from oncobench.datasets.barcode import normalize_barcode, parse_barcode
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, clean_feature_name, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile
from oncobench.datasets.sources.card_files import read_raw_table

# assay file -> (modality, transform as the file gives it)
ASSAYS: dict[str, tuple[str, str]] = {
    "RNASeq2GeneNorm": ("rna", "RSEM normalised counts, not log-transformed (miniACC, 198 genes)"),
    "gistict": ("cnv", "GISTIC thresholded calls -2..2"),
    "RPPAArray": ("protein", "RPPA level 3 (TCGA)"),
    "Mutations": ("mutation", "0/1 non-silent mutation per gene"),
    "miRNASeqGene": ("mirna", "miRNA-seq counts, not log-transformed"),
}
SUBTYPES = ("C1A.C1B", "mRNA_K4", "MethyLevel", "miRNA.cluster", "SCNA.cluster", "protein.cluster", "COC", "OncoSign")
LICENCE = "Artistic-2.0 (MultiAssayExperiment); TCGA open access"
CITATION = "Zheng S et al., Cancer Cell 29:723, 2016; Ramos M et al., Cancer Res 77:e39, 2017"


def read_sample_map(path: Path) -> dict[tuple[str, str], str]:
    """(assay, aliquot column) -> patient barcode."""
    table = read_raw_table(path, force_text=True, id_column=0)
    header = [h.strip() for h in table.header]
    for need in ("assay", "primary", "colname"):
        if need not in header:
            raise InputFormatError(path, f"no {need!r} column", expected="columns assay, primary, colname")
    a, p, c = (header.index(k) for k in ("assay", "primary", "colname"))
    return {(str(r[a]).strip(), str(r[c]).strip()): str(r[p]).strip() for r in table.cells}


def read_assay(folder: Path, assay: str, sample_map: dict[tuple[str, str], str], root: Path | None = None) -> FeatureBlock:
    """One assay as a patient x feature block (tumour aliquots only, mapped through the sample map)."""
    modality, transform = ASSAYS[assay]
    path = folder / "derived" / f"{assay}.csv"
    table = read_raw_table(path, missing=("NA",), id_column=0)
    columns = [h.strip() for h in table.header[1:]]
    features = [clean_feature_name(str(f)) for f in table.cells[:, 0]]
    patients = []
    for column in columns:
        mapped = sample_map.get((assay, column))
        if mapped is None:
            raise InputFormatError(path, "aliquot column not in sampleMap.csv", column=column,
                                   expected=f"a sampleMap row with assay {assay!r} and this colname")
        barcode = parse_barcode(normalize_barcode(column))
        if barcode.patient_id != mapped:
            raise InputFormatError(path, "sampleMap.csv maps this aliquot to another patient", column=column,
                                   expected=barcode.patient_id, found=mapped)
        if not barcode.is_tumor:
            raise InputFormatError(path, "normal-tissue aliquot", column=column, expected="a tumour sample (01-09)",
                                   found=barcode.sample_type)
        patients.append(mapped)
    if len(set(patients)) != len(patients):
        dup = next(p for p in patients if patients.count(p) > 1)
        raise InputFormatError(path, f"two aliquot columns of patient {dup}", expected="one tumour aliquot per patient")
    values = to_float32(table.column_cells(list(range(1, len(table.header)))), path=path, row_labels=features,
                        column_labels=columns)
    prov = Provenance(source="miniACC", files=(SourceFile.of(path, root or folder.parent),), transform=transform,
                      licence=LICENCE, citation=CITATION, comparable_across_cohorts=modality in ("cnv", "mutation"),  # GISTIC calls, 0/1 calls
                      notes=f"{assay}: aliquot columns mapped to patients with sampleMap.csv")
    return FeatureBlock(modality, tuple(patients), tuple(features), np.ascontiguousarray(values.T), prov)


def read_miniacc(folder: Path, root: Path | None = None) -> dict[str, FeatureBlock]:
    """Every assay, keyed by modality."""
    sample_map = read_sample_map(folder / "derived" / "sampleMap.csv")
    return {ASSAYS[a][0]: read_assay(folder, a, sample_map, root) for a in ASSAYS}


def read_subtypes(folder: Path) -> pl.DataFrame:
    """``patient_id`` and the TCGA ACC paper's subtype labels (columns ``acc_<label>``; NA -> null)."""
    path = folder / "derived" / "colData.csv"
    frame = pl.read_csv(path, infer_schema=False, null_values=["NA", ""])
    missing = [c for c in ("patientID", *SUBTYPES) if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", expected="miniACC colData with patientID and subtypes")
    out = frame.select(pl.col("patientID").alias("patient_id"),
                       *[pl.col(s).alias("acc_" + s.lower().replace(".", "_")) for s in SUBTYPES])
    if out["patient_id"].n_unique() != out.height:
        raise InputFormatError(path, "duplicate patientID", expected="one row per patient")
    return out
