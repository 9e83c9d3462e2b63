"""Survival baselines: penalized Cox, random survival forest, XGBoost Cox, and the clinical Cox reference.

Every model predicts a risk (higher = worse) and survival probabilities at given times.

References
----------
Simon N, Friedman J, Hastie T, Tibshirani R. Regularization paths for Cox's proportional hazards model via
coordinate descent. J Stat Softw 39(5), 2011.
Ishwaran H, Kogalur UB, Blackstone EH, Lauer MS. Random survival forests. Ann Appl Stat 2(3), 2008.
Chen T, Guestrin C. XGBoost: a scalable tree boosting system. KDD 2016.
Breslow NE. Discussion of Cox (1972). JRSS-B 34, 1972.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold

from oncobench.baselines.fusion import EarlyFusion
from oncobench.baselines.registry import register_model

EARLY = "early fusion: per-modality median imputation + presence flag, scaling and Top-500 variance filter (training fold), concatenated"


class CoxnetCV(BaseEstimator):
    """Elastic-net Cox whose penalty is chosen by inner K-fold CV (Harrell's C) on the training fold."""

    def __init__(self, l1_ratio: float = 0.5, n_alphas: int = 12, alpha_min_ratio: float = 0.1,
                 inner_folds: int = 3, random_state: int = 0) -> None:
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.inner_folds = inner_folds
        self.random_state = random_state

    def _path(self, alphas: Any = None) -> Any:
        from sksurv.linear_model import CoxnetSurvivalAnalysis

        return CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=self.n_alphas, alphas=alphas,
                                      alpha_min_ratio=self.alpha_min_ratio, max_iter=20000)

    def fit(self, X: np.ndarray, y: Any) -> "CoxnetCV":
        import warnings

        from sksurv.exceptions import NoComparablePairException
        from sksurv.metrics import concordance_index_censored
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a path end may stop early; CV decides
            # the path's first alpha zeroes every coefficient (a constant risk): never a candidate
            alphas = self._path().fit(X, y).alphas_[1:]
            scores = np.zeros(len(alphas))
            for fit_rows, held in KFold(self.inner_folds, shuffle=True, random_state=self.random_state).split(X):
                path = self._path(alphas).fit(X[fit_rows], y[fit_rows])
                for i, a in enumerate(path.alphas_):
                    risk = path.predict(X[held], alpha=a)
                    try:
                        scores[i] += concordance_index_censored(y[held]["event"], y[held]["time"], risk)[0]
                    except NoComparablePairException:
                        scores[i] += 0.5
            from sksurv.linear_model import CoxnetSurvivalAnalysis

            # Refit the path from the largest alpha down to the chosen one (warm starts keep the small-alpha
            # end stable); if the baseline hazard overflows there, step back to a larger alpha.
            best = int(np.argmax(scores))
            while True:
                try:
                    self.model_ = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, alphas=alphas[: best + 1], max_iter=20000,
                                                         fit_baseline_model=True).fit(X, y)
                    break
                except ArithmeticError:
                    if best == 0:
                        raise
                    best -= 1
            self.alpha_ = float(alphas[best])
        return self

    @property
    def coef_(self) -> np.ndarray:
        """Coefficients at the chosen penalty (the path was fitted down to it: its last column)."""
        return self.model_.coef_[:, -1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X, alpha=self.alpha_)

    def predict_survival_function(self, X: np.ndarray) -> Any:
        return self.model_.predict_survival_function(X, alpha=self.alpha_)


class XGBCox(BaseEstimator):
    """XGBoost with the Cox partial-likelihood objective; survival curves from a Breslow baseline hazard."""

    def __init__(self, n_estimators: int = 200, max_depth: int = 3, learning_rate: float = 0.05,
                 random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any) -> "XGBCox":
        from sksurv.linear_model.coxph import BreslowEstimator
        from xgboost import XGBRegressor

        time, event = y["time"], y["event"]
        label = np.where(event, time, -time)  # XGBoost's survival:cox convention: negative = censored
        self.model_ = XGBRegressor(objective="survival:cox", n_estimators=self.n_estimators, max_depth=self.max_depth,
                                   learning_rate=self.learning_rate, tree_method="hist", n_jobs=1,
                                   random_state=self.random_state, subsample=0.8, colsample_bytree=0.5)
        self.model_.fit(X, label)
        self.breslow_ = BreslowEstimator().fit(self._margin(X), event, time)
        return self

    def _margin(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X, output_margin=True).astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._margin(X)

    def predict_survival_function(self, X: np.ndarray) -> Any:
        return self.breslow_.get_survival_function(self._margin(X))


@register_model("coxnet", summary="Elastic-net Cox (l1_ratio 0.5), penalty by inner 3-fold CV on the training fold",
                reference="Simon et al., J Stat Softw 2011", kinds=("survival",), modality_handling=EARLY, missing="impute")
def coxnet(random_state: int = 0) -> EarlyFusion:
    return EarlyFusion(CoxnetCV(random_state=random_state))


class SurvivalForest(BaseEstimator):
    """Random survival forest whose leaf size and bootstrap size follow the training-set size.

    ``min_samples_leaf`` is min(15, n/40) (at least 3) and trees see half-size bootstrap samples above 200
    patients: on a small fold a fixed leaf of 15 cannot split at all and every patient gets the same risk.
    """

    def __init__(self, n_estimators: int = 100, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any) -> "SurvivalForest":
        from sksurv.ensemble import RandomSurvivalForest

        n = len(X)
        self.model_ = RandomSurvivalForest(
            n_estimators=self.n_estimators, min_samples_leaf=max(3, min(15, n // 40)), max_features="sqrt",
            max_samples=0.5 if n > 200 else None, n_jobs=1, random_state=self.random_state).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def predict_survival_function(self, X: np.ndarray) -> Any:
        return self.model_.predict_survival_function(X)


@register_model("rsf", summary="Random survival forest (100 trees; leaf and bootstrap size scale with the fold)",
                reference="Ishwaran et al., Ann Appl Stat 2008", kinds=("survival",), modality_handling=EARLY,
                missing="impute")
def rsf(random_state: int = 0, n_estimators: int = 100) -> EarlyFusion:
    return EarlyFusion(SurvivalForest(n_estimators=n_estimators, random_state=random_state), top_k=200)


@register_model("xgboost-cox", summary="XGBoost, Cox objective (200 rounds, depth 3) + Breslow baseline",
                reference="Chen & Guestrin, KDD 2016; Breslow 1972", kinds=("survival",), modality_handling=EARLY,
                missing="impute")
def xgboost_cox(random_state: int = 0) -> EarlyFusion:
    return EarlyFusion(XGBCox(random_state=random_state))


@register_model("clinical-cox", summary="Clinical reference: ridge Cox on age, sex, stage group and grade",
                reference="Cox DR. Regression models and life-tables. JRSS-B 34, 1972", kinds=("survival",),
                modality_handling="clinical covariates only", missing="impute", is_clinical_reference=True,
                modalities=("clinical",))
def clinical_cox() -> EarlyFusion:
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return EarlyFusion(CoxPHSurvivalAnalysis(alpha=1.0), top_k=None)
