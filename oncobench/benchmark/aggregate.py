"""Aggregation of per-(fold, seed) scores: mean, sd (ddof=1) and a 95 % t-interval, with no rounding before.

The seeds of one fold share their test patients, so their scores are not independent observations: scores are
averaged over seeds within each (repeat, fold) first and the interval is taken over folds (copying one seed's
predictions into twenty seeds must not narrow an interval). Intervals are clipped to the range the metric can take.
"""

from __future__ import annotations

import math
from typing import Hashable, Iterable, Mapping, Sequence

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


UNIT_RANGE = (0.0, 1.0)
SIGNED = (-1.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)

# Every metric the evaluator reports (a test checks the list is complete).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": UNIT_RANGE, "balanced_accuracy": UNIT_RANGE, "macro_f1": UNIT_RANGE, "weighted_f1": UNIT_RANGE,
    "auroc": UNIT_RANGE, "log_loss": NON_NEGATIVE,
    "harrell_c": UNIT_RANGE, "uno_c": UNIT_RANGE, "td_auc": UNIT_RANGE, "ibs": UNIT_RANGE,
    "nmi": UNIT_RANGE, "ari": SIGNED, "silhouette": SIGNED, "logrank_p": UNIT_RANGE,  # ARI's lower bound is -0.5 (Chacon 2023); -1 is safe
    "pearson_mean": SIGNED, "spearman_mean": SIGNED, "pearson_median": SIGNED, "mse_mean": NON_NEGATIVE,
    "n_features_defined": NON_NEGATIVE, "mae": NON_NEGATIVE, "rmse": NON_NEGATIVE, "n_hidden": NON_NEGATIVE,
}


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take (time-dependent AUCs at a horizon, ``td_auc_<k>y``, are AUCs)."""
    if metric.startswith("td_auc"):
        return UNIT_RANGE
    return METRIC_RANGES.get(metric, (-math.inf, math.inf))


def clip_interval(metric: str, summary: Mapping[str, float]) -> dict[str, float]:
    """``summary`` with its interval clipped to the metric's range (unknown metrics are left as they are)."""
    low, high = metric_range(metric)
    out = dict(summary)
    for key in ("ci_low", "ci_high"):
        if not math.isnan(out[key]):
            out[key] = min(max(out[key], low), high)
    return out


def summarize_units(values: Iterable[tuple[Hashable, float]], metric: str = "", level: float = 0.95) -> dict[str, float]:
    """:func:`summarize` over independent units: ``(unit, score)`` pairs (unit = the (repeat, fold) a seed's score
    belongs to) are averaged within each unit first (NaN scores left out; a unit with none counts as undefined),
    then summarised over units and clipped to ``metric``'s range. ``n`` counts units, ``n_seeds`` the most scores
    any unit had."""
    by_unit: dict[Hashable, list[float]] = {}
    for unit, value in values:
        by_unit.setdefault(unit, []).append(math.nan if value is None else float(value))  # None: undefined there
    per_unit = []
    for scores in by_unit.values():
        arr = np.asarray(scores, dtype=np.float64)
        defined = arr[~np.isnan(arr)]
        per_unit.append(float(defined.mean()) if defined.size else math.nan)
    n_seeds = max((len(v) for v in by_unit.values()), default=0)
    return clip_interval(metric, summarize(per_unit, level)) | {"n_seeds": n_seeds}


def summarize_metrics(rows: Sequence[Mapping[str, float]], units: Sequence[Hashable] | None = None
                      ) -> dict[str, dict[str, float]]:
    """:func:`summarize_units` for every metric present in any row; ``units[i]`` is row i's (repeat, fold)
    (default: every row its own unit)."""
    names = sorted({k for r in rows for k in r})
    units = list(units) if units is not None else list(range(len(rows)))
    return {k: summarize_units(((u, r.get(k, math.nan)) for u, r in zip(units, rows)), k) for k in names}


def format_summary(s: Mapping[str, float], digits: int = 3) -> str:
    """``0.812 ± 0.021 [0.786, 0.838]`` (rounded only for display)."""
    if math.isnan(s["mean"]):
        return "n/a"
    if math.isnan(s["sd"]):
        return f"{s['mean']:.{digits}f}"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f} [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"
