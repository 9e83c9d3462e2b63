"""``clinical-fusion``: clinical covariates plus out-of-fold per-modality scores in one regression model.

Survival: a Cox model over the clinical covariates and one risk score per omics/pathology modality; classification
and binary tasks: a multinomial (binary) logistic model over the clinical covariates and each modality's class
probabilities. This is the design of the multimodal recurrence model the project follows (a Cox model over clinical
covariates plus per-modality risk scores) and of late fusion in Pathomic Fusion's and Boehm et al.'s comparisons;
De Bin et al. and Boulesteix & Sauerbrei discuss it as the way to measure what omics add to clinical data.

Leakage rules (all inside the training fold the runner passes to ``fit``):

- each modality's base model (``coxnet`` for survival, ``logreg`` otherwise: the registered models, with their own
  preprocessing and tuning) gives *out-of-fold* scores for the training patients by an inner K-fold CV on the
  training fold only, so the combiner never sees a score fitted on its own row;
- the per-modality models refitted on the whole training fold score the test patients;
- a patient without a modality gets that modality's training mean (out-of-fold) score plus a 0 in the modality's
  presence column; the clinical block is imputed and scaled with training statistics
  (:class:`~oncobench.baselines.preprocess.ModalityPreprocessor`, as in the ``clinical-cox`` reference).

Penalties: the clinical terms are unpenalised and the score terms (and presence flags) carry a small ridge
(``score_penalty``, added to the negative log (partial) likelihood summed over patients as
``0.5 * score_penalty * sum(beta**2)``), which keeps the combiner finite when one modality's scores separate
the classes. Survival uses scikit-survival's ``CoxPHSurvivalAnalysis``, whose ``alpha`` takes one ridge per
column (0 for the clinical ones; Breslow ties), and its Breslow baseline hazard gives the survival functions. For
classification scikit-learn has no per-column penalty, so :class:`PenalizedLogit` minimises the same penalised
likelihood with L-BFGS (it matches scikit-learn's ``LogisticRegression`` when every column has the same penalty).

References
----------
Cox DR. Regression models and life-tables. JRSS-B 34(2):187-220, 1972.
Breslow NE. Discussion of Cox (1972). JRSS-B 34:216-217, 1972.
Wolpert DH. Stacked generalization. Neural Networks 5(2):241-259, 1992.
Boulesteix A-L, Sauerbrei W. Added predictive value of high-throughput molecular data to clinical data and its
validation. Briefings in Bioinformatics 12(3):215-229, 2011.
De Bin R, Sauerbrei W, Boulesteix A-L. Investigating the prediction ability of survival models based on both
clinical and omics data: two case studies. Statistics in Medicine 33(30):5310-5329, 2014.
Chen RJ et al. Pathomic Fusion: an integrated framework for fusing histopathology and genomic features for cancer
diagnosis and prognosis. IEEE Trans Med Imaging 41(4):757-770, 2022.
Boehm KM et al. Multimodal data integration using machine learning improves risk stratification of high-grade
serous ovarian cancer. Nature Cancer 3:723-733, 2022.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold

from oncobench.baselines.fusion import _survival_at
from oncobench.baselines.preprocess import ModalityPreprocessor, modality_present
from oncobench.baselines.registry import register_model

log = logging.getLogger(__name__)

CLINICAL = "clinical"
BASE = {"survival": "coxnet", "classification": "logreg", "binary": "logreg"}


class PenalizedLogit(BaseEstimator):
    """Multinomial logistic regression with one ridge penalty per column (intercepts free).

    Minimises ``-sum log p(y_i | x_i) + 0.5 * sum_j penalty[j] * ||beta_j||^2`` with the first class as reference
    (coefficients 0), so a column with penalty 0 is unpenalised and, for two classes, the model is the binary
    logistic regression.
    """

    def __init__(self, penalty: Any = 1.0, max_iter: int = 1000) -> None:
        self.penalty = penalty
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: Any) -> "PenalizedLogit":
        X = np.asarray(X, dtype=np.float64)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        n, p = X.shape
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"a single class among {n} training patients: nothing to discriminate")
        pen = np.broadcast_to(np.asarray(self.penalty, dtype=np.float64), (p,))
        A = np.hstack([np.ones((n, 1)), X])
        onehot = np.eye(k)[codes][:, 1:]

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            W = w.reshape(p + 1, k - 1)
            eta = np.hstack([np.zeros((n, 1)), A @ W])
            lse = logsumexp(eta, axis=1)
            nll = lse.sum() - eta[np.arange(n), codes].sum()
            proba = np.exp(eta[:, 1:] - lse[:, None])
            grad = A.T @ (proba - onehot)
            grad[1:] += pen[:, None] * W[1:]
            return nll + 0.5 * float(np.sum(pen[:, None] * W[1:] ** 2)), grad.ravel()

        result = minimize(objective, np.zeros((p + 1) * (k - 1)), jac=True, method="L-BFGS-B",
                          options={"maxiter": self.max_iter, "gtol": 1e-8})
        W = result.x.reshape(p + 1, k - 1)
        self.intercept_, self.coef_ = W[0], W[1:].T  # coef_: (k - 1, p) against the first class
        self.converged_ = bool(result.success)
        if not result.success:
            log.info("PenalizedLogit: L-BFGS stopped before convergence (%s)", result.message)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        eta = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        eta = np.hstack([np.zeros((len(eta), 1)), eta])
        return np.exp(eta - logsumexp(eta, axis=1, keepdims=True))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class ClinicalFusion(BaseEstimator):
    """Clinical covariates (unpenalised) + out-of-fold per-modality scores -> Cox or logistic model.

    ``X`` maps modality -> matrix; ``clinical`` (when given) is the covariate block, every other modality is
    scored by ``base`` (default: ``coxnet`` for survival, ``logreg`` for classification). See the module
    docstring for the leakage rules and the penalties.
    """

    def __init__(self, kind: str = "survival", base: str | None = None, inner_folds: int = 3,
                 score_penalty: float = 1.0, random_state: int = 0) -> None:
        self.kind = kind
        self.base = base
        self.inner_folds = inner_folds
        self.score_penalty = score_penalty
        self.random_state = random_state

    # ---- per-modality scores ----------------------------------------------------------------------------------
    def _new(self) -> Any:
        from oncobench.baselines.registry import get_model

        return get_model(self.base or BASE[self.kind]).build(self.kind, self.random_state)

    def _fit_base(self, modality: str, values: np.ndarray, y: Any) -> Any | None:
        """A base model fitted on one modality, or None when its fit fails numerically (counted, logged)."""
        try:
            model = self._new().fit({modality: values}, y)
        except ArithmeticError as exc:  # e.g. coxnet's "weights are too large" on a path fit
            self.n_failed_candidates_ += 1
            log.warning("clinical-fusion: the %s model failed on %d patients (%s)", modality, len(values), exc)
            return None
        self.n_failed_candidates_ += int(getattr(model, "n_failed_candidates_", 0))
        return model

    def _score(self, model: Any | None, modality: str, values: np.ndarray) -> np.ndarray:
        """(n, width) score block: the risk (survival) or the probabilities of classes_[1:] (classification)."""
        out = np.full((len(values), self.width_), np.nan)
        rows = modality_present(values)
        if model is None or not rows.any():  # a failed inner fit: its held-out rows count as missing
            return out
        X = {modality: values[rows]}
        if self.kind == "survival":
            out[rows, 0] = np.asarray(model.predict(X), dtype=np.float64)
            return out
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        full = np.zeros((rows.sum(), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_)}
        for j, c in enumerate(model.classes_):  # a class an inner fold lacked gets probability 0
            full[:, index[c]] = proba[:, j]
        out[rows] = full[:, 1:]
        return out

    def _out_of_fold(self, X: Mapping[str, np.ndarray], y: Any, n: int) -> dict[str, np.ndarray]:
        strata = y["event"] if self.kind == "survival" else np.asarray(y)
        cv = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.random_state)
        oof = {m: np.full((n, self.width_), np.nan) for m in self.modalities_}
        for fit_rows, held in cv.split(np.zeros((n, 1)), strata):
            for m in self.modalities_:
                rows = fit_rows[modality_present(X[m][fit_rows])]
                if len(rows) == 0:  # no inner-training patient has it: these held-out rows stay missing
                    continue
                oof[m][held] = self._score(self._fit_base(m, X[m][rows], y[rows]), m, X[m][held])
        return oof

    # ---- design matrix ----------------------------------------------------------------------------------------
    def _design(self, X: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(X.values())))
        parts = [self.clinical_.transform({CLINICAL: X[CLINICAL]})] if self.clinical_ is not None else []
        for m in self.modalities_:
            s = scores[m]
            present = ~np.isnan(s[:, 0])
            parts.append((np.where(np.isnan(s), self.fill_[m], s) - self.fill_[m]) / self.spread_[m])
            parts.append(present[:, None].astype(np.float64))
        return np.hstack(parts)[:, self.keep_] if parts else np.zeros((n, 0))

    def fit(self, X: Mapping[str, np.ndarray], y: Any) -> "ClinicalFusion":
        if self.kind not in BASE:
            raise ValueError(f"clinical-fusion handles {', '.join(BASE)} tasks, not {self.kind!r}")
        n = len(next(iter(X.values())))
        self.n_failed_candidates_ = 0
        if self.kind != "survival":
            self.classes_ = np.array(sorted(set(np.asarray(y))), dtype=object)
        self.width_ = 1 if self.kind == "survival" else len(self.classes_) - 1
        self.clinical_ = ModalityPreprocessor(top_k=None).fit({CLINICAL: X[CLINICAL]}) if CLINICAL in X else None
        self.models_ = {}
        for m in (m for m in X if m != CLINICAL):
            rows = modality_present(X[m])
            model = self._fit_base(m, X[m][rows], y[rows]) if rows.any() else None
            if model is None:
                log.warning("clinical-fusion: no %s model could be fitted on the training fold; fused without it", m)
            else:
                self.models_[m] = model
        self.modalities_ = tuple(self.models_)
        self.oof_ = oof = self._out_of_fold(X, y, n)  # kept: the combiner's training scores, for inspection
        self.fill_, self.spread_ = {}, {}
        for m in self.modalities_:
            observed = oof[m][~np.isnan(oof[m][:, 0])]
            self.fill_[m] = observed.mean(axis=0) if len(observed) else np.zeros(self.width_)
            sd = observed.std(axis=0) if len(observed) else np.ones(self.width_)
            self.spread_[m] = np.where(sd > 0, sd, 1.0)  # scores on one scale: the ridge treats them alike
        n_clinical = self.clinical_.transform({CLINICAL: X[CLINICAL]}).shape[1] if self.clinical_ is not None else 0
        self.keep_ = slice(None)
        design = self._design(X, oof)
        # constant columns (a presence flag every patient shares) carry no information and make Cox singular
        self.keep_ = np.flatnonzero(design.std(axis=0) > 0)
        penalty = np.r_[np.zeros(n_clinical), np.full(design.shape[1] - n_clinical, self.score_penalty)][self.keep_]
        design = design[:, self.keep_]
        if self.kind == "survival":
            from sksurv.linear_model import CoxPHSurvivalAnalysis

            self.combiner_ = CoxPHSurvivalAnalysis(alpha=penalty, ties="breslow").fit(design, y)
        else:
            self.combiner_ = PenalizedLogit(penalty=penalty).fit(design, np.asarray(y))
        self.best_params_ = {f"{m}.{k}": v for m, model in self.models_.items()
                             for k, v in (getattr(model, "best_params_", None) or {}).items()}
        self.best_params_ |= {"inner_folds": self.inner_folds, "score_penalty": self.score_penalty}
        return self

    def _linear(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._design(X, {m: self._score(model, m, X[m]) for m, model in self.models_.items()})

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        """Risk (survival; higher = worse) or class label."""
        return self.combiner_.predict(self._linear(X))

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.combiner_.predict_proba(self._linear(X))

    def predict_survival(self, X: Mapping[str, np.ndarray], times: np.ndarray) -> np.ndarray:
        """P(T > t) at ``times`` from the combiner's Breslow baseline hazard."""
        return _survival_at(self.combiner_.predict_survival_function(self._linear(X)), np.asarray(times))


@register_model(
    "clinical-fusion", kinds=("survival", "classification", "binary"), missing="impute", reads_clinical=True,
    summary="Clinical covariates (unpenalised) + out-of-fold per-modality scores (coxnet / logreg) in one Cox or "
            "logistic model",
    reference="Boulesteix & Sauerbrei, Brief Bioinform 2011; De Bin et al., Stat Med 2014; Chen et al., IEEE TMI 2022",
    modality_handling="late fusion with clinical covariates: per-modality out-of-fold scores (inner CV on the "
                      "training fold) plus a presence flag, training-mean score where a modality is absent")
def clinical_fusion(kind: str = "survival", random_state: int = 0) -> ClinicalFusion:
    return ClinicalFusion(kind=kind, random_state=random_state)
