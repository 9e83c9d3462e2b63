"""Inputs and targets of the deep estimators as tensors: one preparation shared by DeepFusion, the multimodal VAE
and MOGONET.

Per modality, :class:`ModalityPreprocessor` is fitted on the training rows only; a modality no training patient
has is left out, and with a limit the best-covered modalities are kept. Targets: class codes (a label unseen in
training is -100, ignored by the loss), ``time``/``event`` tensors for survival, standardised matrices for
translation (the training mean and sd; an unmeasured value is the training mean).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from oncobench.baselines.preprocess import ModalityPreprocessor, modality_present


def fit_preprocessors(X: Mapping[str, np.ndarray], top_k: int | None, *, scale: bool = True,
                      limit: int | None = None) -> tuple[tuple[str, ...], dict[str, ModalityPreprocessor]]:
    """The modalities to use (those some training patient has; at most ``limit``, the best covered, in input
    order) and each one's preprocessor fitted on the training rows."""
    mods = [m for m in X if modality_present(np.asarray(X[m])).any()]
    if limit is not None and len(mods) > limit:
        kept = sorted(mods, key=lambda m: (-int(modality_present(np.asarray(X[m])).sum()), list(X).index(m)))[:limit]
        mods = [m for m in X if m in kept]
    prep = {m: ModalityPreprocessor(top_k=top_k, scale=scale).fit({m: np.asarray(X[m])}) for m in mods}
    return tuple(mods), prep


def modality_tensors(prep: Mapping[str, ModalityPreprocessor], modalities: tuple[str, ...], X: Mapping[str, np.ndarray],
                     device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per modality, the training-fitted preprocessing of ``X`` as a tensor, and the (patients x modalities) presence mask."""
    xs, masks = [], []
    for m in modalities:
        raw = np.asarray(X[m], dtype=np.float64)
        z = prep[m].transform({m: raw})[:, :-1]  # the last column is the presence flag: the mask's job
        xs.append(torch.as_tensor(z, dtype=torch.float32, device=device))
        masks.append(modality_present(raw))
    return xs, torch.as_tensor(np.column_stack(masks).astype(np.float32), device=device)


def label_tensor(classes: np.ndarray, y: Any, device: torch.device) -> torch.Tensor:
    """Class codes of ``y`` in ``classes``; a label unseen in training (a validation fold's) is -100: no loss."""
    labels = np.asarray(y)
    codes = np.searchsorted(classes, labels)
    return torch.as_tensor(np.where(np.isin(labels, classes), codes, -100), dtype=torch.long, device=device)


def survival_tensors(y: Any, device: torch.device) -> dict[str, torch.Tensor]:
    """``time`` and ``event`` float tensors from a scikit-survival outcome array."""
    time_, event = np.ascontiguousarray(y["time"], np.float64), np.ascontiguousarray(y["event"], bool)
    return {"time": torch.as_tensor(time_, dtype=torch.float32, device=device),
            "event": torch.as_tensor(event, dtype=torch.float32, device=device)}


class TensorInputs:
    """Mixin for the deep estimators: ``_tensors`` and ``_targets`` after ``fit`` set ``modalities_``, ``prep_``
    and ``device_`` (and reads ``kind``). ``_targets(y, fit=True)`` learns ``classes_`` (classification) or
    ``y_mean_``/``y_scale_`` (translation) from the training fold; clustering has no target (``{}``)."""

    def _tensors(self, X: Mapping[str, np.ndarray]) -> tuple[list[torch.Tensor], torch.Tensor]:
        return modality_tensors(self.prep_, self.modalities_, X, self.device_)

    def _targets(self, y: Any, fit: bool) -> dict[str, torch.Tensor]:
        dev = self.device_
        if self.kind in ("classification", "binary"):
            if fit:
                self.classes_ = np.unique(np.asarray(y))
            return {"y": label_tensor(self.classes_, y, dev)}
        if self.kind == "survival":
            return survival_tensors(y, dev)
        if self.kind == "translation":
            y = np.asarray(y, dtype=np.float64)
            if fit:
                self.y_mean_ = np.nanmean(y, axis=0)
                sd = np.nanstd(y, axis=0)
                self.y_scale_ = np.where(sd > 0, sd, 1.0)
            y = np.where(np.isnan(y), self.y_mean_, y)
            return {"y": torch.as_tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float32, device=dev)}
        return {}
