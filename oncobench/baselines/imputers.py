"""Imputers for the omics-imputation tasks: fitted on training patients, they fill the hidden entries of new ones.

Every imputer reads one modality (``X = {modality: matrix}``, NaN = hidden), z-scores it with the training
patients' mean and standard deviation, imputes in that space and returns the whole matrix in the stored units
(observed entries pass through unchanged). All four are inductive: ``fit`` sees the training patients only and
``predict`` fills a test patient from its own observed entries and what was learned in ``fit``; none refits on the
test patients, so none is transductive.

References
----------
Troyanskaya O et al. Missing value estimation methods for DNA microarrays. Bioinformatics 17(6):520-5, 2001
(KNNimpute, SVDimpute).
van Buuren S, Groothuis-Oudshoorn K. mice: multivariate imputation by chained equations in R. J Stat Softw 45(3), 2011.
Mazumder R, Hastie T, Tibshirani R. Spectral regularization algorithms for learning large incomplete matrices.
JMLR 11:2287-322, 2010 (soft-impute: a low-rank fit, shrunk).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import TruncatedSVD
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (makes IterativeImputer importable)
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import RidgeCV
from threadpoolctl import threadpool_limits

from oncobench.baselines.registry import register_model

log = logging.getLogger(__name__)

HANDLING = "one modality, z-scored with the training patients' mean and sd; hidden entries are NaN"


def _one_modality(X: Mapping[str, np.ndarray]) -> np.ndarray:
    if len(X) != 1:
        raise ValueError(f"an imputer reads exactly one modality (the task's target); got {sorted(X)}")
    return np.asarray(next(iter(X.values())), dtype=np.float64)


class ModalityImputer(BaseEstimator):
    """Base class: training-fold z-scoring around :meth:`_fit_z` / :meth:`_impute_z` of a subclass."""

    def fit(self, X: Mapping[str, np.ndarray], y: Any = None) -> ModalityImputer:
        values = _one_modality(X)
        self.center_ = np.nanmean(values, axis=0)
        if np.isnan(self.center_).any():
            bad = int(np.flatnonzero(np.isnan(self.center_))[0])
            raise ValueError(f"feature column {bad} has no measured value among the {len(values)} training patients")
        scale = np.nanstd(values, axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.n_features_in_ = values.shape[1]
        self._fit_z((values - self.center_) / self.scale_)
        return self

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        values = _one_modality(X)
        if values.shape[1] != self.n_features_in_:
            raise ValueError(f"{values.shape[1]} features; the imputer was fitted on {self.n_features_in_}")
        z = (values - self.center_) / self.scale_
        hidden = np.isnan(z)
        filled = self._impute_z(z) if hidden.any() else z
        filled = np.where(hidden, filled, z)  # observed entries pass through
        return filled * self.scale_ + self.center_

    def _fit_z(self, z: np.ndarray) -> None:
        raise NotImplementedError

    def _impute_z(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register_model("impute-mean", summary="Mean imputation: each hidden entry gets its feature's training mean "
                "(translation: every target feature's training mean); the imputation tasks' negative control",
                reference="Little RJA, Rubin DB. Statistical analysis with missing data, Wiley 2002 (scikit-learn SimpleImputer)",
                kinds=("imputation", "translation"), modality_handling=HANDLING, missing="impute", is_control=True)
class MeanImputer(ModalityImputer):
    """scikit-learn's ``SimpleImputer(strategy="mean")`` fitted on the training patients.

    For translation tasks (a whole modality to predict) it predicts the training mean of every target feature.
    """

    def __init__(self, kind: str = "imputation") -> None:
        self.kind = kind

    def fit(self, X: Mapping[str, np.ndarray], y: Any = None) -> MeanImputer:
        if self.kind == "translation":
            self.target_mean_ = np.nanmean(np.asarray(y, dtype=np.float64), axis=0)
            return self
        return super().fit(X, y)

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.kind == "translation":
            n = len(next(iter(X.values())))
            return np.tile(self.target_mean_, (n, 1))
        return super().predict(X)

    def _fit_z(self, z: np.ndarray) -> None:
        self.imputer_ = SimpleImputer(strategy="mean").fit(z)

    def _impute_z(self, z: np.ndarray) -> np.ndarray:
        return self.imputer_.transform(z)


@register_model("impute-knn", summary="k-nearest-neighbour imputation (k = 10, distance-weighted) among the training "
                "patients, distances over the test patient's observed features",
                reference="Troyanskaya et al., Bioinformatics 2001 (scikit-learn KNNImputer)",
                kinds=("imputation",), modality_handling=HANDLING, missing="impute")
class KNNModalityImputer(ModalityImputer):
    """scikit-learn's ``KNNImputer``: neighbours are training patients only (it keeps the fitted matrix as donors)."""

    def __init__(self, n_neighbors: int = 10, weights: str = "distance") -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights

    def _fit_z(self, z: np.ndarray) -> None:
        self.imputer_ = KNNImputer(n_neighbors=self.n_neighbors, weights=self.weights, keep_empty_features=True).fit(z)

    def _impute_z(self, z: np.ndarray) -> np.ndarray:
        return self.imputer_.transform(z)


@register_model("impute-iterative", summary="MICE-style chained regressions (ridge, penalty by leave-one-out in "
                "training, on 100 features drawn by their correlation with each), fitted on training patients; "
                "5 rounds at prediction",
                reference="van Buuren & Groothuis-Oudshoorn, J Stat Softw 2011 (scikit-learn IterativeImputer)",
                kinds=("imputation",), modality_handling=HANDLING, missing="impute")
class IterativeModalityImputer(ModalityImputer):
    """scikit-learn's ``IterativeImputer`` whose per-feature regressions are fitted on the training patients.

    Trap: fitted on complete training data, ``IterativeImputer`` stops after one round (nothing changes between
    rounds), so its ``transform`` runs the chain once. A test patient with 70 % of entries hidden then gets each
    value from neighbours that are still mostly mean-filled; this class runs the fitted chain ``n_rounds`` times
    (regressions fixed, only the hidden entries updated), the chained-equations loop of MICE without refitting
    on test patients. Each regression's ridge penalty is chosen by scikit-learn's efficient leave-one-out over the
    training patients (``RidgeCV``): unpenalised chains fed back over 5 rounds did worse than the mean.
    """

    def __init__(self, n_nearest_features: int = 100, n_rounds: int = 5,
                 alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0), random_state: int = 0) -> None:
        self.n_nearest_features = n_nearest_features
        self.alphas = alphas
        self.n_rounds = n_rounds
        self.random_state = random_state

    def _fit_z(self, z: np.ndarray) -> None:
        nearest = min(self.n_nearest_features, z.shape[1] - 1) or None
        # One BLAS thread: thousands of small ridge fits run 5-10x slower with threads on a busy machine.
        with threadpool_limits(limits=1):
            self.imputer_ = IterativeImputer(estimator=RidgeCV(alphas=self.alphas), n_nearest_features=nearest,
                                             max_iter=self.n_rounds, initial_strategy="mean",
                                             random_state=self.random_state, keep_empty_features=True).fit(z)

    def _impute_z(self, z: np.ndarray) -> np.ndarray:
        hidden = np.isnan(z)
        with threadpool_limits(limits=1):
            filled = self.imputer_.transform(z)  # round 1: mean start, then the chain once
            for _ in range(self.n_rounds - 1):
                for feat, neighbours, estimator in self.imputer_.imputation_sequence_:
                    rows = hidden[:, feat]
                    if rows.any():
                        filled[rows, feat] = estimator.predict(filled[np.ix_(rows, neighbours)])
        return filled


@register_model("impute-svd", summary="Low-rank imputation: the training patients' top right singular vectors "
                "(TruncatedSVD; rank 5-50 chosen on held-out training patients); a test patient's coordinates by "
                "ridge regression on its observed features",
                reference="Troyanskaya et al., Bioinformatics 2001 (SVDimpute); Mazumder et al., JMLR 2010 (soft-impute)",
                kinds=("imputation",), modality_handling=HANDLING, missing="impute")
class SVDModalityImputer(ModalityImputer):
    """SVDimpute made inductive: the rank-``rank`` feature basis ``V`` comes from the training patients; a test
    patient's hidden entries are ``u V_h`` with ``u = argmin |x_o - u V_o|^2 + shrink |u|^2`` over its observed
    entries ``o``. The ridge term is the soft-impute idea of shrinking the low-rank fit.

    The rank is chosen among ``ranks`` inside the training fold: a basis fitted on 80 % of the training patients
    fills ``inner_rate`` of the entries hidden in the other 20 %; the rank with the lowest MAE is refitted on all
    of them.

    Not fancyimpute's SoftImpute: that completes one given matrix (test rows would have to be in the fit, a
    transductive step), and fancyimpute pulls in cvxpy and cvxopt. scikit-learn's ``TruncatedSVD`` is used here.
    """

    def __init__(self, ranks: tuple[int, ...] = (5, 10, 20, 50), shrink: float = 1.0, inner_rate: float = 0.5,
                 random_state: int = 0) -> None:
        self.ranks = ranks
        self.shrink = shrink
        self.inner_rate = inner_rate
        self.random_state = random_state

    def _basis(self, z: np.ndarray, rank: int) -> np.ndarray:
        rank = max(1, min(rank, z.shape[0] - 1, z.shape[1] - 1))
        svd = TruncatedSVD(n_components=rank, algorithm="randomized", random_state=self.random_state)
        return svd.fit(np.nan_to_num(z)).components_  # z-scored: a missing training value counts as the mean (0)

    def _fit_z(self, z: np.ndarray) -> None:
        rng = np.random.default_rng(self.random_state)
        inner = rng.permutation(len(z))
        n_valid = len(z) // 5
        self.rank_ = self.ranks[0]
        if len(self.ranks) > 1 and n_valid >= 2:
            valid, fit = z[inner[:n_valid]], z[inner[n_valid:]]
            hidden = rng.random(valid.shape) < self.inner_rate
            shown = np.where(hidden, np.nan, valid)
            V = self._basis(fit, max(self.ranks))
            errors = {r: float(np.nanmean(np.abs(self._fill(shown, V[:r]) - valid)[hidden])) for r in self.ranks
                      if r <= len(V)}
            self.rank_ = min(errors, key=errors.get)
            log.debug("impute-svd: inner MAE by rank %s; rank %d", errors, self.rank_)
        self.components_ = self._basis(z, self.rank_)  # (rank, p), orthonormal rows

    def _impute_z(self, z: np.ndarray) -> np.ndarray:
        return self._fill(z, self.components_)

    def _fill(self, z: np.ndarray, V: np.ndarray) -> np.ndarray:
        out = np.empty_like(z)
        eye = self.shrink * np.eye(V.shape[0])
        for i, row in enumerate(z):
            seen = ~np.isnan(row)
            Vo = V[:, seen]
            u = np.linalg.solve(Vo @ Vo.T + eye, Vo @ row[seen])
            out[i] = u @ V
        return out
