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

from oncobench.baselines.fusion import EarlyFusion
from oncobench.baselines.registry import register_model
from oncobench.baselines.tuning import TunedModel, tuned

EARLY = ("early fusion: per-modality median imputation + presence flag and scaling (training fold), concatenated; "
         "no variance cut")


class Coxnet(BaseEstimator):
    """Elastic-net Cox at the penalty ``alpha_ratio * alpha_max``, with a Breslow baseline hazard.

    The coefficients come from a warm-started path of ``n_path`` penalties from ``alpha_max`` (the smallest
    penalty that zeroes every coefficient on these rows) down to the chosen one: scale-free, so one search
    space serves every cohort, and the small-penalty end stays stable. Survival functions use the Breslow
    estimator of the baseline hazard on the final linear predictor of the training rows.
    """

    def __init__(self, alpha_ratio: float = 0.1, l1_ratio: float = 0.5, n_path: int = 10) -> None:
        self.alpha_ratio = alpha_ratio
        self.l1_ratio = l1_ratio
        self.n_path = n_path

    def fit(self, X: np.ndarray, y: Any) -> "Coxnet":
        from sksurv.linear_model import CoxnetSurvivalAnalysis
        from sksurv.linear_model.coxph import BreslowEstimator

        self.model_ = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=self.n_path,
                                             alpha_min_ratio=self.alpha_ratio, max_iter=20000).fit(X, y)
        self.alpha_ = float(self.model_.alphas_[-1])
        with np.errstate(over="ignore"):  # an overfit candidate's huge risks: the inner CV rejects it anyway
            self.breslow_ = BreslowEstimator().fit(self.predict(X), y["event"], y["time"])
        return self

    @property
    def coef_(self) -> np.ndarray:
        """Coefficients at the chosen penalty (the path's last column)."""
        return self.model_.coef_[:, -1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X, alpha=self.alpha_)

    def predict_survival_function(self, X: np.ndarray) -> Any:
        return self.breslow_.get_survival_function(self.predict(X))


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


@register_model("coxnet", summary="Elastic-net Cox (l1_ratio 0.5) + Breslow baseline; penalty tuned in the training fold",
                reference="Simon et al., J Stat Softw 2011; Breslow 1972", kinds=("survival",), modality_handling=EARLY,
                missing="impute")
def coxnet(random_state: int = 0) -> TunedModel:
    return tuned("coxnet", EarlyFusion(Coxnet()), "survival", random_state)


class SurvivalForest(BaseEstimator):
    """Random survival forest; by default its leaf and bootstrap size follow the training-set size.

    ``min_samples_leaf=None`` means min(15, n/40) (at least 3); trees see half-size bootstrap samples above
    200 patients: on a small fold a fixed leaf of 15 cannot split at all and every patient gets the same risk.
    """

    def __init__(self, n_estimators: int = 100, min_samples_leaf: int | None = None, max_features: Any = "sqrt",
                 random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any) -> "SurvivalForest":
        from sksurv.ensemble import RandomSurvivalForest

        n = len(X)
        leaf = self.min_samples_leaf if self.min_samples_leaf is not None else max(3, min(15, n // 40))
        self.model_ = RandomSurvivalForest(
            n_estimators=self.n_estimators, min_samples_leaf=leaf, max_features=self.max_features,
            max_samples=0.5 if n > 200 else None, n_jobs=1, random_state=self.random_state).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)

    def predict_survival_function(self, X: np.ndarray) -> Any:
        return self.model_.predict_survival_function(X)


@register_model("rsf", summary="Random survival forest (100 trees); leaf size and max_features tuned in the training fold",
                reference="Ishwaran et al., Ann Appl Stat 2008", kinds=("survival",), modality_handling=EARLY,
                missing="impute")
def rsf(random_state: int = 0, n_estimators: int = 100) -> TunedModel:
    return tuned("rsf", EarlyFusion(SurvivalForest(n_estimators=n_estimators, random_state=random_state)), "survival",
                 random_state)


@register_model("xgboost-cox", summary="XGBoost, Cox objective + Breslow baseline; depth, learning rate, rounds tuned",
                reference="Chen & Guestrin, KDD 2016; Breslow 1972", kinds=("survival",), modality_handling=EARLY,
                missing="impute")
def xgboost_cox(random_state: int = 0) -> TunedModel:
    return tuned("xgboost-cox", EarlyFusion(XGBCox(random_state=random_state)), "survival", random_state)


@register_model("clinical-cox", summary="Clinical reference: ridge Cox on age, sex, stage group and grade; ridge penalty tuned",
                reference="Cox DR. Regression models and life-tables. JRSS-B 34, 1972", kinds=("survival",),
                modality_handling="clinical covariates only", missing="impute", is_clinical_reference=True,
                modalities=("clinical",))
def clinical_cox(random_state: int = 0) -> TunedModel:
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    return tuned("clinical-cox", EarlyFusion(CoxPHSurvivalAnalysis(alpha=1.0)), "survival", random_state)
