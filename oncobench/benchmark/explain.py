"""Explanations of deep fusion models on a task's test fold: per-feature attributions and per-modality contributions.

The model is fitted on the fold's training patients (validation fold for early stopping, as the runner does) and
its test predictions are explained by :func:`oncobench.baselines.deep.explain.attributions`. A feature's
importance is its mean |attribution| over the test patients; a modality's contribution is its share of the total.
For ``brca-pam50`` the report gives the overlap of the top RNA genes with the PAM50 genes measured in the dataset,
beside the overlap expected by chance.

References
----------
Sundararajan M, Taly A, Yan Q. Axiomatic attribution for deep networks. ICML 2017 (integrated gradients).
Parker JS et al. Supervised risk predictor of breast cancer based on intrinsic subtypes. J Clin Oncol 27(8), 2009
(the PAM50 genes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from oncobench.baselines.deep.estimator import DeepFusion
from oncobench.baselines.deep.explain import attributions
from oncobench.baselines.registry import build_model
from oncobench.benchmark.job import fit_target, model_inputs, model_matrices
from oncobench.benchmark.tasks import Task

PAM50 = ("ACTR3B", "ANLN", "BAG1", "BCL2", "BIRC5", "BLVRA", "CCNB1", "CCNE1", "CDC20", "CDC6", "CDH3", "CENPF",
         "CEP55", "CXXC5", "EGFR", "ERBB2", "ESR1", "EXO1", "FGFR4", "FOXA1", "FOXC1", "GPR160", "GRB7", "KIF2C",
         "KRT14", "KRT17", "KRT5", "MAPT", "MDM2", "MELK", "MIA", "MKI67", "MLPH", "MMP11", "MYBL2", "MYC", "NAT1",
         "NDC80", "NUF2", "ORC6", "PGR", "PHGDH", "PTTG1", "RRM2", "SFRP1", "SLC39A6", "TMEM45B", "TYMS", "UBE2C",
         "UBE2T")


@dataclass(frozen=True)
class Explanation:
    features: pl.DataFrame  # modality, feature, importance, rank
    modalities: dict[str, float]  # share of the total |attribution|
    method: str
    pam50: dict[str, Any] | None = None


def explain_fold(task: Task, model_name: str, *, fold: int = 0, repeat: int = 0, seed: int = 0,
                 method: str = "integrated_gradients", top: int = 50) -> Explanation:
    """Fit ``model_name`` on the fold's training patients and explain its test predictions."""
    split = task.get_split(fold, repeat)
    inputs = model_inputs(task, model_name)
    model = build_model(model_name, task.kind, seed)
    if not isinstance(model, DeepFusion):
        raise ValueError(f"explain works on the deep fusion models (DeepFusion); {model_name!r} is {type(model).__name__}")
    kwargs = {}
    if split.valid:
        kwargs = {"X_valid": model_matrices(task, split.valid, inputs), "y_valid": fit_target(task, split.valid)}
    model.fit(model_matrices(task, split.train, inputs), fit_target(task, split.train), **kwargs)
    attr = attributions(model, model_matrices(task, split.test, inputs), method)
    rows = []
    for m, values in attr.items():
        names = task.feature_names[m]
        keep = model.prep_[m].keep_[m]
        importance = np.abs(values).mean(axis=0)
        rows += [{"modality": m, "feature": names[j], "importance": float(v)} for j, v in zip(keep, importance)]
    table = pl.DataFrame(rows).sort(["importance", "modality", "feature"], descending=[True, False, False])
    table = table.with_columns(pl.int_range(1, table.height + 1).alias("rank"))
    total = float(table["importance"].sum()) or 1.0
    shares = {m: float(table.filter(pl.col("modality") == m)["importance"].sum()) / total for m in attr}
    pam50 = _pam50_overlap(task, table, top) if task.name.startswith("brca-pam50") and "rna" in attr else None
    return Explanation(table, shares, method, pam50)


def _pam50_overlap(task: Task, table: pl.DataFrame, top: int) -> dict[str, Any]:
    genes = table.filter(pl.col("modality") == "rna")
    measured = set(genes["feature"].to_list())
    pam = sorted(set(PAM50) & measured)
    top_genes = genes.head(top)["feature"].to_list()
    hits = sorted(set(top_genes) & set(pam))
    expected = len(top_genes) * len(pam) / max(len(measured), 1)  # hypergeometric mean
    return {"top": len(top_genes), "pam50_measured": len(pam), "rna_features_ranked": len(measured),
            "overlap": len(hits), "overlap_genes": hits, "expected_by_chance": expected}


def write_explanation(explanation: Explanation, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    explanation.features.write_csv(out / "feature_attributions.csv")
    summary = {"method": explanation.method, "modality_contributions": explanation.modalities, "pam50": explanation.pam50}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return out
