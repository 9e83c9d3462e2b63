"""Federated training of a deep fusion network (mlp-early) with Flower's FedAvg and FedProx, on the embedded tcga-mini.

Four Flower simulations (Ray starts once per simulation, ~10-13 s each): one with one client, three with the
hospitals of pancan-type: FedAvg seed 0, FedProx mu=0 seed 0 (the repeated run: it must reproduce the first
bit for bit, which needs both determinism and FedProx(0) = FedAvg) and FedAvg seed 1 through the CLI.
Expected values come from the definitions:

- one client, full batch, one local epoch per round, plain SGD: Flower's FedAvg weighs the only reply by
  n/n = 1.0 (float32 x 1.0 is exact) and the client draws the seeds the centralised fit draws at the same
  epoch, so every round is the centralised step itself, on the same floats in the same order: the weights
  are equal with tolerance 0 (no summation is reordered; a tolerance would only hide a real difference);
- FedProx with mu = 0 adds 0 * ||w - w_global||^2 (an exact zero, gradient included) to the FedAvg loss, and
  Flower's FedProx aggregates as FedAvg does: bit-identical weights;
- FedProx's local step by hand: w2 = w1 - lr * (grad L(w1) + mu * (w1 - w0)), grad L(w1) taken from a plain
  SGD step from w1;
- bytes: 8 per float64 value (moments and preprocessing), 4 per float32 weight, counted here from the shapes.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import polars as pl
import pytest
import torch

from oncobench.baselines import federated_models as fm
from oncobench.baselines.deep.estimator import DeepFusion
from oncobench.baselines.deep.federated import DeepProblem, DeepSettings
from oncobench.benchmark.federated import (
    FederatedConfig,
    FederatedConfigError,
    federated_summary,
    log_federated,
    make_clients,
    prepare,
    run_federated,
)
from oncobench.benchmark.tasks import load_task

# the CLI's network (mlp-early's widths) on 4 features per modality, mini-batches of 16, SGD with momentum
DEEP = FederatedConfig(model="mlp-early", rounds=3, top_k=4, min_patients=5, batch_size=16)
CLI = ["federated", "--task", "pancan-type", "--dataset", "tcga-mini", "--model", "mlp-early", "--rounds", "3",
       "--top-k", "4", "--min-patients", "5", "--batch-size", "16"]


@pytest.fixture(scope="module")
def classification_task():
    return load_task("pancan-type", dataset="tcga-mini")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def runs(classification_task, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    """Seed 0 FedAvg (library, logged), seed 0 FedProx mu=0 (library), seed 1 FedAvg (CLI, logged)."""
    from oncobench.cli import main

    home = tmp_path_factory.mktemp("federated-deep-home")
    monkeypatch_module.setenv("ONCOBENCH_HOME", str(home))
    first = run_federated(classification_task, DEEP)
    log_federated(first, home)
    prox0 = run_federated(classification_task, replace(DEEP, strategy="fedprox", proximal_mu=0.0))
    assert main(CLI + ["--seed", "1"]) == 0
    return {"first": first, "prox0": prox0, "seed1": federated_summary("pancan-type", "mlp-early", home), "home": home}


def _equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_one_client_fedavg_is_the_centralised_sgd_step_for_step() -> None:
    task = load_task("pfi-pancan", dataset="tcga-mini")  # survival: Cox head, full batch by construction
    cfg = FederatedConfig(model="mlp-early", rounds=3, top_k=4, min_patients=5, hidden=8, embed=4, batch_size=0,
                          momentum=0.0, local_epochs=1, lr=0.1)
    problem, split, _ = prepare(task, cfg)
    clients = make_clients(task, problem, {"all": split.train})
    _, central = problem.fit_centralised(clients)
    start = problem.initial_arrays(fm.preprocessing(fm.moments(clients[0].raw), problem.widths, cfg.top_k))
    assert not _equal(central, start)  # three steps moved the weights
    fed = fm.fit_federated(problem, clients)
    assert _equal(fed.params, central)  # tolerance 0: see the module docstring
    # bytes: moments round 3 float64 vectors of D back; every round the weights both ways and keep/mean/sd (k
    # each, float64) + blocks (2M, int64) out
    D, k, M = sum(problem.widths), len(fed.prep.keep), len(problem.widths)
    W = sum(v.size for v in central.values())
    assert fed.bytes == 8 * 3 * D + cfg.rounds * (4 * W + 8 * (3 * k + 2 * M) + 4 * W)
    assert fed.rounds == cfg.rounds + 1


def test_fedprox_local_step_adds_the_proximal_gradient_by_hand(classification_task) -> None:
    problem, split, _ = prepare(classification_task, DEEP)
    (client,) = make_clients(classification_task, problem, {"all": split.train})
    prep = fm.preprocessing(fm.moments(client.raw), problem.widths, DEEP.top_k)
    net = DeepFusion("early", kind="classification", hidden=8, embed=4, dropout=0.0, modality_dropout=0.0)
    settings = DeepSettings("fedprox", 1, DEEP.top_k, 2, 0, lr=0.1, momentum=0.0)
    two = DeepProblem(settings, net, problem.classes, problem.modalities, problem.widths)
    one = DeepProblem(replace(settings, local_epochs=1), net, problem.classes, problem.modalities, problem.widths)
    w0 = two.initial_arrays(prep)
    mu = 3.0
    config = {"server-round": 1}
    w1 = one.local_update(prep, client.raw, client.target, w0, config, 0)  # the proximal term is 0 at w0
    assert _equal(one.local_update(prep, client.raw, client.target, w0, config | {"proximal-mu": mu}, 0), w1)
    plain = one.local_update(prep, client.raw, client.target, w1, config, 0)  # w1 - lr * grad L(w1)
    w2 = two.local_update(prep, client.raw, client.target, w0, config | {"proximal-mu": mu}, 0)
    # full batch in a different row order per epoch: float32 sums reorder, ~1e-7 relative on O(1) gradients
    for key in w0:
        np.testing.assert_allclose(w2[key], plain[key] - 0.1 * mu * (w1[key] - w0[key]), atol=1e-6)
    assert not _equal(w2, two.local_update(prep, client.raw, client.target, w0, config, 0))


def test_several_clients_are_deterministic_for_a_seed_and_fedprox_mu0_is_fedavg(runs) -> None:
    first, prox0 = runs["first"], runs["prox0"]
    assert len(first.clients) >= 3
    assert _equal(prox0.federated_params, first.federated_params)  # the same seed again: identical weights
    assert _equal(prox0.centralised_params, first.centralised_params)
    assert not _equal(first.federated_params, first.centralised_params)  # several clients: FedAvg is not exact
    np.testing.assert_array_equal(prox0.rows.drop("seconds").to_numpy(), first.rows.drop("seconds").to_numpy())


def test_another_seed_gives_other_weights_and_scores(runs) -> None:
    seed1 = runs["seed1"]
    assert seed1 is not None
    ours = runs["first"].rows.to_pandas()
    # every federated and centralised score moves: the predictions, hence the weights, differ
    for setting in ("federated", "centralised"):
        a = ours[(ours.setting == setting) & (ours.client == "all")].set_index("metric")["value"]
        b = seed1[(seed1.setting == setting) & (seed1.client == "all")].set_index("metric")["value"]
        assert list(a.index) == list(b.index) and not np.array_equal(a.to_numpy(), b.to_numpy())
    # the rest of the rows (who was scored on what) is the same
    np.testing.assert_array_equal(seed1[["setting", "client", "n_train", "n_test", "metric", "rounds", "bytes"]].to_numpy(),
                                  ours[["setting", "client", "n_train", "n_test", "metric", "rounds", "bytes"]].to_numpy())


def test_rows_bytes_and_the_cli_run(runs, classification_task) -> None:
    first = runs["first"]
    problem, split, clients = prepare(classification_task, DEEP)
    assert set(first.rows["setting"].to_list()) == {"centralised", "federated", "local"}
    local = first.rows.filter(pl.col("setting") == "local")
    assert set(local["n_test"].to_list()) == {len(split.test)}
    assert {r["client"]: r["n_train"] for r in local.iter_rows(named=True)} == {c.name: len(c.ids) for c in clients}
    C, D, M = len(clients), sum(problem.widths), len(problem.widths)
    raw = np.vstack([c.raw for c in clients])
    var = np.nanvar(raw, axis=0)
    bounds = np.cumsum([0, *problem.widths])
    k = int(sum(min(DEEP.top_k, int((var[a:b] > 1e-12).sum())) for a, b in pairwise(bounds)))
    W = sum(v.size for v in first.federated_params.values())
    expected = 8 * C * 3 * D + DEEP.rounds * C * (4 * W + 8 * (3 * k + 2 * M) + 4 * W)
    fed = first.rows.filter(pl.col("setting") == "federated")
    assert set(fed["bytes"].to_list()) == {expected} and set(fed["rounds"].to_list()) == {DEEP.rounds + 1}
    from oncobench.benchmark.federated import federated_runs

    cli_run, lib_run = federated_runs(runs["home"], "pancan-type", "mlp-early")  # newest first
    assert cli_run.data.tags["strategy"] == "fedavg" and cli_run.data.params["seed"] == "1"
    assert lib_run.data.params["seed"] == "0"
    assert cli_run.data.params["batch_size"] == "16" and cli_run.data.params["lr"] == "0.05"
    overall = first.rows.filter((pl.col("client") == "all") & (pl.col("setting") == "federated"))
    assert lib_run.data.metrics["federated_macro_f1"] == pytest.approx(
        overall.filter(pl.col("metric") == "macro_f1")["value"][0])


def test_bad_deep_requests_name_the_problem() -> None:
    with pytest.raises(FederatedConfigError, match="model 'mlp-early' is a neural network: strategy 'fedavg' or 'fedprox'"):
        FederatedConfig(model="mlp-early", strategy="newton")
    assert FederatedConfig(model="mlp-early").strategy == "fedavg" and FederatedConfig().strategy == "newton"
    assert FederatedConfig(model="mlp-early").lr == 0.05 and FederatedConfig().lr == 0.5
    with pytest.raises(ValueError, match="Cox head"):
        DeepProblem(DeepSettings(), DeepFusion("early", kind="survival", survival_head="discrete"), (), ("rna",), [3])
    assert torch.get_num_threads() >= 1
