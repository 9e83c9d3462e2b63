"""Translation (modality-to-modality prediction) metrics, per feature."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

logger = logging.getLogger(__name__)


def translation_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, features: Sequence[str] | None = None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Per-feature Pearson r, Spearman rho and MSE, with summaries over features.

    Parameters
    ----------
    y_true, y_pred : ndarray, shape (n, p)
        Observed and predicted values (any float dtype; computed in float64).
    features : sequence of str, length p, optional
        Feature names, used only to name undefined features in the log.

    Returns
    -------
    summary : dict
        ``pearson_mean``, ``spearman_mean``, ``mse_mean`` (means over the
        features where defined), ``pearson_median`` and
        ``n_features_defined`` (features with defined correlations, as float).
    per_feature : dict
        ``pearson``, ``spearman``, ``mse``: arrays of length p.

    Notes
    -----
    A feature constant in ``y_true`` or ``y_pred`` has nan correlations and is
    left out of the correlation summaries; its MSE stays defined. Spearman's
    rho is Pearson's r of average ranks, as in ``scipy.stats.spearmanr``.
    """
    a = np.asarray(y_true, dtype=np.float64)
    b = np.asarray(y_pred, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    if a.shape != b.shape:
        raise ValueError(f"y_true {a.shape} and y_pred {b.shape} differ in shape")
    if features is not None and len(features) != a.shape[1]:
        raise ValueError(f"{len(features)} feature names for {a.shape[1]} features")

    # Constant columns are found by exact comparison: centring a constant
    # column can leave rounding noise that would yield a spurious r.
    constant = (a == a[:1]).all(axis=0) | (b == b[:1]).all(axis=0)
    pearson = _columnwise_r(a, b, constant)
    spearman = _columnwise_r(rankdata(a, axis=0), rankdata(b, axis=0), constant)
    mse = np.mean(np.square(a - b), axis=0)

    defined = np.isfinite(pearson) & np.isfinite(spearman)
    if not defined.all():
        undefined = np.flatnonzero(~defined)
        names = [features[j] for j in undefined[:5]] if features is not None else []
        logger.info("%d features have undefined correlations (constant), e.g. %s", undefined.size, names)
    summary = {
        "pearson_mean": _mean(pearson[defined]),
        "spearman_mean": _mean(spearman[defined]),
        "mse_mean": _mean(mse[np.isfinite(mse)]),
        "pearson_median": float(np.median(pearson[defined])) if defined.any() else float("nan"),
        "n_features_defined": float(defined.sum()),
    }
    return summary, {"pearson": pearson, "spearman": spearman, "mse": mse}


def _columnwise_r(x: np.ndarray, y: np.ndarray, undefined: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    denom = np.sqrt(np.sum(xc * xc, axis=0) * np.sum(yc * yc, axis=0))
    r = np.full(x.shape[1], np.nan)
    ok = ~undefined & (denom > 0)
    r[ok] = np.clip(np.sum(xc[:, ok] * yc[:, ok], axis=0) / denom[ok], -1.0, 1.0)
    return r


def _mean(values: np.ndarray) -> float:
    # Explicit empty check instead of np.nanmean, which warns on empty input.
    return float(values.mean()) if values.size else float("nan")
