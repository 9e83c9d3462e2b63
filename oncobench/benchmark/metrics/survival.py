"""Survival metrics: Harrell's and Uno's C, time-dependent AUC, integrated Brier score.

The IPCW metrics (Uno's C, time-dependent AUC, Brier score) estimate the
censoring distribution from the TRAINING outcomes of the split, so the caller
passes them alongside the test outcomes. That estimate is only defined inside
the training follow-up, hence every evaluation time (and Uno's tau) is kept
strictly below the largest training time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.util import Surv

logger = logging.getLogger(__name__)

_ALL_CENSORED = "all test samples are censored: C-index undefined"


def _arrays(time, event) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(time, dtype=np.float64).ravel(), np.asarray(event).astype(bool).ravel()


def harrell_c(time, event, risk) -> float:
    """Harrell's concordance index.

    Parameters
    ----------
    time : array-like, shape (n,)
        Observed times.
    event : array-like of bool or 0/1, shape (n,)
        True (1) where the event was observed.
    risk : array-like, shape (n,)
        Predicted risk; higher means earlier event.

    Returns
    -------
    float
        Share of comparable pairs ordered correctly; tied risks count 1/2.

    Notes
    -----
    A pair is comparable when the shorter time is an event; an event and a
    censoring at the same time are comparable, two events at the same time are
    not (sksurv's convention, identical to lifelines').

    References
    ----------
    Harrell FE, Califf RM, Pryor DB, Lee KL, Rosati RA. Evaluating the yield of
    medical tests. JAMA 1982;247(18):2543-2546.

    Harrell FE, Lee KL, Mark DB. Multivariable prognostic models. Stat Med
    1996;15(4):361-387.
    """
    t, e = _arrays(time, event)
    if not e.any():
        raise ValueError(_ALL_CENSORED)
    return float(concordance_index_censored(e, t, np.asarray(risk, dtype=np.float64).ravel())[0])


def evaluation_times(train_time, train_event, test_time, test_event, n: int = 5) -> np.ndarray:
    """Evaluation grid for the time-dependent metrics.

    Parameters
    ----------
    train_time, train_event : array-like, shape (n_train,)
        Training outcomes (only the follow-up length is used; ``train_event``
        is accepted for symmetry with the other functions).
    test_time, test_event : array-like, shape (n_test,)
        Test outcomes.
    n : int
        Number of quantiles requested.

    Returns
    -------
    ndarray
        Sorted unique times: the ``n`` evenly spaced quantiles (10th to 80th
        percentile) of the test event times, kept where
        ``min(test_time) <= t < max(test_time)`` and ``t < max(train_time)``.
        May hold fewer than ``n`` times.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    train_t, _ = _arrays(train_time, train_event)
    test_t, test_e = _arrays(test_time, test_event)
    if not test_e.any():
        raise ValueError("all test samples are censored: no event times to build the evaluation grid")
    grid = np.unique(np.percentile(test_t[test_e], np.linspace(10.0, 80.0, n)))
    keep = (grid < train_t.max()) & (grid >= test_t.min()) & (grid < test_t.max())
    if not keep.any():
        raise ValueError(
            f"no evaluation time lies inside both follow-ups: test [{test_t.min()}, {test_t.max()}), "
            f"train < {train_t.max()}"
        )
    return grid[keep]


def uno_c(time, event, risk, train_time, train_event, tau: float | None = None) -> float:
    """Uno's IPCW concordance index truncated at ``tau``.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Test outcomes.
    risk : array-like, shape (n,)
        Predicted risk; higher means earlier event.
    train_time, train_event : array-like, shape (n_train,)
        Training outcomes; the Kaplan-Meier estimate of their censoring
        distribution gives the inverse-probability weights.
    tau : float, optional
        Truncation time; only test events before ``tau`` anchor pairs. Must not
        exceed the training follow-up. Default: the largest
        :func:`evaluation_times` time.

    Returns
    -------
    float

    References
    ----------
    Uno H, Cai T, Pencina MJ, D'Agostino RB, Wei LJ. On the C-statistics for
    evaluating overall adequacy of risk prediction procedures with censored
    survival data. Stat Med 2011;30(10):1105-1117.
    """
    t, e = _arrays(time, event)
    train_t, train_e = _arrays(train_time, train_event)
    if not e.any():
        raise ValueError(_ALL_CENSORED)
    if tau is None:
        tau = float(evaluation_times(train_t, train_e, t, e)[-1])
    elif tau > train_t.max():
        raise ValueError(f"tau={tau} exceeds the training follow-up ({train_t.max()}): censoring weights undefined")
    if not (e & (t < tau)).any():
        raise ValueError(f"no test event before tau={tau}: Uno's C is undefined")
    estimate = np.asarray(risk, dtype=np.float64).ravel()
    return float(
        concordance_index_ipcw(Surv.from_arrays(train_e, train_t), Surv.from_arrays(e, t), estimate, tau=tau)[0]
    )


def survival_metrics(
    time,
    event,
    risk,
    train_time,
    train_event,
    *,
    times: Sequence[float] | None = None,
    surv_prob: np.ndarray | None = None,
) -> dict[str, float]:
    """Harrell's C, Uno's C, mean time-dependent AUC and, optionally, the integrated Brier score.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Test outcomes.
    risk : array-like, shape (n,)
        Predicted risk; higher means earlier event.
    train_time, train_event : array-like, shape (n_train,)
        Training outcomes of the split (censoring distribution for IPCW).
    times : sequence of float, optional
        Strictly increasing evaluation times, inside the test follow-up
        ``[min, max)`` and below the largest training time. Default:
        :func:`evaluation_times`. Required when ``surv_prob`` is given.
    surv_prob : ndarray, shape (n, len(times)), optional
        Predicted survival probabilities S(t | x) at ``times``.

    Returns
    -------
    dict
        ``harrell_c``, ``uno_c`` (tau = ``max(times)``), ``td_auc`` and, when
        ``surv_prob`` is given, ``ibs`` (nan when ``times`` holds a single
        time: the integral needs at least two).

    Notes
    -----
    ``td_auc`` is sksurv's summary of the cumulative/dynamic AUC over
    ``times``: the per-time AUCs averaged with weights given by the drops of the
    test Kaplan-Meier curve (Lambert & Chevret 2016), not their plain mean.

    References
    ----------
    Uno H, Cai T, Tian L, Wei LJ. Evaluating prediction rules for t-year
    survivors with censored regression models. JASA 2007;102(478):527-537.

    Hung H, Chiang CT. Estimation methods for time-dependent AUC models with
    survival data. Can J Stat 2010;38(1):8-26.

    Lambert J, Chevret S. Summary measure of discrimination in survival models
    based on cumulative/dynamic time-dependent ROC curves. Stat Methods Med Res
    2016;25(5):2088-2102.

    Graf E, Schmoor C, Sauerbrei W, Schumacher M. Assessment and comparison of
    prognostic classification schemes for survival data. Stat Med
    1999;18(17-18):2529-2545.
    """
    t, e = _arrays(time, event)
    train_t, train_e = _arrays(train_time, train_event)
    estimate = np.asarray(risk, dtype=np.float64).ravel()
    if not e.any():
        raise ValueError(_ALL_CENSORED)
    if times is None:
        if surv_prob is not None:
            raise ValueError("surv_prob given without the times it was evaluated at")
        grid = evaluation_times(train_t, train_e, t, e)
    else:
        grid = _check_grid(np.asarray(times, dtype=np.float64).ravel(), t, train_t)

    train = Surv.from_arrays(train_e, train_t)
    # sksurv's td-AUC and Brier score ask the training censoring estimate for a
    # weight at EVERY test time and raise past the training follow-up. Test
    # samples observed at or after max(train_time) are controls at every grid
    # time (< max(train_time)) whatever their status, so censoring them
    # administratively at max(train_time) leaves both metrics unchanged.
    horizon = train_t.max()
    late = t >= horizon
    if late.any():
        logger.debug("%d test samples censored at the training horizon %s for td-AUC/IBS", int(late.sum()), horizon)
    test_clipped = Surv.from_arrays(e & ~late, np.where(late, horizon, t))

    out = {
        "harrell_c": harrell_c(t, e, estimate),
        "uno_c": uno_c(t, e, estimate, train_t, train_e, tau=float(grid[-1])),
        "td_auc": float(cumulative_dynamic_auc(train, test_clipped, estimate, grid)[1]),
    }
    if surv_prob is not None:
        surv_prob = np.asarray(surv_prob, dtype=np.float64)
        if surv_prob.shape != (t.shape[0], grid.shape[0]):
            raise ValueError(f"surv_prob has shape {surv_prob.shape}, expected {(t.shape[0], grid.shape[0])}")
        if grid.shape[0] < 2:
            # A short test fold can leave a one-time grid; an integral over one
            # point is undefined, but the submission itself is not wrong.
            logger.warning("integrated Brier score undefined with a single evaluation time: ibs = nan")
            out["ibs"] = float("nan")
        else:
            out["ibs"] = float(integrated_brier_score(train, test_clipped, surv_prob, grid))
    return out


def _check_grid(grid: np.ndarray, test_t: np.ndarray, train_t: np.ndarray) -> np.ndarray:
    if grid.size == 0:
        raise ValueError("times is empty")
    # sksurv sorts and deduplicates `times` silently, which would misalign the
    # columns of surv_prob; insist on the order instead.
    if np.any(np.diff(grid) <= 0):
        raise ValueError("times must be strictly increasing")
    if grid[0] < test_t.min() or grid[-1] >= test_t.max():
        raise ValueError(f"times must lie inside the test follow-up [{test_t.min()}, {test_t.max()})")
    if grid[-1] >= train_t.max():
        raise ValueError(f"times must lie inside the training follow-up (< {train_t.max()})")
    return grid
