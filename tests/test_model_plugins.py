"""A user's model from another package, found through the ``oncobench.models`` entry point, runs with the same command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from oncobench.baselines import registry
from oncobench.cli import main

PLUGIN = '''
import numpy as np
from sklearn.base import BaseEstimator
from oncobench.baselines.registry import register_model


@register_model("nearest-centroid-plugin", summary="nearest class centroid on miRNA", reference="test plug-in",
                kinds=("classification",), modality_handling="mirna only, no scaling", missing="impute")
class NearestCentroid(BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        values = np.nan_to_num(X["mirna"])
        self.centroids_ = np.stack([values[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict_proba(self, X):
        d = ((np.nan_to_num(X["mirna"])[:, None, :] - self.centroids_[None]) ** 2).sum(-1)
        w = np.exp(-(d - d.min(axis=1, keepdims=True)) / d.std())
        return w / w.sum(axis=1, keepdims=True)
'''


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "obplugin.py").write_text(PLUGIN)
    dist = tmp_path / "obplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: obplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[oncobench.models]\nnearest-centroid = obplugin:NearestCentroid\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.list_models()  # built-ins registered first, so the copy below holds them
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    yield
    sys.modules.pop("obplugin", None)


def test_entry_point_model_is_listed_and_runs(plugin, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))
    assert "nearest-centroid-plugin" in registry.list_models()
    code = main(["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", "nearest-centroid-plugin",
                 "--folds", "0,1", "--repeats", "0", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    row = next(line for line in out.splitlines() if line.startswith("nearest-centroid-plugin"))
    assert row.split()[1:4] == ["model", "2", "2/2"]  # role, jobs, folds completed
    assert float(row.split()[4]) > 0.5  # miRNA centroids separate the six cancer types far above the prior


def test_broken_plugin_does_not_hide_builtin_models(tmp_path: Path, monkeypatch, caplog) -> None:
    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[oncobench.models]\nbroken = no_such_module:Model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    models = registry.list_models()
    assert "logreg" in models and "broken" not in models
    assert "entry point broken (no_such_module:Model) failed to load" in caplog.text
