"""Federated training across hospitals (Flower simulation on Ray) on the embedded tcga-mini.

Three Flower simulations in all (Ray starts once per simulation): the module-scoped multi-client run, the same
run again through the CLI, and one one-client run. Expected values come from the maths or a second library:

- one client: Flower's FedAvg weighs the only reply by n/n = 1.0, so the federated fit performs the very same
  floating-point operations as the centralised one: the parameters are identical (tolerance 0);
- several clients: each client sends per-patient means, FedAvg's n-weighted mean is the pooled mean, so only the
  summation order differs from the centralised fit: parameters agree to 1e-9 (relative, a few hundred ulps
  through a handful of well-conditioned Newton steps), and two runs are identical (replies summed in client order);
- the Newton fits converge to scikit-survival's Cox (Breslow ties, alpha = N * l2) and scikit-learn's multinomial
  logistic regression (C = 1 / (N * l2)) on the same design matrix;
- bytes: 8 bytes per value of every array sent and received, counted here from the shapes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from oncobench.baselines import federated_models as fm
from oncobench.benchmark.federated import (
    FederatedConfig,
    FederatedConfigError,
    federated_summary,
    federated_track,
    hospital_clients,
    log_federated,
    make_clients,
    prepare,
    run_federated,
)
from oncobench.benchmark.tasks import load_task

COX = FederatedConfig(model="cox", rounds=4, top_k=4, min_patients=5)
CLI = ["federated", "--task", "pfi-pancan", "--dataset", "tcga-mini", "--rounds", "4", "--top-k", "4", "--min-patients", "5"]


@pytest.fixture(scope="module")
def survival_task():
    return load_task("pfi-pancan", dataset="tcga-mini")


@pytest.fixture(scope="module")
def classification_task():
    return load_task("pancan-type", dataset="tcga-mini")


@pytest.fixture(scope="module")
def fed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("federated-home")


@pytest.fixture(scope="module")
def two_runs(survival_task, fed_home: Path, monkeypatch_module):
    """The same multi-client Cox run twice: once through the library (logged), once through the CLI."""
    from oncobench.cli import main

    monkeypatch_module.setenv("ONCOBENCH_HOME", str(fed_home))
    first = run_federated(survival_task, COX)
    log_federated(first, fed_home)
    assert main(CLI) == 0
    return first, federated_summary("pfi-pancan", "cox", fed_home)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_hospital_clients_honour_the_minimum() -> None:
    hospitals = {f"a{i}": "A" for i in range(5)} | {f"b{i}": "B" for i in range(3)} | {"c0": "C", "c1": "C", "d0": "D"}
    hospitals["x0"] = None
    ids = sorted(hospitals)
    pooled = hospital_clients(hospitals, ids, 3)
    assert list(pooled) == ["A", "B", "other"]  # largest first, "other" last
    assert pooled["other"] == ("c0", "c1", "d0", "x0")  # C (2), D (1) and the patient without a hospital
    assert list(hospital_clients(hospitals, ids, 3, small="drop")) == ["A", "B"]
    assert hospital_clients(hospitals, ids, 5) == {"A": tuple(f"a{i}" for i in range(5)),
                                                   "other": ("b0", "b1", "b2", "c0", "c1", "d0", "x0")}
    assert hospital_clients(hospitals, ids, 8) == {"other": tuple(ids)}  # every hospital is small: one pooled client
    assert hospital_clients(hospitals, ids, 13) == {}  # even the 12 pooled patients are below 13: dropped


def test_clients_are_the_store_hospitals_of_the_training_patients(survival_task) -> None:
    _problem, split, clients = prepare(survival_task, COX)
    counts = (survival_task.dataset.clinical.filter(pl.col("patient_id").is_in(list(split.train)))
              .group_by("hospital").len())
    big = {r["hospital"]: r["len"] for r in counts.iter_rows(named=True) if r["len"] >= COX.min_patients}
    sizes = {c.name: len(c.ids) for c in clients}
    assert {k: v for k, v in sizes.items() if k != "other"} == big
    assert sizes["other"] == len(split.train) - sum(big.values())
    assert all(n >= COX.min_patients for n in sizes.values())
    assert not set().union(*(set(c.ids) for c in clients)) & set(split.test)


def test_pooled_preprocessing_is_the_training_mean_and_sd(survival_task) -> None:
    problem, _split, clients = prepare(survival_task, COX)
    raw = np.vstack([c.raw for c in clients])
    prep = fm.preprocessing(fm.moments(raw), problem.widths, COX.top_k)
    np.testing.assert_allclose(prep.mean, np.nanmean(raw[:, prep.keep], axis=0), rtol=1e-10)
    np.testing.assert_allclose(prep.sd, np.nanstd(raw[:, prep.keep], axis=0), rtol=1e-8)
    start = 0
    for width in problem.widths:  # the kept columns of each modality are its top-k by variance
        var = np.nanvar(raw[:, start:start + width], axis=0)
        kept = prep.keep[(prep.keep >= start) & (prep.keep < start + width)] - start
        assert len(kept) == min(COX.top_k, int((var > 1e-12).sum()))
        assert var[kept].min() >= np.sort(var)[::-1][len(kept) - 1] - 1e-12
        start += width


def test_newton_cox_matches_scikit_survival(survival_task) -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    cfg = FederatedConfig(model="cox", rounds=25, top_k=4, min_patients=5)
    problem, split, _ = prepare(survival_task, cfg)
    (client,) = make_clients(survival_task, problem, {"all": split.train})
    model, beta = fm.fit_centralised(problem, [client])
    Z = model.prep.design(client.raw, intercept=False)
    varying = Z.std(axis=0) > 0  # presence flags are constant on these complete cases: coefficient 0 either way
    time, event = client.target
    ref = CoxPHSurvivalAnalysis(alpha=len(Z) * cfg.l2, ties="breslow", tol=1e-12, n_iter=200)
    ref.fit(Z[:, varying], Surv.from_arrays(event=event.astype(bool), time=time))
    np.testing.assert_allclose(beta[varying], ref.coef_, atol=1e-7)
    assert np.all(beta[~varying] == 0)


def test_newton_softmax_matches_scikit_learn(classification_task) -> None:
    from sklearn.linear_model import LogisticRegression

    cfg = FederatedConfig(model="logistic", rounds=25, top_k=4, min_patients=5)
    problem, split, _ = prepare(classification_task, cfg)
    (client,) = make_clients(classification_task, problem, {"all": split.train})
    model, _ = fm.fit_centralised(problem, [client])
    Z = model.prep.design(client.raw, intercept=False)
    labels = np.asarray(classification_task.labels(split.train)).astype(str)
    ref = LogisticRegression(C=1 / (len(Z) * cfg.l2), tol=1e-12, max_iter=100_000).fit(Z, labels)
    assert list(ref.classes_) == list(problem.classes)
    X = {m: b.values for m, b in classification_task.features(split.test, problem.modalities).items()}
    test_Z = model.prep.design(fm.raw_matrix(X, problem.modalities), intercept=False)
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(test_Z), atol=1e-5)


def test_local_gradient_steps_follow_fedavg_and_fedprox_by_hand() -> None:
    A = np.array([[2.0, 0.0], [0.0, 4.0]])  # gradient of 1/2 w'Aw - b'w
    b = np.array([1.0, 1.0])
    w0 = np.array([1.0, -1.0])
    penalised = np.array([True, False])

    def gradient(w: np.ndarray) -> np.ndarray:
        return A @ w - b

    # one step: w0 - lr * (A w0 - b + l2 * [w0_0, 0]) = [1, -1] - 0.1 * ([1, -5] + [0.5, 0])
    np.testing.assert_allclose(fm.local_gradient_steps(w0, gradient, 1, 0.1, 0.5, penalised), [0.85, -0.5])
    # FedProx's second step adds mu * (w1 - w0) = 2 * [-0.15, 0.5] to the gradient at w1 = [0.85, -0.5]:
    # [0.7 + 0.425 - 0.3, -3 + 1] = [0.825, -2]; w2 = w1 - 0.1 * that
    np.testing.assert_allclose(fm.local_gradient_steps(w0, gradient, 2, 0.1, 0.5, penalised, proximal_mu=2.0),
                               [0.85 - 0.0825, -0.5 + 0.2])


def test_one_client_federated_equals_centralised_and_counts_its_bytes(classification_task) -> None:
    cfg = FederatedConfig(model="logistic", rounds=3, top_k=4, min_patients=5)
    problem, split, _ = prepare(classification_task, cfg)
    clients = make_clients(classification_task, problem, {"all": split.train})
    _, central = fm.fit_centralised(problem, clients)
    fed = fm.fit_federated(problem, clients)
    assert np.array_equal(fed.params, central)  # tolerance 0: see the module docstring
    D, k, M, K = sum(problem.widths), len(fed.prep.keep), len(problem.widths), len(problem.classes)
    P = (k + M + 1) * K
    # moments round: 3 vectors of D back; each training round: params + keep, mean, sd (k each) + blocks (2M)
    # out, gradient (P) + Hessian (P^2) back
    assert fed.bytes == 8 * (3 * D + cfg.rounds * ((P + 3 * k + 2 * M) + (P + P * P)))
    assert fed.rounds == cfg.rounds + 1


def test_several_clients_are_deterministic_and_equal_centralised(two_runs) -> None:
    first, again = two_runs
    assert len(first.clients) >= 3
    np.testing.assert_allclose(first.federated_params, first.centralised_params, rtol=1e-9, atol=1e-12)
    rows = first.rows.to_pandas().drop(columns="seconds")
    assert again is not None
    np.testing.assert_array_equal(again.drop(columns="seconds").to_numpy(), rows.to_numpy())  # bit-identical rerun
    wide = first.rows.filter(pl.col("client") == "all").pivot(on="setting", index="metric", values="value")
    np.testing.assert_allclose(wide["federated"].to_numpy(), wide["centralised"].to_numpy(), rtol=1e-9)


def test_rows_bytes_and_leaderboard_track(two_runs, survival_task, fed_home: Path) -> None:
    first, _ = two_runs
    problem, split, clients = prepare(survival_task, COX)
    C, D, M = len(clients), sum(problem.widths), len(problem.widths)
    k = int(sum(min(COX.top_k, w) for w in problem.widths))  # every modality here has > top_k varying features
    P = k + M
    expected = 8 * (C * 3 * D + COX.rounds * C * ((P + 3 * k + 2 * M) + (P + P * P)))
    fed = first.rows.filter(pl.col("setting") == "federated")
    assert set(fed["bytes"].to_list()) == {expected} and set(fed["rounds"].to_list()) == {COX.rounds + 1}
    assert set(first.rows["setting"].to_list()) == {"centralised", "federated", "local"}
    local = first.rows.filter(pl.col("setting") == "local")
    assert set(local["n_test"].to_list()) == {len(split.test)}  # each hospital alone, on the same test patients
    assert {r["client"]: r["n_train"] for r in local.iter_rows(named=True)} == {c.name: len(c.ids) for c in clients}
    assert federated_summary("pfi-pancan", "logistic", fed_home) is None
    import flwr

    from oncobench.benchmark.federated import federated_runs

    assert federated_runs(fed_home)[0].data.tags["version.flwr"] == flwr.__version__
    (entry,) = federated_track(fed_home)
    assert entry["task"] == "pfi-pancan" and entry["clients"] == C and entry["bytes"] == expected
    uno = first.rows.filter((pl.col("client") == "all") & (pl.col("metric") == "uno_c"))
    assert entry["federated"] == pytest.approx(uno.filter(pl.col("setting") == "federated")["value"][0])

    from fastapi.testclient import TestClient

    from oncobench.leaderboard.api import create_app

    with TestClient(create_app(fed_home)) as client:
        assert client.get("/api/federated").json() == [entry]
        page = client.get("/").text
    assert "Federated track" in page and "pfi-pancan" in page and f"{expected:,}" in page


def test_bad_requests_name_the_problem(survival_task) -> None:
    with pytest.raises(FederatedConfigError, match="unknown strategy 'fedsgd'"):
        FederatedConfig(strategy="fedsgd")
    with pytest.raises(FederatedConfigError, match="model 'logistic' fits classification/binary tasks; task pfi-pancan is survival"):
        prepare(survival_task, FederatedConfig(model="logistic"))
    with pytest.raises(FederatedConfigError, match="no hospital has 500 training patients"):
        prepare(survival_task, FederatedConfig(model="cox", min_patients=500))
