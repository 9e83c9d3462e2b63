"""Attributions of a fitted deep fusion model: integrated gradients or gradient x input, per modality and feature.

Of the predicted class's logit (classification), the risk (Cox head) or the summed hazard logits (discrete-time
head), in the model's standardised input space; the baseline is the training fold's mean (0 after scaling).
:mod:`oncobench.benchmark.explain` fits a model on a task's fold and ranks these attributions.

References
----------
Sundararajan M, Taly A, Yan Q. Axiomatic attribution for deep networks. ICML 2017 (integrated gradients).
Shrikumar A et al. Not just a black box: learning important features through propagating activation
differences. arXiv:1605.01713, 2016 (gradient x input).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

METHODS = ("integrated_gradients", "gradient_x_input")


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
