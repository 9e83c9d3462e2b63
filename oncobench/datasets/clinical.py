"""Clinical harmonization: stage and grade groups, and the numeric ``clinical`` covariate block."""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.provenance import Provenance

_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}


def stage_group(text: str | None) -> str | None:
    """AJCC stage text to its group: ``'Stage IIIA'`` -> ``'III'``; ``'Stage X'``, ``'I/II NOS'``, null -> None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(?:stage\s+)?(IV|III|II|I)[A-C]?\d?\s*", str(text), flags=re.IGNORECASE)
    return match.group(1).upper() if match else None


def grade_number(text: str | None) -> int | None:
    """Histological grade ``'G1'``..``'G4'`` -> 1..4; ``'GX'``, ``'High Grade'``, null -> None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*G([1-4])\s*", str(text), flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


def clinical_block(clinical: pl.DataFrame, provenance: Provenance) -> FeatureBlock:
    """Numeric covariates per patient: age (years), is_female (0/1), stage group (1-4), grade (1-4); NaN = not recorded."""
    age = clinical["age"].cast(pl.Float32, strict=False).to_numpy()
    sex = clinical["sex"].to_list()
    female = np.array([np.nan if s is None else float(str(s).upper() == "FEMALE") for s in sex], dtype=np.float32)
    stage = np.array([np.nan if (g := stage_group(s)) is None else _ROMAN[g] for s in clinical["stage"].to_list()], dtype=np.float32)
    grade = np.array([np.nan if (g := grade_number(s)) is None else g for s in clinical["grade"].to_list()], dtype=np.float32)
    values = np.column_stack([age, female, stage, grade]).astype(np.float32)
    return FeatureBlock("clinical", tuple(clinical["patient_id"].to_list()),
                        ("age", "is_female", "stage_group", "grade"), values, provenance)
