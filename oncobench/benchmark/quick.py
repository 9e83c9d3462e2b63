"""The quick benchmark behind ``oncobench quickstart``: a few tasks x the classical baselines and controls on
the embedded tcga-mini, every fold of repeat 0, seed 0, logged to MLflow like any other run."""

from __future__ import annotations

from pathlib import Path

from oncobench.benchmark.results import format_results, results_table
from oncobench.benchmark.runner import RunReport, run_grid
from oncobench.benchmark.tasks import load_task

QUICK: dict[str, tuple[str, ...]] = {
    "pancan-type": ("logreg", "svm", "rf", "xgboost", "knn"),
    "pfi-pancan": ("coxnet", "rsf", "xgboost-cox"),
}


def quick_benchmark(dataset: str = "tcga-mini", *, progress: bool = True, home: Path | None = None) -> tuple[list[RunReport], str]:
    """Run (or resume) the quick grid; returns the reports and the printed results tables."""
    reports, texts = [], []
    for name, models in QUICK.items():
        task = load_task(name, dataset=dataset)
        reports.append(run_grid([task], list(models), progress=progress, home=home))
        texts.append(format_results(task, results_table(task, home)))
    return reports, "\n\n".join(texts)
