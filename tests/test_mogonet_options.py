"""MOGONET's options that follow the authors' code: row-normalised graphs, class-share weights, unscaled inputs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="MOGONET needs the deep extra (PyTorch)")

from oncobench.baselines.deep.mogonet import (MOGONET, adaptive_threshold, cosine_similarity,  # noqa: E402
                                              inference_adjacency, normalize_adjacency, similarity_graph)


def _graph(seed: int, n: int = 40) -> tuple[torch.Tensor, torch.Tensor, float]:
    z = torch.as_tensor(np.random.default_rng(seed).uniform(size=(n, 6)), dtype=torch.float64)
    t = adaptive_threshold(cosine_similarity(z, z), 2)
    return z, similarity_graph(z, t), t


def test_row_normalisation_is_the_authors_d_inverse_a_plus_i() -> None:
    _, a, _ = _graph(0)
    row = normalize_adjacency(a, "row")
    a_hat = a.numpy() + np.eye(len(a))
    assert np.allclose(row.numpy(), a_hat / a_hat.sum(1, keepdims=True))  # by hand: D^-1 (A + I)
    assert torch.allclose(row.sum(1), torch.ones(len(a), dtype=row.dtype))
    with pytest.raises(ValueError, match="adjacency normalisation 'column'; expected one of"):
        normalize_adjacency(a, "column")


def test_row_normalised_inference_graphs() -> None:
    z_train, a_train, t = _graph(1)
    z_new = torch.as_tensor(np.random.default_rng(2).uniform(size=(5, 6)), dtype=torch.float64)
    paper = inference_adjacency(z_train, z_new, t, "paper", norm="row")
    assert torch.allclose(paper.sum(1), torch.ones(45, dtype=paper.dtype))
    off = paper - torch.diag(torch.diagonal(paper))
    assert off[:40, :40].abs().sum() == 0 and off[40:, :40].abs().sum() > 0  # the authors' test graph: cross edges
    only = inference_adjacency(z_train, z_new, t, "train-only", a_train, norm="row")
    assert torch.allclose(only.sum(1), torch.ones(45, dtype=only.dtype))
    assert torch.allclose(only[:40, :40], normalize_adjacency(a_train, "row")) and only[:40, 40:].abs().sum() == 0


def _toy(n0: int, n1: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([0] * n0 + [1] * n1)
    X = {m: rng.uniform(size=(n0 + n1, 5)) + 0.5 * y[:, None] for m in ("a", "b")}
    return X, y


COMMON = dict(kind="binary", edges_per_node=2, hidden=(8, 8, 4), width_scale=1.0, pretrain_epochs=3, epochs=3,
              top_k=None, device="cpu", random_state=0)


def _params(model: MOGONET) -> np.ndarray:
    parts = [p.detach().numpy().ravel() for p in model.views_.parameters()]
    return np.concatenate(parts + [p.detach().numpy().ravel() for p in model.vcdn_.parameters()])


def test_unscaled_inputs_are_used_as_given() -> None:
    X, y = _toy(20, 20)
    raw = MOGONET(scale=False, **COMMON).fit(X, y)
    assert np.allclose(raw.train_views_[0].numpy(), X["a"].astype(np.float32))  # as the authors' code does
    scaled = MOGONET(**COMMON).fit(X, y)
    assert np.allclose(scaled.train_views_[0].numpy().mean(0), 0.0, atol=1e-6)  # the project's default


def test_class_share_weights() -> None:
    # balanced classes: every weight is 1/2, a constant factor Adam's steps do not see -> the same fit
    X, y = _toy(20, 20)
    plain, weighted = MOGONET(**COMMON).fit(X, y), MOGONET(class_weight="frequency", **COMMON).fit(X, y)
    assert np.allclose(_params(plain), _params(weighted), atol=1e-5)
    # 30 / 10: the majority class's patients weigh 3x the minority's -> a different fit
    X, y = _toy(30, 10)
    plain, weighted = MOGONET(**COMMON).fit(X, y), MOGONET(class_weight="frequency", **COMMON).fit(X, y)
    assert not np.allclose(_params(plain), _params(weighted), atol=1e-4)
    with pytest.raises(ValueError, match="class_weight 'balanced'; expected None or 'frequency'"):
        MOGONET(class_weight="balanced", **COMMON).fit(X, y)
    with pytest.raises(ValueError, match="adjacency_norm 'col'; expected one of"):
        MOGONET(adjacency_norm="col", **COMMON).fit(X, y)
