"""Controls shown beside every result: what a model scores with no information about the patient.

``prior`` predicts the training class frequencies; ``km`` gives everyone the training Kaplan-Meier curve
(its risk is a seeded random ranking, since one shared curve ranks no one: expected C-index 0.5);
``random`` draws seeded random predictions for any kind.

The random draws are seeded per (seed, repeat, fold): ``fit`` mixes ``random_state`` with a CRC-32 of the
training outcomes (and sizes), so two folds never share one vector. With one vector reused on every fold of
equal size, a "random" control scored Harrell's C 0.584 on os-ucec-porpoise.

References
----------
Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. JASA 53, 1958.
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping

import numpy as np
from sklearn.base import BaseEstimator

from oncobench.baselines.registry import register_model

NO_INPUT = "uses no input features (control)"


def _n_rows(X: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(X.values())))


def fold_seed(random_state: int, X: Mapping[str, np.ndarray], y: Any) -> int:
    """A seed for one (seed, repeat, fold): CRC-32 of ``random_state`` and the training rows' outcomes.

    Deterministic (never Python's salted ``hash``); different training folds give different seeds.
    """
    crc = zlib.crc32(np.int64(random_state).tobytes())
    crc = zlib.crc32(np.int64(_n_rows(X)).tobytes(), crc)
    if y is not None:
        y = np.asarray(y)
        if y.dtype.names:  # a survival outcome: one array per field
            for name in y.dtype.names:
                crc = zlib.crc32(np.ascontiguousarray(y[name], dtype=np.float64).tobytes(), crc)
        elif y.dtype.kind in "OUS":
            crc = zlib.crc32("\x1f".join(map(str, y.ravel().tolist())).encode(), crc)
        else:
            crc = zlib.crc32(np.ascontiguousarray(y, dtype=np.float64).tobytes(), crc)
    else:  # no outcome (clustering): the training values themselves
        for v in X.values():
            crc = zlib.crc32(np.ascontiguousarray(np.nan_to_num(np.asarray(v, dtype=np.float64))).tobytes(), crc)
    return crc


@register_model("prior", summary="Negative control: training class frequencies for every patient",
                reference="(control)", kinds=("classification", "binary"), modality_handling=NO_INPUT,
                missing="impute", is_control=True)
class PriorClassifier(BaseEstimator):
    def fit(self, X: Mapping[str, np.ndarray], y: Any) -> "PriorClassifier":
        self.classes_, counts = np.unique(np.asarray(y), return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.tile(self.prior_, (_n_rows(X), 1))

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.repeat(self.classes_[np.argmax(self.prior_)], _n_rows(X))


@register_model("km", summary="Negative control: training Kaplan-Meier curve for everyone, random risk ranking",
                reference="Kaplan & Meier, JASA 1958", kinds=("survival",), modality_handling=NO_INPUT,
                missing="impute", is_control=True)
class KaplanMeierControl(BaseEstimator):
    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: Mapping[str, np.ndarray], y: Any) -> "KaplanMeierControl":
        from sksurv.nonparametric import kaplan_meier_estimator

        self.times_, self.survival_ = kaplan_meier_estimator(y["event"], y["time"])
        self.seed_ = fold_seed(self.random_state, X, y)
        return self

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.random.default_rng(self.seed_).random(_n_rows(X))

    def predict_survival(self, X: Mapping[str, np.ndarray], times: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.times_, np.asarray(times), side="right") - 1
        curve = np.where(idx >= 0, self.survival_[np.clip(idx, 0, None)], 1.0)
        return np.tile(curve, (_n_rows(X), 1))


@register_model("random", summary="Negative control: seeded random predictions (probabilities, risks, clusters or values)",
                reference="(control)", kinds=("classification", "binary", "survival", "clustering", "translation"),
                modality_handling=NO_INPUT, missing="impute", is_control=True)
class RandomControl(BaseEstimator):
    def __init__(self, kind: str = "classification", random_state: int = 0, n_clusters: int = 5) -> None:
        self.kind = kind
        self.random_state = random_state
        self.n_clusters = n_clusters

    def fit(self, X: Mapping[str, np.ndarray], y: Any = None) -> "RandomControl":
        if self.kind in ("classification", "binary"):
            self.classes_ = np.unique(np.asarray(y))
        elif self.kind == "translation":
            y = np.asarray(y, dtype=np.float64)
            self.mean_, self.sd_ = np.nanmean(y, axis=0), np.nan_to_num(np.nanstd(y, axis=0))
        self.seed_ = fold_seed(self.random_state, X, y)
        return self

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed_)

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._rng().dirichlet(np.ones(len(self.classes_)), size=_n_rows(X))

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        n = _n_rows(X)
        if self.kind in ("classification", "binary"):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        if self.kind == "clustering":
            return self._rng().integers(0, self.n_clusters, size=n)
        if self.kind == "translation":
            return self.mean_ + self.sd_ * self._rng().standard_normal((n, len(self.mean_)))
        return self._rng().random(n)
