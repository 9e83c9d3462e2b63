"""The maths of the federated linear models: pooled moments, ridge softmax and site-stratified Cox by Newton.

Every quantity a client sends is a per-patient mean over its own patients (moments, gradient, Hessian), so
Flower's FedAvg weighted by the number of patients ``n_k`` returns exactly the pooled mean over all clients:
``sum_k (n_k / N) * (S_k / n_k) = S / N``. The server's Newton step on those pooled derivatives is the
centralised Newton step, so the federated fit equals the centralised one up to floating-point summation order
(and bit for bit with one client). Two choices make this exact:

- preprocessing uses only what sums: mean imputation and standardisation with the pooled mean and sd of the
  measured values, and a Top-k by pooled variance per modality (a median would not aggregate);
- the Cox model is stratified by client (each hospital its own baseline hazard): its partial likelihood is a
  sum over strata, whereas an unstratified risk set would span hospitals and need every client's event times.

References
----------
McMahan B et al. Communication-efficient learning of deep networks from decentralized data (FedAvg). AISTATS 2017.
Li T et al. Federated optimization in heterogeneous networks (FedProx). MLSys 2020.
Lu C-L et al. WebDISCO: a web service for distributed Cox model learning without patient-level data sharing.
JAMIA 22(6):1212-1219, 2015 (federated Cox by aggregated Newton derivatives).
Cox DR. Regression models and life-tables. JRSS-B 34(2):187-220, 1972; Breslow NE. Biometrics 30:89-99, 1974.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Moments:
    """Per-patient means of one patient set's raw features: sum / n, sum of squares / n, measured count / n."""

    total: np.ndarray
    squares: np.ndarray
    measured: np.ndarray


def raw_matrix(X: Mapping[str, np.ndarray], modalities: Sequence[str]) -> np.ndarray:
    """The modalities' matrices side by side (NaN: not measured)."""
    return np.hstack([np.asarray(X[m], dtype=np.float64) for m in modalities])


def moments(raw: np.ndarray) -> Moments:
    """Sums over the measured values, divided by the number of patients (so that FedAvg by n pools them)."""
    n = len(raw)
    measured = ~np.isnan(raw)
    values = np.where(measured, raw, 0.0)
    return Moments(values.sum(axis=0) / n, (values**2).sum(axis=0) / n, measured.sum(axis=0) / n)


@dataclass(frozen=True)
class Preprocessing:
    """Kept raw columns, their pooled means and sds, and each modality's column range (for presence flags)."""

    keep: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    blocks: np.ndarray  # (n_modalities, 2): start and stop column of each modality in the raw matrix

    def design(self, raw: np.ndarray, intercept: bool) -> np.ndarray:
        """Standardised kept features (unmeasured: 0, the pooled mean), one presence flag per modality, 1s."""
        values = (raw[:, self.keep] - self.mean) / self.sd
        parts = [np.where(np.isnan(values), 0.0, values)]
        parts += [(~np.all(np.isnan(raw[:, a:b]), axis=1)).astype(np.float64)[:, None] for a, b in self.blocks]
        if intercept:
            parts.append(np.ones((len(raw), 1)))
        return np.hstack(parts)


def preprocessing(pooled: Moments, widths: Sequence[int], top_k: int) -> Preprocessing:
    """Top-``top_k`` columns per modality by pooled variance of the measured values, with their mean and sd.

    Ties are broken by column position, so the choice is deterministic.
    """
    count = pooled.measured
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, pooled.total / count, 0.0)
        var = np.where(count > 0, pooled.squares / count - mean**2, 0.0)
    keep, blocks, start = [], [], 0
    for width in widths:
        stop = start + width
        cand = np.flatnonzero(var[start:stop] > 1e-12) + start
        order = np.lexsort((cand, -var[cand]))
        keep.append(np.sort(cand[order[:top_k]]))
        blocks.append((start, stop))
        start = stop
    kept = np.concatenate(keep).astype(np.int64) if keep else np.zeros(0, dtype=np.int64)
    return Preprocessing(kept, mean[kept], np.sqrt(var[kept]), np.asarray(blocks, dtype=np.int64).reshape(-1, 2))


def softmax_derivatives(Z: np.ndarray, Y: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (p*K) and Hessian (p*K, p*K) of the mean multinomial cross-entropy, unpenalised.

    ``Y`` is one-hot (n, K); ``W`` is (p, K). The Hessian is sum_i (diag(p_i) - p_i p_i^T) kron z_i z_i^T / n.
    """
    n, p = Z.shape
    K = Y.shape[1]
    logits = Z @ W
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    grad = (Z.T @ (P - Y)) / n  # (p, K)
    H = np.zeros((p, K, p, K))
    for a in range(K):
        for b in range(K):
            w = P[:, a] * ((a == b) - P[:, b])
            H[:, a, :, b] = (Z * w[:, None]).T @ Z / n
    return grad.reshape(-1), H.reshape(p * K, p * K)


def cox_derivatives(Z: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the negative Cox log partial likelihood (Breslow ties) divided by n.

    Risk set of event i: every patient with time >= t_i (tied times share their risk set).
    """
    n, _p = Z.shape
    order = np.argsort(-time, kind="stable")
    Zs, ts, ds = Z[order], time[order], event[order].astype(bool)
    r = np.exp(np.clip(Zs @ beta, -50, 50))
    S0 = np.cumsum(r)
    S1 = np.cumsum(r[:, None] * Zs, axis=0)
    S2 = np.cumsum(r[:, None, None] * (Zs[:, :, None] * Zs[:, None, :]), axis=0)
    # last position (in descending time) holding the same time: the tied group's full risk set
    last = np.searchsorted(-ts, -ts, side="right") - 1
    idx = last[ds]
    mu = S1[idx] / S0[idx][:, None]
    grad = -(Zs[ds] - mu).sum(axis=0) / n
    H = (S2[idx] / S0[idx][:, None, None] - mu[:, :, None] * mu[:, None, :]).sum(axis=0) / n
    return grad, H


def newton_step(params: np.ndarray, grad: np.ndarray, hess: np.ndarray, l2: float, penalised: np.ndarray) -> np.ndarray:
    """One Newton step on mean loss + l2/2 * ||params[penalised]||^2.

    Solved by least squares, so a flat direction (the softmax's common shift of unpenalised intercepts) gets
    the minimum-norm step instead of a singular-matrix error; predictions do not depend on that direction.
    """
    pen = l2 * penalised.astype(np.float64)
    g = grad + pen * params
    H = hess + np.diag(pen)
    step = np.linalg.lstsq(H, g, rcond=None)[0]
    return params - step


def local_gradient_steps(params: np.ndarray, gradient, steps: int, lr: float, l2: float, penalised: np.ndarray,
                         proximal_mu: float = 0.0) -> np.ndarray:
    """``steps`` full-batch gradient steps from the global ``params`` (FedAvg/FedProx clients).

    FedProx adds mu/2 * ||w - w_global||^2 to the local objective (Li et al. 2020).
    """
    start = params.copy()
    w = params.copy()
    pen = l2 * penalised.astype(np.float64)
    for _ in range(steps):
        w = w - lr * (gradient(w) + pen * w + proximal_mu * (w - start))
    return w


class FittedSoftmax:
    """A fitted ridge softmax on a :class:`Preprocessing`: the estimator surface the runner's prediction table reads."""

    def __init__(self, prep: Preprocessing, modalities: Sequence[str], classes: Sequence[str], W: np.ndarray) -> None:
        self.prep, self.modalities, self.classes_, self.coef_ = prep, tuple(modalities), np.asarray(classes), W

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        logits = self.prep.design(raw_matrix(X, self.modalities), intercept=True) @ self.coef_
        logits -= logits.max(axis=1, keepdims=True)
        P = np.exp(logits)
        return P / P.sum(axis=1, keepdims=True)


class FittedCox:
    """A fitted Cox model on a :class:`Preprocessing`: ``predict`` gives the linear risk score."""

    def __init__(self, prep: Preprocessing, modalities: Sequence[str], beta: np.ndarray) -> None:
        self.prep, self.modalities, self.coef_ = prep, tuple(modalities), beta

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.prep.design(raw_matrix(X, self.modalities), intercept=False) @ self.coef_


@dataclass(frozen=True)
class FitSettings:
    """How a linear model is fitted (centrally, locally or through Flower)."""

    strategy: str = "newton"  # newton | fedavg | fedprox (the latter two: parameter averaging)
    rounds: int = 8
    top_k: int = 16
    l2: float = 0.05
    local_steps: int = 5
    lr: float = 0.5
    proximal_mu: float = 0.1


@dataclass(frozen=True)
class Client:
    """One client's (hospital's) training patients: raw feature matrix and target."""

    name: str
    ids: tuple[str, ...]
    raw: np.ndarray
    target: Any  # softmax: one-hot (n, K); Cox: (time, event)


class LinearProblem:
    """A ridge softmax (``classes`` given) or a client-stratified Cox model (no classes) on some modalities."""

    def __init__(self, settings: FitSettings, classes: tuple[str, ...], modalities: tuple[str, ...],
                 widths: Sequence[int]) -> None:
        self.cfg, self.classes, self.modalities, self.widths = settings, tuple(classes), tuple(modalities), list(widths)
        self.intercept = bool(self.classes)

    def n_params(self, prep: Preprocessing) -> int:
        p = len(prep.keep) + len(prep.blocks) + int(self.intercept)
        return p * len(self.classes) if self.classes else p

    def penalised(self, prep: Preprocessing) -> np.ndarray:
        p = len(prep.keep) + len(prep.blocks) + int(self.intercept)
        mask = np.ones(p, dtype=bool)
        if self.intercept:
            mask[-1] = False
        return np.repeat(mask, len(self.classes)) if self.classes else mask

    def derivatives(self, prep: Preprocessing, raw: np.ndarray, target: Any, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = prep.design(raw, self.intercept)
        if self.classes:
            return softmax_derivatives(Z, target, params.reshape(Z.shape[1], len(self.classes)))
        return cox_derivatives(Z, target[0], target[1], params)

    def fitted(self, prep: Preprocessing, params: np.ndarray) -> Any:
        if self.classes:
            return FittedSoftmax(prep, self.modalities, self.classes, params.reshape(-1, len(self.classes)))
        return FittedCox(prep, self.modalities, params)

    # what fit_federated asks of a problem (the deep fusion networks' DeepProblem answers the same)
    def initial_arrays(self, prep: Preprocessing) -> dict[str, np.ndarray]:
        return {"params": np.zeros(self.n_params(prep))}

    def local_config(self) -> dict[str, Any]:
        return {"phase": "local", "steps": self.cfg.local_steps, "lr": self.cfg.lr, "l2": self.cfg.l2}

    def local_update(self, prep: Preprocessing, raw: np.ndarray, target: Any, arrays: Mapping[str, np.ndarray],
                     config: Mapping[str, Any], client: int) -> dict[str, np.ndarray]:
        """FedAvg/FedProx client: local full-batch gradient steps from the global parameters."""
        return {"params": local_gradient_steps(
            np.asarray(arrays["params"]), lambda w: self.derivatives(prep, raw, target, w)[0], int(config["steps"]),
            float(config["lr"]), float(config["l2"]), self.penalised(prep),
            float(config["proximal-mu"]) if "proximal-mu" in config else 0.0)}

    def params_from(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.asarray(arrays["params"])

    def fit_centralised(self, clients: Sequence[Client]) -> tuple[Any, np.ndarray]:
        return fit_centralised(self, clients)


def _pooled_derivatives(problem: LinearProblem, prep: Preprocessing, clients: Sequence[Client],
                        params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centralised derivatives: softmax on the pooled patients; Cox summed over strata (one per client)."""
    if problem.classes:
        raw = np.vstack([c.raw for c in clients])
        return problem.derivatives(prep, raw, np.vstack([c.target for c in clients]), params)
    n = sum(len(c.ids) for c in clients)
    parts = [problem.derivatives(prep, c.raw, c.target, params) for c in clients]
    return (sum(len(c.ids) / n * g for c, (g, _) in zip(clients, parts)),
            sum(len(c.ids) / n * h for c, (_, h) in zip(clients, parts)))


def fit_centralised(problem: LinearProblem, clients: Sequence[Client]) -> tuple[Any, np.ndarray]:
    """Newton's method on the pooled patients of ``clients`` (``rounds`` steps from zero); the model and its parameters."""
    cfg = problem.cfg
    prep = preprocessing(moments(np.vstack([c.raw for c in clients])), problem.widths, cfg.top_k)
    params = np.zeros(problem.n_params(prep))
    mask = problem.penalised(prep)
    for _ in range(cfg.rounds):
        g, h = _pooled_derivatives(problem, prep, clients, params)
        params = newton_step(params, g, h, cfg.l2, mask)
    return problem.fitted(prep, params), params


# ---- Flower ------------------------------------------------------------------------------------------------
def _array_bytes(record: Any) -> int:
    return sum(int(a.numpy().nbytes) for a in record.values())


def _strategy(kind: str, n_clients: int, on_round: Callable[[Any], Any] | None, proximal_mu: float) -> Any:
    """A Flower strategy that also counts the array bytes it sends and receives and orders replies by client.

    ``on_round`` turns the FedAvg aggregate (the n-weighted mean of the clients' arrays) into the next global
    arrays (newton: a Newton step from the pooled gradient and Hessian). The fixed preprocessing arrays are
    sent every round and put back after aggregation.
    """
    from flwr.serverapp.strategy import FedAvg, FedProx

    base = FedProx if kind == "fedprox" else FedAvg

    class Counting(base):  # type: ignore[misc,valid-type]
        bytes_sent = 0
        bytes_received = 0

        def configure_train(self, server_round, arrays, config, grid):  # type: ignore[no-untyped-def]
            self.current = arrays
            messages = list(super().configure_train(server_round, arrays, config, grid))
            self.bytes_sent += sum(_array_bytes(m.content.array_records["arrays"]) for m in messages)
            return messages

        def aggregate_train(self, server_round, replies):  # type: ignore[no-untyped-def]
            from flwr.app import Array, ArrayRecord

            replies = list(replies)
            for m in replies:
                if m.has_error():
                    raise RuntimeError(f"a federated client failed in round {server_round}: {m.error.reason}")
            # replies arrive in completion order; summing in client order keeps the result deterministic
            replies.sort(key=lambda m: int(m.content["metrics"]["client"]))
            self.bytes_received += sum(_array_bytes(m.content.array_records["arrays"]) for m in replies)
            aggregated, metrics = super().aggregate_train(server_round, replies)
            new = on_round(aggregated) if on_round is not None else aggregated
            arrays = {k: v for k, v in self.current.items()} | {k: v for k, v in new.items()}
            return ArrayRecord({k: Array(np.asarray(v.numpy())) for k, v in arrays.items()}), metrics

    kwargs = {"proximal_mu": proximal_mu} if kind == "fedprox" else {}
    return Counting(fraction_evaluate=0.0, min_train_nodes=n_clients, min_available_nodes=n_clients, **kwargs)


PREP_KEYS = ("keep", "mean", "sd", "blocks")


def _prep_arrays(prep: Preprocessing) -> dict[str, np.ndarray]:
    return {"keep": prep.keep, "mean": prep.mean, "sd": prep.sd, "blocks": prep.blocks}


def _prep_from(arrays: Any) -> Preprocessing:
    return Preprocessing(arrays["keep"].numpy(), arrays["mean"].numpy(), arrays["sd"].numpy(), arrays["blocks"].numpy())


@dataclass(frozen=True)
class FlowerRun:
    params: Any  # the problem's params_from: a vector (linear models) or a network's named arrays
    prep: Preprocessing
    rounds: int
    bytes: int
    seconds: float


def fit_federated(problem: Any, clients: Sequence[Client], num_cpus: int = 2) -> FlowerRun:
    """Fit through Flower's simulation runtime: one moments round (FedAvg), then ``rounds`` training rounds.

    ``problem`` is a :class:`LinearProblem` or anything with its federated surface (``cfg``, ``widths``,
    ``initial_arrays``, ``local_config``, ``local_update``, ``params_from``): the deep networks' ``DeepProblem``.
    """
    from flwr.app import (
        Array,
        ArrayRecord,
        ConfigRecord,
        Context,
        Message,
        MetricRecord,
        RecordDict,
    )
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.simulation import run_simulation

    cfg = problem.cfg
    data = [(c.raw, c.target, len(c.ids)) for c in clients]
    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        k = int(context.node_config["partition-id"])
        raw, target, n = data[k]
        config, arrays = msg.content["config"], msg.content["arrays"]
        if config["phase"] == "moments":
            m = moments(raw)
            out = {"total": m.total, "squares": m.squares, "measured": m.measured}
        else:
            prep = _prep_from(arrays)
            if config["phase"] == "newton":
                g, h = problem.derivatives(prep, raw, target, arrays["params"].numpy())
                out = {"grad": g, "hess": h}
            else:
                out = problem.local_update(prep, raw, target, {k2: v.numpy() for k2, v in arrays.items()
                                                               if k2 not in PREP_KEYS}, config, k)
        content = RecordDict({"arrays": ArrayRecord({k2: Array(np.asarray(v)) for k2, v in out.items()}),
                              "metrics": MetricRecord({"num-examples": n, "client": k})})
        return Message(content=content, reply_to=msg)

    result: dict[str, Any] = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        stats = _strategy("fedavg", len(clients), None, 0.0)
        res = stats.start(grid=grid, initial_arrays=ArrayRecord({"none": Array(np.zeros(0))}), num_rounds=1,
                            train_config=ConfigRecord({"phase": "moments"}))
        pooled = Moments(*(res.arrays[k].numpy() for k in ("total", "squares", "measured")))
        prep = preprocessing(pooled, problem.widths, cfg.top_k)

        def newton(aggregated: Any) -> Any:
            mask = problem.penalised(prep)
            params = newton_step(strategy.current["params"].numpy(), aggregated["grad"].numpy(),
                                 aggregated["hess"].numpy(), cfg.l2, mask)
            return ArrayRecord({"params": Array(params)})

        if cfg.strategy == "newton":
            strategy = _strategy("fedavg", len(clients), newton, 0.0)
            config = ConfigRecord({"phase": "newton"})
        else:
            strategy = _strategy(cfg.strategy, len(clients), None, cfg.proximal_mu)
            config = ConfigRecord(problem.local_config())
        initial = problem.initial_arrays(prep) | _prep_arrays(prep)
        res = strategy.start(grid=grid, initial_arrays=ArrayRecord({k: Array(np.asarray(v)) for k, v in initial.items()}),
                             num_rounds=cfg.rounds, train_config=config)
        result.update(params=problem.params_from({k: res.arrays[k].numpy() for k in res.arrays
                                                  if k not in PREP_KEYS}), prep=prep,
                      bytes=stats.bytes_sent + stats.bytes_received + strategy.bytes_sent + strategy.bytes_received)

    logging.getLogger("flwr").setLevel(logging.WARNING)  # Flower logs every message of every round at INFO
    t0 = time.perf_counter()
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=len(clients),
                   backend_config={"client_resources": {"num_cpus": 1},
                                   "init_args": {"num_cpus": num_cpus, "log_to_driver": False,
                                                 "logging_level": logging.ERROR}})
    seconds = time.perf_counter() - t0
    if "params" not in result:
        raise RuntimeError("the Flower simulation ended without a result (see the log above)")
    return FlowerRun(result["params"], result["prep"], cfg.rounds + 1, result["bytes"], seconds)
