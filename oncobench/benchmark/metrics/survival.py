"""Survival metrics: Harrell's and Uno's C, time-dependent AUC (over a grid and at 1, 3, 5 years), integrated Brier
score.

The IPCW metrics (Uno's C, time-dependent AUC, Brier score) estimate the
censoring distribution from the TRAINING outcomes of the split, so the caller
passes them alongside the test outcomes. That estimate is only defined inside
the training follow-up, hence every evaluation time (and Uno's tau) is kept
strictly below the largest training time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

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
# One year in each endpoint time unit a manifest may declare; a month is a twelfth of a year (365.25 / 12 days),
# as PORPOISE's survival_months (TCGA days / 30.44).
YEAR = {"days": 365.25, "day": 365.25, "months": 12.0, "month": 12.0, "years": 1.0, "year": 1.0}
HORIZON_YEARS = (1, 3, 5)


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


def clinical_horizons(unit: str | None, years: Sequence[int] = HORIZON_YEARS) -> dict[str, float]:
    """``{"td_auc_1y": 365.25, "td_auc_3y": ..., ...}``: the horizons in an endpoint's time ``unit``.

    An unknown or undeclared unit gives ``{}``: a horizon cannot be placed on an axis of unknown unit.
    """
    if unit is None or unit.lower() not in YEAR:
        return {}
    return {f"td_auc_{k}y": k * YEAR[unit.lower()] for k in years}


def _clipped_test(t: np.ndarray, e: np.ndarray, train_t: np.ndarray) -> np.ndarray:
    # sksurv's td-AUC and Brier score ask the training censoring estimate for a
    # weight at EVERY test time and raise past the training follow-up. Test
    # samples observed at or after max(train_time) are controls at every
    # evaluation time (< max(train_time)) whatever their status, so censoring
    # them administratively at max(train_time) leaves both metrics unchanged.
    horizon = train_t.max()
    late = t >= horizon
    if late.any():
        logger.debug("%d test samples censored at the training horizon %s for td-AUC/IBS", int(late.sum()), horizon)
    return Surv.from_arrays(e & ~late, np.where(late, horizon, t))


def td_auc_at(time, event, risk, train_time, train_event, horizon: float) -> float:
    """Cumulative/dynamic AUC at one ``horizon``: cases die by it, controls are alive after it (IPCW).

    Raises ValueError, saying why, when the horizon is outside the training follow-up (the censoring
    weights are undefined there), or when the test fold has no event by the horizon or no patient
    followed beyond it.

    References
    ----------
    Uno H, Cai T, Tian L, Wei LJ. Evaluating prediction rules for t-year survivors with censored regression
    models. JASA 2007;102(478):527-537.

    Hung H, Chiang CT. Estimation methods for time-dependent AUC models with survival data. Can J Stat
    2010;38(1):8-26.
    """
    t, e = _arrays(time, event)
    train_t, train_e = _arrays(train_time, train_event)
    if horizon >= train_t.max():
        raise ValueError(f"horizon {horizon:g} is not inside the training follow-up (last training time "
                         f"{train_t.max():g}): censoring weights undefined")
    if not (e & (t <= horizon)).any():
        raise ValueError(f"no test event by the horizon {horizon:g}: no cases")
    if not (t > horizon).any():
        raise ValueError(f"no test patient followed beyond the horizon {horizon:g} (last test time {t.max():g}): "
                         "no controls")
    estimate = np.asarray(risk, dtype=np.float64).ravel()
    train = Surv.from_arrays(train_e, train_t)
    return float(cumulative_dynamic_auc(train, _clipped_test(t, e, train_t), estimate, [horizon])[0][0])


def td_auc_at_horizons(time, event, risk, train_time, train_event, horizons: Mapping[str, float]) -> dict[str, float]:
    """:func:`td_auc_at` for each named horizon; one that is undefined is left out, with the reason logged."""
    out = {}
    for name, horizon in horizons.items():
        try:
            out[name] = td_auc_at(time, event, risk, train_time, train_event, horizon)
        except ValueError as exc:
            logger.info("%s undefined: %s", name, exc)
    return out


def survival_metrics(
    time,
    event,
    risk,
    train_time,
    train_event,
    *,
    times: Sequence[float] | None = None,
    surv_prob: np.ndarray | None = None,
    horizons: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Harrell's C, Uno's C, mean time-dependent AUC, optionally the integrated Brier score and the AUC at
    clinical horizons.

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
    horizons : mapping of name to time, optional
        Horizons (e.g. :func:`clinical_horizons`) at which to report the
        time-dependent AUC under that name.

    Returns
    -------
    dict
        ``harrell_c``, ``uno_c`` (tau = ``max(times)``), ``td_auc``, when
        ``surv_prob`` is given, ``ibs`` (nan when ``times`` holds a single
        time: the integral needs at least two), and then each horizon where
        :func:`td_auc_at` is defined (an undefined one is left out and its
        reason logged).

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
    test_clipped = _clipped_test(t, e, train_t)

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
    if horizons:
        out |= td_auc_at_horizons(t, e, estimate, train_t, train_e, horizons)
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
