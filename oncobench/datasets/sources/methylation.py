"""DNA methylation beta values (Illumina 450k CpGs) from three TCGA sources, tumours apart from normals.

- TCGA-BRCA, r.jive ``BRCA_data`` (574 CpGs x 348 primary tumours, columns ``TCGA.A1.A0SH.01A``).
- TCGA-COAD, DMtest ``beta`` (1,000 CpGs x 334 samples: 296 tumours + 38 matched normals; the columns are
  12-character patient barcodes, a second column of the same patient carries R's ``make.unique`` suffix
  ``.1``, and only the covariate table's ``group`` (0 normal, 1 tumour) says which is which).
- TCGA-PAAD, Wissel et al. 2023 (81 patients x 2,000 ``meth_cg...`` columns, patients x features).

Every reader returns tumour and normal samples as separate :class:`FeatureBlock` objects keyed by patient
barcode (a normal block is stored as the ``methylation_normal`` modality, so it never enters a tumour task
unless the task names it). Beta values outside [0, 1] are refused with the file, CpG and sample named.

References
----------
O'Connell MJ, Lock EF. R.JIVE for exploration of multi-source molecular data. Bioinformatics 32:2877, 2016.
Wang X et al. DMtest (TCGA-COAD 450k), https://github.com/xwangfh/DMtest.
Wissel D et al. Systematic comparison of multi-omics survival models. Cell Reports Methods 3:100461, 2023.
"""

from __future__ import annotations

import logging
import re
from itertools import combinations
from pathlib import Path
from typing import Mapping

import numpy as np

from oncobench.datasets.barcode import normalize_barcode, parse_barcode
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile
from oncobench.datasets.sources.card_files import read_raw_table

log = logging.getLogger(__name__)

BRCA_FILE = Path("derived") / "brca_methylation.csv.gz"
COAD_BETA = Path("derived") / "coad_beta_1000cpg.csv.gz"
COAD_COVARIATE = Path("derived") / "coad_covariate.csv"
PAAD_FILE = Path("derived") / "paad_meth.csv.gz"
_CPG = re.compile(r"^cg\d{8}$")
TRANSFORM = "beta values (Illumina HumanMethylation450 CpGs), as the source gives them, in [0, 1]"


def check_beta(values: np.ndarray, path: Path, cpgs: list[str], samples: list[str], *, cpg_axis: int) -> None:
    """Refuse a beta value outside [0, 1], naming the file, CpG (row) and sample (column) of the first one."""
    bad = ~np.isnan(values) & ((values < 0) | (values > 1))
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        cpg, sample = (cpgs[i], samples[j]) if cpg_axis == 0 else (cpgs[j], samples[i])
        raise InputFormatError(path, f"beta value out of range (CpG {cpg}, sample {sample})", row=cpg if cpg_axis == 0 else sample,
                               column=sample if cpg_axis == 0 else cpg, expected="a methylation beta value in [0, 1]",
                               found=repr(float(values[i, j])))


def _check_cpgs(path: Path, cpgs: list[str]) -> None:
    for i, cpg in enumerate(cpgs):
        if not _CPG.match(cpg):
            raise InputFormatError(path, "not a 450k CpG probe ID", row=i + 2, column="CpG",
                                   expected="cg followed by 8 digits", found=repr(cpg))
    if len(set(cpgs)) != len(cpgs):
        dup = next(c for c in cpgs if cpgs.count(c) > 1)
        raise InputFormatError(path, f"duplicate CpG {dup!r}", expected="one row per CpG")


def _cpg_by_sample(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(CpGs, sample column names, CpG x sample float32 betas) of a features x samples CSV."""
    table = read_raw_table(path, missing=("NA",), id_column=0)
    samples = [h.strip() for h in table.header[1:]]
    cpgs = [str(c).strip() for c in table.cells[:, 0]]
    _check_cpgs(path, cpgs)
    values = to_float32(table.column_cells(list(range(1, len(table.header)))), path=path, row_labels=cpgs,
                        column_labels=samples)
    check_beta(values, path, cpgs, samples, cpg_axis=0)
    return cpgs, samples, values


def _provenance(path: Path, root: Path, source: str, licence: str, citation: str, notes: str) -> Provenance:
    return Provenance(source=source, files=(SourceFile.of(path, root),), transform=TRANSFORM, licence=licence,
                      citation=citation, comparable_across_cohorts=True, notes=notes)


def _block(modality: str, patients: list[str], cpgs: list[str], values: np.ndarray, prov: Provenance) -> FeatureBlock:
    return FeatureBlock(modality, tuple(patients), tuple(cpgs), np.ascontiguousarray(values, dtype=np.float32), prov)


def read_brca_rjive(folder: Path, root: Path | None = None) -> FeatureBlock:
    """BRCA methylation (r.jive): 574 CpGs for 348 primary tumours; a normal sample column is refused."""
    path = folder / BRCA_FILE
    cpgs, samples, values = _cpg_by_sample(path)
    patients = []
    for sample in samples:
        barcode = parse_barcode(normalize_barcode(sample))
        if not barcode.is_tumor:
            raise InputFormatError(path, "not a tumour sample", column=sample, expected="sample type 01-09 (tumour)",
                                   found=barcode.sample_type)
        patients.append(barcode.patient_id)
    prov = _provenance(path, root or folder.parent, "r.jive BRCA_data", "GPL-3 (r.jive); TCGA open access",
                       "O'Connell & Lock, Bioinformatics 2016; TCGA Network, Nature 2012",
                       f"{len(samples)} primary tumours; CpG set of Lock & Dunson 2013")
    return _block("methylation", patients, cpgs, values.T, prov)


def read_coad_dmtest(folder: Path, root: Path | None = None) -> tuple[FeatureBlock, FeatureBlock]:
    """COAD methylation (DMtest): (tumour block, matched-normal block), told apart by the covariate ``group``."""
    path, cov_path = folder / COAD_BETA, folder / COAD_COVARIATE
    cpgs, samples, values = _cpg_by_sample(path)
    cov = read_raw_table(cov_path, id_column=0, force_text=True)
    header = [h.strip() for h in cov.header]
    if "group" not in header:
        raise InputFormatError(cov_path, "no 'group' column", expected="group: 0 normal, 1 tumour")
    g = header.index("group")
    group = {}
    for i, row in enumerate(cov.cells):
        value = str(row[g]).strip()
        if value not in ("0", "1"):
            raise InputFormatError(cov_path, "bad group", row=i + 2, column="group", expected="0 (normal) or 1 (tumour)",
                                   found=repr(value))
        group[str(row[0]).strip()] = value
    missing = [s for s in samples if s not in group]
    if missing:
        raise InputFormatError(cov_path, f"{len(missing)} beta columns have no covariate row, e.g. {missing[:3]}",
                               expected=f"a row for every column of {path.name}")
    tumour_cols = [j for j, s in enumerate(samples) if group[s] == "1"]
    normal_cols = [j for j, s in enumerate(samples) if group[s] == "0"]
    # R's make.unique: the second column of a patient is "TCGA-XX-XXXX.1"; the barcode is its first 12 characters
    def patient(sample: str) -> str:
        return parse_barcode(normalize_barcode(sample.split(".")[0])).patient_id

    root = root or folder.parent
    licence, citation = "GPL (>= 2) (DMtest); TCGA open access", "DMtest (Wang X et al.), TCGA-COAD 450k"
    tumour = _block("methylation", [patient(samples[j]) for j in tumour_cols], cpgs, values[:, tumour_cols].T,
                    _provenance(path, root, "DMtest COAD beta", licence, citation,
                                f"{len(tumour_cols)} tumour columns (covariate group 1)"))
    normal = _block("methylation_normal", [patient(samples[j]) for j in normal_cols], cpgs, values[:, normal_cols].T,
                    _provenance(path, root, "DMtest COAD beta", licence, citation,
                                f"{len(normal_cols)} matched solid-tissue-normal columns (covariate group 0)"))
    return tumour, normal


def read_paad_wissel(folder: Path, root: Path | None = None) -> FeatureBlock:
    """PAAD methylation (Wissel 2023): 2,000 CpGs (``meth_`` prefix dropped) for 81 primary tumours."""
    path = folder / PAAD_FILE
    table = read_raw_table(path, id_column="patient_id")
    header = [h.strip() for h in table.header]
    cols = [j for j, h in enumerate(header) if h.startswith("meth_")]
    cpgs = [header[j][len("meth_"):] for j in cols]
    _check_cpgs(path, cpgs)
    patients = [parse_barcode(normalize_barcode(str(p))).patient_id for p in table.cells[:, header.index("patient_id")]]
    values = to_float32(table.column_cells(cols), path=path, row_labels=patients, column_labels=[header[j] for j in cols])
    check_beta(values, path, cpgs, patients, cpg_axis=1)
    prov = _provenance(path, root or folder.parent, "Wissel 2023 PAAD", "MIT (pdac-efs-bench2024); TCGA open access",
                       "Wissel D et al., Cell Reports Methods 3:100461, 2023",
                       "2,000 most variable CpGs of the authors' preprocessing; columns meth_<CpG> renamed <CpG>")
    return _block("methylation", patients, cpgs, values, prov)


def cpg_overlap(cpg_sets: Mapping[str, set[str] | tuple[str, ...] | list[str]]) -> dict[str, object]:
    """CpG counts per source, pairwise intersections and the intersection of all: where values compare."""
    sets = {name: set(cpgs) for name, cpgs in cpg_sets.items()}
    pairwise = {f"{a} & {b}": len(sets[a] & sets[b]) for a, b in combinations(sets, 2)}
    common = set.intersection(*sets.values()) if sets else set()
    return {"n_cpgs": {n: len(s) for n, s in sets.items()}, "pairwise": pairwise, "all": len(common),
            "all_cpgs": sorted(common)}
