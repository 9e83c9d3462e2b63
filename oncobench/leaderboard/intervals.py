"""Leaderboard intervals: over the independent units (folds), and inside each metric's range.

The seeds of one fold share their test patients, so their scores are not independent observations: per-fold
scores are averaged over seeds first, and the Student-t interval is taken over the folds. Copying one seed's
predictions into twenty seeds therefore no longer narrows an interval. The interval is then clipped to the range
the metric can take (a macro-F1 interval ending at 1.47 says nothing a reader can use).
"""

from __future__ import annotations

import math
from typing import Sequence

from oncobench.benchmark.aggregate import METRIC_RANGES, clip_interval, summarize_units  # noqa: F401  (re-exported)
from oncobench.leaderboard.entries import FoldScore


def fold_summary(folds: Sequence[FoldScore], level: float = 0.95) -> dict[str, dict[str, float]]:
    """Mean, sd and 95 % t-interval per test metric over folds (seeds averaged within a fold first), clipped.

    ``n`` is the number of folds with a defined score, ``n_seeds`` the number of seeds. A fold's score is the mean
    over its seeds with a defined score; a fold where no seed has one counts in ``n_undefined``.
    """
    names = sorted({k for f in folds for k in f.test})
    return {name: summarize_units(((f.fold, f.test.get(name, math.nan)) for f in folds), name, level) for name in names}
