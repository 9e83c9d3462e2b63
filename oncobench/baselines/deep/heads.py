"""Task heads and their losses: softmax classification, Cox partial likelihood, discrete-time hazards, regression.

References
----------
Cox DR. Regression models and life-tables. JRSS-B 34(2), 1972 (partial likelihood, Breslow ties).
Katzman JL et al. DeepSurv: personalized treatment recommender system using a Cox proportional hazards deep
neural network. BMC Med Res Methodol 18, 2018.
Gensheimer MF, Narasimhan B. A scalable discrete-time survival model for neural networks. PeerJ 7:e6257, 2019.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def cox_partial_likelihood(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow ties), averaged over events; ``risk`` higher = worse."""
    order = torch.argsort(time, descending=True)
    risk, event = risk[order], event[order]
    log_cumsum = torch.logcumsumexp(risk, dim=0)  # log sum over the risk set {j: t_j >= t_i}
    events = event.sum()
    if events == 0:
        return risk.sum() * 0.0
    return -((risk - log_cumsum) * event).sum() / events


def discrete_time_loss(logits: torch.Tensor, time: torch.Tensor, event: torch.Tensor, cuts: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of a discrete-time hazard model (one logit per interval between ``cuts``)."""
    n, k = logits.shape
    interval = torch.clamp(torch.bucketize(time, cuts[1:-1], right=True), max=k - 1)
    idx = torch.arange(k, device=logits.device).expand(n, k)
    at_risk = (idx <= interval[:, None]).float()
    died = ((idx == interval[:, None]) & (event[:, None] > 0)).float()
    loss = nn.functional.binary_cross_entropy_with_logits(logits, died, reduction="none")
    return (loss * at_risk).sum() / n


class Head(nn.Module):
    """A linear head over the fused representation."""

    def __init__(self, width: int, outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, outputs)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h)


def survival_from_hazards(logits: np.ndarray, cuts: np.ndarray, times: np.ndarray) -> np.ndarray:
    """S(t) at ``times`` from discrete-time hazard logits: product of (1 - h) over the intervals before t."""
    hazard = 1 / (1 + np.exp(-logits))
    surv = np.cumprod(1 - hazard, axis=1)  # S at the end of each interval
    ends = cuts[1:]
    pos = np.searchsorted(ends, times, side="right") - 1
    out = np.where(pos[None, :] >= 0, surv[:, np.clip(pos, 0, None)], 1.0)
    return np.clip(out, 0.0, 1.0)


def breslow_survival(train_risk: np.ndarray, time: np.ndarray, event: np.ndarray, risk: np.ndarray,
                     times: np.ndarray) -> np.ndarray:
    """S(t | x) = exp(-H0(t) exp(risk)) with the Breslow baseline cumulative hazard from the training fold."""
    order = np.argsort(time)
    t, e, r = time[order], event[order].astype(bool), np.exp(train_risk[order] - train_risk.max())
    at_risk = np.cumsum(r[::-1])[::-1]
    jumps = np.where(e, 1.0 / at_risk, 0.0)
    h0 = np.cumsum(jumps)
    pos = np.searchsorted(t, times, side="right") - 1
    H = np.where(pos >= 0, h0[np.clip(pos, 0, None)], 0.0)
    return np.clip(np.exp(-np.outer(np.exp(risk - train_risk.max()), H)), 0.0, 1.0)
