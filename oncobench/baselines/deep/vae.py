"""A CustOmics-style multimodal variational autoencoder: per-modality encoders, a product-of-experts joint latent over
the modalities a patient has, per-modality decoders, and a task head on the joint latent.

Per modality, the training fold's Top-k variance filter and scaling come first (:class:`ModalityPreprocessor`,
fitted on training rows). Each modality's encoder gives a Gaussian expert q(z | x_m); the joint posterior is the
product of the experts of the modalities the patient has and a standard-normal prior expert (``joint="poe"``,
precision-weighted means), or the plain average of the present experts' means and variances (``joint="mean"``).
An absent modality is masked out of the joint latent, so its values never matter. Decoders reconstruct every
modality the patient has from a sample of the joint latent (masked reconstruction loss). The loss per patient is

    sum_m present_m * ||x_m - x̂_m||^2 / D  +  w(epoch) * KL(q(z | x) || N(0, I)) / D  +  alpha * task loss,

with D the number of input features (the ELBO per input feature) and w warmed up linearly from 0 to ``beta`` over
``warmup`` epochs. Task heads on the latent (a sample while training, the mean at prediction): softmax
classification (cross-entropy), Cox proportional hazards (partial likelihood, full batch; survival curves by
Breslow), translation (the target matrix is one more modality, decoded from the inputs' joint latent; mean squared
error on standardised targets) and none for clustering, where ``predict`` assigns the k-means cluster (fitted on
the training patients' latent means). Early stopping on the validation fold's full loss (``beta`` weight) when
the runner passes one, counted after the warm-up; seeded and deterministic on CPU.

Differences from CustOmics: CustOmics first trains one autoencoder per source and then a central VAE on their
concatenated codes; here the per-modality encoders feed the joint latent directly (one stage), which is what lets
a patient with a missing modality be encoded from the others (MVAE's product of experts).

References
----------
Benkirane H, Pradat Y, Michiels S, Cournède P-H. CustOmics: a versatile deep-learning based strategy for
multi-omics integration. PLoS Comput Biol 19(3):e1010921, 2023.
Wu M, Goodman N. Multimodal generative models for scalable weakly-supervised learning. NeurIPS 2018 (MVAE,
product of experts).
Kingma DP, Welling M. Auto-encoding variational Bayes. ICLR 2014.
Bowman SR et al. Generating sentences from a continuous space. CoNLL 2016 (KL warm-up).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Mapping

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from torch import nn

from oncobench.baselines.deep.estimator import resolve_device
from oncobench.baselines.deep.heads import breslow_survival, cox_partial_likelihood
from oncobench.baselines.deep.tensors import TensorInputs, fit_preprocessors
from oncobench.baselines.registry import register_model

KINDS = ("classification", "binary", "survival", "clustering", "translation")
JOINTS = ("poe", "mean")
LOGVAR_RANGE = (-8.0, 8.0)


def joint_posterior(mus: list[torch.Tensor], logvars: list[torch.Tensor], mask: torch.Tensor,
                    how: str = "poe") -> tuple[torch.Tensor, torch.Tensor]:
    """The joint Gaussian (mean, log-variance) of the experts of the present modalities (``mask`` 1).

    ``poe``: product of the present experts and a N(0, I) prior expert (a patient with no modality gets the prior).
    ``mean``: the average of the present experts' means and variances (no modality: the prior).
    An absent expert contributes exactly nothing, whatever its values (even NaN).
    """
    present = [mask[:, i:i + 1] > 0.5 for i in range(len(mus))]
    zero = torch.zeros_like(mus[0])
    if how == "poe":
        precision = torch.ones_like(mus[0])
        weighted = torch.zeros_like(mus[0])
        for mu, logvar, p in zip(mus, logvars, present):
            t = torch.exp(-logvar)
            precision = precision + torch.where(p, t, zero)
            weighted = weighted + torch.where(p, mu * t, zero)
        return weighted / precision, -torch.log(precision)
    if how == "mean":
        count = sum(p.float() for p in present)
        mu = sum(torch.where(p, m, zero) for m, p in zip(mus, present))
        var = sum(torch.where(p, torch.exp(lv), zero) for lv, p in zip(logvars, present))
        none = count < 0.5
        mu = torch.where(none, zero, mu / count.clamp(min=1.0))
        var = torch.where(none, torch.ones_like(var), var / count.clamp(min=1.0))
        return mu, torch.log(var)
    raise ValueError(f"joint {how!r}; expected one of {JOINTS}")


class MultimodalVAENet(nn.Module):
    """Encoders (one Gaussian expert per input modality), decoders (per input modality, plus the translation
    target), and an optional head on the joint latent."""

    def __init__(self, inputs: list[int], extra_outputs: list[int], head: int, *, hidden: int, latent: int,
                 dropout: float, joint: str) -> None:
        super().__init__()
        self.joint = joint
        self.encoders = nn.ModuleList(
            nn.Sequential(nn.Linear(w, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout),
                          nn.Linear(hidden, 2 * latent)) for w in inputs)
        self.decoders = nn.ModuleList(
            nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, w))
            for w in [*inputs, *extra_outputs])
        self.head = (nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, head))
                     if head else None)

    def encode(self, xs: list[torch.Tensor], mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mus, logvars = [], []
        for enc, x in zip(self.encoders, xs):
            mu, logvar = enc(x).chunk(2, dim=1)
            mus.append(mu)
            logvars.append(logvar.clamp(*LOGVAR_RANGE))
        return joint_posterior(mus, logvars, mask, self.joint)

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor,
                sample: bool) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], torch.Tensor | None]:
        mu, logvar = self.encode(xs, mask)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        recon = [dec(z) for dec in self.decoders]
        return mu, logvar, recon, self.head(z) if self.head is not None else None


@register_model("multimodal-vae", summary="CustOmics-style multimodal VAE: per-modality encoders, product-of-experts "
                "joint latent, per-modality decoders, task head (softmax / Cox / target decoder) or k-means clusters",
                reference="Benkirane H et al., CustOmics, PLoS Comput Biol 19(3):e1010921, 2023; Wu & Goodman, "
                "MVAE, NeurIPS 2018", kinds=KINDS,
                modality_handling="per-modality Gaussian experts combined by a product of experts over the "
                "modalities a patient has; an absent modality is masked out of the latent and the reconstruction",
                missing="mask")
class MultimodalVAE(TensorInputs, BaseEstimator):
    """Multimodal VAE with a task head on the joint latent, for every task kind.

    Parameters
    ----------
    kind : classification, binary, survival, clustering or translation.
    hidden, latent : encoder/decoder width and latent size.
    joint : "poe" (product of experts with a prior expert) or "mean" (average of the present experts).
    beta, warmup : final KL weight and the epochs of its linear warm-up.
    alpha : weight of the task loss (cross-entropy, Cox partial likelihood, target reconstruction).
    epochs, batch_size, patience : training budget (survival trains full batch), early-stopping patience.
    top_k : per-modality Top-k variance filter.
    n_clusters : clusters for ``kind="clustering"`` (k-means on the training latent means).

    References
    ----------
    Benkirane H et al. CustOmics: a versatile deep-learning based strategy for multi-omics integration.
    PLoS Comput Biol 19(3):e1010921, 2023.
    """

    def __init__(self, kind: str = "classification", hidden: int = 128, latent: int = 32, joint: str = "poe",
                 dropout: float = 0.1, beta: float = 1.0, warmup: int = 20, alpha: float = 1.0, lr: float = 1e-3,
                 weight_decay: float = 1e-4, epochs: int = 100, batch_size: int = 64, patience: int = 15,
                 top_k: int | None = 500, n_clusters: int = 8, device: str = "auto", random_state: int = 0) -> None:
        self.kind = kind
        self.hidden = hidden
        self.latent = latent
        self.joint = joint
        self.dropout = dropout
        self.beta = beta
        self.warmup = warmup
        self.alpha = alpha
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.top_k = top_k
        self.n_clusters = n_clusters
        self.device = device
        self.random_state = random_state

    def _head_outputs(self) -> int:
        if self.kind in ("classification", "binary"):
            return len(self.classes_)
        return 1 if self.kind == "survival" else 0

    # ---- loss ----------------------------------------------------------------------------------------------
    def _loss(self, xs: list[torch.Tensor], mask: torch.Tensor, targets: dict[str, torch.Tensor], idx: torch.Tensor,
              kl_weight: float, sample: bool) -> torch.Tensor:
        bx, bmask = [x[idx] for x in xs], mask[idx]
        mu, logvar, recon, head = self.net_(bx, bmask, sample)
        rec = sum(((r - x) ** 2).sum(1) * bmask[:, i] for i, (r, x) in enumerate(zip(recon, bx)))
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)
        loss = ((rec + kl_weight * kl) / self.n_features_).mean()
        if self.kind in ("classification", "binary"):
            y = targets["y"][idx]
            if (y >= 0).any():
                loss = loss + self.alpha * nn.functional.cross_entropy(head, y, ignore_index=-100)
        elif self.kind == "survival":
            loss = loss + self.alpha * cox_partial_likelihood(head[:, 0], targets["time"][idx], targets["event"][idx])
        elif self.kind == "translation":
            loss = loss + self.alpha * nn.functional.mse_loss(recon[-1], targets["y"][idx])
        return loss

    # ---- training ------------------------------------------------------------------------------------------
    def fit(self, X: Mapping[str, np.ndarray], y: Any = None, X_valid: Mapping[str, np.ndarray] | None = None,
            y_valid: Any = None) -> "MultimodalVAE":
        start = time.perf_counter()
        if self.kind not in KINDS:
            raise ValueError(f"multimodal VAE kinds are {KINDS}, not {self.kind!r}")
        if self.joint not in JOINTS:
            raise ValueError(f"joint {self.joint!r}; expected one of {JOINTS}")
        torch.manual_seed(self.random_state)
        self.device_ = resolve_device(self.device)
        self.modalities_, self.prep_ = fit_preprocessors(X, self.top_k)
        xs, mask = self._tensors(X)
        targets = self._targets(y, fit=True)
        self.n_features_ = int(sum(x.shape[1] for x in xs)) or 1
        valid = None
        supervised = self.kind != "clustering"
        if X_valid is not None and len(next(iter(X_valid.values()))) and (y_valid is not None or not supervised):
            valid = (*self._tensors(X_valid), self._targets(y_valid, fit=False))
        extra = [len(self.y_mean_)] if self.kind == "translation" else []
        self.net_ = MultimodalVAENet([x.shape[1] for x in xs], extra, self._head_outputs(), hidden=self.hidden,
                                     latent=self.latent, dropout=self.dropout, joint=self.joint).to(self.device_)
        self.n_params_ = int(sum(p.numel() for p in self.net_.parameters()))
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator(device="cpu").manual_seed(self.random_state)
        n = len(mask)
        batch = n if self.batch_size <= 0 or self.kind == "survival" else self.batch_size  # Cox needs risk sets
        best, best_loss, waited, self.history_ = None, np.inf, 0, []
        train_start = time.perf_counter()
        for epoch in range(self.epochs):
            kl_weight = self.beta * min(1.0, (epoch + 1) / max(self.warmup, 1))
            self.net_.train()
            order = torch.randperm(n, generator=gen).to(self.device_)
            for s in range(0, n, batch):
                idx = order[s:s + batch]
                if len(idx) < 2:
                    continue
                loss = self._loss(xs, mask, targets, idx, kl_weight, sample=True)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            record = {"epoch": float(epoch), "train": self._eval_loss(xs, mask, targets)}
            if valid is not None:
                record["valid"] = self._eval_loss(*valid)
                if epoch + 1 >= self.warmup:  # the objective is fixed once the KL weight is
                    if record["valid"] < best_loss - 1e-6:
                        best_loss, best, waited = record["valid"], copy.deepcopy(self.net_.state_dict()), 0
                    else:
                        waited += 1
                        if waited >= self.patience:
                            self.history_.append(record)
                            break
            self.history_.append(record)
        self.train_seconds_ = time.perf_counter() - train_start  # the epochs alone, without preprocessing
        if best is not None:
            self.net_.load_state_dict(best)
        self.net_.eval()
        self.epochs_run_ = len(self.history_)
        if self.kind == "survival":
            self.train_risk_ = self._raw(xs, mask)[:, 0]
            self.train_time_ = targets["time"].cpu().numpy().astype(np.float64)
            self.train_event_ = targets["event"].cpu().numpy().astype(bool)
        if self.kind == "clustering":
            latent = self._latent(xs, mask)
            self.kmeans_ = KMeans(n_clusters=max(1, min(self.n_clusters, len(latent))), n_init=10,
                                  random_state=self.random_state).fit(latent)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @torch.no_grad()
    def _eval_loss(self, xs: list[torch.Tensor], mask: torch.Tensor, targets: dict[str, torch.Tensor]) -> float:
        self.net_.eval()
        every = torch.arange(len(mask), device=mask.device)
        value = float(self._loss(xs, mask, targets, every, self.beta, sample=False))  # the final objective
        self.net_.train()
        return value

    # ---- prediction ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def _latent(self, xs: list[torch.Tensor], mask: torch.Tensor) -> np.ndarray:
        self.net_.eval()
        return self.net_.encode(xs, mask)[0].double().cpu().numpy()

    @torch.no_grad()
    def _raw(self, xs: list[torch.Tensor], mask: torch.Tensor) -> np.ndarray:
        self.net_.eval()
        _, _, recon, head = self.net_(xs, mask, sample=False)
        out = recon[-1] if self.kind == "translation" else head
        return out.double().cpu().numpy()

    def transform(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        """The joint latent means (patients x ``latent``) from the modalities each patient has."""
        return self._latent(*self._tensors(X))

    def reconstruct(self, X: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each input modality decoded from the joint latent mean, in the preprocessed (standardised) space."""
        xs, mask = self._tensors(X)
        with torch.no_grad():
            self.net_.eval()
            _, _, recon, _ = self.net_(xs, mask, sample=False)
        return {m: r.double().cpu().numpy() for m, r in zip(self.modalities_, recon)}

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.kind not in ("classification", "binary"):
            raise AttributeError(f"predict_proba is for classification, not {self.kind!r}")
        logits = self._raw(*self._tensors(X))
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.kind in ("classification", "binary"):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        if self.kind == "clustering":
            return self.kmeans_.predict(self.transform(X)).astype(np.int64)
        out = self._raw(*self._tensors(X))
        if self.kind == "survival":
            return out[:, 0]
        return out * self.y_scale_ + self.y_mean_

    def predict_survival(self, X: Mapping[str, np.ndarray], times: np.ndarray) -> np.ndarray:
        if self.kind != "survival":
            raise AttributeError(f"predict_survival is for survival, not {self.kind!r}")
        risk = self._raw(*self._tensors(X))[:, 0]
        times = np.asarray(times, np.float64)
        return breslow_survival(self.train_risk_, self.train_time_, self.train_event_, risk, times)
