"""Clustering metrics: agreement with known labels, cluster cohesion (silhouette) and survival separation."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sksurv.compare import compare_survival
from sksurv.util import Surv

logger = logging.getLogger(__name__)


def clustering_metrics(labels_true: Sequence[str] | None, clusters: Sequence[int], time=None, event=None,
                       X: np.ndarray | None = None) -> dict[str, float]:
    """NMI and ARI against known labels; silhouette in a feature space; log-rank p-value across clusters.

    Parameters
    ----------
    labels_true : sequence of str, length n, or None
        Reference labels (e.g. subtypes); None when the task has none (no NMI/ARI).
    clusters : sequence of int, length n
        Cluster assignment.
    time, event : array-like, shape (n,), optional
        Survival outcomes; give both or neither.
    X : array, shape (n, p), optional
        The points the silhouette is measured on (Euclidean distance).

    Returns
    -------
    dict
        ``nmi`` (arithmetic normalisation) and ``ari`` with labels;
        ``silhouette`` with ``X`` (the mean silhouette width, nan unless
        2 <= clusters <= n - 1); with outcomes, ``logrank_p``: the p-value of
        the k-group log-rank test (chi-square, k - 1 degrees of freedom). It is
        nan with a single cluster, and nan (logged) without events or when the
        test's covariance is singular (a cluster never at risk at an event time).

    References
    ----------
    Vinh NX, Epps J, Bailey J. Information theoretic measures for clusterings
    comparison: variants, properties, normalization and correction for chance.
    JMLR 2010;11:2837-2854.

    Hubert L, Arabie P. Comparing partitions. J Classif 1985;2(1):193-218.

    Rousseeuw PJ. Silhouettes: a graphical aid to the interpretation and
    validation of cluster analysis. J Comput Appl Math 1987;20:53-65.

    Mantel N. Evaluation of survival data and two new rank order statistics
    arising in its consideration. Cancer Chemother Rep 1966;50(3):163-170.
    """
    if (time is None) != (event is None):
        raise ValueError("give both time and event, or neither")
    groups = np.asarray(clusters)
    out: dict[str, float] = {}
    if labels_true is not None:
        labels = np.asarray(labels_true, dtype=object)
        out["nmi"] = float(normalized_mutual_info_score(labels, groups, average_method="arithmetic"))
        out["ari"] = float(adjusted_rand_score(labels, groups))
    if X is not None:
        out["silhouette"] = silhouette(np.asarray(X, dtype=np.float64), groups)
    if time is not None:
        out["logrank_p"] = _logrank_p(np.asarray(time, dtype=np.float64), np.asarray(event).astype(bool), groups)
    return out


def silhouette(X: np.ndarray, clusters: np.ndarray) -> float:
    """Mean silhouette width in Euclidean distance; nan unless there are 2 to n - 1 clusters (undefined there).

    References
    ----------
    Rousseeuw PJ. J Comput Appl Math 1987;20:53-65.
    """
    k = np.unique(clusters).size
    if not 2 <= k <= len(clusters) - 1:
        return float("nan")
    return float(silhouette_score(X, clusters, metric="euclidean"))


def _logrank_p(time: np.ndarray, event: np.ndarray, groups: np.ndarray) -> float:
    if np.unique(groups).size < 2:
        return float("nan")
    # NMI/ARI stay meaningful without events, so an untestable survival
    # comparison yields nan instead of failing the whole evaluation.
    if not event.any():
        logger.warning("log-rank test undefined: no events among the samples")
        return float("nan")
    try:
        _, p = compare_survival(Surv.from_arrays(event, time), groups)
    except np.linalg.LinAlgError:
        logger.warning("log-rank test undefined: singular covariance (a cluster never at risk at an event time)")
        return float("nan")
    return float(p)
