"""GSE7390 (TRANSBIG): 198 node-negative breast cancers, 76 probes, time to distant metastasis.

Read from the ARFF file bundled with the installed scikit-survival (``sksurv.datasets.load_breast_cancer``
reads the same file). The file has no sample IDs: patients are numbered ``GSE7390-001`` ... in file
order. R's ``make.names`` prefixed probe IDs with ``X`` (``X219340_s_at``); the prefix is removed.

References
----------
Desmedt C et al. Strong time dependence of the 76-gene prognostic signature for node-negative breast
cancer patients in the TRANSBIG multicenter independent validation series. Clin Cancer Res 13(11):3207-14, 2007.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

from oncobench.datasets.harmonize import FeatureBlock, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile

SOURCE = "gse7390"
FILE_NAME = "breast_cancer_GSE7390-metastasis.arff"


def bundled_path() -> Path:
    """The ARFF file shipped inside the installed scikit-survival."""
    import sksurv

    return Path(sksurv.__file__).parent / "datasets" / "data" / FILE_NAME


def read_gse7390(path: str | Path | None = None) -> tuple[pl.DataFrame, FeatureBlock]:
    """Clinical table (patient_id, age, size, grade, er, dm_time_days, dm_event) and the 76-probe 'rna' block."""
    from sksurv.io import loadarff

    path = Path(path) if path is not None else bundled_path()
    frame = loadarff(str(path))
    ids = [f"GSE7390-{i + 1:03d}" for i in range(len(frame))]
    probes = [c for c in frame.columns if re.fullmatch(r"X\d+(_[a-z])?_at", c)]
    clinical = pl.DataFrame({
        "patient_id": ids,
        "age": frame["age"].astype(float).tolist(),
        "size": frame["size"].astype(float).tolist(),
        "grade": [None if g == "unkown" else g for g in frame["grade"].astype(str)],  # sic: 'unkown' in the file
        "er": frame["er"].astype(str).tolist(),
        "dm_time_days": frame["t.tdm"].astype(float).tolist(),
        "dm_event": frame["e.tdm"].astype(int).tolist(),
    }).with_columns(pl.col("dm_event").cast(pl.Int8))
    values = to_float32(frame[probes].to_numpy(), path=path, row_labels=ids, column_labels=probes, allow_nan=False)
    block = FeatureBlock(
        "rna", tuple(ids), tuple(p[1:] for p in probes), np.ascontiguousarray(values),
        Provenance(source=SOURCE, files=(SourceFile.of(path),),
                   transform="Affymetrix HG-U133A probe intensities as bundled by scikit-survival (log2, MAS5 per GEO); stored as given",
                   licence="GPL-3 (scikit-survival package); GEO public data",
                   citation="Desmedt C et al., Clin Cancer Res 13(11):3207-14, 2007", comparable_across_cohorts=True,
                   notes="single cohort; patients numbered in file order (the file has no GSM IDs)"),
    )
    return clinical, block
