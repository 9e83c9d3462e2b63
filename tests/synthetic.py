"""A tiny synthetic dataset content for store/split/CLI unit tests (not a model of real data)."""

from __future__ import annotations

import numpy as np
import polars as pl

from oncobench.datasets.build import DatasetContent
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.splits import SplitSpec, draw_split
from oncobench.leaderboard.scoring import protocol_folds


def tiny_content(name: str = "tiny", version: str = "1", n: int = 60, seed: int = 0) -> DatasetContent:
    rng = np.random.default_rng(seed)
    patients = [f"TCGA-{['A1', 'B2', 'C3', 'D4', 'E5', 'F6'][i % 6]}-{i:04d}" for i in range(n)]
    cohort = ["x" if i % 2 else "y" for i in range(n)]
    clinical = pl.DataFrame({
        "patient_id": patients,
        "cohort": cohort,
        "cancer_type": [c.upper() for c in cohort],
        "tss_code": [p[5:7] for p in patients],
        "os": rng.integers(0, 2, n).astype(np.int8),
        "os_time": rng.uniform(10, 3000, n),
    })
    prov = Provenance(source="synthetic", files=(), transform="none", licence="CC0", citation="none",
                      comparable_across_cohorts=True)
    rna = FeatureBlock("rna", tuple(patients[:50]), ("g1", "g2", "g3"),
                       rng.standard_normal((50, 3)).astype(np.float32), prov)
    path_prov = Provenance(source="synthpath", files=(), transform="none", licence="CC0", citation="none",
                           comparable_across_cohorts=False)
    pathology = FeatureBlock("pathology", tuple(patients[10:]), ("p:a", "p:b"),
                             rng.uniform(0, 1, (50, 2)).astype(np.float32), path_prov)
    strata = [f"{c}|{e}" for c, e in zip(cohort, clinical["os"].to_list())]
    kfold = draw_split(patients, strata, SplitSpec("kfold", n_folds=5, n_repeats=2, seed=seed))
    site = draw_split(patients, cohort, SplitSpec("site", n_folds=3, seed=seed, valid_splits=2),
                      groups=clinical["tss_code"].to_list())
    labels = dict(zip(patients, cohort))
    return DatasetContent(
        name=name, version=version, clinical=clinical,
        blocks={"rna": [rna], "pathology": [pathology]},
        splits={"kfold": (kfold, SplitSpec("kfold", n_folds=5, n_repeats=2, seed=seed)),
                "site": (site, SplitSpec("site", n_folds=3, seed=seed, valid_splits=2))},
        split_checks={"kfold": {"labels": labels},
                      "site": {"labels": labels, "groups": dict(zip(patients, clinical["tss_code"].to_list()))}},
        card={"description": "synthetic test dataset"},
        endpoints=[{"name": "OS", "event": "os", "time": "os_time"}],
        labels=["cancer_type"],
    )


def class_frames(task, seed: int, signal: float = 0.0) -> dict[int, pl.DataFrame]:
    """Valid classification predictions for every protocol fold: Dirichlet noise mixed with the truth."""
    rng = np.random.default_rng(seed)
    out = {}
    for fold in protocol_folds(task):
        test = list(task.get_split(fold, 0).test)
        noise = rng.dirichlet(np.ones(len(task.classes)), size=len(test))
        truth = np.array([[float(label == c) for c in task.classes] for label in task.labels(test)])
        p = signal * truth + (1 - signal) * noise
        out[fold] = pl.DataFrame({"patient_id": test} | {f"proba_{c}": p[:, j] for j, c in enumerate(task.classes)})
    return out
