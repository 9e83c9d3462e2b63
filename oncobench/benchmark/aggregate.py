"""Aggregation of per-(fold, seed) scores: mean, sd (ddof=1) and a 95 % t-interval, with no rounding before."""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy import stats


def summarize(values: Iterable[float], level: float = 0.95) -> dict[str, float]:
    """Mean, sample sd (ddof=1) and the two-sided Student-t confidence interval of the mean.

    NaN scores (a fold where the metric is undefined) are left out and counted in ``n_undefined``.
    With one value, sd and the interval are NaN.
    """
    arr = np.asarray(list(values), dtype=np.float64)
    undefined = int(np.isnan(arr).sum())
    arr = arr[~np.isnan(arr)]
    n = len(arr)
    mean = float(arr.mean()) if n else math.nan
    sd = float(arr.std(ddof=1)) if n > 1 else math.nan
    if n > 1:
        half = float(stats.t.ppf(0.5 + level / 2, df=n - 1) * sd / math.sqrt(n))
        low, high = mean - half, mean + half
    else:
        low = high = math.nan
    return {"mean": mean, "sd": sd, "ci_low": low, "ci_high": high, "n": n, "n_undefined": undefined}


def summarize_metrics(rows: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """:func:`summarize` for every metric present in any row."""
    names = sorted({k for r in rows for k in r})
    return {k: summarize(r.get(k, math.nan) for r in rows) for k in names}


def format_summary(s: Mapping[str, float], digits: int = 3) -> str:
    """``0.812 ± 0.021 [0.786, 0.838]`` (rounded only for display)."""
    if math.isnan(s["mean"]):
        return "n/a"
    if math.isnan(s["sd"]):
        return f"{s['mean']:.{digits}f}"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f} [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"
