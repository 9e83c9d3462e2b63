"""Imputation metrics: MAE and RMSE over the hidden entries, on training-standardised values.

References
----------
Yang Z et al. MLOmics: cancer multi-omics database for machine learning. Scientific Data 12, 2025
(imputation task: MAE and RMSE at 30/50/70 % missing entries).
"""

from __future__ import annotations

import numpy as np


def standardise(values: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(values - center) / scale`` per feature, in float64 (``center``/``scale`` come from training patients)."""
    return (np.asarray(values, dtype=np.float64) - center) / scale


def training_scale(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (ddof=0) of the training patients; a constant feature gets scale 1."""
    train = np.asarray(train, dtype=np.float64)
    center = np.nanmean(train, axis=0)
    scale = np.nanstd(train, axis=0)
    return center, np.where(scale > 0, scale, 1.0)


def imputation_metrics(y_true: np.ndarray, y_pred: np.ndarray, hidden: np.ndarray,
                       center: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MAE and RMSE of ``y_pred`` against ``y_true`` over the ``hidden`` entries only, both standardised.

    Parameters
    ----------
    y_true, y_pred : ndarray, shape (n, p)
        True and imputed values in the stored (unscaled) units.
    hidden : ndarray of bool, shape (n, p)
        The entries that were hidden from the imputer; observed entries are never scored.
    center, scale : ndarray, shape (p,)
        Per-feature mean and standard deviation of the training patients (:func:`training_scale`).

    Returns
    -------
    dict
        ``mae`` (mean |error|), ``rmse`` (sqrt of the mean squared error) and ``n_hidden`` (as float).
    """
    hidden = np.asarray(hidden, dtype=bool)
    if not hidden.any():
        raise ValueError("no hidden entry to score: the mask hides nothing")
    err = standardise(y_pred, center, scale)[hidden] - standardise(y_true, center, scale)[hidden]
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2))), "n_hidden": float(hidden.sum())}
