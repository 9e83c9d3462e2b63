"""The Ray executor gives the local executor's metrics for the same grid and seeds (a local Ray, 2 CPUs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncobench.benchmark.runner import run_grid
from oncobench.benchmark.tasks import load_task
from oncobench.benchmark.tracking import Tracker

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_executor_matches_local(local_ray, tmp_path: Path) -> None:
    tasks = [load_task("pancan-type", dataset="tcga-mini"), load_task("pfi-pancan", dataset="tcga-mini")]
    models = {"pancan-type": ["logreg", "rf"], "pfi-pancan": ["coxnet"]}
    results = {}
    for executor in ("local", "ray"):
        home = tmp_path / executor
        for task in tasks:
            report = run_grid([task], models[task.name], folds=[0, 1], seeds=[0, 1], progress=False, home=home,
                              executor=executor)
            assert report.failed == [] and report.ran == report.planned
        results[executor] = {task.name: {k: r.test for k, r in Tracker(home).finished(task).items()} for task in tasks}
    assert results["ray"] == results["local"]
    assert len(results["ray"]["pancan-type"]) == (2 + 2) * 2 * 2  # (logreg, rf, prior, clinical-logreg) x 2 folds x 2 seeds


def test_unknown_executor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        run_grid([load_task("pancan-type", dataset="tcga-mini")], ["logreg"], executor="dask", home=tmp_path)
