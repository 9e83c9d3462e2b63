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


class BreslowSurvival:
    """Survival functions of a risk model from a Breslow baseline hazard, recalibrated out of fold.

    ``fit`` (in the subclass) sets ``breslow_`` on the training linear predictor. A linear predictor that
    fitted its own rows is over-dispersed on new patients (its survival curves are too extreme: a tuned
    coxnet scored IBS 0.126 against the Kaplan-Meier control's 0.109 on os-brca-porpoise), so ``calibrate``
    replaces it with the calibration-slope model fitted on out-of-fold predictions of the training rows:
    S(t | x) = S0(t) ** exp(slope * lp(x)), slope and S0 (Breslow) from a one-covariate Cox model on the
    out-of-fold ``lp``. The partial-likelihood slope still over-disperses when the out-of-fold risks are noisy
    (coxnet on os-lihc-porpoise, fold 2: IBS 0.174 against the Kaplan-Meier control's 0.157), so the slope used is
    the fraction in ``SHRINK_GRID`` of it whose curves have the smallest integrated Brier score on the same
    out-of-fold predictions (training rows only; Graf et al. 1999); a fraction of 0 is the Kaplan-Meier-like curve,
    so the choice is never worse there than no model. The final fit (all training rows) spreads its ``lp`` on
    another scale than the out-of-fold fits, so its ``lp`` is first mapped onto the out-of-fold ``lp``'s mean and
    standard deviation (each measured on the training rows) and clipped to the out-of-fold range: a test patient
    beyond every out-of-fold risk gets the most extreme calibrated curve, not an extrapolated one (without that,
    coxnet on os-lihc-porpoise fold 2 with a 2x2x1 tuning budget scored IBS 0.181 against KM's 0.157).
    Ranking (the C-index) is unchanged.

    References
    ----------
    Breslow NE. Discussion of Cox (1972). JRSS-B 34, 1972.
    Van Houwelingen HC, Le Cessie S. Predictive value of statistical models. Stat Med 9(11):1303-25, 1990.
    Graf E, Schmoor C, Sauerbrei W, Schumacher M. Assessment and comparison of prognostic classification schemes
    for survival data. Stat Med 18(17-18):2529-45, 1999.
    """

    SHRINK_GRID = tuple(np.linspace(0.0, 1.0, 11))
    slope_: float = 1.0
    ml_slope_: float = 1.0
    train_lp_: tuple[float, float] = (0.0, 1.0)  # mean and sd of the final fit's lp on the training rows
    oof_lp_: tuple[float, float, float, float] | None = None  # mean, sd, min, max of the out-of-fold lp

    def _fit_training(self, lp: np.ndarray, y: Any) -> None:
        """Breslow baseline on the training rows' own ``lp`` (uncalibrated), remembering its spread."""
        self.slope_ = self.ml_slope_ = 1.0
        self.oof_lp_ = None
        self.train_lp_ = (float(np.mean(lp)), float(np.std(lp)))
        self._fit_baseline(lp, y)

    def _calibrated_lp(self, lp: np.ndarray) -> np.ndarray:
        """The final fit's ``lp`` on the out-of-fold scale, clipped to its range, times the slope."""
        if self.oof_lp_ is None:
            return self.slope_ * lp
        mean, sd, low, high = self.oof_lp_
        train_mean, train_sd = self.train_lp_
        if train_sd > 0 and np.isfinite(train_sd):
            u = mean + (lp - train_mean) * (sd / train_sd)
        else:
            u = np.full_like(lp, mean, dtype=np.float64)
        return self.slope_ * np.clip(u, low, high)

    def _fit_baseline(self, lp: np.ndarray, y: Any) -> None:
        from sksurv.linear_model.coxph import BreslowEstimator

        with np.errstate(over="ignore"):  # an overfit candidate's huge risks: the inner CV rejects it anyway
            self.breslow_ = BreslowEstimator().fit(lp, y["event"], y["time"])

    def calibrate(self, oof_risk: np.ndarray, y: Any) -> "BreslowSurvival":
        """Recalibrate the survival functions on out-of-fold risks of the training rows (see class doc)."""
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        lp = np.asarray(oof_risk, dtype=np.float64)
        center, spread = lp.mean(), lp.std()
        if not np.isfinite(spread) or spread == 0:
            slope = 0.0
        else:
            z = ((lp - center) / spread)[:, None]
            slope = max(0.0, float(CoxPHSurvivalAnalysis(alpha=1e-4).fit(z, y).coef_[0])) / spread
        self.ml_slope_ = slope
        self.slope_ = min(self.SHRINK_GRID, key=lambda f: self._oof_ibs(f * slope * lp, y)) * slope
        self.oof_lp_ = (float(center), float(spread), float(lp.min()), float(lp.max()))
        self._fit_baseline(self.slope_ * lp, y)
        return self

    def _oof_ibs(self, lp: np.ndarray, y: Any) -> float:
        """Integrated Brier score of the Breslow curves of ``lp`` on the training rows themselves (IPCW from them),
        over the 10th-80th percentiles of their event times; +inf when the grid is too short to integrate."""
        from sksurv.metrics import integrated_brier_score

        events = y["time"][y["event"]]
        grid = np.unique(np.quantile(events, np.linspace(0.1, 0.8, 8))) if events.size else np.array([])
        grid = grid[grid < y["time"].max()]
        if grid.size < 2:
            return float("inf") if lp.any() else 0.0  # too few events to compare: keep the flat curve
        self._fit_baseline(lp, y)
        curves = np.vstack([fn(grid) for fn in self.breslow_.get_survival_function(lp)])
        return float(integrated_brier_score(y, y, curves, grid))

    def predict_survival_function(self, X: np.ndarray) -> Any:
        return self.breslow_.get_survival_function(self._calibrated_lp(self.predict(X)))


class Coxnet(BreslowSurvival, BaseEstimator):
    """Elastic-net Cox at the penalty ``alpha_ratio * alpha_max``, with a Breslow baseline hazard.

    The coefficients come from a warm-started path of ``n_path`` penalties from ``alpha_max`` (the smallest
    penalty that zeroes every coefficient on these rows) down to the chosen one: scale-free, so one search
    space serves every cohort, and the small-penalty end stays stable.
    """

    def __init__(self, alpha_ratio: float = 0.1, l1_ratio: float = 0.5, n_path: int = 10) -> None:
        self.alpha_ratio = alpha_ratio
        self.l1_ratio = l1_ratio
        self.n_path = n_path

    def fit(self, X: np.ndarray, y: Any) -> "Coxnet":
        from sksurv.linear_model import CoxnetSurvivalAnalysis

        self.model_ = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=self.n_path,
                                             alpha_min_ratio=self.alpha_ratio, max_iter=20000).fit(X, y)
        self.alpha_ = float(self.model_.alphas_[-1])
        self._fit_training(self.predict(X), y)
        return self

    @property
    def coef_(self) -> np.ndarray:
        """Coefficients at the chosen penalty (the path's last column)."""
        return self.model_.coef_[:, -1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X, alpha=self.alpha_)


class RidgeCox(BreslowSurvival, BaseEstimator):
    """Cox proportional hazards with a ridge penalty ``alpha`` (scikit-survival), Breslow baseline."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: Any) -> "RidgeCox":
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        self.model_ = CoxPHSurvivalAnalysis(alpha=self.alpha).fit(X, y)
        self._fit_training(self.predict(X), y)
        return self

    @property
    def coef_(self) -> np.ndarray:
        return self.model_.coef_

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)


class XGBCox(BreslowSurvival, BaseEstimator):
    """XGBoost with the Cox partial-likelihood objective; survival curves from a Breslow baseline hazard."""

    def __init__(self, n_estimators: int = 200, max_depth: int = 3, learning_rate: float = 0.05,
                 random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any) -> "XGBCox":
        from xgboost import XGBRegressor

        time, event = y["time"], y["event"]
        label = np.where(event, time, -time)  # XGBoost's survival:cox convention: negative = censored
        self.model_ = XGBRegressor(objective="survival:cox", n_estimators=self.n_estimators, max_depth=self.max_depth,
                                   learning_rate=self.learning_rate, tree_method="hist", n_jobs=1,
                                   random_state=self.random_state, subsample=0.8, colsample_bytree=0.5)
        self.model_.fit(X, label)
        self._fit_training(self.predict(X), y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X, output_margin=True).astype(np.float64)


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
    return tuned("clinical-cox", EarlyFusion(RidgeCox(alpha=1.0)), "survival", random_state)
