"""Fusion wrappers: ``early`` (one model on the concatenated, preprocessed modalities) and ``late``
(one model per modality, combined by mean, stacking, or a Cox model on the per-modality risk scores).

Late Cox combination follows the multimodal sarcoma recurrence design (clinical + radiology score +
pathology score -> Cox): each modality's score is an out-of-fold prediction on the training patients, so
the combiner never sees a score fitted on its own row.

References
----------
Wolpert DH. Stacked generalization. Neural Networks 5(2):241-259, 1992.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold, StratifiedKFold

from oncobench.baselines.preprocess import ModalityPreprocessor, complete_rows, modality_present


def _survival_at(functions: Any, times: np.ndarray) -> np.ndarray:
    """Evaluate scikit-survival step functions at ``times`` (clipped to each function's domain)."""
    out = np.empty((len(functions), len(times)))
    for i, fn in enumerate(functions):
        out[i] = fn(np.clip(times, fn.domain[0], fn.domain[1]))
    return np.clip(out, 0.0, 1.0)


class EarlyFusion(BaseEstimator):
    """Per-modality preprocessing (fitted on the training rows) + one estimator on the concatenation.

    ``missing="drop"`` fits on training patients that have every modality (test patients are still
    predicted, from imputed values and presence columns); ``"impute"`` fits on all of them.
    """

    def __init__(self, estimator: Any = None, top_k: int | None = None, missing: str = "impute") -> None:
        self.estimator = estimator
        self.top_k = top_k
        self.missing = missing

    def fit(self, X: Mapping[str, np.ndarray], y: Any) -> "EarlyFusion":
        rows = complete_rows(X) if self.missing == "drop" else np.ones(len(next(iter(X.values()))), dtype=bool)
        if not rows.any():  # zero rows under 'impute' means an empty training set, not a missing modality
            raise ValueError("missing='drop': no training patient has every modality" if self.missing == "drop"
                             else f"no training patients for modalities {list(X)}")
        X = {m: v[rows] for m, v in X.items()}
        y = y[rows] if y is not None else None
        self.preprocessor_ = ModalityPreprocessor(top_k=self.top_k).fit(X)
        self.estimator_ = clone(self.estimator).fit(self.preprocessor_.transform(X), y)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def _z(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.preprocessor_.transform(X)

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.estimator_.predict(self._z(X))

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.estimator_.predict_proba(self._z(X))

    def calibrate(self, oof_risk: np.ndarray, y: Any) -> "EarlyFusion":
        """Recalibrate the estimator's survival functions on out-of-fold risks (Breslow-type estimators)."""
        self.estimator_.calibrate(oof_risk, y)
        return self

    def predict_survival(self, X: Mapping[str, np.ndarray], times: np.ndarray) -> np.ndarray:
        """P(T > t) at ``times`` for each row (survival estimators only)."""
        return _survival_at(self.estimator_.predict_survival_function(self._z(X)), np.asarray(times))


class LateFusion(BaseEstimator):
    """One registered model per modality, combined by ``mean``, ``stack`` or ``cox``.

    Each modality model is trained on the training patients who have that modality. At prediction a
    patient's combination uses only the modalities the patient has (``mean``); the stacking and Cox
    combiners see every modality's out-of-fold score, with the training mean score and a 0 presence flag
    where a modality is absent.
    """

    def __init__(self, base: str = "logreg", kind: str = "classification", combine: str = "mean",
                 random_state: int = 0, inner_folds: int = 3) -> None:
        self.base = base
        self.kind = kind
        self.combine = combine
        self.random_state = random_state
        self.inner_folds = inner_folds

    def _new(self) -> Any:
        from oncobench.baselines.registry import get_model

        return get_model(self.base).build(self.kind, self.random_state)

    def _score(self, model: Any, X: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.kind == "survival":
            risk = np.asarray(model.predict(X), dtype=np.float64)
            return risk[:, None]
        return np.asarray(model.predict_proba(X), dtype=np.float64)

    def fit(self, X: Mapping[str, np.ndarray], y: Any) -> "LateFusion":
        self.modalities_ = tuple(X)
        self.models_: dict[str, Any] = {}
        n = len(next(iter(X.values())))
        if self.kind != "survival":
            self.classes_ = np.array(sorted(set(y)), dtype=object)
        absent = [m for m in self.modalities_ if not modality_present(X[m]).any()]
        if absent:
            raise ValueError(f"no training patients for modalities {absent}")
        for m in self.modalities_:
            rows = modality_present(X[m])
            self.models_[m] = self._new().fit({m: X[m][rows]}, y[rows])
        if self.kind == "survival":
            self._risk_mean = {}
            self._risk_sd = {}
            for m, model in self.models_.items():
                rows = modality_present(X[m])
                r = self._score(model, {m: X[m][rows]})[:, 0]
                self._risk_mean[m], self._risk_sd[m] = r.mean(), (r.std() or 1.0)
        self._failed: list[int] = []
        if self.combine in ("stack", "cox"):
            oof = self._out_of_fold(X, y, n)
            self.fill_ = np.nanmean(oof, axis=0)
            # scores on one scale, or the Cox combiner overflows on large raw risks
            self.center_, self.spread_ = self.fill_, np.where(np.nanstd(oof, axis=0) > 0, np.nanstd(oof, axis=0), 1.0)
            design = self._design(oof)
            self.combiner_ = self._combiner().fit(design, y)
        tuned = [model for model in self.models_.values() if hasattr(model, "best_params_")]
        if tuned:  # per-modality choices on the whole training fold; failures counted over every tuned fit
            self.best_params_ = {f"{m}.{k}": v for m, model in self.models_.items()
                                 for k, v in getattr(model, "best_params_", {}).items()}
            self.n_failed_candidates_ = sum(model.n_failed_candidates_ for model in tuned) + sum(self._failed)
        return self

    def _combiner(self) -> Any:
        if self.kind == "survival":
            from sksurv.linear_model import CoxPHSurvivalAnalysis

            return CoxPHSurvivalAnalysis(alpha=1.0)
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=2000)

    def _scores_matrix(self, models: Mapping[str, Any], X: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        cols = []
        for m in self.modalities_:
            width = 1 if self.kind == "survival" else len(self.classes_)
            block = np.full((n, width), np.nan)
            rows = modality_present(X[m])
            if rows.any():
                s = self._score(models[m], {m: X[m][rows]})
                if self.kind != "survival":
                    s = self._align(models[m], s)
                block[rows] = s
            cols.append(block)
        return np.hstack(cols)

    def _align(self, model: Any, proba: np.ndarray) -> np.ndarray:
        out = np.zeros((len(proba), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_)}
        for j, c in enumerate(model.classes_):
            out[:, index[c]] = proba[:, j]
        return out

    def _out_of_fold(self, X: Mapping[str, np.ndarray], y: Any, n: int) -> np.ndarray:
        if self.kind == "survival":
            cv = KFold(self.inner_folds, shuffle=True, random_state=self.random_state)
            splits = cv.split(np.zeros(n))
        else:
            cv = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.random_state)
            splits = cv.split(np.zeros(n), y)
        oof = None
        for fit_rows, held in splits:
            models = {}
            for m in self.modalities_:
                rows = fit_rows[modality_present(X[m][fit_rows])]
                models[m] = self._new().fit({m: X[m][rows]}, y[rows])
                self._failed.append(int(getattr(models[m], "n_failed_candidates_", 0)))
            scores = self._scores_matrix(models, {m: v[held] for m, v in X.items()}, len(held))
            if oof is None:
                oof = np.full((n, scores.shape[1]), np.nan)
            oof[held] = scores
        return oof

    def _design(self, scores: np.ndarray) -> np.ndarray:
        present = ~np.isnan(scores)
        filled = (np.where(present, scores, self.fill_) - self.center_) / self.spread_
        width = 1 if self.kind == "survival" else len(self.classes_)
        flags = present[:, ::width].astype(np.float64)
        return np.hstack([filled, flags])

    def _combined(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(X.values())))
        scores = self._scores_matrix(self.models_, X, n)
        if self.combine in ("stack", "cox"):
            design = self._design(scores)
            if self.kind == "survival":
                return np.asarray(self.combiner_.predict(design))
            return self._align(self.combiner_, self.combiner_.predict_proba(design))
        if self.kind == "survival":  # mean of per-modality standardised risks over the modalities a patient has
            z = np.column_stack([(scores[:, i] - self._risk_mean[m]) / self._risk_sd[m] for i, m in enumerate(self.modalities_)])
            return np.nanmean(np.where(np.isnan(z), np.nan, z), axis=1)
        k = len(self.classes_)
        blocks = scores.reshape(n, len(self.modalities_), k)
        proba = np.nanmean(blocks, axis=1)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._combined(X)

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        out = self._combined(X)
        if self.kind == "survival":
            return out
        return self.classes_[np.argmax(out, axis=1)]
