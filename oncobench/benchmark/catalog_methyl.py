"""Tasks on tcga-pancan 1.1 that use its additions: methylation, ACC, Wissel's PAAD subsamplings.

They name ``tcga-pancan@1.1``; the 1.0 tasks keep ``tcga-pancan@1.0``. The COAD tumour-vs-normal task has one
row per sample (tumour and matched normal) and splits grouped by patient (:mod:`oncobench.benchmark.sample_tasks`).
The clustering tasks live in :mod:`oncobench.benchmark.catalog_clustering`.
"""

from __future__ import annotations

from oncobench.benchmark.tasks import TaskSpec, register_task

V11 = "tcga-pancan@1.1"
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "weighted_f1", "auroc", "log_loss")
SURVIVAL_METRICS = ("harrell_c", "td_auc", "ibs")
MOGONET = "Wang T et al. MOGONET integrates multi-omics data ... Nature Communications 12:3445, 2021"
ZHENG = "Zheng S et al. Comprehensive pan-genomic characterization of adrenocortical carcinoma. Cancer Cell 29:723, 2016"
WISSEL = "Wissel D et al. Systematic comparison of multi-omics survival models. Cell Reports Methods 3:100461, 2023"

register_task(TaskSpec(
    name="brca-pam50-methylation", kind="classification", target="pam50", modalities=("rna", "methylation"),
    cohorts=("brca",), dataset=V11, primary="macro_f1", secondary=CLASSIFICATION_METRICS, reference=MOGONET,
    description="PAM50 subtype of TCGA-BRCA from RNA and DNA methylation (r.jive, 574 CpGs; 325 patients have it), "
                "the omics MOGONET's BRCA set pairs (its miRNA is not in the store for BRCA)."))
register_task(TaskSpec(
    name="acc-coc", kind="classification", target="acc_coc", modalities=(), cohorts=("acc",), dataset=V11,
    primary="macro_f1", secondary=CLASSIFICATION_METRICS, reference=ZHENG,
    description="Cluster of clusters (COC1-3) of the TCGA ACC paper from every modality measured in ACC (miniACC)."))
register_task(TaskSpec(
    name="os-paad-methylation-wissel", kind="survival", target="OS", modalities=("methylation",), cohorts=("paad",),
    dataset=V11, scheme="wissel100", primary="uno_c", secondary=SURVIVAL_METRICS, reference=WISSEL,
    endpoint_note="TCGA-CDR OS (days), not Wissel's months",
    description="Overall survival of the 81 Wissel 2023 PAAD patients from 2,000 methylation CpGs, on the paper's "
                "100 stratified 80/20 subsamplings."))
register_task(TaskSpec(
    name="coad-tumour-normal", kind="binary", target="sample_type", modalities=("methylation",), cohorts=("coadread",),
    dataset=V11, units="sample", primary="auroc", secondary=("accuracy", "balanced_accuracy", "macro_f1", "log_loss"),
    reference="Wang X et al. DMtest (TCGA-COAD 450k beta values, 1,000 CpGs: tumours and matched normals)",
    description="Tumour (-01) vs matched normal (-11) COAD samples from DNA methylation beta values (the 1,000 DMtest "
                "CpGs); rows are samples, and a patient's two samples are always in the same fold (patient-grouped)."))

import oncobench.benchmark.catalog_clustering  # noqa: F401
