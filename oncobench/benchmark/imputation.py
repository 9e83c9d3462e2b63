"""The omics-imputation protocol (MLOmics's third task family), without leakage.

For each (repeat, fold) of an imputation task, every test patient has ``missing_rate`` of its target-modality
entries hidden (exactly ``round(rate * p)`` of its ``p`` features) under a seeded mask; the imputer is fitted on
the training patients' complete matrices and fills the hidden entries from each test patient's observed ones.
Scores are MAE and RMSE over the hidden entries only, on values z-scored with the training patients' mean and
standard deviation (:mod:`oncobench.benchmark.metrics.imputation`).

The mask of a patient depends on the task, the dataset version, the (repeat, fold), the rate and the patient ID:
never on the model's seed or on row order. So every model and every seed is scored on the same hidden entries (a
paired comparison, as the fixed splits are), and the evaluator or the leaderboard rebuilds the mask from the split
alone instead of trusting one that came with the predictions.

References
----------
Yang Z et al. MLOmics: cancer multi-omics database for machine learning. Scientific Data 12, 2025.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from oncobench.benchmark.metrics.imputation import imputation_metrics, training_scale

if TYPE_CHECKING:
    import polars as pl

    from oncobench.benchmark.tasks import Split, Task

RATES = (0.3, 0.5, 0.7)  # MLOmics's missing rates


def mask_seed(task: str, dataset_id: str, repeat: int, fold: int, rate: float) -> int:
    """The mask seed of one (task, dataset version, repeat, fold, rate): crc32, stable across processes."""
    return zlib.crc32(f"{task}|{dataset_id}|r{repeat}|f{fold}|{rate:.6f}".encode())


def hidden_mask(ids: Sequence[str], n_features: int, rate: float, seed: int) -> np.ndarray:
    """Boolean (len(ids), n_features) mask: exactly ``round(rate * n_features)`` entries hidden per patient.

    Each patient's entries are drawn by a generator seeded with (``seed``, crc32 of its ID), so a patient's mask
    does not depend on which other patients are scored beside it or in which order.
    """
    if not 0 < rate < 1:
        raise ValueError(f"missing rate {rate} is outside (0, 1)")
    k = round(rate * n_features)
    if not 0 < k < n_features:
        raise ValueError(f"a rate of {rate} on {n_features} features hides {k}: every patient needs at least one "
                         "hidden and one observed entry")
    mask = np.zeros((len(ids), n_features), dtype=bool)
    for i, pid in enumerate(ids):
        rng = np.random.default_rng([seed, zlib.crc32(str(pid).encode())])
        mask[i, rng.choice(n_features, size=k, replace=False)] = True
    return mask


def split_mask(task: Task, split: Split, ids: Sequence[str]) -> np.ndarray:
    """The hidden entries of ``ids`` (test or validation patients of ``split``) in ``task``'s target features."""
    rate = task.spec.missing_rate
    if rate is None:
        raise ValueError(f"task {task.name} is {task.kind}, not an imputation task: it hides no entries")
    seed = mask_seed(task.name, task.dataset.id, split.repeat, split.fold, rate)
    return hidden_mask(ids, len(task.target_features), rate, seed)


def hide(task: Task, split: Split, ids: Sequence[str], X: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``X`` with the target modality's hidden entries of ``ids`` set to NaN (what the imputer gets)."""
    target = task.spec.target
    out = dict(X)
    values = np.array(X[target], dtype=np.float32, copy=True)
    values[split_mask(task, split, ids)] = np.nan
    out[target] = values
    return out


def score_imputation(task: Task, frame: pl.DataFrame, split: Split) -> dict[str, float]:
    """MAE and RMSE of checked predictions (rows sorted by patient ID) over ``split``'s hidden test entries."""
    test = frame["patient_id"].to_list()
    truth = task.translation_target(test).values
    center, scale = training_scale(task.translation_target(split.train).values)
    pred = frame.select(list(task.target_features)).to_numpy().astype(np.float64)
    return imputation_metrics(truth, pred, split_mask(task, split, test), center, scale)
