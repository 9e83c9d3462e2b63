"""Clustering in MLOmics's protocol: metrics against hand computations and lifelines; the per-cohort tasks.

Expected values: NMI, ARI and silhouette written out from their definitions on tiny examples; the log-rank p
from lifelines' ``multivariate_logrank_test`` and from a hand-coded two-group log-rank statistic with scipy's
chi-square tail; task sizes from the store's clinical table.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from lifelines.statistics import multivariate_logrank_test
from scipy.stats import chi2

from oncobench.benchmark.catalog_clustering import COHORTS_11, MLOMICS_OMICS
from oncobench.benchmark.evaluator import clustering_space
from oncobench.benchmark.job import Job, run_job
from oncobench.benchmark.metrics import clustering_metrics
from oncobench.benchmark.tasks import Task, task_spec

TIME = np.array([5.0, 8.0, 12.0, 3.0, 9.0, 14.0, 2.0, 6.0, 7.0, 11.0])
EVENT = np.array([1, 0, 1, 1, 1, 0, 1, 1, 0, 1], dtype=bool)
GROUP = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])


def _two_group_logrank_p(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> float:
    """Mantel's log-rank test by hand: sum of O - E and of the hypergeometric variance over event times."""
    o_minus_e = var = 0.0
    for t in np.unique(time[event]):
        at_risk = time >= t
        n, n1 = at_risk.sum(), (at_risk & (group == 1)).sum()
        d = (event & (time == t)).sum()
        d1 = (event & (time == t) & (group == 1)).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return float(chi2.sf(o_minus_e**2 / var, df=1))


def test_logrank_p_matches_lifelines_and_a_hand_computation() -> None:
    got = clustering_metrics(None, GROUP, time=TIME, event=EVENT)["logrank_p"]
    assert got == pytest.approx(multivariate_logrank_test(TIME, GROUP, EVENT).p_value, rel=1e-9)
    two = GROUP.clip(max=1)
    got2 = clustering_metrics(None, two, time=TIME, event=EVENT)["logrank_p"]
    assert got2 == pytest.approx(_two_group_logrank_p(TIME, EVENT, two), rel=1e-9)


def test_nmi_ari_on_a_hand_example() -> None:
    labels, clusters = ["a", "a", "a", "b", "b", "b"], [0, 0, 1, 1, 1, 1]
    # contingency (a,0)=2 (a,1)=1 (b,1)=3 of n=6; label marginals 1/2, 1/2; cluster marginals 1/3, 2/3
    mi = 2 / 6 * math.log((2 / 6) / (1 / 2 * 1 / 3)) + 1 / 6 * math.log((1 / 6) / (1 / 2 * 2 / 3)) \
        + 3 / 6 * math.log((3 / 6) / (1 / 2 * 2 / 3))
    h_labels = math.log(2)
    h_clusters = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    # Hubert & Arabie: pairs within cells 1 + 0 + 3 = 4; rows C(3,2) * 2 = 6; columns C(2,2) + C(4,2) = 7; C(6,2) = 15
    ari = (4 - 6 * 7 / 15) / ((6 + 7) / 2 - 6 * 7 / 15)
    got = clustering_metrics(labels, clusters)
    assert got == pytest.approx({"nmi": mi / ((h_labels + h_clusters) / 2), "ari": ari}, rel=1e-12)
    assert list(got) == ["nmi", "ari"]


def test_silhouette_on_a_hand_example() -> None:
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    # a(i) = 1 for every point; b = 10.5, 9.5, 9.5, 10.5; s = 1 - a/b
    expected = np.mean([1 - 1 / 10.5, 1 - 1 / 9.5, 1 - 1 / 9.5, 1 - 1 / 10.5])
    assert clustering_metrics(None, [0, 0, 1, 1], X=X) == {"silhouette": pytest.approx(expected, rel=1e-12)}
    assert math.isnan(clustering_metrics(None, [0, 0, 0, 0], X=X)["silhouette"])  # one cluster: undefined
    assert math.isnan(clustering_metrics(None, [0, 1, 2, 3], X=X)["silhouette"])  # n clusters: undefined


def test_cluster_tasks_cover_every_11_cohort_and_leave_the_10_tasks_pinned() -> None:
    names = {f"cluster-{c}" for c in COHORTS_11} | {"subtype-clustering-acc"}
    specs = {n: task_spec(n) for n in names}
    assert "acc" in COHORTS_11 and len(COHORTS_11) == 15
    assert all(s.dataset == "tcga-pancan@1.1" and s.kind == "clustering" for s in specs.values())
    assert {n: s.target for n, s in specs.items() if s.target} == {
        "cluster-brca": "pam50", "cluster-acc": "acc_coc", "subtype-clustering-acc": "acc_coc"}
    assert all(s.n_clusters == 3 for n, s in specs.items() if not s.target)
    assert task_spec("subtype-clustering").dataset == task_spec("oncotree-clustering").dataset == "tcga-pancan@1.0"
    assert task_spec("subtype-clustering").n_clusters is None and task_spec("subtype-clustering").input_pool == ()


@pytest.mark.realdata
def test_cluster_acc_scores_against_the_tcga_subtypes_and_survival(pancan11) -> None:
    task = Task(task_spec("cluster-acc"), pancan11)
    clin = pancan11.clinical.filter((pl.col("cohort") == "acc") & pl.col("acc_coc").is_not_null())
    assert len(task.patients) == clin.height == 76 and task.n_clusters == 3
    assert set(task.inputs) <= set(MLOMICS_OMICS) and "clinical" not in task.inputs
    split = task.get_split(0, 0)
    codes = {c: i for i, c in enumerate(task.classes)}
    labels = dict(zip(clin["patient_id"].to_list(), clin["acc_coc"].to_list()))
    perfect = {"patient_id": list(split.test), "cluster": [codes[labels[p]] * 7 + 1 for p in split.test]}
    result = task.evaluate(perfect, split=split)
    assert result.metrics["nmi"] == pytest.approx(1.0) and result.metrics["ari"] == pytest.approx(1.0)
    os_ = clin.filter(pl.col("patient_id").is_in(list(split.test)) & pl.col("os_time").is_not_null()).sort("patient_id")
    groups = [codes[labels[p]] for p in os_["patient_id"].to_list()]
    expected = multivariate_logrank_test(os_["os_time"].to_numpy(), groups, os_["os"].to_numpy().astype(bool)).p_value
    assert result.metrics["logrank_p"] == pytest.approx(expected, rel=1e-9)
    assert -1 <= result.metrics["silhouette"] <= 1


@pytest.mark.realdata
def test_silhouette_space_is_fitted_on_training_patients_only(pancan11) -> None:
    task = Task(task_spec("cluster-kirc"), pancan11)
    split = task.get_split(0, 0)
    test = list(split.test)
    whole = clustering_space(task, split, test)
    # a patient's point does not depend on which other patients are scored with it
    np.testing.assert_array_equal(clustering_space(task, split, test[:5]), whole[:5])
    np.testing.assert_array_equal(clustering_space(task, split, test[::-1])[::-1], whole)


@pytest.mark.realdata
def test_kmeans_on_a_cohort_without_reference_labels(pancan11) -> None:
    task = Task(task_spec("cluster-kirc"), pancan11)
    assert task.check() == [] and task.classes == ()
    out = run_job(task, Job("cluster-kirc", "kmeans", 0, 0, 0))
    assert set(out.test.metrics) == {"silhouette", "logrank_p"}
    assert out.predictions["cluster"].n_unique() <= 3
    assert all(math.isfinite(v) for v in out.test.metrics.values())
