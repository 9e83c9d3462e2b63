"""Time-dependent AUC at 1, 3 and 5 years: cross-checked against scikit-survival, lifelines + scikit-learn."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest
from lifelines import KaplanMeierFitter
from sklearn.metrics import roc_auc_score
from sksurv.metrics import cumulative_dynamic_auc
from sksurv.util import Surv

from oncobench.benchmark.evaluator import ID, survival_horizons
from oncobench.benchmark.metrics.survival import (clinical_horizons, survival_metrics, td_auc_at,
                                                  td_auc_at_horizons)
from oncobench.benchmark.tasks import Task, load_task, task_spec


def _cohort(n: int, seed: int, censor: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exponential times in days (median ~3 years) with a risk score correlated to them; uniform censoring."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    death = rng.exponential(1500.0 * np.exp(-0.7 * risk))
    if not censor:
        return death, np.ones(n, dtype=bool), risk
    cens = rng.uniform(200.0, 4000.0, size=n)
    return np.minimum(death, cens), death <= cens, risk


def _lifelines_sklearn_auc(time, event, risk, train_time, train_event, horizon: float) -> float:
    """Uno's / Hung-Chiang's estimator from independent pieces: lifelines' Kaplan-Meier of the training censoring
    gives each case the weight 1 / G(T_i); scikit-learn's weighted ROC AUC ranks the weighted cases against the
    (unit-weight) controls alive after the horizon."""
    km = KaplanMeierFitter().fit(train_time, event_observed=~train_event)  # the censoring distribution
    case = event & (time <= horizon)
    control = time > horizon
    keep = case | control
    g = km.survival_function_at_times(time[case]).to_numpy()
    weight = np.ones(len(time))
    weight[case] = 1.0 / g
    return float(roc_auc_score(case[keep], risk[keep], sample_weight=weight[keep]))


def test_clinical_horizons_in_the_endpoint_unit() -> None:
    assert clinical_horizons("days") == {"td_auc_1y": 365.25, "td_auc_3y": 1095.75, "td_auc_5y": 1826.25}
    assert clinical_horizons("months") == {"td_auc_1y": 12.0, "td_auc_3y": 36.0, "td_auc_5y": 60.0}
    assert clinical_horizons("years") == {"td_auc_1y": 1.0, "td_auc_3y": 3.0, "td_auc_5y": 5.0}
    assert clinical_horizons(None) == {} and clinical_horizons("fortnights") == {}


@pytest.mark.parametrize("horizon", [365.25, 1095.75, 1826.25])
def test_td_auc_at_matches_lifelines_weights_and_sklearn_auc(horizon: float) -> None:
    tr_t, tr_e, _ = _cohort(400, 0)
    te_t, te_e, te_r = _cohort(200, 1)
    value = td_auc_at(te_t, te_e, te_r, tr_t, tr_e, horizon)
    # continuous times: no ties, so lifelines' and sksurv's Kaplan-Meier conventions coincide
    assert value == pytest.approx(_lifelines_sklearn_auc(te_t, te_e, te_r, tr_t, tr_e, horizon), abs=1e-10)
    sk = cumulative_dynamic_auc(Surv.from_arrays(tr_e, tr_t), Surv.from_arrays(te_e, te_t), te_r, [horizon])[0][0]
    assert value == pytest.approx(sk, abs=1e-12)
    assert 0.6 < value < 0.9  # the risk carries real signal (hazard ratio e^0.7 per sd)


def test_td_auc_without_censoring_is_the_plain_auc_of_dead_by_the_horizon() -> None:
    tr_t, tr_e, _ = _cohort(300, 2, censor=False)
    te_t, te_e, te_r = _cohort(150, 3, censor=False)
    h = 1095.75
    dead = te_t <= h
    assert td_auc_at(te_t, te_e, te_r, tr_t, tr_e, h) == pytest.approx(roc_auc_score(dead, te_r), abs=1e-12)


def test_undefined_horizons_say_why() -> None:
    tr_t, tr_e, _ = _cohort(300, 4)
    te_t, te_e, te_r = _cohort(100, 5)
    with pytest.raises(ValueError, match=r"horizon 1e\+06 is not inside the training follow-up"):
        td_auc_at(te_t, te_e, te_r, tr_t, tr_e, 1e6)
    early = te_t.min() / 2
    with pytest.raises(ValueError, match="no test event by the horizon"):
        td_auc_at(te_t, te_e, te_r, tr_t, tr_e, early)
    short = np.minimum(te_t, 500.0)  # nobody followed beyond 500 days
    with pytest.raises(ValueError, match="no test patient followed beyond the horizon 600"):
        td_auc_at(short, te_e, te_r, tr_t, tr_e, 600.0)


def test_survival_metrics_add_horizons_and_keep_every_other_value(caplog: pytest.LogCaptureFixture) -> None:
    tr_t, tr_e, _ = _cohort(400, 6)
    te_t, te_e, te_r = _cohort(150, 7)
    te_t = np.minimum(te_t, 1500.0)  # the test follow-up ends before 5 years
    horizons = clinical_horizons("days")
    base = survival_metrics(te_t, te_e, te_r, tr_t, tr_e)
    with caplog.at_level(logging.INFO, logger="oncobench.benchmark.metrics.survival"):
        full = survival_metrics(te_t, te_e, te_r, tr_t, tr_e, horizons=horizons)
    assert list(full) == [*base, "td_auc_1y", "td_auc_3y"]  # 5 years is beyond every test patient
    assert {k: full[k] for k in base} == base
    assert full["td_auc_3y"] == pytest.approx(_lifelines_sklearn_auc(te_t, te_e, te_r, tr_t, tr_e, 1095.75), abs=1e-10)
    assert "td_auc_5y undefined: no test patient followed beyond the horizon 1826.25" in caplog.text
    assert td_auc_at_horizons(te_t, te_e, te_r, tr_t, tr_e, {}) == {}


def test_evaluator_reports_horizons_in_days_on_a_cdr_task() -> None:
    task = load_task("pfi-pancan", dataset="tcga-mini")
    assert survival_horizons(task) == clinical_horizons("days")
    split = task.get_split(0, 0)
    rng = np.random.default_rng(0)
    risk = rng.normal(size=len(split.test))
    result = task.evaluate(pl.DataFrame({ID: list(split.test), "risk": risk}), split=split)
    event, time = task.outcome(split.test)
    train_event, train_time = task.outcome(split.train)
    for name, h in clinical_horizons("days").items():
        defined = h < train_time.max() and (event & (time <= h)).any() and (time > h).any()
        assert (name in result.metrics) == defined
        if defined:
            sk = cumulative_dynamic_auc(Surv.from_arrays(train_event, train_time), Surv.from_arrays(event, time),
                                        risk, [h])[0][0]
            assert result.metrics[name] == pytest.approx(sk, abs=1e-12)
            # integer days tie deaths and censorings: sksurv's censoring curve counts a death before a censoring
            # at the same day, lifelines does not, so the two weightings differ in the 5th decimal here
            expected = _lifelines_sklearn_auc(time, event, risk, train_time, train_event, h)
            assert result.metrics[name] == pytest.approx(expected, abs=1e-4)
    assert "td_auc_1y" in result.metrics  # fold 0 of the embedded data has events in the first year


def test_porpoise_horizons_are_in_months(pancan) -> None:
    task = Task(task_spec("os-brca-porpoise"), pancan)
    assert task.endpoint["unit"] == "months"
    assert survival_horizons(task) == {"td_auc_1y": 12.0, "td_auc_3y": 36.0, "td_auc_5y": 60.0}
