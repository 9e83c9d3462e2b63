"""clinical-fusion: out-of-fold scores without leakage, unpenalised clinical terms, missing modalities, model specs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sksurv.util import Surv

from oncobench.baselines.clinical_fusion import ClinicalFusion, PenalizedLogit
from oncobench.baselines.registry import (
    IncompatibleModelError,
    ModelNotFoundError,
    build_model,
    parse_model_spec,
    spec_modalities,
)
from oncobench.benchmark.job import Job, model_inputs, run_job
from oncobench.benchmark.tasks import load_task


def _cohort(n: int = 160, seed: int = 0):
    rng = np.random.default_rng(seed)
    clinical = np.column_stack([rng.normal(60, 10, n), rng.integers(0, 2, n)]).astype(np.float64)
    latent = rng.standard_normal(n)
    rna = latent[:, None] * np.linspace(1.0, 0.2, 6) + rng.standard_normal((n, 6))
    cnv = rng.standard_normal((n, 5))
    hazard = np.exp(0.04 * (clinical[:, 0] - 60) + 0.8 * latent)
    t_event, t_censor = rng.exponential(1000 / hazard), rng.uniform(200, 3000, n)
    y = Surv.from_arrays(event=t_event <= t_censor, time=np.minimum(t_event, t_censor) + 1.0)
    return {"clinical": clinical, "rna": rna, "cnv": cnv}, y, latent


def test_penalized_logit_matches_scikit_learn_with_one_penalty() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 4))
    y = np.where(X @ [1.0, -0.5, 0.0, 0.3] + rng.standard_normal(200) > 0, "b", "a")
    ours = PenalizedLogit(penalty=2.0).fit(X, y)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(X, y)  # sklearn: 0.5 * ||w||^2 + C * sum(loss)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    # penalty 0 on every column: the maximum-likelihood fit, as scikit-learn with C=inf
    mle = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(PenalizedLogit(penalty=0.0).fit(X, y).coef_, mle.coef_, atol=1e-4)


def test_cox_combiner_leaves_clinical_terms_unpenalised() -> None:
    X, y, _ = _cohort()
    model = ClinicalFusion(kind="survival", inner_folds=3, score_penalty=5.0).fit(X, y)
    # columns: age, is_female (scaled; the clinical presence flag is constant and dropped), rna score, cnv score
    assert model.combiner_.alpha.tolist() == [0.0, 0.0, 5.0, 5.0]
    # At the optimum the Breslow partial-likelihood score (derived here by hand) is 0 for the unpenalised clinical
    # columns and alpha * beta for the ridged score columns.
    Z = model._design(X, model.oof_)
    beta = model.combiner_.coef_
    w = np.exp(Z @ beta)
    grad = np.zeros(Z.shape[1])
    for i in np.flatnonzero(y["event"]):
        at_risk = y["time"] >= y["time"][i]
        grad += Z[i] - (w[at_risk] @ Z[at_risk]) / w[at_risk].sum()
    np.testing.assert_allclose(grad, [0.0, 0.0, 5.0 * beta[2], 5.0 * beta[3]], atol=1e-4)
    # the rna score carries the planted latent hazard; the cnv score is noise (its ridged coefficient stays small)
    assert beta[2] > 0.15 and beta[2] > 2 * abs(beta[3])


def test_out_of_fold_score_of_a_patient_ignores_its_own_outcome() -> None:
    X, y, _ = _cohort()
    base = ClinicalFusion(kind="survival", inner_folds=3, random_state=1).fit(X, y)
    flipped = y.copy()
    i = int(np.flatnonzero(y["event"])[0])
    flipped["time"][i] = y["time"].max() * 3  # a very different outcome for patient i only (event kept: same strata)
    other = ClinicalFusion(kind="survival", inner_folds=3, random_state=1).fit(X, flipped)
    for m in ("rna", "cnv"):
        assert other.oof_[m][i] == pytest.approx(base.oof_[m][i])
        changed = ~np.isclose(other.oof_[m][:, 0], base.oof_[m][:, 0])
        assert changed.any()  # patients scored by models that saw patient i do move


def test_missing_modality_gets_training_mean_score_and_a_flag() -> None:
    X, y, _ = _cohort()
    X["cnv"][:40] = np.nan  # 40 training patients without CNV
    model = ClinicalFusion(kind="survival").fit(X, y)
    oof = model.oof_["cnv"]
    assert np.isnan(oof[:40]).all() and not np.isnan(oof[40:]).any()
    assert model.fill_["cnv"][0] == pytest.approx(oof[40:, 0].mean())
    test = {m: v[:5].copy() for m, v in X.items()}
    design = model._linear(test)
    cnv_score, cnv_flag = design[:, -2], design[:, -1]
    np.testing.assert_array_equal(cnv_flag, 0.0)
    np.testing.assert_allclose(cnv_score, 0.0)  # (fill - fill) / spread: the training mean, centred
    assert np.isfinite(model.predict(test)).all()
    surv = model.predict_survival(test, np.array([100.0, 500.0, 1000.0]))
    assert ((surv >= 0) & (surv <= 1)).all() and (np.diff(surv, axis=1) <= 1e-12).all()


def test_classification_fusion_probabilities() -> None:
    X, _, latent = _cohort()
    y = np.array(["lo", "mid", "hi"], dtype=object)[np.digitize(latent, [-0.5, 0.5])]
    model = ClinicalFusion(kind="classification").fit(X, y)
    proba = model.predict_proba(X)
    assert list(model.classes_) == ["hi", "lo", "mid"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # clinical columns unpenalised, the two probability columns per modality and the flags ridged
    assert model.combiner_.penalty.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert (model.predict(X) == y).mean() > 0.6


def test_model_spec_syntax() -> None:
    info, fusion = parse_model_spec("coxnet:late-cox/rna+cnv")
    assert (info.name, fusion, spec_modalities("coxnet:late-cox/rna+cnv")) == ("coxnet", "late-cox", ("rna", "cnv"))
    assert spec_modalities("coxnet") is None and parse_model_spec("coxnet/rna")[1] == "early"
    for bad in ("coxnet/", "coxnet/rna+", "coxnet/rna+rna", "coxnet/rna/cnv"):
        with pytest.raises(ModelNotFoundError, match="model spec"):
            parse_model_spec(bad)
    with pytest.raises(IncompatibleModelError, match="clinical-fusion is itself a late fusion"):
        build_model("clinical-fusion:late-mean", "survival", 0)


def test_model_inputs_follow_the_spec() -> None:
    task = load_task("os-blca-porpoise", dataset="tcga-mini")
    assert task.inputs == ("rna", "cnv", "mutation") and task.modalities == ("rna", "cnv", "mutation", "clinical")
    assert model_inputs(task, "coxnet") == ("rna", "cnv", "mutation")  # default inputs: PORPOISE's genomics
    assert model_inputs(task, "clinical-cox") == ("clinical",)
    assert model_inputs(task, "clinical-fusion") == ("rna", "cnv", "mutation", "clinical")
    assert model_inputs(task, "coxnet/rna+clinical") == ("rna", "clinical")
    with pytest.raises(IncompatibleModelError, match=r"task os-blca-porpoise does not offer \['protein'\]"):
        model_inputs(task, "coxnet/rna+protein")
    with pytest.raises(IncompatibleModelError, match=r"clinical-cox reads only \['clinical'\], not \['rna'\]"):
        model_inputs(task, "clinical-cox/rna")
    out = run_job(task, Job(task.name, "coxnet/rna", 0, 0, 0))
    assert out.test.n == len(task.get_split(0, 0).test)


def test_late_fusion_names_the_modality_no_training_patient_has() -> None:
    """It used to say "missing='drop': no training patient has every modality" though the policy was 'impute'."""
    from oncobench.baselines.fusion import LateFusion

    X, y, _ = _cohort()
    X["rna"][:] = np.nan
    with pytest.raises(ValueError, match=r"^no training patients for modalities \['rna'\]$"):
        LateFusion(base="coxnet", kind="survival", combine="cox").fit({"rna": X["rna"], "cnv": X["cnv"]}, y)
