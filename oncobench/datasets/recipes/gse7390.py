"""Recipe ``gse7390-metastasis``: 198 node-negative breast cancers, 76 probes, time to distant metastasis.

Read from the file bundled with the installed scikit-survival, so it builds offline everywhere.

References
----------
Desmedt C et al. Strong time dependence of the 76-gene prognostic signature for node-negative breast
cancer patients in the TRANSBIG multicenter independent validation series. Clin Cancer Res 13(11), 2007.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from oncobench.datasets.build import DatasetContent, write_dataset
from oncobench.datasets.sources.gse7390 import read_gse7390
from oncobench.datasets.splits import SplitSpec, draw_split

NAME = "gse7390-metastasis"
VERSION = "1.0"
SEED = 7390


def content() -> DatasetContent:
    clinical, rna = read_gse7390()
    clinical = clinical.with_columns(pl.lit("gse7390").alias("cohort")).select(
        "patient_id", "cohort", pl.exclude("patient_id", "cohort"))
    patients = clinical["patient_id"].to_list()
    strata = [str(e) for e in clinical["dm_event"].to_list()]
    specs = {"kfold": SplitSpec("kfold", n_folds=5, n_repeats=5, seed=SEED),
             "holdout": SplitSpec("holdout", n_folds=1, n_repeats=1, seed=SEED)}
    splits = {k: (draw_split(patients, strata, spec), spec) for k, spec in specs.items()}
    labels = dict(zip(patients, strata))
    return DatasetContent(
        name=NAME, version=VERSION, clinical=clinical, blocks={"rna": [rna]}, splits=splits,
        split_checks={k: {"labels": labels} for k in splits},
        card={"description": "GSE7390 (TRANSBIG): 198 node-negative breast cancers, 76-probe Affymetrix expression "
                             "and clinical covariates; outcome time to distant metastasis (51 events).",
              "citation": "Desmedt C et al., Clin Cancer Res 13(11):3207-14, 2007", "licence": "GPL-3 (scikit-survival package)"},
        endpoints=[{"name": "DM", "event": "dm_event", "time": "dm_time_days", "unit": "days", "source": "GSE7390"}],
        labels=["er", "grade"],
        sources=[{"source": rna.provenance.source, "files": [f.__dict__ for f in rna.provenance.files]}],
    )


def build(raw_dir: Path | None = None, cache_dir: Path | None = None, progress: bool = True, home: Path | None = None) -> Path:
    """Build gse7390-metastasis (``raw_dir``/``cache_dir`` unused: the data ship with scikit-survival)."""
    return write_dataset(content(), home=home)
