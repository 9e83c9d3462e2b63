"""Explanations of deep fusion models: per-feature attributions and per-modality contributions on a test fold.

Integrated gradients (default) or gradient x input, of the predicted class's logit (classification), the risk
(Cox head) or the summed hazard logits (discrete-time head), in the model's standardised input space; the
baseline is the training fold's mean (0 after scaling). A feature's importance is its mean |attribution| over
the test patients; a modality's contribution is its share of the total. For ``brca-pam50`` the report gives the
overlap of the top RNA genes with the PAM50 genes measured in the dataset, beside the overlap expected by chance.

References
----------
Sundararajan M, Taly A, Yan Q. Axiomatic attribution for deep networks. ICML 2017 (integrated gradients).
Shrikumar A et al. Not just a black box: learning important features through propagating activation
differences. arXiv:1605.01713, 2016 (gradient x input).
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
import torch

PAM50 = ("ACTR3B", "ANLN", "BAG1", "BCL2", "BIRC5", "BLVRA", "CCNB1", "CCNE1", "CDC20", "CDC6", "CDH3", "CENPF",
         "CEP55", "CXXC5", "EGFR", "ERBB2", "ESR1", "EXO1", "FGFR4", "FOXA1", "FOXC1", "GPR160", "GRB7", "KIF2C",
         "KRT14", "KRT17", "KRT5", "MAPT", "MDM2", "MELK", "MIA", "MKI67", "MLPH", "MMP11", "MYBL2", "MYC", "NAT1",
         "NDC80", "NUF2", "ORC6", "PGR", "PHGDH", "PTTG1", "RRM2", "SFRP1", "SLC39A6", "TMEM45B", "TYMS", "UBE2C",
         "UBE2T")
METHODS = ("integrated_gradients", "gradient_x_input")


@dataclass(frozen=True)
class Explanation:
    features: pl.DataFrame  # modality, feature, importance, rank
    modalities: dict[str, float]  # share of the total |attribution|
    method: str
    pam50: dict[str, Any] | None = None


def attributions(model: Any, X: dict[str, np.ndarray], method: str = "integrated_gradients", steps: int = 32) -> dict[str, np.ndarray]:
    """Per modality, (patients x kept features) attributions of a fitted :class:`DeepFusion`."""
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; expected one of {METHODS}")
    xs, mask = model._tensors(X)
    net = model.net_.eval()
    target_class = None
    if model.kind in ("classification", "binary"):
        with torch.no_grad():
            target_class = net(xs, mask)[0].argmax(1)

    def output(inputs: list[torch.Tensor]) -> torch.Tensor:
        out, _ = net(inputs, mask)
        if target_class is not None:
            return out.gather(1, target_class[:, None]).sum()
        return out.sum()

    alphas = np.linspace(1.0 / steps, 1.0, steps) if method == "integrated_gradients" else np.array([1.0])
    total = [torch.zeros_like(x) for x in xs]
    for a in alphas:
        scaled = [(x * float(a)).detach().requires_grad_(True) for x in xs]
        grads = torch.autograd.grad(output(scaled), scaled)
        total = [t + g for t, g in zip(total, grads)]
    return {m: ((x * t / len(alphas)) * mask[:, i:i + 1]).detach().cpu().numpy()
            for i, (m, x, t) in enumerate(zip(model.modalities_, xs, total))}


def explain_fold(task: Any, model_name: str, *, fold: int = 0, repeat: int = 0, seed: int = 0,
                 method: str = "integrated_gradients", top: int = 50) -> Explanation:
    """Fit ``model_name`` on the fold's training patients and explain its test predictions."""
    from oncobench.baselines.deep.estimator import DeepFusion
    from oncobench.baselines.registry import build_model
    from oncobench.benchmark.job import _fit_target, _matrices, model_inputs

    split = task.get_split(fold, repeat)
    inputs = model_inputs(task, model_name)
    model = build_model(model_name, task.kind, seed)
    if not isinstance(model, DeepFusion):
        raise ValueError(f"explain works on the deep fusion models (DeepFusion); {model_name!r} is {type(model).__name__}")
    kwargs = {}
    if split.valid:
        kwargs = {"X_valid": _matrices(task, split.valid, inputs), "y_valid": _fit_target(task, split.valid)}
    model.fit(_matrices(task, split.train, inputs), _fit_target(task, split.train), **kwargs)
    attr = attributions(model, _matrices(task, split.test, inputs), method)
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


def _pam50_overlap(task: Any, table: pl.DataFrame, top: int) -> dict[str, Any]:
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
