"""Tasks on the ``mlomics`` dataset (MLOmics's release as a recipe: ``oncobench datasets build mlomics``).

``mlomics-gs-brca`` runs on MLOmics's own five GS-BRCA splits (scheme ``mlomics``; val = valid). Its miRNA are
MLOmics's Top scale: 200 miRNAs ANOVA-selected and standardised by MLOmics on all 671 samples, so every test
patient took part in the selection; scores are optimistic relative to OncoBench's fold-fitted pipelines.
"""

from __future__ import annotations

from oncobench.benchmark.tasks import TaskSpec, register_task

MLOMICS = "Yang Z et al. MLOmics: Cancer Multi-Omics Database for Machine Learning. Scientific Data 12, 2025"
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "weighted_f1", "auroc", "log_loss")

register_task(TaskSpec(
    name="mlomics-gs-brca", kind="classification", target="pam50", modalities=("mirna",), cohorts=("brca",),
    dataset="mlomics@1.0", scheme="mlomics", primary="macro_f1", secondary=CLASSIFICATION_METRICS, reference=MLOMICS,
    description="PAM50 subtype of MLOmics's GS-BRCA set (its integer labels, named by joining with Subtype-GAN's "
                "PAM50 table) from its released Top-scale miRNA, on MLOmics's own 5 train/val/test splits."))
