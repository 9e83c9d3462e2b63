"""A deep fusion network trained by FedAvg or FedProx (through :func:`federated_models.fit_federated`) and its
centralised and local-only twins.

The network, its loss and its prediction surface are :class:`DeepFusion`'s (the registered ``mlp-early``:
encoders + early fusion + head). Preprocessing is the linear models' pooled one, because only sums aggregate:
the top-k columns per modality by pooled variance of the measured values, standardised with the pooled mean and
sd, an unmeasured value set to that mean (a median would not aggregate); it is expressed as per-modality
:class:`ModalityPreprocessor` objects so that the shared tensor preparation (``deep/tensors.py``) and
``DeepFusion.predict`` read it unchanged.

Local training: ``local_epochs`` epochs of SGD (``lr``, ``momentum``, ``weight_decay``; mini-batches of
``batch_size``, full batch for the Cox head, whose partial likelihood needs whole risk sets: a client's risk sets
are its own hospital's, as in the stratified linear Cox), with the estimator's dropout and modality dropout.
FedProx adds ``mu/2 * ||w - w_global||^2`` to the local loss, ``mu`` read from the ``proximal-mu`` entry that
Flower's FedProx strategy puts in the round's config. A client starts every round with a fresh optimiser
(FedAvg's client update); the centralised fit keeps one optimiser over its ``rounds * local_epochs`` epochs.

Randomness: the initial weights come from ``torch.manual_seed(seed)`` (server and centralised alike); at the start
of round r client k seeds torch's global generator (dropout) and its batch/modality-dropout generator with
``crc32(seed/r/k)``. The centralised fit re-seeds the same way at the same epoch boundaries as client 0, so a
one-client federation draws the very same dropout masks and batch orders as the centralised fit: with plain SGD
the two are then the same computation. Training runs on the CPU with one torch thread (deterministic).

References
----------
McMahan B et al. Communication-efficient learning of deep networks from decentralized data (FedAvg). AISTATS 2017.
Li T et al. Federated optimization in heterogeneous networks (FedProx). MLSys 2020.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import clone
from torch import nn

from oncobench.baselines import federated_models as fm
from oncobench.baselines.deep.estimator import DeepFusion
from oncobench.baselines.deep.tensors import modality_tensors
from oncobench.baselines.preprocess import ModalityPreprocessor

CPU = torch.device("cpu")
PREFIX = "net."  # state_dict keys travel as "net.<key>", apart from the preprocessing arrays


def round_seed(seed: int, server_round: int, client: int) -> int:
    """The seed of client ``client`` in round ``server_round`` (crc32: stable across processes, unlike hash())."""
    return zlib.crc32(f"{seed}/{server_round}/{client}".encode())


@contextmanager
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class DeepSettings:
    """How the network is trained (centrally, locally or through Flower)."""

    strategy: str = "fedavg"  # fedavg | fedprox
    rounds: int = 20
    top_k: int = 16
    local_epochs: int = 1
    batch_size: int = 64  # <= 0: full batch
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    proximal_mu: float = 0.1  # fedprox: sent to the clients by Flower's FedProx strategy
    seed: int = 0


class DeepProblem:
    """A :class:`DeepFusion` network on some modalities, for a classification (``classes``) or Cox survival task."""

    def __init__(self, settings: DeepSettings, estimator: DeepFusion, classes: tuple[str, ...],
                 modalities: tuple[str, ...], widths: Sequence[int]) -> None:
        if estimator.kind == "survival" and estimator.survival_head != "cox":
            raise ValueError("federated deep survival models use the Cox head (the discrete-time head's cut points "
                             "would come from every patient's event times)")
        self.cfg, self.classes, self.modalities, self.widths = settings, tuple(classes), tuple(modalities), list(widths)
        self.estimator = clone(estimator)
        self.estimator.set_params(device="cpu", random_state=settings.seed)
        if self.classes:
            self.estimator.classes_ = np.asarray(self.classes)  # sets the head's width (_outputs)

    # ---- preprocessing and network -------------------------------------------------------------------------
    def torch_prep(self, prep: fm.Preprocessing) -> tuple[tuple[str, ...], dict[str, ModalityPreprocessor]]:
        """The pooled preprocessing per modality; a modality with no kept column is left out (as in DeepFusion)."""
        mods, out = [], {}
        for m, (a, b) in zip(self.modalities, prep.blocks):
            inside = (prep.keep >= a) & (prep.keep < b)
            if not inside.any():
                continue
            p = ModalityPreprocessor(top_k=self.cfg.top_k)
            p.modalities_ = (m,)
            p.keep_ = {m: prep.keep[inside] - a}
            p.median_ = {m: prep.mean[inside]}  # mean imputation: an unmeasured value standardises to 0
            p.mean_ = {m: prep.mean[inside]}
            p.scale_ = {m: prep.sd[inside]}
            mods.append(m)
            out[m] = p
        if not mods:
            raise ValueError("no feature of any modality varies across the training patients")
        return tuple(mods), out

    def _net(self, prep: fm.Preprocessing) -> nn.Module:
        mods, tp = self.torch_prep(prep)
        return self.estimator._build([len(tp[m].keep_[m]) for m in mods]).to(CPU)

    def _inputs(self, prep: fm.Preprocessing, raw: np.ndarray, target: Any
                ) -> tuple[list[torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
        mods, tp = self.torch_prep(prep)
        X, start = {}, 0
        for m, w in zip(self.modalities, self.widths):
            X[m] = raw[:, start:start + w]
            start += w
        xs, mask = modality_tensors(tp, mods, X, CPU)
        if self.classes:  # one-hot (n, K) in self.classes order -> class codes; no class: -100, no loss
            codes = np.where(np.asarray(target).sum(axis=1) > 0, np.argmax(target, axis=1), -100)
            targets = {"y": torch.as_tensor(codes, dtype=torch.long)}
        else:
            targets = {"time": torch.as_tensor(target[0], dtype=torch.float32),
                       "event": torch.as_tensor(target[1], dtype=torch.float32)}
        return xs, mask, targets

    @staticmethod
    def _arrays(net: nn.Module) -> dict[str, np.ndarray]:
        return {PREFIX + k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}

    @staticmethod
    def _load(net: nn.Module, arrays: Mapping[str, np.ndarray]) -> nn.Module:
        net.load_state_dict({k[len(PREFIX):]: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()
                             if k.startswith(PREFIX)})
        return net

    def initial_arrays(self, prep: fm.Preprocessing) -> dict[str, np.ndarray]:
        """The global network's initial weights: ``torch.manual_seed(seed)`` then the estimator's network."""
        torch.manual_seed(self.cfg.seed)
        return self._arrays(self._net(prep))

    # ---- training ------------------------------------------------------------------------------------------
    def _optimiser(self, net: nn.Module) -> torch.optim.Optimizer:
        c = self.cfg
        return torch.optim.SGD(net.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

    def _epochs(self, net: nn.Module, opt: torch.optim.Optimizer, xs: list[torch.Tensor], mask: torch.Tensor,
                targets: dict[str, torch.Tensor], seed: int, proximal_mu: float | None) -> None:
        """``local_epochs`` epochs from the current weights, seeded by ``seed``; FedProx when ``proximal_mu`` is set."""
        est = self.estimator
        torch.manual_seed(seed)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        anchor = [p.detach().clone() for p in net.parameters()] if proximal_mu is not None else None
        n = len(mask)
        full = self.cfg.batch_size <= 0 or est.kind == "survival"  # Cox: whole risk sets
        batch = n if full else self.cfg.batch_size
        net.train()
        for _ in range(self.cfg.local_epochs):
            order = torch.randperm(n, generator=gen)
            for s in range(0, n, batch):
                idx = order[s:s + batch]
                if len(idx) < 2:
                    continue
                bmask = mask[idx]
                if est.modality_dropout > 0 and mask.shape[1] > 1:  # as DeepFusion.fit
                    drop = torch.rand(bmask.shape, generator=gen) < est.modality_dropout
                    kept = bmask * (~drop)
                    bmask = torch.where(kept.sum(1, keepdim=True) > 0, kept, bmask)
                out, _ = net([x[idx] for x in xs], bmask)
                loss = est._loss(out, targets, idx)
                if anchor is not None:
                    loss = loss + proximal_mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(net.parameters(), anchor))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        net.eval()

    def local_config(self) -> dict[str, Any]:
        return {"phase": "local"}

    def local_update(self, prep: fm.Preprocessing, raw: np.ndarray, target: Any, arrays: Mapping[str, np.ndarray],
                     config: Mapping[str, Any], client: int) -> dict[str, np.ndarray]:
        """One client's round: the global weights, ``local_epochs`` epochs of SGD on its patients, the new weights."""
        with _one_thread():
            net = self._load(self._net(prep), arrays)
            xs, mask, targets = self._inputs(prep, raw, target)
            mu = float(config["proximal-mu"]) if "proximal-mu" in config else None
            self._epochs(net, self._optimiser(net), xs, mask, targets,
                         round_seed(self.cfg.seed, int(config["server-round"]), client), mu)
            return self._arrays(net)

    def params_from(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in arrays.items() if k.startswith(PREFIX)}

    def fit_centralised(self, clients: Sequence[fm.Client]) -> tuple[DeepFusion, dict[str, np.ndarray]]:
        """The same network trained on the pooled patients of ``clients``: ``rounds * local_epochs`` epochs, one optimiser."""
        raw = np.vstack([c.raw for c in clients])
        if self.classes:
            target: Any = np.vstack([c.target for c in clients])
        else:
            target = (np.concatenate([c.target[0] for c in clients]), np.concatenate([c.target[1] for c in clients]))
        prep = fm.preprocessing(fm.moments(raw), self.widths, self.cfg.top_k)
        with _one_thread():
            net = self._load(self._net(prep), self.initial_arrays(prep))
            xs, mask, targets = self._inputs(prep, raw, target)
            opt = self._optimiser(net)
            for r in range(1, self.cfg.rounds + 1):  # re-seeded where client 0 of a federation is
                self._epochs(net, opt, xs, mask, targets, round_seed(self.cfg.seed, r, 0), None)
            params = self._arrays(net)
        return self.fitted(prep, params), params

    def fitted(self, prep: fm.Preprocessing, params: Mapping[str, np.ndarray]) -> DeepFusion:
        """A fitted :class:`DeepFusion` (``predict``, ``predict_proba``) holding the pooled preprocessing and ``params``."""
        est = clone(self.estimator)
        est.device_ = CPU
        est.modalities_, est.prep_ = self.torch_prep(prep)
        if self.classes:
            est.classes_ = np.asarray(self.classes)
        est.net_ = self._load(est._build([len(est.prep_[m].keep_[m]) for m in est.modalities_]).to(CPU), params)
        est.net_.eval()
        est.n_params_ = int(sum(p.numel() for p in est.net_.parameters()))
        est.modalities = self.modalities  # the matrices the benchmark hands to predict (all the task's inputs)
        return est
