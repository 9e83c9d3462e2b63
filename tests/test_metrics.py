"""Evaluator metrics: golden values against the reference libraries and hand counts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import concordance_index
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    adjusted_rand_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    normalized_mutual_info_score,
    roc_auc_score,
)
from sksurv.metrics import concordance_index_ipcw, cumulative_dynamic_auc, integrated_brier_score
from sksurv.util import Surv

from oncobench.benchmark.metrics import (
    classification_metrics,
    clustering_metrics,
    survival_metrics,
    translation_metrics,
)
from oncobench.benchmark.metrics.survival import evaluation_times, harrell_c, uno_c

CLS_KEYS = ["accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auroc", "log_loss"]


# ---------------------------------------------------------------- classification


def _random_cls(k: int, n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    classes = [f"c{j}" for j in range(k)]
    y = rng.choice(classes, n).tolist()
    proba = rng.dirichlet(np.ones(k), n)
    return y, proba, classes


@pytest.mark.parametrize("k", [2, 3])
def test_classification_matches_sklearn(k):
    y, proba, classes = _random_cls(k, seed=k)
    m = classification_metrics(y, proba, classes)
    assert list(m) == CLS_KEYS
    assert all(type(v) is float for v in m.values())
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, labels=classes, average="macro"), abs=1e-12)
    assert m["weighted_f1"] == pytest.approx(f1_score(y, pred, labels=classes, average="weighted"), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, proba, labels=classes), abs=1e-12)
    if k == 2:
        ref_auc = roc_auc_score(np.asarray(y) == classes[1], proba[:, 1])
    else:
        ref_auc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    assert m["auroc"] == pytest.approx(ref_auc, abs=1e-12)
    # permuting classes with their columns changes nothing (k=2: complementary columns)
    order = np.arange(k)[::-1]
    permuted = classification_metrics(y, proba[:, order], [classes[j] for j in order])
    assert permuted == pytest.approx(m, abs=1e-12)


def test_classification_hand_computed():
    # predictions a, b, a, b -> 2/4 right; per class P = R = F1 = 1/2.
    # AUROC (positive "b"): b-scores {0.4, 0.8} vs a-scores {0.1, 0.6}:
    # 0.4>0.1, 0.4<0.6, 0.8>0.1, 0.8>0.6 -> 3/4.
    y = ["a", "a", "b", "b"]
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]])
    m = classification_metrics(y, proba, ["a", "b"])
    assert m["accuracy"] == 0.5
    assert m["balanced_accuracy"] == 0.5
    assert m["macro_f1"] == pytest.approx(0.5)
    assert m["weighted_f1"] == pytest.approx(0.5)
    assert m["auroc"] == pytest.approx(0.75)
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + 2 * math.log(0.4) + math.log(0.8)) / 4)
    # unsorted classes: columns are read by position in `classes`, not sorted
    # order; "a" is then the positive class: a-scores {0.9, 0.4} vs b-scores
    # {0.6, 0.2} -> 3/4 again (complementary columns), but P(a) is the score read.
    swapped = classification_metrics(y, proba[:, ::-1], ["b", "a"])
    assert swapped["accuracy"] == 0.5
    assert swapped["log_loss"] == pytest.approx(m["log_loss"])
    assert swapped["auroc"] == pytest.approx(0.75)
    assert swapped["auroc"] == pytest.approx(roc_auc_score(np.array(y) == "a", proba[:, 0]))


def test_classification_argmax_tie_and_clipping():
    # tie between "a" and "b" -> first class "a"; p_true = 0 is clipped to 1e-15
    m = classification_metrics(["a", "c"], np.array([[0.4, 0.4, 0.2], [1.0, 0.0, 0.0]]), ["a", "b", "c"])
    assert m["accuracy"] == 0.5
    assert m["log_loss"] == pytest.approx(-(math.log(0.4) + math.log(1e-15)) / 2)


def test_classification_ovr_skips_absent_class():
    classes = ["a", "b", "c"]
    y = ["a", "a", "b", "b"]  # "c" absent from the test labels
    proba = np.array([[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.4, 0.3, 0.3], [0.1, 0.6, 0.3]])
    m = classification_metrics(y, proba, classes)
    # a vs rest: a-scores {0.7, 0.3} vs {0.4, 0.1} -> 3/4; b vs rest: {0.3, 0.6} vs {0.2, 0.5} -> 3/4
    assert m["auroc"] == pytest.approx(0.75)
    ya = np.array(y)
    expected = np.mean([roc_auc_score(ya == "a", proba[:, 0]), roc_auc_score(ya == "b", proba[:, 1])])
    assert m["auroc"] == pytest.approx(expected, abs=1e-12)
    # a single present class gives no defined one-vs-rest AUC
    assert math.isnan(classification_metrics(["b", "b"], proba[:2], classes)["auroc"])
    assert math.isnan(classification_metrics(["b", "b"], proba[:2, :2], ["a", "b"])["auroc"])


# ---------------------------------------------------------------- survival


def _surv_data(n: int, seed: int, cens_scale: float = 2.0, round_to: float | None = None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_event = rng.exponential(np.exp(-x))
    t_cens = rng.uniform(0, cens_scale, n)
    time = np.minimum(t_event, t_cens)
    event = t_event <= t_cens
    risk = x + rng.normal(scale=0.5, size=n)
    if round_to is not None:
        time = np.round(time / round_to) * round_to + round_to
        risk = np.round(risk)
    return time, event, risk


def test_harrell_matches_lifelines_with_ties():
    time, event, risk = _surv_data(150, seed=1, round_to=0.25)
    assert len(np.unique(time)) < 150 and len(np.unique(risk)) < 150  # ties in both
    assert harrell_c(time, event, risk) == pytest.approx(concordance_index(time, -risk, event), abs=1e-9)
    assert harrell_c(time, event.astype(int), risk) == harrell_c(time, event, risk)


def test_harrell_hand_computed():
    # comparable pairs (shorter time is an event):
    #   i=0 (t1, risk 5) vs t2,t3,t4,t5 (risks 3,4,1,1): 4 concordant
    #   i=1 censored: anchors nothing
    #   i=2 (t3, risk 4) vs t4,t5 (risks 1,1): 2 concordant
    #   i=3 (t4, risk 1) vs t5 (risk 1): tied risk -> 1/2
    # C = (4 + 2 + 0.5) / 7
    time = [1, 2, 3, 4, 5]
    event = [1, 0, 1, 1, 0]
    risk = [5, 3, 4, 1, 1]
    assert harrell_c(time, event, risk) == pytest.approx(6.5 / 7)


def test_uno_matches_sksurv_and_uses_train_censoring():
    tr_t, tr_e, _ = _surv_data(300, seed=2)
    te_t, te_e, te_r = _surv_data(120, seed=3)
    tau = float(np.quantile(te_t[te_e], 0.6))
    ref = concordance_index_ipcw(Surv.from_arrays(tr_e, tr_t), Surv.from_arrays(te_e, te_t), te_r, tau=tau)[0]
    assert uno_c(te_t, te_e, te_r, tr_t, tr_e, tau=tau) == pytest.approx(ref, abs=1e-12)
    # default tau is the last evaluation time
    grid = evaluation_times(tr_t, tr_e, te_t, te_e)
    ref_default = concordance_index_ipcw(
        Surv.from_arrays(tr_e, tr_t), Surv.from_arrays(te_e, te_t), te_r, tau=grid[-1]
    )[0]
    assert uno_c(te_t, te_e, te_r, tr_t, tr_e) == pytest.approx(ref_default, abs=1e-12)
    # other training censoring -> other weights -> other value
    tr_t2, tr_e2, _ = _surv_data(300, seed=2, cens_scale=0.7)
    assert abs(uno_c(te_t, te_e, te_r, tr_t2, tr_e2, tau=tau) - uno_c(te_t, te_e, te_r, tr_t, tr_e, tau=tau)) > 1e-4


def test_uno_default_tau_inside_training_follow_up():
    tr_t, tr_e, _ = _surv_data(200, seed=4)
    te_t, te_e, te_r = _surv_data(100, seed=5)
    te_t = te_t.copy()
    te_e = te_e.copy()
    te_t[:5] = tr_t.max() * np.array([1.5, 2.0, 2.5, 3.0, 3.5])  # events beyond the training follow-up
    te_e[:5] = True
    train, test = Surv.from_arrays(tr_e, tr_t), Surv.from_arrays(te_e, te_t)
    with pytest.raises(ValueError):  # the trap: sksurv without tau
        concordance_index_ipcw(train, test, te_r)
    c = uno_c(te_t, te_e, te_r, tr_t, tr_e)
    assert 0.5 < c < 1.0
    assert evaluation_times(tr_t, tr_e, te_t, te_e)[-1] < tr_t.max()
    m = survival_metrics(te_t, te_e, te_r, tr_t, tr_e)
    assert m["uno_c"] == c


def test_td_auc_and_ibs_match_sksurv():
    tr_t, tr_e, _ = _surv_data(300, seed=6)
    te_t, te_e, te_r = _surv_data(150, seed=7)
    times = evaluation_times(tr_t, tr_e, te_t, te_e, n=6)
    assert te_t.max() < tr_t.max()  # no clipping needed, direct sksurv calls are valid
    surv_prob = np.exp(-np.exp(te_r)[:, None] * times[None, :])
    train, test = Surv.from_arrays(tr_e, tr_t), Surv.from_arrays(te_e, te_t)
    m = survival_metrics(te_t, te_e, te_r, tr_t, tr_e, times=times, surv_prob=surv_prob)
    assert list(m) == ["harrell_c", "uno_c", "td_auc", "ibs"]
    assert all(type(v) is float for v in m.values())
    assert m["harrell_c"] == harrell_c(te_t, te_e, te_r)
    assert m["uno_c"] == pytest.approx(concordance_index_ipcw(train, test, te_r, tau=times[-1])[0], abs=1e-12)
    assert m["td_auc"] == pytest.approx(cumulative_dynamic_auc(train, test, te_r, times)[1], abs=1e-12)
    assert m["ibs"] == pytest.approx(integrated_brier_score(train, test, surv_prob, times), abs=1e-12)
    # default grid, no surv_prob -> no "ibs"
    assert list(survival_metrics(te_t, te_e, te_r, tr_t, tr_e)) == ["harrell_c", "uno_c", "td_auc"]


def test_late_test_samples_do_not_change_td_auc_or_ibs():
    # Train ends on a censoring, so sksurv accepts CENSORED test times beyond
    # it; late EVENTS raise in sksurv. Both are controls at every grid time, so
    # ours with late events must equal sksurv's with the same samples censored.
    tr_t, tr_e, _ = _surv_data(300, seed=8)
    tr_t, tr_e = np.r_[tr_t, tr_t.max() + 0.5], np.r_[tr_e, False]
    te_t, te_e, te_r = _surv_data(150, seed=9)
    te_t = te_t.copy()
    te_t[:6] = tr_t.max() + np.arange(1, 7)
    late_events, late_censored = te_e.copy(), te_e.copy()
    late_events[:6], late_censored[:6] = True, False
    times = evaluation_times(tr_t, tr_e, te_t, late_events, n=4)
    surv_prob = np.exp(-np.exp(te_r)[:, None] * times[None, :])
    train = Surv.from_arrays(tr_e, tr_t)
    with pytest.raises(ValueError):
        cumulative_dynamic_auc(train, Surv.from_arrays(late_events, te_t), te_r, times)
    ref_test = Surv.from_arrays(late_censored, te_t)
    m = survival_metrics(te_t, late_events, te_r, tr_t, tr_e, times=times, surv_prob=surv_prob)
    assert m["td_auc"] == pytest.approx(cumulative_dynamic_auc(train, ref_test, te_r, times)[1], abs=1e-12)
    assert m["ibs"] == pytest.approx(integrated_brier_score(train, ref_test, surv_prob, times), abs=1e-12)


def test_all_censored_raises():
    time, risk = [1.0, 2.0, 3.0], [0.1, 0.2, 0.3]
    event = [0, 0, 0]
    with pytest.raises(ValueError, match="all test samples are censored: C-index undefined"):
        harrell_c(time, event, risk)
    with pytest.raises(ValueError, match="all test samples are censored: C-index undefined"):
        uno_c(time, event, risk, [1.0, 5.0], [1, 0])
    with pytest.raises(ValueError, match="all test samples are censored: C-index undefined"):
        survival_metrics(time, event, risk, [1.0, 5.0], [1, 0])


def test_survival_bad_grid_raises():
    tr_t, tr_e, _ = _surv_data(100, seed=10)
    te_t, te_e, te_r = _surv_data(60, seed=11)
    t = evaluation_times(tr_t, tr_e, te_t, te_e)
    with pytest.raises(ValueError, match="strictly increasing"):
        survival_metrics(te_t, te_e, te_r, tr_t, tr_e, times=t[::-1])
    with pytest.raises(ValueError, match="training follow-up"):
        survival_metrics(te_t, te_e, te_r, np.minimum(tr_t, t[-1]), tr_e, times=t)
    with pytest.raises(ValueError, match="without the times"):
        survival_metrics(te_t, te_e, te_r, tr_t, tr_e, surv_prob=np.ones((60, len(t))))
    with pytest.raises(ValueError, match="surv_prob has shape"):
        survival_metrics(te_t, te_e, te_r, tr_t, tr_e, times=t, surv_prob=np.ones((60, len(t) - 1)))
    one = survival_metrics(te_t, te_e, te_r, tr_t, tr_e, times=t[:1], surv_prob=np.ones((60, 1)))
    assert math.isnan(one["ibs"])  # a one-time grid has no integral


def test_evaluation_times_invariants():
    tr_t, tr_e, _ = _surv_data(200, seed=12)
    te_t, te_e, _ = _surv_data(100, seed=13)
    for n in (1, 5, 10):
        g = evaluation_times(tr_t, tr_e, te_t, te_e, n=n)
        assert 1 <= len(g) <= n
        assert np.all(np.diff(g) > 0)
        assert g.min() >= te_t.min() and g.max() < te_t.max() and g.max() < tr_t.max()
        ev = te_t[te_e]
        assert g.min() >= np.percentile(ev, 10) - 1e-12 and g.max() <= np.percentile(ev, 80) + 1e-12
    np.testing.assert_allclose(evaluation_times(tr_t, tr_e, te_t, te_e), np.percentile(te_t[te_e], [10, 27.5, 45, 62.5, 80]))
    # a short training follow-up drops the late quantiles
    cut = np.percentile(te_t[te_e], 50)
    short = evaluation_times(np.minimum(tr_t, cut), tr_e, te_t, te_e)
    assert len(short) < 5 and short.max() < cut
    with pytest.raises(ValueError, match="inside both follow-ups"):
        evaluation_times(np.minimum(tr_t, te_t.min() / 2), tr_e, te_t, te_e)


# ---------------------------------------------------------------- clustering


def test_clustering_matches_sklearn_and_lifelines():
    rng = np.random.default_rng(14)
    labels = rng.choice(["LumA", "LumB", "Basal"], 150).tolist()
    clusters = rng.integers(0, 4, 150)
    time = rng.exponential(1.0 + clusters)  # survival differs by cluster
    event = rng.random(150) < 0.7
    m = clustering_metrics(labels, clusters.tolist(), time=time, event=event)
    assert list(m) == ["nmi", "ari", "logrank_p"]
    assert all(type(v) is float for v in m.values())
    assert m["nmi"] == pytest.approx(normalized_mutual_info_score(labels, clusters), abs=1e-12)
    assert m["ari"] == pytest.approx(adjusted_rand_score(labels, clusters), abs=1e-12)
    ref = multivariate_logrank_test(time, clusters, event).p_value
    assert m["logrank_p"] == pytest.approx(ref, abs=1e-6, rel=1e-6)
    assert m["logrank_p"] < 0.05
    assert list(clustering_metrics(labels, clusters.tolist())) == ["nmi", "ari"]


def test_clustering_perfect_and_single_cluster():
    labels = ["x", "x", "y", "y", "z", "z"]
    m = clustering_metrics(labels, [2, 2, 0, 0, 1, 1])  # relabelled, still perfect
    assert m == {"nmi": 1.0, "ari": 1.0}
    one = clustering_metrics(labels, [0] * 6, time=[1, 2, 3, 4, 5, 6], event=[1, 0, 1, 1, 0, 1])
    assert math.isnan(one["logrank_p"])
    no_events = clustering_metrics(labels, [0, 0, 1, 1, 2, 2], time=[1, 2, 3, 4, 5, 6], event=[0] * 6)
    assert math.isnan(no_events["logrank_p"]) and no_events["ari"] == 1.0
    with pytest.raises(ValueError, match="both time and event"):
        clustering_metrics(labels, [0] * 6, time=[1, 2, 3, 4, 5, 6])


# ---------------------------------------------------------------- translation


def test_translation_matches_scipy_and_excludes_constant():
    rng = np.random.default_rng(15)
    y_true = rng.normal(size=(40, 6)).astype(np.float32)
    y_pred = (y_true + rng.normal(scale=0.7, size=(40, 6))).astype(np.float32)
    y_pred[:, 1] = np.round(y_pred[:, 1])  # ties for Spearman
    y_true[:, 4] = 0.1  # constant in truth
    y_pred[:, 5] = 2.5  # constant in prediction
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary, per = translation_metrics(y_true, y_pred, features=[f"g{j}" for j in range(6)])
    assert list(summary) == ["pearson_mean", "spearman_mean", "mse_mean", "pearson_median", "n_features_defined"]
    assert all(type(v) is float for v in summary.values())
    assert list(per) == ["pearson", "spearman", "mse"]
    a, b = y_true.astype(np.float64), y_pred.astype(np.float64)
    for j in range(4):
        assert per["pearson"][j] == pytest.approx(stats.pearsonr(a[:, j], b[:, j])[0], abs=1e-6)
        assert per["spearman"][j] == pytest.approx(stats.spearmanr(a[:, j], b[:, j])[0], abs=1e-6)
    assert np.isnan(per["pearson"][4:]).all() and np.isnan(per["spearman"][4:]).all()
    assert summary["n_features_defined"] == 4.0
    assert summary["pearson_mean"] == pytest.approx(per["pearson"][:4].mean())
    assert summary["spearman_mean"] == pytest.approx(per["spearman"][:4].mean())
    assert summary["pearson_median"] == pytest.approx(np.median(per["pearson"][:4]))
    np.testing.assert_allclose(per["mse"], ((a - b) ** 2).mean(axis=0))
    assert summary["mse_mean"] == pytest.approx(per["mse"].mean())  # MSE of constant features still counts


def test_translation_hand_values():
    y_true = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    y_pred = np.array([[2.0, 1.0], [4.0, 2.0], [9.0, 3.0]])
    summary, per = translation_metrics(y_true, y_pred)
    # feature 0: errors 1, 2, 6 -> (1 + 4 + 36) / 3; feature 1: errors 1, 2, 3 -> 14 / 3
    np.testing.assert_allclose(per["mse"], [41 / 3, 14 / 3])
    assert per["spearman"][0] == pytest.approx(1.0)  # monotone, not linear
    assert per["pearson"][0] == pytest.approx(stats.pearsonr([1, 2, 3], [2, 4, 9])[0])
    assert np.isnan(per["pearson"][1])
    assert summary["mse_mean"] == pytest.approx(55 / 6)
    assert summary["n_features_defined"] == 1.0
    all_const, _ = translation_metrics(np.zeros((3, 2)), y_pred)
    assert math.isnan(all_const["pearson_mean"]) and all_const["n_features_defined"] == 0.0
