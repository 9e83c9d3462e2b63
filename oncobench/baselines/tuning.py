"""Equal, declared hyperparameter tuning inside the training fold: one budget for every classical model.

Every tuned model is wrapped in :class:`TunedModel`, which runs scikit-learn's ``RandomizedSearchCV`` on the
training rows it is given (never a test row) with a repeated, stratified inner CV and the same budget:
``BUDGET.n_candidates`` hyperparameter settings, each scored on ``BUDGET.n_splits x BUDGET.n_repeats`` inner
fits, then one refit of the best setting on the whole training fold (Cox-type survival models add
``n_splits`` fits of that setting, whose out-of-fold risks recalibrate the survival functions). Preprocessing (imputation, scaling, any
feature selection) lives inside the tuned estimator, so it is refitted inside every inner fit too.

A candidate whose fit or score fails numerically (scikit-survival's ``ArithmeticError`` "weights are too
large", a singular matrix ...) scores NaN (``error_score=np.nan``), is never chosen and is counted in
``n_failed_candidates_``; a failing final refit falls back to the next best candidate. The fold never dies of it.

References
----------
Bergstra J, Bengio Y. Random search for hyper-parameter optimization. JMLR 13:281-305, 2012.
Varma S, Simon R. Bias in error estimation when using cross-validation for model selection.
BMC Bioinformatics 7:91, 2006 (why tuning stays inside the training fold).
Harrell FE, Califf RM, Pryor DB, Lee KL, Rosati RA. Evaluating the yield of medical tests. JAMA 247(18), 1982.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from scipy.stats import loguniform
from sklearn.model_selection import RandomizedSearchCV, RepeatedKFold, RepeatedStratifiedKFold, cross_val_predict

log = logging.getLogger(__name__)

# Numerical failures that skip a candidate (anything else is a bug and raises).
NUMERICAL_FAILURES = (ArithmeticError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class TuningBudget:
    """How much tuning every model in a comparison gets: the same for all of them."""

    # The repeat halves the inner-CV variance that moved a single 3-fold choice of coxnet's penalty by up to
    # 0.05 C between seeds. ONCOBENCH_TUNING changes it for every model at once (the quick benchmark and the
    # test suite use a smaller declared budget); the budget is part of every job's config hash and logged.
    n_candidates: int = 4
    n_splits: int = 3
    n_repeats: int = 2

    @property
    def inner_fits(self) -> int:
        return self.n_candidates * self.n_splits * self.n_repeats

    def key(self) -> str:
        """``candidates,splits,repeats``: the form ``ONCOBENCH_TUNING`` takes, logged with every job."""
        return f"{self.n_candidates},{self.n_splits},{self.n_repeats}"

    def describe(self) -> str:
        return (f"{self.n_candidates} candidates x {self.n_splits}-fold inner CV repeated {self.n_repeats}x "
                f"({self.inner_fits} inner fits + 1 refit; Cox-type models + {self.n_splits} calibration fits), "
                "training fold only")


BUDGET = TuningBudget()  # the default declared budget


def budget_from_env() -> TuningBudget:
    """The budget in force: ``ONCOBENCH_TUNING=candidates,splits,repeats`` (read at every call, so worker
    processes inherit it), else :data:`BUDGET`."""
    raw = os.environ.get("ONCOBENCH_TUNING")
    if not raw:
        return BUDGET
    try:
        c, s, r = (int(v) for v in raw.split(","))
    except ValueError:
        raise ValueError(f"ONCOBENCH_TUNING={raw!r}: expected three integers 'candidates,splits,repeats', e.g. '8,3,3'") from None
    if c < 1 or s < 2 or r < 1:
        raise ValueError(f"ONCOBENCH_TUNING={raw!r}: need candidates >= 1, splits >= 2, repeats >= 1")
    return TuningBudget(c, s, r)


@contextlib.contextmanager
def declared_budget(budget: TuningBudget) -> Iterator[None]:
    """Run with ``budget`` for every model (this process and the workers it starts), then restore the previous one."""
    old = os.environ.get("ONCOBENCH_TUNING")
    os.environ["ONCOBENCH_TUNING"] = budget.key()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ONCOBENCH_TUNING", None)
        else:
            os.environ["ONCOBENCH_TUNING"] = old


def harrell_scorer(estimator: Any, X: Any, y: Any) -> float:
    """Harrell's C of ``estimator.predict(X)`` (a risk) against a scikit-survival outcome ``y``."""
    from sksurv.metrics import concordance_index_censored

    return float(concordance_index_censored(y["event"], y["time"], np.asarray(estimator.predict(X)))[0])


SCORING: dict[str, str | Callable[..., float]] = {
    "classification": "neg_log_loss",
    "binary": "neg_log_loss",
    "survival": harrell_scorer,
    "translation": "neg_mean_squared_error",
}


# Search spaces, declared in one place; keys are parameters of the registered model's EarlyFusion
# (``estimator__...`` reaches the wrapped estimator). Continuous parameters are log-uniform, so every model
# gets exactly ``BUDGET.n_candidates`` settings, drawn with the job's seed.
SPACES: dict[str, dict[str, Any]] = {
    "logreg": {"estimator__C": loguniform(1e-3, 10.0), "estimator__l1_ratio": [0.1, 0.5, 0.9]},
    "svm": {"estimator__estimator__C": loguniform(1e-4, 1.0)},
    "rf": {"estimator__min_samples_leaf": [1, 2, 5, 10], "estimator__max_features": ["sqrt", "log2", 0.05]},
    "xgboost": {"estimator__max_depth": [2, 3, 4, 6], "estimator__learning_rate": loguniform(0.02, 0.3),
                "estimator__n_estimators": [100, 200, 300]},
    "knn": {"estimator__n_neighbors": [3, 5, 10, 15, 25], "estimator__weights": ["uniform", "distance"]},
    "coxnet": {"estimator__alpha_ratio": loguniform(0.03, 0.5)},
    "rsf": {"estimator__min_samples_leaf": [3, 5, 10, 20], "estimator__max_features": ["sqrt", "log2", 0.05]},
    "xgboost-cox": {"estimator__max_depth": [1, 2, 3], "estimator__learning_rate": loguniform(0.01, 0.1),
                    "estimator__n_estimators": [100, 200]},
    "clinical-logreg": {"estimator__C": loguniform(1e-2, 1e2)},
    "clinical-cox": {"estimator__alpha": loguniform(1e-2, 1e2)},
    "ridge": {"estimator__alpha": loguniform(1e-1, 1e3)},
    "knn-regressor": {"estimator__n_neighbors": [3, 5, 10, 15, 25], "estimator__weights": ["uniform", "distance"]},
}


def describe(name: str) -> str:
    """One line for ``models list`` / docs: what is tuned for model ``name`` and with which budget."""
    if name not in SPACES:
        return "not tuned"
    names = ", ".join(k.rsplit("__", 1)[-1] for k in SPACES[name])
    return f"tunes {names}: {budget_from_env().describe()}"


class ModalityStack(BaseEstimator):
    """Adapter: a model on a dict of modality matrices, seen by scikit-learn's searchers as one matrix.

    ``layout`` gives each modality's column range in the stacked matrix; ``fit``/``predict`` cut it back
    into the dict the wrapped model expects.
    """

    def __init__(self, model: Any = None, layout: tuple[tuple[str, int, int], ...] = ()) -> None:
        self.model = model
        self.layout = layout

    def _split(self, Z: np.ndarray) -> dict[str, np.ndarray]:
        return {m: Z[:, a:b] for m, a, b in self.layout}

    def fit(self, Z: np.ndarray, y: Any) -> "ModalityStack":
        self.model_ = clone(self.model).fit(self._split(Z), y)
        if hasattr(self.model_, "classes_"):
            self.classes_ = self.model_.classes_
        return self

    def predict(self, Z: np.ndarray) -> np.ndarray:
        return self.model_.predict(self._split(Z))

    def predict_proba(self, Z: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(self._split(Z))


def stack(X: Mapping[str, np.ndarray]) -> tuple[np.ndarray, tuple[tuple[str, int, int], ...]]:
    """Concatenate modality matrices column-wise and remember where each one sits."""
    layout, start = [], 0
    for m, v in X.items():
        layout.append((m, start, start + v.shape[1]))
        start += v.shape[1]
    return np.hstack([np.asarray(v, dtype=np.float64) for v in X.values()]), tuple(layout)


def inner_splits(y: Any, kind: str, budget: TuningBudget, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated inner CV on the training rows: stratified by class, or by event for survival."""
    n = len(y)
    if kind == "survival":
        strata = np.asarray(y["event"]).astype(int)
    elif kind in ("classification", "binary"):
        strata = np.asarray(y)
    else:
        cv = RepeatedKFold(n_splits=budget.n_splits, n_repeats=budget.n_repeats, random_state=random_state)
        return list(cv.split(np.zeros(n)))
    _, counts = np.unique(strata, return_counts=True)
    if counts.min() < budget.n_splits:  # a stratum too small to appear in every inner fold: plain K-fold
        cv = RepeatedKFold(n_splits=budget.n_splits, n_repeats=budget.n_repeats, random_state=random_state)
        return list(cv.split(np.zeros(n)))
    cv = RepeatedStratifiedKFold(n_splits=budget.n_splits, n_repeats=budget.n_repeats, random_state=random_state)
    return list(cv.split(np.zeros(n), strata))


def _plain(value: Any) -> Any:
    """A JSON-serialisable copy of a hyperparameter value."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class TunedModel(BaseEstimator):
    """``model`` (taking a dict of modality matrices) with ``space`` tuned inside the training fold.

    Parameters
    ----------
    model : the unfitted model; ``space`` keys are its parameter names (nested with ``__``).
    space : parameter name -> list of candidate values (or a scipy distribution).
    kind : task kind; chooses the scorer (log-loss, Harrell's C, MSE) and the inner-CV stratification.
    budget : the tuning budget (default: the declared :data:`BUDGET`).

    After ``fit``: ``best_params_`` (JSON-serialisable), ``n_failed_candidates_`` (int), ``best_estimator_``
    (the refitted model), ``cv_results_``.
    """

    def __init__(self, model: Any = None, space: Mapping[str, Any] | None = None, kind: str = "classification",
                 budget: TuningBudget | None = None, random_state: int = 0) -> None:
        self.model = model
        self.space = space
        self.kind = kind
        self.budget = budget
        self.random_state = random_state

    def fit(self, X: Mapping[str, np.ndarray], y: Any) -> "TunedModel":
        budget = self.budget or budget_from_env()
        Z, layout = stack(X)
        space = {f"model__{k}": v for k, v in (self.space or {}).items()}
        search = RandomizedSearchCV(
            ModalityStack(self.model, layout), space, n_iter=budget.n_candidates, scoring=SCORING[self.kind],
            cv=inner_splits(y, self.kind, budget, self.random_state), error_score=np.nan, refit=False, n_jobs=1,
            random_state=self.random_state)
        with warnings.catch_warnings():
            # a failing candidate is counted below; a path end that stops early is judged by the inner CV
            warnings.simplefilter("ignore", FitFailedWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", message=".*Scoring failed.*")
            warnings.filterwarnings("ignore", message=".*One or more of the test scores are non-finite.*")
            warnings.filterwarnings("ignore", message=".*total space of parameters.*")
            search.fit(Z, y)
        results = search.cv_results_
        means = np.asarray(results["mean_test_score"], dtype=np.float64)
        failed = int(np.isnan(means).sum())
        order = [i for i in np.argsort(results["rank_test_score"], kind="stable") if np.isfinite(means[i])]
        if not order:
            log.warning("tuning: all %d candidates failed; fitting the model's own defaults", len(means))
        for i in order + [None]:
            params = {} if i is None else {k.removeprefix("model__"): v for k, v in results["params"][i].items()}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    self.best_estimator_ = clone(self.model).set_params(**params).fit(X, y)
            except NUMERICAL_FAILURES as exc:
                if i is None:
                    raise
                failed += 1
                log.info("tuning: refit of %s failed (%s); trying the next best candidate", params, exc)
                continue
            self.best_params_ = {k.rsplit("__", 1)[-1]: _plain(v) for k, v in params.items()}  # short names
            self.best_score_ = float(means[i]) if i is not None else float("nan")
            break
        self.n_failed_candidates_ = failed
        self.cv_results_ = results
        self.calibrated_ = False
        if self.kind == "survival" and hasattr(getattr(self.best_estimator_, "estimator_", self.best_estimator_), "calibrate"):
            # out-of-fold risks of the chosen setting on the first inner repeat (a partition of the rows)
            chosen = clone(self.model).set_params(**params)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    oof = cross_val_predict(ModalityStack(chosen, layout), Z, y, cv=search.cv[:budget.n_splits])
                self.best_estimator_.calibrate(oof, y)
                self.calibrated_ = True
            except NUMERICAL_FAILURES as exc:
                log.info("tuning: out-of-fold calibration failed (%s); keeping the training-fit baseline", exc)
        if failed:
            log.info("tuning: %d of %d candidates failed numerically and were skipped", failed, len(means))
        if hasattr(self.best_estimator_, "classes_"):
            self.classes_ = self.best_estimator_.classes_
        return self

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.best_estimator_.predict(X)

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.best_estimator_.predict_proba(X)

    def predict_survival(self, X: Mapping[str, np.ndarray], times: np.ndarray) -> np.ndarray:
        return self.best_estimator_.predict_survival(X, times)


def tuned(name: str, model: Any, kind: str, random_state: int) -> TunedModel:
    """Registered model ``name`` (an unfitted dict-of-modalities model) tuned over ``SPACES[name]``."""
    return TunedModel(model, SPACES[name], kind, None, random_state)
