"""MOGONET and the multimodal VAE: graph construction, inductive prediction, scores on tcga-mini, determinism,
and the product-of-experts latent with absent modalities.

The models register themselves when their modules are imported (imported here, so these tests do not depend on
the registry's built-in list).
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

import oncobench.baselines.deep.mogonet  # noqa: F401  (registers "mogonet")
import oncobench.baselines.deep.vae  # noqa: F401  (registers "multimodal-vae")
from oncobench.baselines.deep.mogonet import (MOGONET, adaptive_threshold, cosine_similarity, inference_adjacency,
                                              normalize_adjacency, similarity_graph)
from oncobench.baselines.deep.vae import MultimodalVAE, joint_posterior
from oncobench.baselines.registry import build_model, get_model
from oncobench.benchmark.job import Job, JobOutput, run_job
from oncobench.benchmark.tasks import Task, load_task


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny networks: one intra-op thread. On a busy shared runner two OpenMP threads spin-wait on every small op
    (a tcga-mini fit went from ~1 s to ~25 s); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _matrices(task: Task, ids: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {m: b.values for m, b in task.features(ids).items()}


@pytest.fixture(scope="module")
def pancan_type() -> Task:
    return load_task("pancan-type", dataset="tcga-mini")


@pytest.fixture(scope="module")
def pancan_data(pancan_type: Task) -> dict[str, object]:
    s = pancan_type.get_split(0, 0)
    return {"X": _matrices(pancan_type, s.train), "y": pancan_type.target(s.train),
            "Xv": _matrices(pancan_type, s.valid), "yv": pancan_type.target(s.valid),
            "Xt": _matrices(pancan_type, s.test), "yt": pancan_type.target(s.test)}


# ---- registration ------------------------------------------------------------------------------------------


def test_models_registered_with_metadata() -> None:
    mogo, vae = get_model("mogonet"), get_model("multimodal-vae")
    assert mogo.kinds == ("classification", "binary") and mogo.missing == "impute"
    assert vae.kinds == ("classification", "binary", "survival", "clustering", "translation") and vae.missing == "mask"
    mogo_model = build_model("mogonet", "binary", 3)
    assert isinstance(mogo_model, MOGONET) and (mogo_model.kind, mogo_model.random_state) == ("binary", 3)
    model = build_model("multimodal-vae", "clustering", 4, n_clusters=5)
    assert isinstance(model, MultimodalVAE)
    assert (model.kind, model.random_state, model.n_clusters) == ("clustering", 4, 5)


# ---- MOGONET graphs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [3, 10])
def test_adaptive_threshold_keeps_edges_per_node_on_average(k: int) -> None:
    rng = np.random.default_rng(0)
    z = torch.as_tensor(rng.standard_normal((200, 30)), dtype=torch.float32)
    sim = cosine_similarity(z, z)
    threshold = adaptive_threshold(sim, k)
    a = similarity_graph(z, threshold)
    assert torch.equal(a, a.T) and torch.all(torch.diagonal(a) == 0)
    entries_per_node = ((a > 0).sum() + len(z)).item() / len(z)  # counting the self-loop, as the paper's k
    assert abs(entries_per_node - k) <= 1.0
    kept = a[a > 0]
    assert torch.all(kept >= threshold) and torch.allclose(kept, sim[a > 0])  # weights are the similarities


def test_patient_with_zero_profile_has_no_neighbours() -> None:
    z = torch.as_tensor(np.random.default_rng(1).standard_normal((50, 8)), dtype=torch.float32)
    z[7] = 0.0  # an absent view: the training mean, 0 after scaling
    a = similarity_graph(z, adaptive_threshold(cosine_similarity(z, z), 10))
    assert a[7].abs().sum() == 0 and a[:, 7].abs().sum() == 0
    assert normalize_adjacency(a)[7, 7] == pytest.approx(1.0)  # only its self-loop


def test_normalised_adjacency_is_symmetric_with_self_loops() -> None:
    rng = np.random.default_rng(2)
    z = torch.as_tensor(rng.standard_normal((60, 12)), dtype=torch.float64)
    a = similarity_graph(z, adaptive_threshold(cosine_similarity(z, z), 10))
    norm = normalize_adjacency(a)
    assert torch.allclose(norm, norm.T) and torch.all(torch.diagonal(norm) > 0)
    a_hat = a.numpy() + np.eye(60)
    d = 1 / np.sqrt(a_hat.sum(1))
    assert np.allclose(norm.numpy(), d[:, None] * a_hat * d[None, :])
    eig = np.linalg.eigvalsh(norm.numpy())
    assert eig.max() == pytest.approx(1.0, abs=1e-9) and eig.min() >= -1.0 - 1e-9


def test_inference_graphs() -> None:
    rng = np.random.default_rng(3)
    z_train = torch.as_tensor(rng.standard_normal((40, 6)), dtype=torch.float64)
    z_new = torch.as_tensor(rng.standard_normal((5, 6)), dtype=torch.float64)
    t = adaptive_threshold(cosine_similarity(z_train, z_train), 10)
    a_train = similarity_graph(z_train, t)
    paper = inference_adjacency(z_train, z_new, t, "paper")
    # the authors' test graph: training <-> new edges only (with the training threshold), self-loops, symmetric
    assert torch.allclose(paper, paper.T) and torch.all(torch.diagonal(paper) > 0)
    off = paper - torch.diag(torch.diagonal(paper))
    assert off[:40, :40].abs().sum() == 0 and off[40:, 40:].abs().sum() == 0 and off[40:, :40].abs().sum() > 0
    only = inference_adjacency(z_train, z_new, t, "train-only", a_train)
    # training rows: the training graph; new patients receive messages, never send them
    assert torch.allclose(only[:40, :40], normalize_adjacency(a_train)) and only[:40, 40:].abs().sum() == 0
    assert torch.count_nonzero(only[40:, 40:] - torch.diag(torch.diagonal(only[40:, 40:]))) == 0
    with pytest.raises(ValueError, match="test_graph 'both'"):
        inference_adjacency(z_train, z_new, t, "both")


# ---- MOGONET on tcga-mini ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mogonet_runs(pancan_type: Task) -> tuple[JobOutput, JobOutput]:
    job = Job(pancan_type.name, "mogonet", 0, 0, 0)
    return run_job(pancan_type, job), run_job(pancan_type, job)


def test_mogonet_scores_and_is_deterministic(mogonet_runs: tuple[JobOutput, JobOutput]) -> None:
    first, second = mogonet_runs
    assert first.test.metrics["macro_f1"] > 0.6
    assert first.test.predictions_sha256 == second.test.predictions_sha256
    assert first.extra["n_params"] > 0 and first.extra["epochs_run"] > 0


def test_mogonet_never_takes_labels_at_prediction() -> None:
    assert list(inspect.signature(MOGONET.predict).parameters) == ["self", "X"]
    assert list(inspect.signature(MOGONET.predict_proba).parameters) == ["self", "X"]
    assert list(inspect.signature(MOGONET.fit).parameters) == ["self", "X", "y", "X_valid", "y_valid"]


@pytest.fixture(scope="module")
def mogonet_fitted(pancan_data: dict) -> MOGONET:
    d = pancan_data
    return MOGONET(random_state=0).fit(d["X"], d["y"], d["Xv"], d["yv"])


def test_mogonet_fit_depends_only_on_training_data(mogonet_fitted: MOGONET, pancan_data: dict) -> None:
    """Predictions are a function of the training data (features, labels; the validation fold for early stopping)
    and the new patients' features: the fitted state never sees a test row, and test labels are no input."""
    d = pancan_data
    again = MOGONET(random_state=0).fit(d["X"], d["y"], d["Xv"], d["yv"])
    for a, b in zip(mogonet_fitted.views_.state_dict().values(), again.views_.state_dict().values()):
        assert torch.equal(a, b)
    assert mogonet_fitted.thresholds_ == again.thresholds_
    assert mogonet_fitted.n_params_ > 0 and 0 < mogonet_fitted.train_seconds_ <= mogonet_fitted.fit_seconds_
    pre = mogonet_fitted.pretrain_epochs
    assert pre < mogonet_fitted.epochs_run_ <= pre + mogonet_fitted.epochs
    p = mogonet_fitted.predict_proba(d["Xt"])
    assert np.array_equal(p, again.predict_proba(d["Xt"]))
    moved = {m: v * -3.0 + 7.0 for m, v in d["Xt"].items()}
    assert not np.allclose(p, again.predict_proba(moved))  # ... and the test features do reach the prediction
    assert np.allclose(p.sum(1), 1.0) and list(mogonet_fitted.classes_) == sorted(set(d["y"]))


def test_mogonet_paper_graph_is_transductive_over_the_new_patients(mogonet_fitted: MOGONET, pancan_data: dict) -> None:
    """With the authors' test graph a new patient's prediction depends on the patients predicted with it (through
    shared training neighbours), but not on their order."""
    Xt = pancan_data["Xt"]
    together = mogonet_fitted.predict_proba(Xt)
    order = np.random.default_rng(0).permutation(len(together))
    shuffled = mogonet_fitted.predict_proba({m: v[order] for m, v in Xt.items()})
    assert np.allclose(shuffled, together[order], atol=1e-5)
    alone = np.vstack([mogonet_fitted.predict_proba({m: v[i:i + 1] for m, v in Xt.items()}) for i in range(5)])
    assert not np.allclose(alone, together[:5], atol=1e-4)


def test_mogonet_train_only_graph_predicts_each_patient_on_its_own(pancan_data: dict) -> None:
    d = pancan_data
    model = MOGONET(test_graph="train-only", random_state=0).fit(d["X"], d["y"], d["Xv"], d["yv"])
    together = model.predict_proba(d["Xt"])
    alone = np.vstack([model.predict_proba({m: v[i:i + 1] for m, v in d["Xt"].items()}) for i in range(len(together))])
    assert np.allclose(alone, together, atol=1e-5)
    assert np.mean(model.classes_[together.argmax(1)] == d["yt"]) > 0.6


def test_mogonet_patient_without_a_view_gets_its_training_mean(mogonet_fitted: MOGONET, pancan_data: dict) -> None:
    Xt = {m: v.copy() for m, v in pancan_data["Xt"].items()}
    Xt["mirna"][:4] = np.nan
    views = mogonet_fitted._views(Xt)
    i = mogonet_fitted.modalities_.index("mirna")
    assert torch.all(views[i][:4] == 0) and torch.any(views[i][4:] != 0)
    p = mogonet_fitted.predict_proba(Xt)
    assert np.isfinite(p).all() and np.allclose(p.sum(1), 1.0)
    per_view = mogonet_fitted.view_proba(Xt)
    assert set(per_view) == set(mogonet_fitted.modalities_) and per_view["mirna"].shape == p.shape


# ---- multimodal VAE ----------------------------------------------------------------------------------------


def test_poe_ignores_an_absent_expert() -> None:
    g = torch.Generator().manual_seed(0)
    mus = [torch.randn(6, 4, generator=g) for _ in range(3)]
    logvars = [torch.randn(6, 4, generator=g) for _ in range(3)]
    mask = torch.tensor([[1, 0, 1]] * 3 + [[0, 0, 0]] + [[1, 1, 1]] * 2, dtype=torch.float32)
    for how in ("poe", "mean"):
        mu, logvar = joint_posterior(mus, logvars, mask, how)
        changed = [mus[0], torch.full((6, 4), float("nan")), mus[2]]
        changed[1][4:] = mus[1][4:]  # the patients who have modality 1 keep their values
        mu2, logvar2 = joint_posterior(changed, [logvars[0], logvars[1] * 5 + 3, logvars[2]], mask.clone(), how)
        assert torch.equal(mu[:4], mu2[:4]) and torch.equal(logvar[:4], logvar2[:4])
        assert torch.all(mu[3] == 0) and torch.all(logvar[3] == 0)  # no modality: the prior N(0, I)
    mu, logvar = joint_posterior(mus, logvars, mask, "poe")
    precision = 1 + torch.exp(-logvars[0][0]) + torch.exp(-logvars[2][0])  # prior expert + the present experts
    expected = (mus[0][0] * torch.exp(-logvars[0][0]) + mus[2][0] * torch.exp(-logvars[2][0])) / precision
    assert torch.allclose(mu[0], expected) and torch.allclose(logvar[0], -torch.log(precision))


@pytest.fixture(scope="module")
def vae_fitted(pancan_data: dict) -> MultimodalVAE:
    d = pancan_data
    X = {m: v.copy() for m, v in d["X"].items()}
    X["mirna"][:10] = np.nan  # ten training patients without miRNA
    return MultimodalVAE(random_state=0).fit(X, d["y"], d["Xv"], d["yv"])


def test_vae_latent_ignores_values_of_an_absent_modality(vae_fitted: MultimodalVAE, pancan_data: dict) -> None:
    Xt = {m: v.copy() for m, v in pancan_data["Xt"].items()}
    Xt["pathology"][:6] = np.nan
    xs, mask = vae_fitted._tensors(Xt)
    j = vae_fitted.modalities_.index("pathology")
    assert torch.all(mask[:6, j] == 0) and torch.all(mask[6:, j] == 1)
    with torch.no_grad():
        mu, logvar = vae_fitted.net_.encode(xs, mask)
        noisy = [x.clone() for x in xs]
        noisy[j][:6] = torch.randn(6, xs[j].shape[1], generator=torch.Generator().manual_seed(1)) * 10
        mu2, logvar2 = vae_fitted.net_.encode(noisy, mask)
    assert torch.equal(mu[:6], mu2[:6]) and torch.equal(logvar[:6], logvar2[:6])
    assert torch.equal(mu[6:], mu2[6:])  # the present rows were not changed either
    latent = vae_fitted.transform(Xt)
    assert latent.shape == (len(mask), vae_fitted.latent) and np.isfinite(latent).all()
    # the same patients with pathology present get another latent: the modality is used when measured
    assert not np.allclose(latent[:6], vae_fitted.transform(pancan_data["Xt"])[:6])
    proba = vae_fitted.predict_proba(Xt)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(1), 1.0)


def test_vae_attributes(vae_fitted: MultimodalVAE) -> None:
    assert vae_fitted.n_params_ > 0 and 0 < vae_fitted.epochs_run_ <= vae_fitted.epochs
    assert 0 < vae_fitted.train_seconds_ <= vae_fitted.fit_seconds_
    assert vae_fitted.modalities_ == ("mirna", "pathology", "clinical")


@pytest.fixture(scope="module")
def vae_pancan_runs(pancan_type: Task) -> tuple[JobOutput, JobOutput]:
    job = Job(pancan_type.name, "multimodal-vae", 0, 0, 0)
    return run_job(pancan_type, job), run_job(pancan_type, job)


def test_vae_pancan_type_scores_and_is_deterministic(vae_pancan_runs: tuple[JobOutput, JobOutput]) -> None:
    first, second = vae_pancan_runs
    assert first.test.metrics["macro_f1"] > 0.6
    assert first.test.predictions_sha256 == second.test.predictions_sha256


def test_vae_pfi_pancan_survival() -> None:
    task = load_task("pfi-pancan", dataset="tcga-mini")
    out = run_job(task, Job(task.name, "multimodal-vae", 0, 0, 0))
    assert out.test.metrics["harrell_c"] > 0.55
    assert "ibs" in out.test.metrics and 0.0 <= out.test.metrics["ibs"] <= 1.0


def test_vae_oncotree_clustering() -> None:
    task = load_task("oncotree-clustering", dataset="tcga-mini")
    job = Job(task.name, "multimodal-vae", 0, 0, 0)
    out = run_job(task, job)
    assert out.test.metrics["nmi"] > 0.2
    assert out.predictions["cluster"].n_unique() > 1
    assert run_job(task, job).test.predictions_sha256 == out.test.predictions_sha256


def test_vae_rna_from_pathology_translation() -> None:
    task = load_task("rna-from-pathology", dataset="tcga-mini")
    out = run_job(task, Job(task.name, "multimodal-vae", 0, 0, 0))
    assert math.isfinite(out.test.metrics["pearson_mean"])
    assert out.predictions.width == 1 + len(task.target_features)
