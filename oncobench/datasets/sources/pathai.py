"""PathAI human-interpretable features (HIFs): 607 slide-level features for TCGA BRCA, LUAD, LUSC, SKCM, STAD.

Per-cancer tables have one row per slide; the features are named with the slide type as suffix
(``_HE`` for LUAD/STAD, ``_FFPE`` for LUSC/SKCM), which is dropped so all cancers share names
(``hif:AREA (MM2) OF [EPITHELIAL] IN [TISSUE]``). One slide per patient: the one with the fewest
missing HIFs, ties broken by the smallest slide ID. BRCA comes from the authors' HRD modelling tables
(one row per patient, R ``make.names`` column names mapped back to the canonical names); their
genomic labels (HRD_Score) are not imaging and are left out.

References
----------
Diao JA, Wang JK, Chui WF et al. Human-interpretable image features derived from densely mapped cancer
pathology slides predict diverse molecular phenotypes. Nat Commun 12:1613, 2021.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, frame_block
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE = "pathai-hif"
CANCERS = ("luad", "lusc", "skcm", "stad")
SLIDE_RULE = "one slide per patient: fewest missing HIFs, ties broken by the smallest slide ID"
_SUFFIX = re.compile(r"_(HE|FFPE)$")


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a CSV header and rows") from None


def canonical_hifs(folder: Path) -> list[str]:
    """The 607 HIF names without slide-type suffix, from ``pancancer.hif.clusters.csv``."""
    path = folder / "pancancer.hif.clusters.csv"
    names = _read_csv(path).iloc[:, 0].astype(str).tolist()
    if len(names) != 607:
        raise InputFormatError(path, f"{len(names)} HIF names", expected="607")
    return [_SUFFIX.sub("", n) for n in names]


def _make_names(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", ".", name)


def _cancer_block(path: Path, hifs: list[str], root: Path) -> FeatureBlock:
    frame = _read_csv(path)
    slide_column = "H & E_ID" if "H & E_ID" in frame.columns else "FFPE_ID"
    if slide_column not in frame.columns:
        raise InputFormatError(path, "missing columns ['H & E_ID' or 'FFPE_ID']", expected="a slide ID column")
    suffix = "_HE" if slide_column == "H & E_ID" else "_FFPE"
    frame = frame.rename(columns={f"{h}{suffix}": h for h in hifs})
    missing_per_row = frame[[h for h in hifs if h in frame.columns]].isna().sum(axis=1)
    # slide IDs are integers: zero-pad so "9" sorts before "10" (string order would pick the wrong slide)
    key = [f"{m:04d}|{s.zfill(20) if s.isdigit() else s}" for m, s in zip(missing_per_row, frame[slide_column].astype(str))]
    provenance = _provenance([SourceFile.of(path, root)], {"slide_rule": SLIDE_RULE, "slide_type": suffix[1:]})
    return frame_block(frame, path=path, id_column="bcr_patient_barcode", feature_columns=hifs, modality="pathology",
                       provenance=provenance, prefix="hif:", order_key=key, on_conflict="first")


def _provenance(files: list[SourceFile], extra: dict) -> Provenance:
    return Provenance(
        source=SOURCE, files=tuple(files), transform="slide-level HIFs as published (areas mm2, counts, densities, ratios, morphology)",
        licence="CC BY-NC-SA 4.0 (non-commercial, share-alike)",
        citation="Diao JA et al., Nat Commun 12:1613, 2021", comparable_across_cohorts=False,
        notes="tissue and cell models were trained per cancer and slide types differ (H&E frozen vs FFPE): "
              "treat values as cohort-specific", extra=extra,
    )


def read_pathai(folder: str | Path) -> FeatureBlock:
    """All five cancers' HIFs in one ``pathology`` block (features ``hif:<name>``)."""
    folder = Path(folder)
    hifs = canonical_hifs(folder)
    blocks = [_cancer_block(folder / f"{c}.hifs.csv", hifs, folder.parent) for c in CANCERS]
    brca_path = folder / "DERIVED_brca_hifs_USE_plus_HOLDOUT.csv"
    brca = _read_csv(brca_path)
    mapping = {_make_names(f"{h}_HE"): h for h in hifs}
    brca = brca.rename(columns=mapping)
    blocks.append(frame_block(brca, path=brca_path, id_column="bcr_patient_barcode", feature_columns=hifs,
                              modality="pathology", provenance=_provenance([SourceFile.of(brca_path, folder.parent)], {}),
                              prefix="hif:"))
    patients = [p for b in blocks for p in b.patients]
    if len(set(patients)) != len(patients):
        raise InputFormatError(folder, "a patient appears in two cancers' HIF tables", expected="disjoint cohorts")
    order = np.argsort(np.array(patients))
    values = np.concatenate([b.values for b in blocks])[order]
    files = [SourceFile.of(folder / "pancancer.hif.clusters.csv", folder.parent)]  # the feature names
    files += [f for b in blocks for f in b.provenance.files]
    return FeatureBlock("pathology", tuple(patients[i] for i in order), blocks[0].features, np.ascontiguousarray(values),
                        _provenance(files, {"slide_rule": SLIDE_RULE,
                                            "slide_type": {"luad": "HE", "stad": "HE", "lusc": "FFPE", "skcm": "FFPE", "brca": "HE"},
                                            "brca": "authors' HRD tables, one row per patient; HRD labels excluded"}))
