"""The scikit-learn-contract wrapper that trains every deep fusion network.

Per modality, the training fold's median imputation, scaling and Top-k variance filter come first
(:class:`ModalityPreprocessor`, fitted on training rows only); an absent modality is a 0 in the mask the
networks read, never a silent zero in the data. Training: Adam, mini-batches (the whole fold stays on the device),
modality dropout, early stopping on the validation fold when the runner passes one (otherwise the fixed
budget), seeded and deterministic on CPU; CUDA when present unless ``device`` says otherwise; optional mixed
precision on GPU.

References
----------
Wang W, Tran D, Feiszli M. What makes training multi-modal classification networks hard? CVPR 2020
(gradient blending).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from typing import Any, Mapping

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from oncobench.baselines.deep.heads import (breslow_survival, cox_partial_likelihood, discrete_time_loss,
                                            survival_from_hazards)
from oncobench.baselines.deep.networks import EarlyNet, FusionNet, LateNet
from oncobench.baselines.deep.tensors import TensorInputs, fit_preprocessors

KINDS = ("classification", "binary", "survival", "translation")

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``auto``: $ONCOBENCH_DEVICE when set (``oncobench run --device``), else CUDA when present, else the CPU."""
    if device == "auto":
        device = os.environ.get("ONCOBENCH_DEVICE", "auto")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} asked for, but PyTorch sees no CUDA device here")
    return torch.device(device)


class DeepFusion(TensorInputs, BaseEstimator):
    """Encoders + fusion + head, trained for a task kind (classification, binary, survival, translation)."""

    def __init__(self, architecture: str = "attention", kind: str = "classification", hidden: int = 128,
                 embed: int = 64, dropout: float = 0.2, lr: float = 1e-3, weight_decay: float = 1e-4, epochs: int = 60,
                 batch_size: int = 128, patience: int = 10, modality_dropout: float = 0.2, survival_head: str = "cox",
                 n_bins: int = 20, top_k: int | None = 1000, max_modalities: int | None = None,
                 gradient_blending: bool = False, blend_every: int = 5, device: str = "auto", amp: bool = False,
                 random_state: int = 0) -> None:
        self.architecture = architecture
        self.kind = kind
        self.hidden = hidden
        self.embed = embed
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.modality_dropout = modality_dropout
        self.survival_head = survival_head
        self.n_bins = n_bins
        self.top_k = top_k
        self.max_modalities = max_modalities
        self.gradient_blending = gradient_blending
        self.blend_every = blend_every
        self.device = device
        self.amp = amp
        self.random_state = random_state

    # ---- data ----------------------------------------------------------------------------------------------
    def _targets(self, y: Any, fit: bool) -> dict[str, torch.Tensor]:
        if self.kind not in KINDS:
            raise ValueError(f"deep fusion models support classification, binary, survival and translation, not {self.kind!r}")
        if fit and self.kind == "survival" and self.survival_head == "discrete":
            time_, event = np.asarray(y["time"], np.float64), np.asarray(y["event"], bool)
            qs = np.quantile(time_[event] if event.any() else time_, np.linspace(0, 1, self.n_bins + 1)[1:-1])
            self.cuts_ = np.unique(np.concatenate([[0.0], qs, [time_.max() * 1.001]]))
        return super()._targets(y, fit)

    def _outputs(self) -> int:
        if self.kind in ("classification", "binary"):
            return len(self.classes_)
        if self.kind == "survival":
            return len(self.cuts_) - 1 if self.survival_head == "discrete" else 1
        return len(self.y_mean_)

    def _loss(self, out: torch.Tensor, t: dict[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        if self.kind in ("classification", "binary"):
            return nn.functional.cross_entropy(out, t["y"][idx])
        if self.kind == "survival":
            if self.survival_head == "discrete":
                return discrete_time_loss(out, t["time"][idx], t["event"][idx], torch.as_tensor(self.cuts_, dtype=torch.float32, device=out.device))
            return cox_partial_likelihood(out[:, 0], t["time"][idx], t["event"][idx])
        return nn.functional.mse_loss(out, t["y"][idx])

    # ---- training ------------------------------------------------------------------------------------------
    def _build(self, widths: list[int]) -> nn.Module:
        kw = {"hidden": self.hidden, "embed": self.embed, "dropout": self.dropout}
        out = self._outputs()
        if self.architecture == "early":
            return EarlyNet(widths, out, **kw)
        if self.architecture == "late":
            return LateNet(widths, out, **kw)
        fusion = {"attention": "attention", "gated": "gated", "concat": "concat"}[self.architecture]
        return FusionNet(widths, out, fusion=fusion, aux=self.gradient_blending, **kw)

    def fit(self, X: Mapping[str, np.ndarray], y: Any, X_valid: Mapping[str, np.ndarray] | None = None,
            y_valid: Any = None) -> "DeepFusion":
        start = time.perf_counter()
        torch.manual_seed(self.random_state)
        np_rng = np.random.default_rng(self.random_state)
        self.device_ = resolve_device(self.device)
        # with a limit, the modalities most training patients have (gated fusion takes 2 or 3)
        self.modalities_, self.prep_ = fit_preprocessors(X, self.top_k, limit=self.max_modalities)
        xs, mask = self._tensors(X)
        targets = self._targets(y, fit=True)
        valid = None
        if X_valid is not None and y_valid is not None and len(next(iter(X_valid.values()))):
            valid = (*self._tensors(X_valid), self._targets(y_valid, fit=False))
        elif self.gradient_blending:  # blending needs held-out data: a seeded 15 % of the training fold
            n = len(mask)
            hold = np_rng.random(n) < 0.15
            keep = torch.as_tensor(~hold, device=self.device_)
            held = torch.as_tensor(hold, device=self.device_)
            valid = ([x[held] for x in xs], mask[held], {k: v[held] for k, v in targets.items()})
            xs, mask, targets = [x[keep] for x in xs], mask[keep], {k: v[keep] for k, v in targets.items()}
        self.net_ = self._build([x.shape[1] for x in xs]).to(self.device_)
        self.n_params_ = int(sum(p.numel() for p in self.net_.parameters()))
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(mask)
        gen = torch.Generator(device="cpu").manual_seed(self.random_state)
        n_heads = 1 + len(self.modalities_)
        self.blend_weights_ = np.full(n_heads, 1.0 / n_heads) if self.gradient_blending else None
        best, best_loss, waited, self.history_ = None, np.inf, 0, []
        blend_prev = None
        # mixed precision: on CUDA only, by parameter or `oncobench run --amp` ($ONCOBENCH_AMP=1)
        use_amp = (self.amp or os.environ.get("ONCOBENCH_AMP") == "1") and self.device_.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        train_start = time.perf_counter()
        for epoch in range(self.epochs):
            self.net_.train()
            order = torch.randperm(n, generator=gen).to(self.device_)
            batch = n if self.batch_size <= 0 or self.kind == "survival" and self.survival_head == "cox" else self.batch_size
            # Cox partial likelihood needs whole risk sets: full-batch for the Cox head
            for s in range(0, n, batch):
                idx = order[s:s + batch]
                if len(idx) < 2:
                    continue
                bmask = mask[idx]
                if self.modality_dropout > 0 and len(self.modalities_) > 1:
                    drop = (torch.rand(bmask.shape, generator=gen) < self.modality_dropout).to(self.device_)
                    kept = bmask * (~drop)
                    bmask = torch.where(kept.sum(1, keepdim=True) > 0, kept, bmask)  # never drop every modality
                with torch.autocast(self.device_.type, enabled=use_amp):
                    out, aux = self.net_([x[idx] for x in xs], bmask)
                    loss = self._total_loss(out, aux, targets, idx)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            record = {"epoch": epoch, "train": self._eval_loss(xs, mask, targets)}
            if valid is not None:
                record["valid"] = self._eval_loss(*valid)
                if self.gradient_blending and (epoch + 1) % self.blend_every == 0:
                    now = (self._head_losses(xs, mask, targets), self._head_losses(*valid))
                    if blend_prev is not None:
                        self.blend_weights_ = _blend(blend_prev, now, self.blend_weights_)
                    blend_prev = now
                if X_valid is not None:  # early stopping only on the runner's validation fold
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
        self.epochs_run_ = len(self.history_)
        self.net_.eval()
        if self.kind == "survival" and self.survival_head == "cox":
            self.train_risk_ = self._raw(xs, mask)[:, 0].astype(np.float64)
            self.train_time_ = targets["time"].cpu().numpy().astype(np.float64)
            self.train_event_ = targets["event"].cpu().numpy().astype(bool)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _total_loss(self, out: torch.Tensor, aux: list[torch.Tensor], targets: dict, idx: torch.Tensor) -> torch.Tensor:
        loss = self._loss(out, targets, idx)
        if aux and self.blend_weights_ is not None:
            w = self.blend_weights_
            loss = w[0] * loss + sum(w[i + 1] * self._loss(a, targets, idx) for i, a in enumerate(aux))
        return loss

    @torch.no_grad()
    def _eval_loss(self, xs: list[torch.Tensor], mask: torch.Tensor, targets: dict) -> float:
        self.net_.eval()
        out, _ = self.net_(xs, mask)
        value = float(self._loss(out.float(), targets, torch.arange(len(mask), device=mask.device)))
        self.net_.train()
        return value

    @torch.no_grad()
    def _head_losses(self, xs: list[torch.Tensor], mask: torch.Tensor, targets: dict) -> np.ndarray:
        self.net_.eval()
        out, aux = self.net_(xs, mask)
        idx = torch.arange(len(mask), device=mask.device)
        losses = [float(self._loss(out.float(), targets, idx))] + [float(self._loss(a.float(), targets, idx)) for a in aux]
        self.net_.train()
        return np.array(losses)

    # ---- prediction ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def _raw(self, xs: list[torch.Tensor], mask: torch.Tensor) -> np.ndarray:
        self.net_.eval()
        out, _ = self.net_(xs, mask)
        return out.float().cpu().numpy()

    def _forward(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._raw(*self._tensors(X))

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        logits = self._forward(X).astype(np.float64)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        out = self._forward(X).astype(np.float64)
        if self.kind in ("classification", "binary"):
            return self.classes_[np.argmax(out, axis=1)]
        if self.kind == "survival":
            if self.survival_head == "discrete":  # risk = minus the expected survival over the training grid
                return -survival_from_hazards(out, self.cuts_, self.cuts_[1:]).sum(axis=1)
            return out[:, 0]
        return out * self.y_scale_ + self.y_mean_

    def predict_survival(self, X: Mapping[str, np.ndarray], times: np.ndarray) -> np.ndarray:
        out = self._forward(X).astype(np.float64)
        if self.survival_head == "discrete":
            return survival_from_hazards(out, self.cuts_, np.asarray(times, np.float64))
        return breslow_survival(self.train_risk_, self.train_time_, self.train_event_, out[:, 0], np.asarray(times, np.float64))


def _blend(prev: tuple[np.ndarray, np.ndarray], now: tuple[np.ndarray, np.ndarray], old: np.ndarray) -> np.ndarray:
    """Gradient-blending weights: w_k proportional to dG_k / dO_k^2 (generalisation gained over overfitting grown)."""
    (train0, valid0), (train1, valid1) = prev, now
    gain = valid0 - valid1
    overfit = (valid1 - train1) - (valid0 - train0)
    w = np.where(gain > 0, gain / (overfit ** 2 + 1e-8), 0.0)
    if not np.isfinite(w).all() or w.sum() <= 0:
        return old
    return w / w.sum()
