"""Per-modality preprocessing fitted on the training fold only: feature filter, imputation, scaling, Top-k.

Nothing here ever sees a test row during ``fit``: the statistics (medians, means, scales, the Top-k list)
come from the rows passed to ``fit``, which the runner fills with the training patients.

Default: no variance cut (``top_k=None``). Ranking features by training variance only means something on
unscaled values; on values that are already standardised (PORPOISE's RNA are within-cohort z-scores with
outliers, training variances 0.001 to 43,240) it keeps the outlier genes, and it cost an elastic-net Cox
about 0.01-0.07 Harrell's C on the PORPOISE cohorts we measured (see NOTES). The penalised and tree models
select features themselves; ``top_k`` stays available as an explicit, per-model choice.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

MISSING_POLICIES = ("impute", "drop")


def modality_present(values: np.ndarray) -> np.ndarray:
    """True for rows with any measured value (a row of NaN = modality not measured)."""
    return ~np.all(np.isnan(values), axis=1) if values.shape[1] else np.zeros(len(values), dtype=bool)


def complete_rows(X: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows that have every modality."""
    masks = [modality_present(v) for v in X.values()]
    return np.logical_and.reduce(masks) if masks else np.zeros(0, dtype=bool)


class ModalityPreprocessor(BaseEstimator, TransformerMixin):
    """Impute, scale and select features per modality; concatenate; add a presence column per modality.

    Parameters
    ----------
    top_k : keep the ``top_k`` features of each modality with the largest training variance (default None:
        all; a variance cut is meaningless on values that are already standardised).
    scale : standardise each kept feature with the training mean and sd.

    A patient without a modality gets that modality's training medians and a 0 in its ``present``
    column: the gap is explicit, never a silent zero.
    """

    def __init__(self, top_k: int | None = None, scale: bool = True) -> None:
        self.top_k = top_k
        self.scale = scale

    def fit(self, X: Mapping[str, np.ndarray], y: object = None) -> "ModalityPreprocessor":
        if not X:
            raise ValueError("no modality given: expected a dict of modality -> matrix")
        self.modalities_ = tuple(X)
        self.keep_: dict[str, np.ndarray] = {}
        self.median_: dict[str, np.ndarray] = {}
        self.mean_: dict[str, np.ndarray] = {}
        self.scale_: dict[str, np.ndarray] = {}
        for m, values in X.items():
            values = np.asarray(values, dtype=np.float64)
            present = modality_present(values)
            if not present.any():
                raise ValueError(f"modality {m!r}: no training patient has it; drop it from the model's inputs")
            rows = values[present]
            observed = ~np.all(np.isnan(rows), axis=0)
            median = np.zeros(values.shape[1])
            median[observed] = np.nanmedian(rows[:, observed], axis=0)
            filled = np.where(np.isnan(rows), median, rows)
            var = filled.var(axis=0)
            candidates = np.flatnonzero(observed & (var > 0))
            if self.top_k is not None and len(candidates) > self.top_k:
                # stable: ties broken by column position, so the choice is deterministic
                order = np.lexsort((candidates, -var[candidates]))
                candidates = np.sort(candidates[order[: self.top_k]])
            self.keep_[m] = candidates
            self.median_[m] = median[candidates]
            self.mean_[m] = filled[:, candidates].mean(axis=0) if self.scale else np.zeros(len(candidates))
            sd = filled[:, candidates].std(axis=0) if self.scale else np.ones(len(candidates))
            self.scale_[m] = np.where(sd > 0, sd, 1.0)
        return self

    def transform(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = []
        for m in self.modalities_:
            if m not in X:
                raise KeyError(f"modality {m!r} was used in fit but is missing now")
            values = np.asarray(X[m], dtype=np.float64)[:, self.keep_[m]]
            present = modality_present(np.asarray(X[m], dtype=np.float64))
            values = np.where(np.isnan(values), self.median_[m], values)
            parts.append((values - self.mean_[m]) / self.scale_[m])
            parts.append(present[:, None].astype(np.float64))
        return np.hstack(parts) if parts else np.zeros((0, 0))

    def feature_names_out(self, names: Mapping[str, list[str]]) -> list[str]:
        out = []
        for m in self.modalities_:
            out += [f"{m}:{names[m][i]}" for i in self.keep_[m]] + [f"{m}:present"]
        return out
