"""Contract: every registered task runs where it is listed as usable, and every registered model runs.

Each built-in task on tcga-pancan (``-site`` variants included) passes ``Task.check()`` and runs one fast model
plus the controls the runner adds (negative control and clinical reference) on its first fold; tasks of other
datasets run on a tiny ``datasets synth`` cohort (``synth-*``) or on the dataset built from the installed package
(``metastasis-gse7390*``). Every registered model runs on one small tcga-mini task of a kind it supports.
"""

from __future__ import annotations

import logging
import math

import pytest

from oncobench.baselines.registry import DEEP_MODELS, list_models
from oncobench.benchmark.catalog import TCGA_COHORTS
from oncobench.benchmark.job import model_inputs, run_job
from oncobench.benchmark.runner import controls_for, plan, run_grid
from oncobench.benchmark.tasks import TASKS, Task, load_task, task_spec

FAST = {"classification": "knn", "binary": "knn", "survival": "coxnet", "clustering": "kmeans", "translation": "ridge",
        "imputation": "impute-knn"}
NEGATIVE = {"classification": "prior", "binary": "prior", "survival": "km", "clustering": "random", "translation": "random",
            "imputation": "impute-mean"}
CLINICAL_REFERENCE = {"classification": "clinical-logreg", "binary": "clinical-logreg", "survival": "clinical-cox"}
# A tiny synthetic cohort stands in for `oncobench datasets synth` (the synth-* tasks' dataset is user-made).
SYNTH = dict(patients=120, cohorts=2, modalities=(("rna", 40), ("cnv", 30)))


def _pancan_tasks(version: str = "1.0") -> list[str]:
    task_spec("os-brca")  # registers the catalogue
    return sorted(n for n, s in TASKS.items() if s.dataset == f"tcga-pancan@{version}"
                  or (version == "1.0" and s.dataset == "tcga-pancan"))


def _run_first_fold(task: Task) -> list[str]:
    """Plan the task as `oncobench run` does (fast model + controls) on its first fold; run every job."""
    repeat, fold = task.folds[0]
    models = []
    for _, job in plan([task], [FAST[task.kind]], folds=[fold], repeats=[repeat]):
        out = run_job(task, job)
        split = task.get_split(fold, repeat)
        assert out.test.n == len(split.test)
        value = out.test.metrics[task.spec.primary]
        assert math.isfinite(value), f"{task.name} {job.model}: {task.spec.primary} = {value}"
        models.append(job.model)
    return models


@pytest.mark.realdata
@pytest.mark.parametrize("name", _pancan_tasks())
def test_every_pancan_task_runs(name: str, pancan) -> None:
    task = Task(task_spec(name), pancan)
    assert task.check() == []  # `tasks list` shows it as ok ...
    expected = [FAST[task.kind], NEGATIVE[task.kind]] + ([CLINICAL_REFERENCE[task.kind]] if task.kind in CLINICAL_REFERENCE else [])
    assert _run_first_fold(task) == expected  # ... and it runs, with the clinical reference beside the model
    assert "clinical" in task.modalities


@pytest.mark.realdata
@pytest.mark.parametrize("name", _pancan_tasks("1.1"))
def test_every_pancan_11_task_runs(name: str, pancan11) -> None:
    task = Task(task_spec(name), pancan11)
    assert task.check() == []
    expected = [FAST[task.kind], NEGATIVE[task.kind]] + ([CLINICAL_REFERENCE[task.kind]] if task.kind in CLINICAL_REFERENCE else [])
    assert _run_first_fold(task) == expected


@pytest.mark.realdata
def test_porpoise_tasks_drop_the_modalities_their_cohort_lacks(pancan) -> None:
    dropped = {c: Task(task_spec(f"os-{c}-porpoise"), pancan).dropped_modalities for c in TCGA_COHORTS}
    # PORPOISE ships no UCEC RNA and no SKCM, KIRP or LUSC CNV: those modalities have no patient there
    assert {c: sorted(d) for c, d in dropped.items() if d} == {"kirp": ["cnv"], "lusc": ["cnv"], "skcm": ["cnv"],
                                                               "ucec": ["rna"]}
    ucec = Task(task_spec("os-ucec-porpoise"), pancan)
    assert ucec.inputs == ("cnv", "mutation") and ucec.modalities == ("cnv", "mutation", "clinical")
    info = ucec.info()
    assert info["dropped_modalities"] == {"rna": "no patient of cohort ucec has it"}
    assert info["offered_modalities"] == {"clinical": 4} and info["clinical_reference"] == "clinical-cox"
    assert model_inputs(ucec, "clinical-fusion") == ("cnv", "mutation", "clinical")


@pytest.mark.realdata
def test_porpoise_run_has_the_clinical_reference_and_the_fusion(pancan, tmp_path) -> None:
    task = Task(task_spec("os-brca-porpoise"), pancan)
    report = run_grid([task], ["coxnet", "clinical-cox", "clinical-fusion"], folds=[0], progress=False, home=tmp_path)
    assert report.failed == [] and report.ran == 4  # coxnet, clinical-cox, clinical-fusion and the km control
    from oncobench.benchmark.results import results_table

    rows = {r["model"]: r for r in results_table(task, tmp_path).iter_rows(named=True)}
    assert set(rows) == {"coxnet", "clinical-cox", "clinical-fusion", "km"}
    # fold 0 of PORPOISE's BRCA split: the clinical terms carry the fusion well above the km control
    assert rows["clinical-fusion"]["harrell_c_mean"] > rows["km"]["harrell_c_mean"] + 0.1


def test_synthetic_tasks_run(tmp_path) -> None:
    from oncobench.datasets.dataset import Dataset
    from oncobench.datasets.recipes.synthetic import SynthSpec, build

    dataset = Dataset(build(SynthSpec("synthetic", **SYNTH), home=tmp_path))
    for name in ("synth-survival", "synth-subtype"):
        task = Task(task_spec(name), dataset)
        assert task.check() == []
        assert _run_first_fold(task) == [FAST[task.kind], NEGATIVE[task.kind], CLINICAL_REFERENCE[task.kind]]


def test_gse7390_tasks_run_and_say_they_have_no_clinical_reference(caplog: pytest.LogCaptureFixture) -> None:
    for name in ("metastasis-gse7390", "metastasis-gse7390-5y"):
        task = load_task(name)
        assert task.check() == [] and task.modalities == ("rna",)
        why = f"{task.dataset.id} gives the patients of task {name} no clinical covariates"
        assert task.clinical_reference() == (None, why)
        assert task.info()["clinical_reference"] == f"none: {why}"
        with caplog.at_level(logging.WARNING, logger="oncobench.benchmark.runner"):
            assert controls_for(task) == [NEGATIVE[task.kind]]
        assert f"task {name}: no clinical reference runs beside its models: {why}" in caplog.text
        assert _run_first_fold(task) == [FAST[task.kind], NEGATIVE[task.kind]]


def test_every_pancan_task_is_covered() -> None:
    names = set(_pancan_tasks("1.0"))
    names11 = set(_pancan_tasks("1.1"))
    assert names11 == {"brca-pam50-methylation", "acc-coc", "os-paad-methylation-wissel", "methylation-from-rna-brca",
                       "coad-tumour-normal", "subtype-clustering-acc"} | {f"cluster-{c}" for c in (*TCGA_COHORTS, "acc")}
    assert {f"impute-rna-{c}-{r}" for c in ("brca", "luad") for r in (30, 50, 70)} <= names
    other = set(TASKS) - names - names11
    assert other == {"synth-survival", "synth-subtype", "metastasis-gse7390", "metastasis-gse7390-5y", "mlomics-gs-brca"}
    assert {"pancan-type-site", "os-brca-site", "pfi-pancan-site"} <= names


# ---- every registered model on one small task --------------------------------------------------------------

# tcga-mini has no usable binary task (one metastasis class): models that take binary tasks take classification too
MINI = {"classification": "pancan-type", "survival": "pfi-pancan", "clustering": "oncotree-clustering",
        "translation": "rna-from-pathology", "imputation": "impute-rna-brca-30"}


@pytest.mark.parametrize("model", sorted(set(list_models()) - set(DEEP_MODELS)))
def test_every_model_runs_on_tcga_mini(model: str) -> None:
    """Deep models are left to tests/test_deep.py::test_every_deep_model_runs_and_reaches_the_leaderboard (every deep model
    through `oncobench run` on tcga-mini): running them twice would cost minutes of CI."""
    kind = next(k for k in list_models()[model].kinds if k in MINI)
    task = load_task(MINI[kind], dataset="tcga-mini")
    jobs = plan([task], [model], folds=[0], controls=False)
    assert [job.model for _, job in jobs] == [model]
    out = run_job(task, jobs[0][1])
    assert out.test.n == len(task.get_split(0, 0).test)
    assert math.isfinite(out.test.metrics[task.spec.primary])


# ---- modality resolution and `tasks list` ------------------------------------------------------------------


def test_pooled_task_keeps_only_modalities_every_cohort_has() -> None:
    from dataclasses import replace

    spec = replace(task_spec("os-brca-porpoise"), name="os-pooled", cohorts=("blca", "brca", "ucec"),
                   modalities=("rna", "protein", "mutation"))
    task = Task(spec, load_task("os-brca", dataset="tcga-mini").dataset)
    assert task.inputs == ("mutation",) and task.modalities == ("mutation", "clinical")
    assert task.dropped_modalities == {"rna": "no patient of cohort ucec has it",
                                       "protein": "no patient of cohort blca, ucec has it"}
    assert len(task.patients) == 24 * 2 + 31  # eligibility follows the inputs: every patient has mutation


def test_tasks_list_marks_what_cannot_run(capsys: pytest.CaptureFixture[str]) -> None:
    from oncobench.cli import main

    assert main(["tasks", "list", "--dataset", "tcga-mini"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["brca-pam50"].endswith("unusable here: 1 class(es) with at least 10 patients; a task needs 2")
    assert rows["os-lusc-porpoise"].endswith("ok without cnv (absent here: `tasks info os-lusc-porpoise`)")
    assert rows["os-blca-porpoise"].endswith(" ok")
    assert "unusable here: repeat 0 fold 1: no event among 5 test patients" in rows["os-ucec-porpoise"]


def test_check_reports_a_fold_whose_training_patients_lack_a_declared_modality(tmp_path) -> None:
    """Pathology measured only at site A1 (cohort y): the site-split fold that tests on A1 has none to learn from."""
    from dataclasses import replace

    import numpy as np
    from synthetic import tiny_content

    from oncobench.benchmark.tasks import TaskSpec
    from oncobench.datasets.build import write_dataset
    from oncobench.datasets.dataset import Dataset

    content = tiny_content("onesite")
    block = content.blocks["pathology"][0]
    keep = np.array([p.startswith("TCGA-A1") for p in block.patients])
    content.blocks["pathology"] = [replace(block, patients=tuple(np.array(block.patients)[keep]), values=block.values[keep])]
    task = Task(TaskSpec(name="os-onesite", kind="survival", target="OS", modalities=("rna", "pathology"),
                         cohorts=("y",), description="test", primary="harrell_c", dataset="onesite", scheme="site"),
                Dataset(write_dataset(content, home=tmp_path)))
    hospital_a1 = [(r, f) for r, f in task.folds if any(p.startswith("TCGA-A1") for p in task.get_split(f, r).test)]
    assert len(hospital_a1) == 1
    repeat, fold = hospital_a1[0]
    assert f"repeat {repeat} fold {fold}: no training patient has modality 'pathology'" in task.check()
