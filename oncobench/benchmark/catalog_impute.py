"""Omics-imputation tasks (MLOmics's third task family) and the cross-modal variant.

``impute-<modality>-<cohort>-<rate>``: hide ``rate`` % of each test patient's entries of one modality, fill them
with an imputer fitted on the training patients, score MAE / RMSE on training-standardised values over the hidden
entries (:mod:`oncobench.benchmark.imputation`). ``methylation-from-rna-brca`` predicts a whole modality that test
patients lack from the one they have (a translation task, scored with the same standardised MAE / RMSE beside the
per-CpG correlations).
"""

from __future__ import annotations

from oncobench.benchmark.imputation import RATES
from oncobench.benchmark.tasks import TaskSpec, register_task

MLOMICS = "Yang Z et al. MLOmics: cancer multi-omics database for machine learning. Scientific Data 12, 2025"
IMPUTATION_COHORTS = {"brca": "TCGA-BRCA", "luad": "TCGA-LUAD"}

for cohort, label in IMPUTATION_COHORTS.items():
    for rate in RATES:
        pct = round(rate * 100)
        register_task(TaskSpec(
            name=f"impute-rna-{cohort}-{pct}", kind="imputation", target="rna", modalities=("rna",), cohorts=(cohort,),
            missing_rate=rate, primary="mae", secondary=("rmse",), reference=MLOMICS,
            description=f"Imputation: {pct} % of each test patient's {label} RNA entries (PORPOISE's within-cohort "
                        "z-scores) hidden under a seeded mask; imputers fitted on training patients; MAE and RMSE on "
                        "training-standardised values over the hidden entries."))

register_task(TaskSpec(
    name="methylation-from-rna-brca", kind="translation", target="methylation", modalities=("rna",), cohorts=("brca",),
    dataset="tcga-pancan@1.1", primary="mae", secondary=("rmse", "pearson_mean", "spearman_mean", "mse_mean"),
    reference=MLOMICS,
    description="Cross-modal imputation: the whole DNA methylation profile (574 CpGs, beta values) of TCGA-BRCA test "
                "patients from their RNA; MAE and RMSE on training-standardised values, per-CpG correlations."))
