"""The quick benchmark behind ``oncobench quickstart``: a few tasks x the classical baselines and controls on
the embedded tcga-mini, every fold of repeat 0, seed 0, logged to MLflow like any other run."""

from __future__ import annotations

from pathlib import Path

from oncobench.baselines.tuning import TuningBudget, declared_budget
from oncobench.benchmark.results import format_results, results_table
from oncobench.benchmark.runner import RunReport, run_grid
from oncobench.benchmark.tasks import load_task

QUICK: dict[str, tuple[str, ...]] = {
    "pancan-type": ("logreg", "svm", "rf", "xgboost", "knn"),
    "pfi-pancan": ("coxnet", "rsf", "xgboost-cox"),
}
# A smaller declared tuning budget than `oncobench run`'s default, the same for every model: the quick benchmark
# shows the workflow in well under a minute on 2 cores; `oncobench run` tunes with the full budget.
QUICK_BUDGET = TuningBudget(n_candidates=2, n_splits=2, n_repeats=1)


def quick_benchmark(dataset: str = "tcga-mini", *, progress: bool = True, home: Path | None = None) -> tuple[list[RunReport], str]:
    """Run (or resume) the quick grid; returns the reports and the printed results tables."""
    reports, texts = [], []
    with declared_budget(QUICK_BUDGET):
        for name, models in QUICK.items():
            task = load_task(name, dataset=dataset)
            reports.append(run_grid([task], list(models), progress=progress, home=home))
            texts.append(format_results(task, results_table(task, home)))
    return reports, "\n\n".join(texts)
