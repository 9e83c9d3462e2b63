"""Deep fusion models: losses against hand/reference values, masking, determinism, early stopping, gradient
blending, the missing-modality protocol and explanations (tcga-mini and small synthetic arrays; small budgets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="deep models need the deep extra (PyTorch)")

from oncobench.baselines.deep.estimator import DeepFusion, _blend  # noqa: E402
from oncobench.baselines.deep.explain import attributions  # noqa: E402
from oncobench.baselines.deep.heads import (breslow_survival, cox_partial_likelihood, discrete_time_loss,  # noqa: E402
                                            survival_from_hazards)
from oncobench.benchmark.job import Job, run_job  # noqa: E402
from oncobench.benchmark.robustness import conditions  # noqa: E402
from oncobench.benchmark.runner import run_grid  # noqa: E402
from oncobench.benchmark.tasks import load_task  # noqa: E402
from oncobench.benchmark.tracking import Tracker  # noqa: E402
from oncobench.cli import main  # noqa: E402


def test_cox_partial_likelihood_hand_value() -> None:
    # times 1,2,3 (events 1,0,1), risks a,b,c: events at t=1 (risk set all) and t=3 (risk set {3})
    r = np.array([0.5, -0.2, 1.0])
    expected = -((0.5 - np.log(np.exp(r).sum())) + (1.0 - 1.0)) / 2
    got = cox_partial_likelihood(torch.tensor(r), torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 0.0, 1.0]))
    assert float(got) == pytest.approx(expected, abs=1e-12)


def test_discrete_time_loss_hand_value() -> None:
    cuts = torch.tensor([0.0, 10.0, 20.0, 30.0])
    logits = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])
    # patient 1: event at 15 (interval 1): survives interval 0, dies in 1; patient 2: censored at 5 (interval 0)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = (-(np.log(1 - sig(0.0)) + np.log(sig(1.0))) - np.log(1 - sig(2.0))) / 2
    got = discrete_time_loss(logits, torch.tensor([15.0, 5.0]), torch.tensor([1.0, 0.0]), cuts)
    assert float(got) == pytest.approx(expected, abs=1e-6)
    s = survival_from_hazards(logits.numpy(), cuts.numpy(), np.array([5.0, 12.0, 25.0]))
    assert s[0, 0] == 1.0 and s[0, 1] == pytest.approx(1 - sig(0.0)) and s[0, 2] == pytest.approx((1 - sig(0.0)) * (1 - sig(1.0)))


def test_breslow_matches_scikit_survival() -> None:
    from sksurv.linear_model.coxph import BreslowEstimator

    rng = np.random.default_rng(0)
    risk, time, event = rng.normal(size=60), rng.uniform(1, 100, 60), rng.random(60) < 0.6
    new, times = rng.normal(size=5), np.array([10.0, 40.0, 80.0])
    ref = BreslowEstimator().fit(risk, event, time).get_survival_function(new)
    expected = np.array([[fn(t) for t in times] for fn in ref])
    np.testing.assert_allclose(breslow_survival(risk, time, event, new, times), expected, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def mini():
    task = load_task("pancan-type", dataset="tcga-mini")
    split = task.get_split(0, 0)
    X = {m: b.values for m, b in task.features(split.train).items()}
    Xv = {m: b.values for m, b in task.features(split.valid).items()}
    Xt = {m: b.values for m, b in task.features(split.test).items()}
    return task, split, X, task.target(split.train), Xv, task.target(split.valid), Xt


@pytest.mark.parametrize("arch", ["early", "late", "attention", "gated"])
def test_deterministic_and_absent_modality_is_masked(mini, arch: str) -> None:
    task, split, X, y, Xv, yv, Xt = mini
    a = DeepFusion(arch, epochs=5, random_state=3).fit(X, y)
    b = DeepFusion(arch, epochs=5, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(Xt), b.predict_proba(Xt))
    if arch == "early":
        return  # early fusion imputes (declared missing="impute"); the others mask
    # with pathology's mask at 0, whatever its input tensor holds changes nothing: the network never reads it
    xs, mask = a._tensors(Xt)
    j = a.modalities_.index("pathology")
    mask = mask.clone()
    mask[:, j] = 0
    noisy = list(xs)
    noisy[j] = torch.randn_like(xs[j]) * 100
    with torch.no_grad():
        out_a, _ = a.net_(xs, mask)
        out_b, _ = a.net_(noisy, mask)
        out_c, _ = a.net_(xs, torch.ones_like(mask))
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=1e-5)
    assert not torch.allclose(out_a, out_c)  # and the mask does matter when the modality is there


def test_early_stopping_uses_the_validation_fold(mini) -> None:
    task, split, X, y, Xv, yv, Xt = mini
    model = DeepFusion("attention", epochs=200, patience=3, random_state=0).fit(X, y, X_valid=Xv, y_valid=yv)
    assert model.epochs_run_ < 200
    valid_losses = [h["valid"] for h in model.history_]
    best = int(np.argmin(valid_losses))
    assert model.epochs_run_ == best + 1 + 3  # stopped `patience` epochs after the best one, whose weights it keeps
    assert model._eval_loss(*model._tensors(Xv), model._targets(yv, fit=False)) == pytest.approx(valid_losses[best], rel=1e-5)


def test_gradient_blending_weights() -> None:
    prev = (np.array([1.0, 1.0, 1.0]), np.array([1.2, 1.2, 1.2]))
    now = (np.array([0.5, 0.8, 0.9]), np.array([1.0, 1.15, 1.3]))  # head 3 got worse on validation: weight 0
    w = _blend(prev, now, np.full(3, 1 / 3))
    assert w.sum() == pytest.approx(1.0) and w[2] == 0.0
    gain, overfit = np.array([0.2, 0.05]), np.array([0.3, 0.15])
    assert w[0] / w[1] == pytest.approx((gain[0] / overfit[0] ** 2) / (gain[1] / overfit[1] ** 2))


def test_missing_modality_conditions_keep_a_modality_and_are_seeded(mini) -> None:
    *_, Xt = mini
    cond = conditions(Xt, seed=0)
    assert sorted(cond) == ["missing_0.25", "missing_0.5", "missing_0.75", "without_clinical", "without_mirna", "without_pathology"]
    for name, X in cond.items():
        present = np.column_stack([~np.all(np.isnan(v), axis=1) for v in X.values()])
        assert present.any(axis=1).all(), name
    assert np.all(np.isnan(cond["without_mirna"]["mirna"]))
    removed = [np.mean([np.all(np.isnan(v[i])) for v in cond["missing_0.75"].values() for i in range(len(v))])]
    assert 0.5 < removed[0] < 0.8
    again = conditions(Xt, seed=0)
    assert all(np.array_equal(again[k][m], cond[k][m], equal_nan=True) for k in cond for m in cond[k])


def test_runner_logs_parameters_and_robustness_curves(tmp_path: Path) -> None:
    task = load_task("pfi-pancan", dataset="tcga-mini")
    report = run_grid([task], ["attention-fusion"], folds=[0], controls=False, progress=False, home=tmp_path)
    assert report.failed == [] and report.ran == 1
    run = Tracker(tmp_path).job_runs(task.name, task.dataset.id)[0]
    m = run.data.metrics
    assert m["n_params"] > 1000 and 1 <= m["epochs_run"] <= 60
    assert {"robust_without_mirna", "robust_without_pathology", "robust_without_clinical", "robust_missing_0.5"} <= set(m)
    assert 0.3 < m["test_uno_c"] < 1 and np.isfinite(m["test_ibs"])


def test_integrated_gradients_completeness(mini) -> None:
    task, split, X, y, Xv, yv, Xt = mini
    model = DeepFusion("early", epochs=5, random_state=0).fit(X, y)
    attr = attributions(model, Xt, "integrated_gradients", steps=256)
    xs, mask = model._tensors(Xt)
    with torch.no_grad():
        out = model.net_(xs, mask)[0]
        base = model.net_([torch.zeros_like(x) for x in xs], mask)[0]
    cls = out.argmax(1)
    gap = (out.gather(1, cls[:, None]) - base.gather(1, cls[:, None])).squeeze(1).numpy()
    total = sum(a.sum(axis=1) for a in attr.values())
    np.testing.assert_allclose(total, gap, rtol=0.05, atol=0.05)  # IG's completeness axiom


def test_explain_cli_writes_attributions(tmp_path: Path, capsys) -> None:
    assert main(["explain", "--task", "pancan-type", "--dataset", "tcga-mini", "--model", "attention-fusion",
                 "--out", str(tmp_path / "ex")]) == 0
    out = capsys.readouterr().out
    assert "modality contributions: " in out and "top features: " in out
    summary = json.loads((tmp_path / "ex" / "summary.json").read_text())
    assert set(summary["modality_contributions"]) == {"mirna", "pathology", "clinical"}
    assert sum(summary["modality_contributions"].values()) == pytest.approx(1.0)
    assert main(["explain", "--task", "pancan-type", "--dataset", "tcga-mini", "--model", "logreg"]) == 2
    assert "explain works on the deep fusion models" in capsys.readouterr().err


def test_deep_models_on_each_kind(tmp_path: Path) -> None:
    for name, model in (("rna-from-pathology", "mlp-early"), ("pfi-pancan", "mlp-discrete-time"),
                        ("pfi-pancan", "gated-fusion"), ("pancan-type", "attention-fusion-gb")):
        task = load_task(name, dataset="tcga-mini")
        out = run_job(task, Job(task.name, model, 0, 0, 0))
        assert np.isfinite(out.test.score), (name, model)
        assert out.extra["n_params"] > 0


def test_every_deep_model_runs_and_reaches_the_leaderboard(tmp_path: Path, monkeypatch, capsys) -> None:
    """The issue's CI check: every deep model through `oncobench run` on tcga-mini (all folds of repeat 0, default
    budgets with early stopping), then on the leaderboard as baseline entries beside a classical model."""
    from oncobench.baselines.registry import DEEP_MODELS
    from oncobench.leaderboard.db import LeaderboardDB
    from oncobench.leaderboard.views import leaderboard_text

    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path))
    survival_only = {"mlp-discrete-time"}
    models = [m for m in DEEP_MODELS if m not in survival_only] + ["logreg"]
    assert main(["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", ",".join(models), "--repeats", "0", "--quiet"]) == 0
    assert main(["run", "--task", "pfi-pancan", "--dataset", "tcga-mini", "--models", "mlp-discrete-time", "--folds", "0",
                 "--repeats", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "missing-modality protocol" in out
    task = load_task("pancan-type", dataset="tcga-mini")
    text = leaderboard_text(task)
    with LeaderboardDB() as db:
        entries = {e.method: e for e in db.entries(task.name, task.dataset.id)}
    for m in models:
        assert entries[m].status == "baseline" and entries[m].role == "model" and len(entries[m].folds) == 5, m
        assert f" {m} " in text
    robust = {r.data.tags["model"]: r.data.metrics for r in Tracker().job_runs(task.name, task.dataset.id)}
    for m in DEEP_MODELS:
        if m not in survival_only:
            assert "robust_without_mirna" in robust[m] and robust[m]["n_params"] > 0, m


def test_device_flag_is_honoured(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path))
    # setenv (not delenv) so that monkeypatch restores the variable after the test, whatever the CLI sets
    monkeypatch.setenv("ONCOBENCH_DEVICE", "auto")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal below needs a machine without it")
    code = main(["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", "mlp-early", "--folds", "0",
                 "--no-controls", "--device", "cuda", "--quiet"])
    assert code == 1
    assert "device 'cuda' asked for, but PyTorch sees no CUDA device here" in capsys.readouterr().err
