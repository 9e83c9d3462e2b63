"""Synthetic cohorts: streamed build, known structure, and a registered model recovering the planted signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oncobench.baselines.registry import build_model
from oncobench.benchmark.job import Job, run_job
from oncobench.benchmark.tasks import Task, task_spec
from oncobench.cli import main
from oncobench.datasets import matrixio
from oncobench.datasets.dataset import Dataset
from oncobench.datasets.recipes.synthetic import SynthSpec, build, parse_modalities

SPEC = SynthSpec("synth-test", patients=800, cohorts=3, modalities=parse_modalities("rna=400,methylation=300,mirna=100,cnv=200,pathology=50"))


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return Dataset(build(SPEC, home=tmp_path_factory.mktemp("synth-home")))


def test_card_shapes_and_missing_patterns(synth: Dataset) -> None:
    card = synth.manifest["card"]
    assert card["synthetic"] is True and card["description"].startswith("SYNTHETIC cohort (not patient data)")
    assert set(card["planted"]["cox_coefficients"]) == {f"g{j:05d}" for j in range(10)}
    assert {m: synth.modality_info(m)["n_features"] for m in synth.modalities} == {
        "rna": 400, "cnv": 200, "mirna": 100, "methylation": 300, "pathology": 50, "clinical": 2}
    presence = synth.presence.join(synth.clinical.select("patient_id", "hospital", "cohort"), on="patient_id")
    share = {h: float(g["methylation"].mean()) for (h,), g in presence.group_by("hospital")}
    assert min(share.values()) == 0.0  # some hospitals never send methylation
    assert 0.5 < float(presence["rna"].mean()) < 1.0  # cohort-specific coverage: some patients lack rna
    values, _ = synth.matrix("methylation")
    assert 0 < float(values.min()) and float(values.max()) < 1  # beta values
    assert float(synth.matrix("pathology")[0].min()) > 0


def test_same_seed_same_bytes_other_seed_other_bytes(synth: Dataset, tmp_path: Path) -> None:
    again = Dataset(build(SPEC, home=tmp_path / "a"))
    assert again.content_hash == synth.content_hash
    other = Dataset(build(SynthSpec(**{**SPEC.__dict__, "seed": 1}), home=tmp_path / "b"))
    assert other.content_hash != synth.content_hash


def test_streamed_rows_equal_a_one_shot_write(synth: Dataset, tmp_path: Path) -> None:
    """The store's streamed file (several row groups) reads back exactly as a one-shot write of the same matrix."""
    values, features = synth.matrix("rna")
    patients = synth.modality_patients("rna")
    matrixio.write_matrix(tmp_path / "one.parquet", patients, features, values)
    rows = np.array([len(patients) - 1, 0, 3, 1000 % len(patients)])
    assert np.array_equal(matrixio.read_matrix(tmp_path / "one.parquet", rows)[0], synth.matrix("rna", [patients[i] for i in rows])[0])


def test_matrix_writer_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "m.parquet"
    with pytest.raises(ValueError, match=r"chunk shape \(2, 3\); expected \(2, 4\)"):
        with matrixio.MatrixWriter(target, ["a", "b", "c", "d"]) as w:
            w.write(["p1", "p2"], np.zeros((2, 4), np.float32))
            w.write(["p3", "p4"], np.zeros((2, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_registered_model_recovers_the_planted_cox_model(synth: Dataset) -> None:
    task = Task(task_spec("synth-survival"), synth)
    planted = synth.manifest["card"]["planted"]["cox_coefficients"]
    coxnet = run_job(task, Job(task.name, "coxnet", 0, 0, 0)).test.metrics
    km = run_job(task, Job(task.name, "km", 0, 0, 0)).test.metrics
    assert coxnet["uno_c"] > km["uno_c"] + 0.15 and coxnet["harrell_c"] > 0.7
    split = task.get_split(0, 0)
    blocks = task.features(split.train)
    tuned = build_model("coxnet", "survival", 0).fit({m: b.values for m, b in blocks.items()}, task.target(split.train))
    model = tuned.best_estimator_  # the refit at the penalty chosen by inner CV
    names = model.preprocessor_.feature_names_out({m: list(b.features) for m, b in blocks.items()})
    coef = model.estimator_.coef_
    top = [names[i] for i in np.argsort(-np.abs(coef))[:12]]
    drivers = {f"rna:{g}" for g in planted}
    assert len(drivers & set(top)) >= 7, top  # the true drivers lead the ranking
    for g, beta in planted.items():
        c = coef[names.index(f"rna:{g}")]
        assert c == 0 or np.sign(c) == np.sign(beta), (g, c, beta)


def test_synth_cli_and_bad_modalities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path))
    assert main(["datasets", "synth", "tiny-synth", "--patients", "120", "--cohorts", "2", "--modalities", "rna=30,mirna=10"]) == 0
    assert "built SYNTHETIC dataset tiny-synth@1.0" in capsys.readouterr().out
    assert main(["datasets", "synth", "bad", "--modalities", "rna=lots"]) == 2
    assert "--modalities: 'rna=lots'; expected NAME=FEATURES" in capsys.readouterr().err
    assert main(["datasets", "synth", "bad", "--modalities", "rna=5,spectra=10"]) == 2
    assert "synthetic modality 'spectra'" in capsys.readouterr().err
