"""The benchmark runner: the README's quick benchmark, and runner overhead per job against bare fit/predict.

- ``quick``: ``oncobench quickstart``'s grid (2 tasks x 8 models x 5 folds on tcga-mini) from an empty
  tracking store; target under 5 minutes on the 2-core machine.
- overhead: ten logistic-regression jobs (tcga-mini ``pancan-type``, 5 folds x 2 seeds) through ``run_grid``
  (planning, loading each job's features, evaluating test and validation, logging every MLflow run with its
  predictions artifact, the parent aggregates), per job, against the baseline timed in the same run:
  building, fitting and predicting (test and validation) the same models on the same arrays already in
  memory. Target: overhead under 10 % of the bare job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from oncobench.baselines.registry import build_model
from oncobench.benchmark.quick import QUICK, quick_benchmark
from oncobench.benchmark.runner import run_grid
from oncobench.benchmark.tasks import load_task

if TYPE_CHECKING:
    from conftest import BenchReport

QUICK_TARGET_S = 300.0
OVERHEAD_TARGET = 0.10


def test_quick_benchmark(benchmark, bench_report: "BenchReport", tmp_path: Path) -> None:
    homes = iter(range(100))

    def run() -> None:
        reports, _ = quick_benchmark(progress=False, home=tmp_path / f"home{next(homes)}")
        assert not [f for r in reports for f in r.failed]

    benchmark.pedantic(run, rounds=1, iterations=1)
    seconds = bench_report.mean(benchmark)
    jobs = sum((len(models) + 2) * 5 for models in QUICK.values())
    ok = seconds < QUICK_TARGET_S
    bench_report.lines.append(f"quick benchmark on tcga-mini: {jobs} jobs in {seconds:.1f} s ({seconds / jobs * 1000:.0f} ms/job)")
    bench_report.target(f"quick benchmark under {QUICK_TARGET_S:.0f} s", ok)
    benchmark.extra_info |= {"jobs": jobs, "seconds": seconds}
    assert ok


GRID = {"folds": [0, 1, 2, 3, 4], "seeds": [0, 1]}


@pytest.fixture(scope="module")
def logreg_inputs():
    """The arrays of every (fold, seed) of the grid, loaded once: the bare jobs start from memory."""
    task = load_task("pancan-type", dataset="tcga-mini")
    jobs = []
    for fold in GRID["folds"]:
        split = task.get_split(fold, 0)
        X_train = {m: b.values for m, b in task.features(split.train).items()}
        X_test = {m: b.values for m, b in task.features(split.test).items()}
        X_valid = {m: b.values for m, b in task.features(split.valid).items()}
        for seed in GRID["seeds"]:
            jobs.append((seed, X_train, task.target(split.train), X_test, X_valid))
    return task, jobs


def _bare(task, jobs) -> None:
    for seed, X_train, y, X_test, X_valid in jobs:
        model = build_model("logreg", task.kind, seed).fit(X_train, y)
        model.predict_proba(X_test)
        model.predict_proba(X_valid)


def test_bare_logreg_fit_predict(benchmark, bench_report: "BenchReport", logreg_inputs) -> None:
    task, jobs = logreg_inputs
    benchmark.pedantic(_bare, args=(task, jobs), rounds=5, iterations=1, warmup_rounds=1)
    bench_report.keep("logreg_bare", benchmark)


def test_runner_overhead_per_job(benchmark, bench_report: "BenchReport", logreg_inputs, tmp_path: Path) -> None:
    task, jobs = logreg_inputs
    home = tmp_path / "home"
    run_grid([task], ["logreg"], controls=False, progress=False, home=home, **GRID)  # the store exists, as in use

    def grid() -> None:
        run_grid([task], ["logreg"], controls=False, progress=False, home=home, force=True, **GRID)

    benchmark.pedantic(grid, rounds=5, iterations=1, warmup_rounds=1)
    full = bench_report.mean(benchmark) / len(jobs)
    base = bench_report.baseline("logreg_bare", lambda: _bare(task, jobs)) / len(jobs)
    overhead = (full - base) / base
    ok = overhead < OVERHEAD_TARGET
    bench_report.lines.append(f"runner, {len(jobs)} logreg jobs (tcga-mini pancan-type, 5 folds x 2 seeds): {full * 1000:.0f} ms/job "
                              f"vs bare fit/predict {base * 1000:.0f} ms/job: overhead {overhead:.0%} of the bare job")
    bench_report.target(f"runner overhead under {OVERHEAD_TARGET:.0%} of a logreg job", ok)
    benchmark.extra_info |= {"full_s_per_job": full, "bare_s_per_job": base, "overhead": overhead}
    assert ok, f"overhead {overhead:.0%}"
