"""Leaderboard intervals: over the independent units (folds), and inside each metric's range.

The seeds of one fold share their test patients, so their scores are not independent observations: per-fold
scores are averaged over seeds first, and the Student-t interval is taken over the folds. Copying one seed's
predictions into twenty seeds therefore no longer narrows an interval. The interval is then clipped to the range
the metric can take (a macro-F1 interval ending at 1.47 says nothing a reader can use).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from oncobench.benchmark.aggregate import summarize
from oncobench.leaderboard.entries import FoldScore

UNIT = (0.0, 1.0)
SIGNED = (-1.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)

# Every metric the evaluator reports (a test checks the list is complete).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": UNIT, "balanced_accuracy": UNIT, "macro_f1": UNIT, "weighted_f1": UNIT, "auroc": UNIT,
    "log_loss": NON_NEGATIVE,
    "harrell_c": UNIT, "uno_c": UNIT, "td_auc": UNIT, "ibs": UNIT,
    "nmi": UNIT, "ari": SIGNED, "logrank_p": UNIT,  # ARI's lower bound is -0.5 (Chacon 2023); -1 is safe
    "pearson_mean": SIGNED, "spearman_mean": SIGNED, "pearson_median": SIGNED, "mse_mean": NON_NEGATIVE,
    "n_features_defined": NON_NEGATIVE,
}


def clip_interval(metric: str, summary: dict[str, float]) -> dict[str, float]:
    """``summary`` with its interval clipped to the metric's range (unknown metrics are left as they are)."""
    low, high = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    out = dict(summary)
    for key in ("ci_low", "ci_high"):
        if not math.isnan(out[key]):
            out[key] = min(max(out[key], low), high)
    return out


def fold_summary(folds: Sequence[FoldScore], level: float = 0.95) -> dict[str, dict[str, float]]:
    """Mean, sd and 95 % t-interval per test metric over folds (seeds averaged within a fold first), clipped.

    ``n`` is the number of folds with a defined score, ``n_seeds`` the number of seeds. A fold's score is the mean
    over its seeds with a defined score; a fold where no seed has one counts in ``n_undefined``.
    """
    names = sorted({k for f in folds for k in f.test})
    fold_ids = sorted({f.fold for f in folds})
    n_seeds = len({f.seed for f in folds})
    out = {}
    for name in names:
        per_fold = []
        for fold in fold_ids:
            values = np.array([f.test.get(name, math.nan) for f in folds if f.fold == fold], dtype=np.float64)
            defined = values[~np.isnan(values)]
            per_fold.append(float(defined.mean()) if defined.size else math.nan)
        out[name] = clip_interval(name, summarize(per_fold, level)) | {"n_seeds": n_seeds}
    return out
