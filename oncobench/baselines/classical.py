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
from oncobench.baselines.tuning import TunedModel, tuned

CLASSIFY = ("classification", "binary")
EARLY = ("early fusion: per-modality median imputation + presence flag and scaling (training fold), concatenated; "
         "no variance cut")


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


@register_model("logreg", summary="Elastic-net logistic regression; C and l1_ratio tuned in the training fold",
                reference="Zou & Hastie, JRSS-B 2005", kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def logreg(kind: str = "classification", random_state: int = 0) -> TunedModel:
    return tuned("logreg", EarlyFusion(LogisticRegression(C=0.1, l1_ratio=0.5, solver="saga", max_iter=3000, tol=1e-3,
                                                          random_state=random_state)), kind, random_state)


@register_model("svm", summary="Linear SVM with Platt-sigmoid probabilities (3-fold); C tuned in the training fold",
                reference="Fan et al., JMLR 2008; Platt 1999", kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def svm(kind: str = "classification", random_state: int = 0) -> TunedModel:
    return tuned("svm", EarlyFusion(CalibratedClassifierCV(LinearSVC(C=0.01, random_state=random_state, max_iter=5000),
                                                           cv=3, method="sigmoid")), kind, random_state)


@register_model("rf", summary="Random forest (200 trees); leaf size and max_features tuned in the training fold",
                reference="Breiman, Machine Learning 2001", kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def rf(kind: str = "classification", random_state: int = 0, n_estimators: int = 200) -> TunedModel:
    return tuned("rf", EarlyFusion(RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=2,
                                                          max_features="sqrt", n_jobs=1, random_state=random_state)),
                 kind, random_state)


@register_model("xgboost", summary="Gradient-boosted trees; depth, learning rate and rounds tuned in the training fold",
                reference="Chen & Guestrin, KDD 2016", kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def xgboost(kind: str = "classification", random_state: int = 0) -> TunedModel:
    return tuned("xgboost", EarlyFusion(XGBLabelClassifier(random_state=random_state)), kind, random_state)


@register_model("knn", summary="k-nearest neighbours; k and weighting tuned in the training fold",
                reference="Cover & Hart, IEEE TIT 1967", kinds=CLASSIFY, modality_handling=EARLY, missing="impute")
def knn(kind: str = "classification", random_state: int = 0) -> TunedModel:
    return tuned("knn", EarlyFusion(KNeighborsClassifier(n_neighbors=15, weights="distance")), kind, random_state)


@register_model("clinical-logreg", summary="Clinical reference: logistic regression on the clinical covariates only; C tuned",
                reference="Zou & Hastie, JRSS-B 2005", kinds=CLASSIFY, modality_handling="clinical covariates only",
                missing="impute", is_clinical_reference=True, modalities=("clinical",))
def clinical_logreg(kind: str = "classification", random_state: int = 0) -> TunedModel:
    return tuned("clinical-logreg", EarlyFusion(LogisticRegression(C=1.0, max_iter=3000, random_state=random_state)),
                 kind, random_state)
