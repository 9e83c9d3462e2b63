"""Classical classifiers, early fusion by default: per-modality impute/scale/Top-k, then one model.

References
----------
Zou H, Hastie T. Regularization and variable selection via the elastic net. JRSS-B 67(2), 2005.
Fan R-E et al. LIBLINEAR: a library for large linear classification. JMLR 9, 2008.
Breiman L. Random forests. Machine Learning 45, 2001.
Chen T, Guestrin C. XGBoost: a scalable tree boosting system. KDD 2016.
Cover T, Hart P. Nearest neighbor pattern classification. IEEE Trans Inf Theory 13(1), 1967.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from oncobench.baselines.fusion import EarlyFusion
from oncobench.baselines.registry import register_model

CLASSIFY = ("classification", "binary")
EARLY = "early fusion: per-modality median imputation + presence flag, scaling and Top-500 variance filter (training fold), concatenated"


class XGBLabelClassifier(BaseEstimator, ClassifierMixin):
    """XGBoost on string labels (XGBoost wants 0..k-1)."""

    def __init__(self, n_estimators: int = 200, max_depth: int = 4, learning_rate: float = 0.1,
                 random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any) -> "XGBLabelClassifier":
        from xgboost import XGBClassifier

        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.model_ = XGBClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                    learning_rate=self.learning_rate, tree_method="hist", n_jobs=1,
                                    random_state=self.random_state, subsample=0.8, colsample_bytree=0.5)
        self.model_.fit(X, codes)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        proba = self.model_.predict_proba(X)
        if proba.ndim == 1 or proba.shape[1] == 1:  # a single training class
            return np.ones((len(X), 1))
        return proba

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


@register_model("logreg", summary="Elastic-net logistic regression (l1_ratio 0.5, C 0.1)", reference="Zou & Hastie, JRSS-B 2005",
                kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def logreg(random_state: int = 0, C: float = 0.1, l1_ratio: float = 0.5) -> EarlyFusion:
    return EarlyFusion(LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", max_iter=3000, tol=1e-3,
                                          random_state=random_state))


@register_model("svm", summary="Linear SVM with Platt-sigmoid probabilities (3-fold, training fold only)",
                reference="Fan et al., JMLR 2008; Platt 1999", kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def svm(random_state: int = 0, C: float = 0.01) -> EarlyFusion:
    return EarlyFusion(CalibratedClassifierCV(LinearSVC(C=C, random_state=random_state, max_iter=5000), cv=3,
                                              method="sigmoid"))


@register_model("rf", summary="Random forest (300 trees)", reference="Breiman, Machine Learning 2001",
                kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def rf(random_state: int = 0, n_estimators: int = 300) -> EarlyFusion:
    return EarlyFusion(RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=2, max_features="sqrt",
                                              n_jobs=1, random_state=random_state))


@register_model("xgboost", summary="Gradient-boosted trees (200 rounds, depth 4)", reference="Chen & Guestrin, KDD 2016",
                kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def xgboost(random_state: int = 0) -> EarlyFusion:
    return EarlyFusion(XGBLabelClassifier(random_state=random_state))


@register_model("knn", summary="k-nearest neighbours (k=15, distance-weighted)", reference="Cover & Hart, IEEE TIT 1967",
                kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def knn(n_neighbors: int = 15) -> EarlyFusion:
    return EarlyFusion(KNeighborsClassifier(n_neighbors=n_neighbors, weights="distance"), top_k=200)


@register_model("clinical-logreg", summary="Clinical reference: logistic regression on the clinical covariates only",
                reference="Zou & Hastie, JRSS-B 2005", kinds=CLASSIFY, modality_handling="clinical covariates only",
                missing="impute", is_clinical_reference=True, modalities=("clinical",))
def clinical_logreg(random_state: int = 0) -> EarlyFusion:
    return EarlyFusion(LogisticRegression(C=1.0, max_iter=3000, random_state=random_state), top_k=None)
