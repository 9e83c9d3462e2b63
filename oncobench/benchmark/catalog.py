"""The built-in tasks (``oncobench tasks list``).

Endpoint choice (TCGA-CDR, Liu et al., Cell 2018): PFI is the endpoint the resource recommends for most
cancer types; OS needs long follow-up and is unreliable in indolent types; DSS and DFI are derived from
less complete fields. So every cohort gets ``pfi-<cohort>`` and ``os-<cohort>``; a fold of a cohort without
test events is reported by ``Task.check()`` (``oncobench tasks list`` marks the task unusable on that dataset)
rather than silently scored.

Pan-cancer tasks (``pancan-type``, ``pfi-pancan``, ``metastasis-tcga``) use only feature sets whose values
compare across cohorts in the store's comparability record: miRNA (one pipeline for all cohorts), the TIL-map
pathology features (``til:``; PathAI's HIFs come from cohort-specific models and are left out) and the
clinical covariates measured in every cohort; RNA (within-cohort z-scores) and protein (per-cohort
normalisation) are excluded. Patients must have every task feature measured (complete cases), so neither
missing features nor missing modalities reveal the cohort.

Modalities resolve per cohort (:attr:`Task.inputs`): a declared modality that some cohort of the task lacks
entirely is left out of that task (``tasks info`` lists it under ``dropped_modalities``), so ``os-ucec-porpoise``
runs on CNV and mutation (PORPOISE ships no UCEC RNA) and ``os-skcm-porpoise`` on RNA and mutation. A pooled
task keeps a modality only when every one of its cohorts has it: a modality missing from a whole cohort cannot
be learned there, and its absence would label the cohort. Every task also offers ``clinical`` (when its
patients have clinical covariates) to the models that name it: the clinical reference, ``clinical-fusion``
and model specs such as ``coxnet/rna+clinical``; the default inputs stay the declared modalities.
"""

from __future__ import annotations

from oncobench.benchmark.tasks import TaskSpec, register_task

TCGA_COHORTS = ("blca", "brca", "coadread", "gbmlgg", "hnsc", "kirc", "kirp", "lihc", "luad", "lusc", "paad",
                "skcm", "stad", "ucec")
COMPARABLE = ("mirna", "pathology", "clinical")
COMPARABLE_PREFIX = {"pathology": "til:"}
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "weighted_f1", "auroc", "log_loss")
SURVIVAL_METRICS = ("harrell_c", "td_auc", "td_auc_1y", "td_auc_3y", "td_auc_5y", "ibs")
CDR = "Liu J et al. An integrated TCGA pan-cancer clinical data resource (TCGA-CDR). Cell 173(2):400-416, 2018"
PORPOISE = "Chen RJ et al. Pan-cancer integrative histology-genomic analysis via multimodal deep learning. Cancer Cell 40(8), 2022"
M_STAGE = {"M0": "M0", "cM0 (i+)": "M0", "M1": "M1", "M1a": "M1", "M1b": "M1", "M1c": "M1", "MX": None}


def _classification(name: str, **kw) -> None:
    register_task(TaskSpec(name=name, primary="macro_f1", secondary=CLASSIFICATION_METRICS, **kw))
    register_task(TaskSpec(name=f"{name}-site", primary="macro_f1", secondary=CLASSIFICATION_METRICS,
                           **{**kw, "scheme": "site",
                              "description": kw["description"] + " Site shift: trained on some hospitals, tested on others."}))


def _survival(name: str, *, site: bool = False, **kw) -> None:
    register_task(TaskSpec(name=name, kind="survival", primary="uno_c", secondary=SURVIVAL_METRICS, **kw))
    if site:
        register_task(TaskSpec(name=f"{name}-site", kind="survival", primary="uno_c", secondary=SURVIVAL_METRICS,
                               **{**kw, "scheme": "site",
                                  "description": kw["description"] + " Site shift: trained on some hospitals, tested on others."}))


_classification(
    "pancan-type", kind="classification", target="cancer_type", modalities=COMPARABLE, comparable=True,
    feature_prefix=COMPARABLE_PREFIX,
    description="Cancer type from cross-cohort comparable features (miRNA, TIL-map pathology, age and sex) "
                "in the cohorts that have all three.")
_classification(
    "brca-pam50", kind="classification", target="pam50", modalities=(), cohorts=("brca",),
    description="PAM50 intrinsic subtype of breast cancers from every modality measured in TCGA-BRCA.")
_classification(
    "metastasis-tcga", kind="binary", target="pathologic_m", modalities=COMPARABLE, comparable=True,
    feature_prefix=COMPARABLE_PREFIX, label_map=M_STAGE,
    description="Distant metastasis at diagnosis (pathologic M1, any substage, vs M0; MX left out) from "
                "cross-cohort comparable features.")

for cohort in TCGA_COHORTS:
    _survival(f"os-{cohort}", target="OS", modalities=(), cohorts=(cohort,), endpoint_note=CDR, reference=CDR,
              site=cohort == "brca",
              description=f"Overall survival (TCGA-CDR OS, days) in TCGA-{cohort.upper()} from every modality measured there.")
    _survival(f"pfi-{cohort}", target="PFI", modalities=(), cohorts=(cohort,), endpoint_note=CDR, reference=CDR,
              description=f"Progression-free interval (TCGA-CDR PFI, days) in TCGA-{cohort.upper()}, the endpoint "
                          "TCGA-CDR recommends for most cancer types.")
    _survival(f"os-{cohort}-porpoise", target="OS-PORPOISE", modalities=("rna", "cnv", "mutation"),
              cohorts=(cohort,), scheme="porpoise", reference=PORPOISE,
              endpoint_note="PORPOISE's own labels: survival_months and censorship (1 = alive, so event = 1 - censorship).",
              description=f"PORPOISE's published 5-fold CV on TCGA-{cohort.upper()} with its survival labels and genomic "
                          "features (RNA, CNV, mutation: those the cohort has), so results sit beside its published "
                          "c-index tables; clinical covariates (age, sex, stage, grade) for the clinical reference "
                          "and clinical-fusion.")

_survival("pfi-pancan", target="PFI", modalities=COMPARABLE, comparable=True, feature_prefix=COMPARABLE_PREFIX,
          site=True, endpoint_note=CDR, reference=CDR,
          description="Progression-free interval across cohorts from cross-cohort comparable features.")

_survival("metastasis-gse7390", target="DM", modalities=("rna",), dataset="gse7390-metastasis",
          reference="Desmedt C et al. Clin Cancer Res 13(11):3207-14, 2007",
          description="Time to distant metastasis in 198 node-negative breast cancers (TRANSBIG) from 76 probes.")
register_task(TaskSpec(
    name="metastasis-gse7390-5y", kind="binary", target="DM", modalities=("rna",), dataset="gse7390-metastasis",
    horizon=5 * 365.25, primary="auroc", secondary=("accuracy", "balanced_accuracy", "macro_f1", "log_loss"),
    reference="Desmedt C et al. Clin Cancer Res 13(11):3207-14, 2007",
    description="Distant metastasis within 5 years (1) vs metastasis-free beyond 5 years (0); patients censored "
                "before 5 years are left out."))
register_task(TaskSpec(
    name="subtype-clustering", kind="clustering", target="pam50", modalities=(), cohorts=("brca",),
    primary="nmi", secondary=("ari", "logrank_p"), logrank_endpoint="OS",
    description="Unsupervised: clusters of TCGA-BRCA patients scored by NMI and ARI against PAM50 and by the "
                "log-rank p of overall survival across clusters."))
register_task(TaskSpec(
    name="oncotree-clustering", kind="clustering", target="oncotree_code", modalities=COMPARABLE, comparable=True,
    feature_prefix=COMPARABLE_PREFIX, primary="nmi", secondary=("ari", "logrank_p"), logrank_endpoint="OS",
    description="Unsupervised: clusters of patients from cross-cohort comparable features scored by NMI and ARI "
                "against OncoTree codes and by the log-rank p of overall survival across clusters."))
register_task(TaskSpec(
    name="rna-from-pathology", kind="translation", target="rna", modalities=("pathology",), cohorts=("brca",),
    primary="pearson_mean", secondary=("spearman_mean", "mse_mean", "pearson_median"),
    reference="PathGen direction: predicting gene expression from histology features",
    description="Translation: predict TCGA-BRCA RNA (within-cohort z-scores) from pathology features; per-gene "
                "Pearson, Spearman and MSE."))

# Synthetic cohorts (`oncobench datasets synth NAME ...`): run with --dataset NAME.
_survival("synth-survival", target="OS", modalities=(), dataset="synthetic",
          reference="oncobench.datasets.recipes.synthetic (planted Cox coefficients in the card)",
          description="Overall survival of a synthetic cohort from every modality; the hazard is a known Cox model "
                      "of the first rna features and age.")
register_task(TaskSpec(
    name="synth-subtype", kind="classification", target="subtype", modalities=(), dataset="synthetic",
    primary="macro_f1", secondary=CLASSIFICATION_METRICS, reference="oncobench.datasets.recipes.synthetic",
    description="Planted subtype of a synthetic cohort from every modality."))

# Omics-imputation tasks, and tasks on tcga-pancan 1.1 (methylation, ACC, PAAD subsamplings): their own modules.
import oncobench.benchmark.catalog_impute
import oncobench.benchmark.catalog_methyl  # noqa: E402,F401
import oncobench.benchmark.catalog_mlomics  # noqa: F401  (MLOmics's release: mlomics-gs-brca)
