"""Federated training across hospitals on Flower's simulation runtime (Ray), beside centralised and local-only fits.

Clients are hospitals: the training patients of a task's split grouped by the store's ``hospital`` column (the
tissue source site's centre). A hospital with fewer than ``min_patients`` training patients is pooled with the
other small ones into one client ``other`` (``small="pool"``, the default; ``other`` is dropped in turn when it
is still below the minimum) or dropped (``small="drop"``). Test patients are the split's test patients, whatever
their hospital: all three settings are scored on the same held-out patients.

Settings (rows of :func:`federated_summary`):

- ``centralised``: the model fitted on all clients' training patients pooled, by the same Newton iterations
  (deep fusion networks: the same network, optimiser and total number of epochs, ``rounds * local_epochs``);
- ``federated``: the same model fitted through Flower, each client sending only per-patient-mean moments and
  derivatives (``strategy="newton"``: FedAvg's n-weighted mean of the clients' gradients and Hessians, then a
  server Newton step: equal to ``centralised`` up to summation order) or parameters after local gradient steps
  (``strategy="fedavg"`` / ``"fedprox"``: McMahan et al. 2017, Li et al. 2020; inexact when clients differ; the
  only strategies of the deep fusion networks, ``oncobench/baselines/deep/federated.py``);
- ``local``: each hospital alone, scored on every test patient (what a hospital reaches without the others).

``client`` names the test patients scored: ``all`` (every test patient) or a hospital (its own test patients,
centralised and federated rows); a local row's ``client`` is the hospital whose model it is (scored on all).
``bytes`` counts the array payloads of every Flower message both ways (8 bytes per value of the linear models
and the preprocessing, 4 per network weight: float32); ``seconds`` is the
wall time of the fit (for ``federated``: the whole simulation, Ray start-up included).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from oncobench.baselines import federated_models as fm
from oncobench.benchmark.job import model_matrices, prediction_frame
from oncobench.benchmark.tasks import Split, Task, split_sha256
from oncobench.datasets.errors import OncoBenchError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MODELS = {"logistic": ("classification", "binary"), "cox": ("survival",),
          "mlp-early": ("classification", "binary", "survival")}
DEEP = ("mlp-early",)  # registered DeepFusion models trained by FedAvg/FedProx (the simplest fusion network)
STRATEGIES = ("newton", "fedavg", "fedprox")
COLUMNS = ("setting", "client", "n_train", "n_test", "metric", "value", "rounds", "bytes", "seconds")
OTHER = "other"
LEVEL = "federated"  # the MLflow runs' oncobench_level tag


class FederatedConfigError(OncoBenchError, ValueError):
    """A federated run was asked for something it cannot do (unknown model or strategy, too few clients)."""


@dataclass(frozen=True)
class FederatedConfig:
    """What determines a federated result; every field is logged to MLflow."""

    model: str = "cox"
    strategy: str | None = None  # default: newton for the linear models, fedavg for the deep ones
    rounds: int = 8
    top_k: int = 16  # kept features per modality (pooled variance of the measured values)
    l2: float = 0.05  # ridge on the mean loss: loss/n + l2/2 * ||w||^2 (intercepts unpenalised)
    min_patients: int = 30  # training patients a hospital needs to be its own client
    small: str = "pool"  # hospitals below the minimum: "pool" into "other" or "drop"
    local_steps: int = 5  # linear fedavg/fedprox: full-batch gradient steps per round
    lr: float | None = None  # fedavg/fedprox step size; default 0.5 (linear, standardised features), 0.05 (deep SGD)
    proximal_mu: float = 0.1  # fedprox
    local_epochs: int = 1  # deep: local epochs per round
    batch_size: int = 64  # deep: mini-batch (<= 0: full batch; the Cox head always trains full batch)
    momentum: float = 0.9  # deep: SGD momentum (reset every round on the clients)
    hidden: int = 128  # deep: the network's hidden and embedding widths (DeepFusion's defaults)
    embed: int = 64
    seed: int = 0  # deep: initial weights, dropout and batch order (the linear fits draw nothing at random)
    fold: int = 0
    repeat: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise FederatedConfigError(f"unknown federated model {self.model!r}; expected one of {sorted(MODELS)}")
        deep = self.model in DEEP
        if self.strategy is None:
            object.__setattr__(self, "strategy", "fedavg" if deep else "newton")
        if self.lr is None:
            object.__setattr__(self, "lr", 0.05 if deep else 0.5)
        if self.strategy not in STRATEGIES:
            raise FederatedConfigError(f"unknown strategy {self.strategy!r}; expected one of {STRATEGIES}")
        if deep and self.strategy == "newton":
            raise FederatedConfigError(f"model {self.model!r} is a neural network: strategy 'fedavg' or 'fedprox' "
                                       "(Newton steps are for the linear models)")
        if self.local_epochs < 1 or self.hidden < 1 or self.embed < 1:
            raise FederatedConfigError("local_epochs, hidden and embed must be at least 1")
        if self.small not in ("pool", "drop"):
            raise FederatedConfigError(f"small={self.small!r}: expected 'pool' or 'drop'")
        if self.rounds < 1 or self.min_patients < 1 or self.top_k < 1:
            raise FederatedConfigError("rounds, min_patients and top_k must be at least 1")

    def settings(self) -> fm.FitSettings:
        return fm.FitSettings(self.strategy, self.rounds, self.top_k, self.l2, self.local_steps, self.lr, self.proximal_mu)

    def deep_settings(self) -> Any:
        from oncobench.baselines.deep.federated import DeepSettings

        return DeepSettings(self.strategy, self.rounds, self.top_k, self.local_epochs, self.batch_size, self.lr,
                            self.momentum, 0.0, self.proximal_mu, self.seed)


def hospital_clients(hospitals: dict[str, str | None], ids: Sequence[str], min_patients: int,
                     small: str = "pool") -> dict[str, tuple[str, ...]]:
    """Training patients by hospital; hospitals below ``min_patients`` pooled into ``other`` or dropped.

    Returned in a fixed order (largest first, ties by name; ``other`` last), so client numbering is stable.
    """
    by: dict[str, list[str]] = {}
    for pid in ids:
        name = hospitals.get(pid)
        by.setdefault(name if name else OTHER, []).append(pid)
    big = {h: tuple(sorted(p)) for h, p in by.items() if h != OTHER and len(p) >= min_patients}
    out = dict(sorted(big.items(), key=lambda kv: (-len(kv[1]), kv[0])))
    if small == "pool":
        rest = tuple(sorted(p for h, ps in by.items() if h not in big for p in ps))
        if len(rest) >= min_patients:
            out[OTHER] = rest
    return out


def _hospitals(task: Task) -> dict[str, str | None]:
    clin = task.dataset.clinical
    if "hospital" not in clin.columns:
        raise FederatedConfigError(f"{task.dataset.id}: clinical table has no 'hospital' column; federated clients "
                                   "are hospitals (tissue source site centres)")
    return {r[0]: r[1] for r in clin.select("patient_id", "hospital").iter_rows()}


# ---- the experiment ----------------------------------------------------------------------------------------
@dataclass
class FederatedResult:
    """Rows (see the module docstring) and the clients' sizes; ``rows`` is what MLflow and the leaderboard get."""

    task: str
    dataset: str
    primary: str
    config: FederatedConfig
    rows: pl.DataFrame
    clients: dict[str, int]
    federated_params: Any  # a vector (linear models) or the network's named weight arrays
    centralised_params: Any


def make_clients(task: Task, problem: Any, groups: dict[str, tuple[str, ...]]) -> list[fm.Client]:
    """One :class:`Client` per group of training patients, in the groups' order."""
    out = []
    for name, ids in groups.items():
        raw = fm.raw_matrix(model_matrices(task, ids, problem.modalities), problem.modalities)
        if problem.classes:
            labels = np.asarray(task.labels(ids)).astype(str)
            target = (labels[:, None] == np.asarray(problem.classes)[None, :]).astype(np.float64)
        else:
            event, times = task.outcome(ids)
            target = (np.asarray(times, dtype=np.float64), np.asarray(event, dtype=np.float64))
        out.append(fm.Client(name, ids, raw, target))
    return out


def prepare(task: Task, cfg: FederatedConfig) -> tuple[Any, Split, list[fm.Client]]:
    """The model's problem, the split (``cfg.fold``, ``cfg.repeat``) and its hospital clients."""
    split = task.get_split(cfg.fold, cfg.repeat)
    modalities = tuple(task.inputs)
    if task.kind not in MODELS[cfg.model]:
        raise FederatedConfigError(f"model {cfg.model!r} fits {'/'.join(MODELS[cfg.model])} tasks; "
                                   f"task {task.name} is {task.kind}")
    widths = [len(task.feature_names[m]) for m in modalities]
    if cfg.model in DEEP:
        from oncobench.baselines.deep.federated import DeepProblem
        from oncobench.baselines.registry import get_model

        net = get_model(cfg.model).build(task.kind, cfg.seed).set_params(hidden=cfg.hidden, embed=cfg.embed)
        problem: Any = DeepProblem(cfg.deep_settings(), net, tuple(task.classes) if task.kind != "survival" else (),
                                   modalities, widths)
    else:
        problem = fm.LinearProblem(cfg.settings(), tuple(task.classes) if cfg.model == "logistic" else (), modalities,
                                   widths)
    groups = hospital_clients(_hospitals(task), split.train, cfg.min_patients, cfg.small)
    if not groups:
        raise FederatedConfigError(f"task {task.name}: no hospital has {cfg.min_patients} training patients "
                                   f"(fold {cfg.fold}); lower --min-patients")
    return problem, split, make_clients(task, problem, groups)


def _score(task: Task, split: Split, model: Any, ids: tuple[str, ...]) -> dict[str, float]:
    """The evaluator's test metrics of ``model`` on ``ids`` (a subset of the split's test patients); {} if undefined."""
    sub = Split(split.task, split.scheme, split.repeat, split.fold, split.train, (), ids,
                split_sha256(split.task, task.dataset.id, split.scheme, split.repeat, split.fold, split.train, (), ids))
    try:
        frame = prediction_frame(task, model, model_matrices(task, ids, tuple(model.modalities)), ids)
        return dict(task.evaluate(frame, split=sub).metrics)
    except ValueError as exc:  # e.g. a hospital's few test patients hold no event or a single class
        log.info("%s: %d test patients cannot be scored (%s)", task.name, len(ids), exc)
        return {}


def run_federated(task: Task, cfg: FederatedConfig, *, num_cpus: int = 2) -> FederatedResult:
    """Centralised, federated (Flower) and local-only fits on one split; every setting scored on its test patients."""
    problem, split, clients = prepare(task, cfg)
    n_train = sum(len(c.ids) for c in clients)
    hospitals = _hospitals(task)
    names = {c.name for c in clients}
    test_by = {c.name: tuple(p for p in split.test if (hospitals.get(p) if hospitals.get(p) in names else OTHER) == c.name)
               for c in clients}
    rows: list[dict[str, Any]] = []

    def add(setting: str, client: str, n: int, test_ids: tuple[str, ...], metrics: dict[str, float], rounds: int,
            nbytes: int, seconds: float) -> None:
        rows.extend({"setting": setting, "client": client, "n_train": n, "n_test": len(test_ids), "metric": k,
                     "value": float(v), "rounds": rounds, "bytes": nbytes, "seconds": seconds} for k, v in metrics.items())

    t0 = time.perf_counter()
    central, central_params = problem.fit_centralised(clients)
    seconds = time.perf_counter() - t0
    fed = fm.fit_federated(problem, clients, num_cpus=num_cpus)
    federated = problem.fitted(fed.prep, fed.params)
    for setting, model, rounds, nbytes, secs in (("centralised", central, cfg.rounds, 0, seconds),
                                                 ("federated", federated, fed.rounds, fed.bytes, fed.seconds)):
        add(setting, "all", n_train, split.test, _score(task, split, model, split.test), rounds, nbytes, secs)
        for c in clients:
            if test_by[c.name]:
                add(setting, c.name, n_train, test_by[c.name], _score(task, split, model, test_by[c.name]),
                    rounds, nbytes, secs)
    for c in clients:
        t0 = time.perf_counter()
        try:
            local, _ = problem.fit_centralised([c])
        except np.linalg.LinAlgError as exc:
            log.warning("%s: hospital %s alone cannot be fitted (%s)", task.name, c.name, exc)
            continue
        scores = _score(task, split, local, split.test)
        if not scores:  # e.g. a network on one hospital's single event diverges: NaN risks, refused
            log.warning("%s: hospital %s alone gives no scorable predictions; no local row", task.name, c.name)
        add("local", c.name, len(c.ids), split.test, scores, cfg.rounds, 0,
            time.perf_counter() - t0)
    frame = pl.DataFrame(rows, schema={"setting": pl.String, "client": pl.String, "n_train": pl.Int64, "n_test": pl.Int64,
                                       "metric": pl.String, "value": pl.Float64, "rounds": pl.Int64, "bytes": pl.Int64,
                                       "seconds": pl.Float64})
    return FederatedResult(task.name, task.dataset.id, task.spec.primary, cfg, frame, {c.name: len(c.ids) for c in clients},
                           fed.params, central_params)


# ---- MLflow --------------------------------------------------------------------------------------------------
def log_federated(result: FederatedResult, home: Path | None = None) -> str:
    """One MLflow run (``oncobench_level=federated``) in the task's experiment: config, overall scores, rows artifact."""
    from importlib import metadata

    from mlflow.entities import Metric, Param

    from oncobench.benchmark.tracking import Tracker, library_versions

    tracker = Tracker(home)
    exp = tracker.experiment_id(result.task, result.dataset)
    cfg = result.config
    versions = library_versions() | {lib: metadata.version(lib) for lib in ("flwr", "ray")}
    tags = {"oncobench_level": LEVEL, "task": result.task, "model": cfg.model, "strategy": cfg.strategy,
            "dataset": result.dataset, "primary": result.primary, **{f"version.{k}": v for k, v in versions.items()}}
    run = tracker.client.create_run(exp, run_name=f"federated {cfg.model} {cfg.strategy}", tags=tags)
    rid = run.info.run_id
    now = int(time.time() * 1000)
    overall = result.rows.filter(pl.col("client") == "all")
    metrics = [Metric(f"{r['setting']}_{r['metric']}", r["value"], now, 0) for r in overall.iter_rows(named=True)]
    local = result.rows.filter(pl.col("setting") == "local").group_by("metric").agg(pl.col("value").mean())
    metrics += [Metric(f"local_mean_{r['metric']}", r["value"], now, 0) for r in local.iter_rows(named=True)]
    fed = result.rows.filter(pl.col("setting") == "federated")
    if fed.height:
        metrics += [Metric("bytes", float(fed["bytes"][0]), now, 0), Metric("rounds", float(fed["rounds"][0]), now, 0),
                    Metric("federated_seconds", float(fed["seconds"][0]), now, 0)]
    metrics.append(Metric("n_clients", float(len(result.clients)), now, 0))
    params = [Param(k, str(v)) for k, v in asdict(cfg).items()]
    params.append(Param("clients", "; ".join(f"{k}={v}" for k, v in result.clients.items())[:6000]))
    tracker.client.log_batch(rid, metrics=metrics, params=params, tags=[], synchronous=True)
    tracker.log_frame(rid, result.rows, "federated.parquet")
    tracker.client.set_terminated(rid, status="FINISHED")
    return rid


def federated_runs(home: Path | None = None, task: str | None = None, model: str | None = None) -> list[Any]:
    """Finished federated MLflow runs, newest first (optionally of one task / model)."""
    from oncobench.benchmark.tracking import Tracker

    db = (home or _home()) / "mlflow.db"
    if not db.exists():
        return []
    tracker = Tracker(home)
    query = f"tags.oncobench_level = '{LEVEL}' and attributes.status = 'FINISHED'"
    if model is not None:
        query += f" and tags.model = '{model}'"
    if task is not None:
        query += f" and tags.task = '{task}'"
    exps = [e.experiment_id for e in tracker.client.search_experiments()]
    if not exps:
        return []
    return list(tracker.client.search_runs(exps, filter_string=query, order_by=["attributes.start_time DESC"],
                                           max_results=1000))


def _home() -> Path:
    from oncobench.datasets.store import oncobench_home

    return oncobench_home()


def federated_summary(task: str, model: str, home: Path | None = None) -> pd.DataFrame | None:
    """The latest federated result rows of (task, model) as pandas, or None when none was run.

    Columns: setting (centralised | federated | local), client, n_train, n_test, metric, value, rounds,
    bytes, seconds (see the module docstring for what ``client`` names in each setting).
    """
    runs = federated_runs(home, task, model)
    if not runs:
        return None
    from oncobench.benchmark.tracking import Tracker

    tracker = Tracker(home)
    with tempfile.TemporaryDirectory() as tmp:
        path = tracker.client.download_artifacts(runs[0].info.run_id, "federated.parquet", tmp)
        return pl.read_parquet(path).select(COLUMNS).to_pandas()


def federated_track(home: Path | None = None) -> list[dict[str, Any]]:
    """The leaderboard's federated track: the latest run per (task, dataset, model, strategy), overall scores.

    Each entry: task, dataset, model, strategy, clients, min_patients, rounds, bytes, seconds, metric and the
    centralised, federated and mean local-only scores on every test patient.
    """
    out, seen = [], set()
    for run in federated_runs(home):
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        key = (tags["task"], tags["dataset"], tags["model"], tags["strategy"])
        if key in seen:
            continue
        seen.add(key)
        metric = tags.get("primary", "")
        out.append({"task": key[0], "dataset": key[1], "model": key[2], "strategy": key[3],
                    "clients": int(metrics.get("n_clients", 0)), "min_patients": int(params.get("min_patients", 0)),
                    "rounds": int(metrics.get("rounds", 0)), "bytes": int(metrics.get("bytes", 0)),
                    "seconds": metrics.get("federated_seconds"), "metric": metric,
                    **{s: metrics.get(f"{s}_{metric}") for s in ("centralised", "federated")},
                    "local_mean": metrics.get(f"local_mean_{metric}")})
    return sorted(out, key=lambda e: (e["task"], e["dataset"], e["model"], e["strategy"]))


def summary_text(result: FederatedResult, metric: str) -> str:
    """A terminal table: each setting's score per client on ``metric``, with rounds, bytes and seconds."""
    rows = result.rows.filter(pl.col("metric") == metric)
    lines = [(f"{result.task} on {result.dataset}: {result.config.model} ({result.config.strategy}), {len(result.clients)} "
             f"clients (hospitals with >= {result.config.min_patients} training patients; small ones: {result.config.small})"),
             f"{'setting':<12}{'client':<42}{'n_train':>8}{'n_test':>7}{metric:>12}{'rounds':>7}{'bytes':>13}{'seconds':>9}"]
    for r in rows.iter_rows(named=True):
        lines.append(f"{r['setting']:<12}{r['client'][:40]:<42}{r['n_train']:>8}{r['n_test']:>7}{r['value']:>12.4f}"
                     f"{r['rounds']:>7}{r['bytes']:>13,}{r['seconds']:>9.1f}")
    return "\n".join(lines)
