"""cpRMT's small TCGA-BRCA multi-omics tables (RPPA protein, miRNA, CNV, mRNA) and PAM50 labels.

Tables are tab-separated, features x samples, the header one field shorter than the rows (R's
``write.table``). Sample barcodes are written with dots (``TCGA.C8.A12P.01``, pkdd2014) or quoted
(``"TCGA-A1-A0SH-01"``, tkde). Only tumour samples (sample codes 01-09) are kept; :data:`SAMPLE_RULE`
resolves a patient with several tumour samples (none in the current files: every sample is ``-01``).

Protein: two RPPA tables, on different normalisations. ``tkde/tkde_protein_subset.txt`` (363 patients x
131 antibodies) is median-centred per antibody (antibody medians -0.69..2.19, median -0.05);
``pkdd2014/protein_subset.txt`` (94 patients x 171 antibodies, 93 of them also in tkde) is not
(antibody medians -4.9..6.1). On the 93 shared patients the 127 shared antibodies correlate per
antibody (median r = 0.92) but sit at other offsets and scales (pooled r = 0.42), so values of the two
are never mixed within one column. :func:`read_protein` keeps every tkde column and adds the 41
antibodies only pkdd2014 measured, as their own columns (94 patients; NaN for the others).

References
----------
TCGA Network. Comprehensive molecular portraits of human breast tumours. Nature 490:61-70, 2012.
Le Van T et al. Ranked tiling. ECML PKDD 2014 (LNCS 8725). https://github.com/rankmatrixfactorisation/cpRMT
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from oncobench.datasets.barcode import normalize_barcode, parse_barcode
from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, clean_feature_name, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE = "cprmt"
CITATION = "TCGA Network, Nature 490:61-70, 2012; subsets from cpRMT (Le Van T et al., ECML PKDD 2014)"
LICENCE = "no licence file in the repository; TCGA open-access derived data"
PAM50_LABELS = ("LumA", "LumB", "Basal", "Her2", "Normal")
SAMPLE_RULE = ("tumour samples (sample codes 01-09) only; a patient with several keeps the lowest sample code "
               "(01 primary before 02 recurrent before 06 metastatic), then the lowest vial and full barcode")
TKDE = Path("data") / "brca" / "tkde"
PKDD = Path("data") / "brca" / "pkdd2014"

# What each distributed file holds (checked on the values; cpRMT documents none of it) and whether its
# values compare across cohorts. One cohort (TCGA-BRCA) either way.
FILE_TRANSFORMS: dict[str, tuple[str, bool]] = {
    "tkde_protein_subset.txt": (
        "RPPA log2 relative protein levels, centred per antibody within the TCGA-BRCA RPPA set "
        "(antibody medians on these 363 samples -0.69..2.19); stored as given", False),
    "protein_subset.txt": (
        "RPPA log2 relative protein levels, not centred per antibody (antibody medians -4.9..6.1); another "
        "normalisation than tkde_protein_subset.txt; stored as given", False),
    "tkde_mirna_subset.txt": (
        "miRNA expression on a linear scale (reads per million, 0 = not detected); stored as given", True),
    "mirna_subset.txt": (
        "log2(x + 1) of the tkde miRNA values (agrees with tkde_mirna_subset.txt to 0.005); stored as given", True),
    "tkde_cnv_subset.txt": (
        "GISTIC peak-region copy-number values ('Amplification/Deletion Peak N - CN values', log2-ratio scale, "
        "-1.5..6); stored as given", True),
    "cnv_subset.txt": (
        "GISTIC peak-region copy-number values (Amp_N/Del_N, log2-ratio scale, -1.5..6); stored as given", True),
    "mrna_subset.txt": (
        "mRNA log2 expression ratios (sample medians -0.94..0.34, not centred per gene); stored as given", True),
}
NOT_COMPARABLE_NOTE = "median-centred within the TCGA-BRCA RPPA set: do not compare with other cohorts' RPPA"

# pkdd2014 antibody names that tkde writes differently (same antibody: r = 0.97, 0.94 on the 93 shared
# patients; LBK1 is a typo of LKB1, r = 0.63); every other name matches after upper-casing and dropping
# punctuation ('Caspase.7_cleavedD198' -> 'CASPASE7CLEAVEDD198').
PKDD_ALIASES: dict[str, str] = {"4E.BP1_pT37": "4EBP1PT37T46", "JNK_pT183_pT185": "JNKPT183Y185", "LBK1": "LKB1"}


def antibody_key(name: str) -> str:
    """tkde's antibody naming: upper case, letters and digits only (``'c.Met'`` -> ``'CMET'``)."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def _tumour_samples(path: Path, samples: list[str], *, row: int | None, column: str | None = None,
                    first_row: int = 2) -> tuple[list[str], list[int], dict]:
    """Patients of the tumour samples (sorted) and the position of each one's chosen sample, by :data:`SAMPLE_RULE`.

    ``row``/``column`` say where the barcodes are for error messages (``row=1``: the header; ``row=None``: a
    column whose rows start at ``first_row``).
    """
    chosen: dict[str, tuple[tuple[str, str, str], int]] = {}  # patient -> (sort key, position)
    normals, extra = [], []
    for j, raw in enumerate(samples):
        try:
            barcode = parse_barcode(raw)
        except ValueError:
            barcode = None
        if barcode is None or barcode.sample is None:
            raise InputFormatError(path, "not a TCGA sample barcode", row=row if row is not None else j + first_row,
                                   column=column if column is not None else f"#{j + 2}",
                                   expected="a sample barcode such as TCGA-C8-A12P-01 or TCGA.C8.A12P.01", found=repr(raw))
        if not barcode.is_tumor:
            normals.append(raw)
            continue
        key = (barcode.sample, barcode.vial or "", normalize_barcode(raw))
        pid = barcode.patient_id
        if pid in chosen:
            if key >= chosen[pid][0]:
                extra.append(raw)
                continue
            extra.append(samples[chosen[pid][1]])
        chosen[pid] = (key, j)
    if normals:
        log.info("%s: %d normal samples dropped", path.name, len(normals))
    if extra:
        log.info("%s: %d extra tumour samples of the same patients dropped (%s)", path.name, len(extra), SAMPLE_RULE)
    patients = sorted(chosen)
    return patients, [chosen[p][1] for p in patients], {"normal_samples_dropped": normals, "extra_tumour_samples_dropped": extra}


def _read_table(path: Path) -> pd.DataFrame:
    """A tab-separated features x samples table as strings (quotes removed)."""
    try:
        frame = pd.read_csv(path, sep="\t", index_col=0, quotechar='"', dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a tab-separated features x samples table") from None
    except pd.errors.ParserError as exc:
        raise InputFormatError(path, f"not a rectangular table ({exc})",
                               expected="a header of sample barcodes and rows 'feature<TAB>value...'") from None
    if frame.empty:
        raise InputFormatError(path, "header only, no feature rows", expected="one row per feature")
    return frame


def _unique_features(path: Path, features: list[str], values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """One row per feature: identical duplicate rows collapse, differing ones raise (naming both file rows)."""
    first: dict[str, int] = {}
    for i, name in enumerate(features):
        if name not in first:
            first[name] = i
        elif not np.array_equal(values[i], values[first[name]], equal_nan=True):
            raise InputFormatError(path, f"feature {name!r} appears in rows {first[name] + 2} and {i + 2} with different values",
                                   column="(first column)", expected="one row per feature, or identical duplicates")
    if len(first) != len(features):
        log.info("%s: %d identical duplicate feature rows collapsed", path.name, len(features) - len(first))
    return list(first), values[list(first.values())]


def read_cprmt_matrix(path: str | Path, modality: str, root: str | Path | None = None) -> FeatureBlock:
    """Read one features x samples table as a patients x features block of ``modality``.

    ``modality`` is ``'protein'``, ``'mirna'``, ``'cnv'`` or ``'rna'``. Feature names are cleaned (quotes, repeated
    spaces); identical duplicate feature rows collapse, conflicting ones raise. ``root`` makes the recorded
    file name relative to it. Known files get the transform of :data:`FILE_TRANSFORMS`.

    References
    ----------
    TCGA Network, Nature 490:61-70, 2012; Le Van T et al., ECML PKDD 2014.
    """
    path = Path(path)
    if modality not in ("protein", "mirna", "cnv", "rna"):
        raise ValueError(f"modality {modality!r}: expected 'protein', 'mirna', 'cnv' or 'rna'")
    frame = _read_table(path)
    features = [clean_feature_name(f) for f in frame.index]
    samples = [clean_feature_name(c) for c in frame.columns]
    patients, columns, dropped = _tumour_samples(path, samples, row=1)
    values = to_float32(frame.to_numpy(), path=path, row_labels=[f"{i + 2} ({f})" for i, f in enumerate(features)],
                        column_labels=samples)  # file rows x file columns: errors name the file's row
    ids, rows = _unique_features(path, features, values[:, columns])
    transform, comparable = FILE_TRANSFORMS.get(path.name, (f"{modality} values as distributed by cpRMT (undocumented); "
                                                            "stored as given", False))
    file = SourceFile.of(path, root) if root is not None else SourceFile.of(path)
    return FeatureBlock(
        modality, tuple(patients), tuple(ids), np.ascontiguousarray(rows.T, dtype=np.float32),
        Provenance(source=SOURCE, files=(file,), transform=transform, licence=LICENCE, citation=CITATION,
                   comparable_across_cohorts=comparable,
                   notes="one cohort (TCGA-BRCA)" + ("" if comparable else "; " + NOT_COMPARABLE_NOTE),
                   extra={"sample_rule": SAMPLE_RULE, **dropped}),
    )


def read_protein(folder: str | Path, *, pkdd2014_antibodies: bool = True) -> FeatureBlock:
    """The BRCA RPPA ``'protein'`` block of the store: tkde's 131 antibodies plus the 41 only pkdd2014 measured.

    Every column holds values of one file only (see the module notes): tkde columns for its 363 patients,
    pkdd2014-only columns (named in tkde's style, :func:`antibody_key`) for its 94 patients, NaN elsewhere.
    The one pkdd2014 patient missing from tkde (TCGA-BH-A18V) therefore has only the pkdd2014-only
    antibodies. ``provenance.extra['pkdd2014_columns']`` maps those column names to the pkdd2014 names.
    ``pkdd2014_antibodies=False`` returns tkde's table alone (363 x 131).

    References
    ----------
    TCGA Network, Nature 490:61-70, 2012; Le Van T et al., ECML PKDD 2014.
    """
    folder = Path(folder)
    tkde = read_cprmt_matrix(folder / TKDE / "tkde_protein_subset.txt", "protein", root=folder.parent)
    if not pkdd2014_antibodies:
        return tkde
    pkdd = read_cprmt_matrix(folder / PKDD / "protein_subset.txt", "protein", root=folder.parent)
    tkde_keys = {antibody_key(f) for f in tkde.features}
    only: dict[str, str] = {}  # tkde-style name -> pkdd2014 name, pkdd2014 file order
    for name in pkdd.features:
        key = antibody_key(name)
        if name in PKDD_ALIASES or key in tkde_keys:
            continue
        if key in only:
            raise InputFormatError(pkdd.provenance.files[0].name, f"antibodies {only[key]!r} and {name!r} share the name {key!r}",
                                   expected="distinct antibody names after dropping punctuation")
        only[key] = name
    missing_alias = [f"{a} -> {b}" for a, b in PKDD_ALIASES.items() if a in pkdd.features and b not in tkde.features]
    if missing_alias:
        raise InputFormatError(tkde.provenance.files[0].name, f"antibody aliases without target {missing_alias}",
                               expected="the tkde antibodies named in PKDD_ALIASES")
    patients = sorted(set(tkde.patients) | set(pkdd.patients))
    features = tkde.features + tuple(only)
    values = np.full((len(patients), len(features)), np.nan, dtype=np.float32)
    row = {p: i for i, p in enumerate(patients)}
    values[[row[p] for p in tkde.patients], : len(tkde.features)] = tkde.values
    cols = [pkdd.features.index(name) for name in only.values()]
    values[np.ix_([row[p] for p in pkdd.patients], range(len(tkde.features), len(features)))] = pkdd.values[:, cols]
    files = tkde.provenance.files + pkdd.provenance.files
    return FeatureBlock("protein", tuple(patients), features, values, Provenance(
        source=SOURCE, files=files,
        transform=(f"first {len(tkde.features)} columns: {FILE_TRANSFORMS['tkde_protein_subset.txt'][0]}; last {len(only)} "
                   f"columns: {FILE_TRANSFORMS['protein_subset.txt'][0]}"),
        licence=LICENCE, citation=CITATION, comparable_across_cohorts=False,
        notes=("one cohort (TCGA-BRCA); " + NOT_COMPARABLE_NOTE + ". Two RPPA tables on different normalisations: "
               "each column holds one file's values only; pkdd2014 values of antibodies tkde also measured are not "
               "used (so TCGA-BH-A18V, absent from tkde, has only the pkdd2014-only antibodies)"),
        extra={"sample_rule": SAMPLE_RULE, "pkdd2014_columns": only, "pkdd2014_aliases": dict(PKDD_ALIASES)},
    ))


def read_pam50(folder: str | Path) -> pl.DataFrame:
    """``tkde/tkde_pam50_subset.txt``: ``patient_id, pam50`` (LumA, LumB, Basal, Her2, Normal) sorted by patient.

    References
    ----------
    TCGA Network, Nature 490:61-70, 2012 (PAM50 calls distributed with cpRMT).
    """
    path = Path(folder) / TKDE / "tkde_pam50_subset.txt"
    try:
        frame = pd.read_csv(path, sep="\t", index_col=0, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="columns Type, PAM50, color") from None
    if "PAM50" not in frame.columns:
        raise InputFormatError(path, "no 'PAM50' column", expected="a header 'Type<TAB>PAM50<TAB>color'")
    if frame.empty:
        raise InputFormatError(path, "header only, no rows", expected="one row per sample")
    samples = [str(s).strip() for s in frame.index]
    patients, rows, _ = _tumour_samples(path, samples, row=None, column="(first column)")
    labels = [str(frame["PAM50"].iloc[i]).strip() for i in rows]
    bad = next((k for k, s in enumerate(labels) if s not in PAM50_LABELS), None)
    if bad is not None:
        raise InputFormatError(path, "unknown PAM50 label", row=rows[bad] + 2, column="PAM50",
                               expected=", ".join(PAM50_LABELS), found=repr(labels[bad]))
    return pl.DataFrame({"patient_id": patients, "pam50": labels})
