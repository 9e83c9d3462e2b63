"""Clustering tasks on tcga-pancan 1.1 in MLOmics's protocol, ACC included.

MLOmics (Chen Z et al., Sci Data 2025) clusters nine TCGA cohorts and judges the clusters by the silhouette
(SIL) and the log-rank p of survival across clusters (LPS); the gold-standard subtype sets add NMI and ARI.
Here every cohort of the store is a ``cluster-<cohort>`` task with the same figures: silhouette (primary),
NMI/ARI against the cohort's known subtypes where the store has them (PAM50 for BRCA, the TCGA ACC paper's
cluster of clusters for ACC) and the log-rank p of TCGA-CDR overall survival. Inputs: MLOmics's four omics
(RNA, miRNA, methylation, CNV), each where it covers at least half of the cohort's patients.

One deliberate difference: MLOmics fits its scaling, its ANOVA Top-k features and the clustering on all
patients of a cohort at once. Here, as in every OncoBench task, the clustering and its preprocessing are fitted
on a fold's training patients, the test patients are assigned to the learned clusters, and the figures are
measured on the test patients only (the silhouette in the task's inputs scaled with training statistics). The
design forbids statistics fitted on the scored patients, and the protocol does not need them, so they are not
fitted there; the figures therefore measure clusters that generalise to new patients.

k: the number of reference classes where the cohort has them; otherwise 3 (MLOmics's own example runs ACC
with ``--k 3``; its README gives no k per cohort).
"""

from __future__ import annotations

from oncobench.benchmark.tasks import TaskSpec, register_task

V11 = "tcga-pancan@1.1"
COHORTS_11 = ("acc", "blca", "brca", "coadread", "gbmlgg", "hnsc", "kirc", "kirp", "lihc", "luad", "lusc", "paad",
              "skcm", "stad", "ucec")
REFERENCE_LABELS = {"brca": "pam50", "acc": "acc_coc"}
DEFAULT_K = 3
MLOMICS_OMICS = ("rna", "mirna", "methylation", "cnv")  # MLOmics's four omics (mRNA, miRNA, methylation, CNV)
MLOMICS = "Chen Z et al. MLOmics: Cancer Multi-Omics Database for Machine Learning. Scientific Data 12:913, 2025"
ZHENG = "Zheng S et al. Comprehensive pan-genomic characterization of adrenocortical carcinoma. Cancer Cell 29:723, 2016"
CLUSTERING_METRICS = ("nmi", "ari", "silhouette", "logrank_p")

for cohort in COHORTS_11:
    labels = REFERENCE_LABELS.get(cohort, "")
    register_task(TaskSpec(
        name=f"cluster-{cohort}", kind="clustering", target=labels, modalities=(), cohorts=(cohort,), dataset=V11,
        input_pool=MLOMICS_OMICS, n_clusters=None if labels else DEFAULT_K, primary="silhouette",
        secondary=tuple(m for m in CLUSTERING_METRICS if labels or m not in ("nmi", "ari")),
        logrank_endpoint="OS", reference=MLOMICS,
        description=f"Unsupervised, MLOmics's clustering protocol: clusters of TCGA-{cohort.upper()} patients from every "
                    "modality measured there, scored by silhouette and the log-rank p of overall survival across "
                    "clusters" + (f", and by NMI/ARI against {labels}." if labels else f" (k = {DEFAULT_K}).")))

# ACC in subtype-clustering (which stays pinned to 1.0, unchanged): defined as it is, on ACC's subtypes. ACC cannot
# join oncotree-clustering on 1.1: that task needs features comparable across cohorts and measured in each, and
# ACC shares none (miniACC's miRNAs are precursors, Subtype-GAN's mature strands: 0 names in common; 5 CNV genes
# with BLCA; RNA and protein are scaled within cohort).
register_task(TaskSpec(
    name="subtype-clustering-acc", kind="clustering", target="acc_coc", modalities=(), cohorts=("acc",), dataset=V11,
    primary="nmi", secondary=("ari", "silhouette", "logrank_p"), logrank_endpoint="OS", reference=ZHENG,
    description="Unsupervised: clusters of TCGA-ACC patients scored by NMI and ARI against the TCGA ACC paper's "
                "cluster of clusters (COC1-3) and by the log-rank p of overall survival across clusters."))
