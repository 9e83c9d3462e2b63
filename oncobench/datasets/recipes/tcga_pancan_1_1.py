"""tcga-pancan 1.1: version 1.0 plus DNA methylation (BRCA, COAD, PAAD), ACC as a 15th cohort, PAAD's Wissel omics.

Patients: 1.0's 5,720 PORPOISE patients plus miniACC's 92 ACC patients, whose clinical fields and endpoints
come from TCGA-CDR exactly as for the others (the ACC paper's subtypes are added as ``acc_*`` labels).
Each added source is merged into the modality PORPOISE (or Subtype-GAN / cpRMT) already holds by patient and
feature name: the 1.0 source wins on a cell both give, and the manifest records, per merge, how many cells
both gave and how many differed (``modalities.<m>.merge_rules``). Methylation blocks do not overlap in
patients; the CpG sets they share are recorded in ``modalities.methylation.cpg_overlap``. Matched normal
COAD samples are the separate ``methylation_normal`` modality (keyed by patient), never part of a tumour task
unless the task names it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
from tqdm.auto import tqdm

from oncobench.datasets.barcode import parse_barcode
from oncobench.datasets.block_merge import merge_into
from oncobench.datasets.build import DatasetContent
from oncobench.datasets.clinical import clinical_block
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.split_import import read_split_files
from oncobench.datasets.recipes import tcga_pancan as v10
from oncobench.datasets.sources import (
    cprmt, methylation, miniacc, porpoise, subtypegan, wissel_paad,
)

log = logging.getLogger(__name__)

VERSION = "1.1"
ACC = "tcga_acc_miniacc_5assays"
BRCA_METH = "tcga_brca_rjive_expr_meth_mirna"
COAD_METH = "tcga_coad_dmtest_methylation"
PAAD = "tcga_paad_wissel2023_6omics_survival"
ACC_LABELS = ["acc_c1a_c1b", "acc_mrna_k4", "acc_methylevel", "acc_coc", "acc_oncosign"]
CARD = v10.CARD | {
    "description": v10.CARD["description"] + (
        " Version 1.1 adds DNA methylation beta values (BRCA: r.jive 574 CpGs; COAD: DMtest 1,000 CpGs, matched "
        "normals apart as methylation_normal; PAAD: Wissel 2023 2,000 CpGs), ACC (miniACC, 92 patients, TCGA-CDR "
        "endpoints, TCGA-paper subtypes) and PAAD expression/CNV/RPPA/mutation counts of Wissel 2023; where a "
        "1.0 source and an added one give the same cell, the 1.0 source wins (counts in merge_rules)."),
    "citation": v10.CARD["citation"] + "; O'Connell & Lock 2016 (r.jive); Wang (DMtest); Wissel 2023; Zheng 2016 (ACC)",
    "licence": v10.CARD["licence"] + "; r.jive GPL-3, DMtest GPL>=2, pdac-efs-bench2024 MIT, MultiAssayExperiment Artistic-2.0",
}


def _acc_rows(acc_subtypes: pl.DataFrame, porpoise_clinical: pl.DataFrame) -> pl.DataFrame:
    """ACC patients in PORPOISE's clinical layout (cohort ``acc``, oncotree ``ACC``, TSS from the barcode)."""
    ids = acc_subtypes["patient_id"].to_list()
    clash = set(ids) & set(porpoise_clinical["patient_id"].to_list())
    if clash:
        raise ValueError(f"ACC patients already in PORPOISE: {sorted(clash)[:3]}")
    return pl.DataFrame({"patient_id": ids, "cohort": ["acc"] * len(ids), "oncotree_code": ["ACC"] * len(ids),
                         "tss_code": [parse_barcode(p).tss for p in ids]})


def _restrict(block: FeatureBlock, patients: set[str], dropped: dict[str, int]) -> FeatureBlock:
    keep = [p for p in block.patients if p in patients]
    if len(keep) < len(block.patients):
        dropped[f"{block.provenance.source}/{block.modality}"] = len(block.patients) - len(keep)
        log.info("%s/%s: %d patients not in tcga-pancan 1.1 left out", block.provenance.source, block.modality,
                 len(block.patients) - len(keep))
    return block.subset(patients=keep)


def content(root: Path, progress: bool = True) -> DatasetContent:
    """Read every source under ``root`` and assemble tcga-pancan 1.1."""
    steps = tqdm(total=6, desc="tcga-pancan 1.1", disable=not progress, unit="step")
    porpoise_clinical, blocks = porpoise.read_porpoise(root / "porpoise_tcga14_multiomics_survival", progress=progress)
    acc_sub = miniacc.read_subtypes(root / ACC)
    extended = pl.concat([porpoise_clinical, _acc_rows(acc_sub, porpoise_clinical)], how="diagonal_relaxed")
    clinical, sources = v10._clinical(root, extended)
    clinical = clinical.join(acc_sub.select("patient_id", *ACC_LABELS), on="patient_id", how="left")
    steps.update()
    patients = set(clinical["patient_id"].to_list())
    dropped: dict[str, int] = {}
    mirna = subtypegan.read_all_mirna(root / "subtypegan_tcga10_clinical_mirna")
    protein = cprmt.read_protein(root / "cprmt_tcga_brca_4omics_pam50", pkdd2014_antibodies=False)
    pathology = v10.read_pathology(root)
    steps.update()
    acc = {m: _restrict(b, patients, dropped) for m, b in miniacc.read_miniacc(root / ACC, root).items()}
    paad = {m: _restrict(b, patients, dropped) for m, b in wissel_paad.read_wissel_omics(root / PAAD, root).items()}
    base = {"rna": blocks["rna"], "cnv": blocks["cnv"], "mutation": blocks["mutation"], "mirna": mirna, "protein": protein}
    merge_rules: dict[str, list[dict]] = {}
    for modality in base:
        merged = base[modality]
        for extra in (paad.get(modality), acc.get(modality)):
            if extra is None:
                continue
            merged, record = merge_into(merged, extra)
            merge_rules.setdefault(modality, []).append(record)
        base[modality] = merged
    steps.update()
    brca = _restrict(methylation.read_brca_rjive(root / BRCA_METH, root), patients, dropped)
    coad, coad_normal = (_restrict(b, patients, dropped) for b in methylation.read_coad_dmtest(root / COAD_METH, root))
    paad_meth = _restrict(methylation.read_paad_wissel(root / PAAD, root), patients, dropped)
    overlap = methylation.cpg_overlap({"brca_rjive": brca.features, "coad_dmtest": coad.features, "paad_wissel": paad_meth.features})
    meth, rules = brca, []
    for extra in (coad, paad_meth):
        meth, record = merge_into(meth, extra)
        rules.append(record)
    merge_rules["methylation"] = rules
    steps.update()
    clin_prov = v10.clinical_provenance(root)
    blocks_by_modality = {
        "rna": [base["rna"]], "cnv": [base["cnv"]], "mutation": [base["mutation"]], "mirna": [base["mirna"]],
        "methylation": [meth], "protein": [base["protein"]], "pathology": pathology,
        "clinical": [clinical_block(clinical, clin_prov)], "methylation_normal": [coad_normal],
    }
    splits, checks = v10.tcga_splits(clinical, porpoise.read_porpoise_splits(root / "porpoise_tcga14_multiomics_survival"))
    # Wissel 2023's 100 stratified 80/20 subsamplings of the 81 PAAD patients (iteration i = repeat i)
    wissel = read_split_files("subsampling", [root / PAAD / "derived" / "paad_subsampling_100x_80_20.csv.gz"],
                              patients=clinical["patient_id"].to_list(), name="Wissel 2023 subsamplings")
    splits["wissel100"] = (wissel.table, wissel.describe("wissel100", root) | {"citation": "Wissel D et al., 2023"})
    steps.update()
    sources.extend({"source": b.provenance.source, "modality": m, "files": [f.__dict__ for f in b.provenance.files]}
                   for m, bs in blocks_by_modality.items() for b in bs)
    info: dict[str, dict] = {m: {"merge_rules": r} for m, r in merge_rules.items()}
    info["methylation"]["cpg_overlap"] = overlap
    info["methylation"]["comparable_cpgs"] = (
        "beta values of one platform (450k) compare across cohorts only on the CpGs the sources share: see cpg_overlap")
    info["methylation_normal"] = {"sample_type": "solid tissue normal (TCGA 11), matched to a tumour of the same patient"}
    card = CARD | {"merge_rules": merge_rules, "patients_left_out": dropped}
    steps.update()
    steps.close()
    return DatasetContent(
        name=v10.NAME, version=VERSION, clinical=clinical, blocks=blocks_by_modality, splits=splits,
        split_checks=checks, card=card, endpoints=v10.ENDPOINTS, labels=v10.LABELS + ACC_LABELS, sources=sources,
        modality_info=info,
    )
