"""TCGA-PAAD omics of Wissel et al. 2023 besides methylation: expression, CNV, RPPA, mutation counts.

Files are patients x features with ``time``/``status`` repeated beside prefixed feature columns
(``gex_PNLIP.5406``, ``cnv_GATA6``, ``rppa_X4EBP1_pS65``, ``mutation_TTN``). Names are reduced to the
project's conventions (gene symbol; antibody upper-case without punctuation, as cpRMT's) so they align
with PORPOISE's and cpRMT's columns; a name that would collide keeps its full form.

References
----------
Wissel D et al. Systematic comparison of multi-omics survival models. Cell Reports Methods 3:100461, 2023.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from oncobench.datasets.barcode import normalize_barcode, parse_barcode
from oncobench.datasets.harmonize import FeatureBlock, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile
from oncobench.datasets.sources.card_files import read_raw_table

# file -> (modality, column prefix, transform)
FILES: dict[str, tuple[str, str, str]] = {
    "paad_gex.csv.gz": ("rna", "gex_", "log-scale normalised counts (Wissel 2023), 2,000 most variable genes"),
    "paad_cnv.csv.gz": ("cnv", "cnv_", "GISTIC thresholded calls -2..2"),
    "paad_rppa.csv.gz": ("protein", "rppa_", "RPPA normalised (TCGA)"),
    "paad_mutation.csv.gz": ("mutation", "mutation_", "mutation counts per gene (Wissel 2023)"),
}


def short_name(modality: str, raw: str) -> str:
    """``gex_PNLIP.5406`` -> ``PNLIP``; ``rppa_X4EBP1_pS65`` -> ``4EBP1PS65``; ``cnv_GATA6`` -> ``GATA6``."""
    name = raw.split("_", 1)[1]
    if modality == "rna":
        return name.rsplit(".", 1)[0]
    if modality == "protein":
        name = name[1:] if re.match(r"^X\d", name) else name  # R's make.names put an X before a leading digit
        return re.sub(r"[^A-Z0-9]", "", name.upper())
    return name


def read_wissel_omics(folder: Path, root: Path | None = None) -> dict[str, FeatureBlock]:
    """rna, cnv, protein and mutation blocks of the 81 PAAD patients."""
    blocks = {}
    for name, (modality, prefix, transform) in FILES.items():
        path = folder / "derived" / name
        table = read_raw_table(path, id_column="patient_id")
        header = [h.strip() for h in table.header]
        cols = [j for j, h in enumerate(header) if h.startswith(prefix)]
        raw = [header[j] for j in cols]
        short = [short_name(modality, r) for r in raw]
        features = [s if short.count(s) == 1 else r for s, r in zip(short, raw)]
        patients = [parse_barcode(normalize_barcode(str(p))).patient_id for p in table.cells[:, header.index("patient_id")]]
        values = to_float32(table.column_cells(cols), path=path, row_labels=patients, column_labels=raw)
        prov = Provenance(source="Wissel 2023 PAAD", files=(SourceFile.of(path, root or folder.parent),),
                          transform=transform, licence="MIT (pdac-efs-bench2024); TCGA open access",
                          citation="Wissel D et al., Cell Reports Methods 3:100461, 2023",
                          comparable_across_cohorts=modality == "cnv",
                          notes=f"columns {prefix}<name> renamed to the project's feature names")
        blocks[modality] = FeatureBlock(modality, tuple(patients), tuple(features), np.ascontiguousarray(values), prov)
    return blocks
