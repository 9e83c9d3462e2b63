"""MLOmics's released layout: features x samples CSVs, integer label codes, the patient roster, the release pins.

The release (Hugging Face dataset ``AIBIC/MLOmics``, folder ``Main_Dataset/``) holds, per task family and
dataset, one CSV per omics and feature scale (``Original``, ``Top`` = ANOVA-selected, ``Aligned`` = features
shared across related datasets): features in rows, samples in columns with dotted barcodes
(``TCGA.3C.AAAU.01``), values standardised by MLOmics; beside them ``<X>_label_num.csv`` (one integer code per
sample, in the matrices' column order, no names for the codes) and, for clustering sets, ``survival_<X>.csv``.
``Clinical_Rec.csv`` (MLOmics repository) is the roster of the 8,314 patients of the 32 types.

Traps: rows without a feature name and without any value pad some files (the GS-BRCA Top miRNA file has 200
named miRNAs and 166 such blank rows, which are all of its 111,386 empty cells): they are counted and left out;
a nameless row that carries values is refused. Empty cells in named rows stay NaN (not measured). MLOmics
standardised and (Top) selected features with labels on all samples, so the test patients of any split took
part in both: recorded in the provenance.

References
----------
Yang Z et al. MLOmics: Cancer Multi-Omics Database for Machine Learning. Scientific Data 12, 2025
(doi 10.1038/s41597-025-05235-x).
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from oncobench.datasets.barcode import parse_barcode
from oncobench.datasets.errors import InputFormatError, OncoBenchError
from oncobench.datasets.harmonize import FeatureBlock, numeric_column, to_float32
from oncobench.datasets.pins import PinnedFile
from oncobench.datasets.provenance import Provenance, SourceFile

log = logging.getLogger(__name__)

SOURCE_FOLDER = "mlomics_roster_gsbrca_splits"
HF_DATASET = "AIBIC/MLOmics"  # what MLOmics's download.sh clones; Main_Dataset/ sits at the repository root
HF_REVISION = "main"  # the sha256 pins, not the revision, decide whether a file is accepted
RELEASE_BASE = f"https://huggingface.co/datasets/{HF_DATASET}/resolve/{HF_REVISION}/"
REPO = "chenzRG/Cancer-Multi-Omics-Benchmark"
REPO_COMMIT = "e88c5a4168a6b0aa04209dbdff26fd36d8b3086e"
REPO_BASE = f"https://raw.githubusercontent.com/{REPO}/{REPO_COMMIT}/"
# where the files of the raw folder that are not in Main_Dataset/ live in the MLOmics repository
REPO_PATHS = {
    "Clinical_Rec.csv": "Auxiliary_Resource/Clinical_annotation/Clinical_Rec.csv",
    "splits/": "Baseline_and_Metric/Classification/Baselines/Python/CustOmics/splits/",
}
CITATION = "Yang Z et al. MLOmics: Cancer Multi-Omics Database for Machine Learning. Sci Data 12, 2025"
LICENCE = "MLOmics release (Figshare doi 10.6084/m9.figshare.28729127; CC-BY-4.0 per a third party, not verified); TCGA open access"
OMICS_MODALITY = {"mRNA": "rna", "miRNA": "mirna", "Methy": "methylation", "CNV": "cnv"}
SCALES = ("Original", "Top", "Aligned")
ROSTER_COLUMNS = ("sample", "status", "days", "age_at_initial_pathologic_diagnosis", "gender", "pathologic_stage", "label")


class LabelMappingError(OncoBenchError, ValueError):
    """Integer label codes cannot be mapped to names with enough agreement against the reference labels."""


# ---- the release and its pins -------------------------------------------------------------------------------

_RELEASE = re.compile(r"Main_Dataset/(?P<family>[A-Za-z]+)_datasets/(?P<set>[^/]+)/(?P<scale>Original|Top|Aligned)/(?P<file>[^/]+)$")
_OMICS_FILE = re.compile(r"(?P<omics>mRNA|miRNA|Methy|CNV)(?:_(?:top|aligned))?\.csv$")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of the release: its path, what it holds, and its pin (``None``: the pin list has no size/sha256)."""

    path: str
    family: str  # Classification, Clustering, Imputation
    set: str  # GS-BRCA, ACC, Imp-BRCA, Pan-cancer ...
    scale: str
    kind: str  # omics, labels, survival
    omics: str | None
    bytes: int | None
    sha256: str | None

    @property
    def pinned(self) -> bool:
        return self.bytes is not None and self.sha256 is not None

    @property
    def url(self) -> str:
        """The public download path (Hugging Face ``resolve`` URL, percent-encoded)."""
        return RELEASE_BASE + urllib.parse.quote(self.path)

    def pin(self) -> PinnedFile:
        """The :class:`PinnedFile` the downloader verifies; refuses a file the pin list gives no checksum for."""
        if not self.pinned:
            raise UnpinnedFileError(f"{self.path}: the MLOmics pin list gives no size and sha256 for it; it is never "
                                    "fetched unverified (place a copy you trust under --raw-dir)")
        return PinnedFile(f"{SOURCE_FOLDER}/{self.path}", self.url, self.sha256, self.bytes, SOURCE_FOLDER)


class UnpinnedFileError(OncoBenchError):
    """A release file without a pinned size and sha256 was asked for."""


def parse_release_path(path: str, bytes_: int | None = None, sha256: str | None = None) -> ReleaseFile:
    """Classify a ``Main_Dataset/...`` path of the release (raises ValueError for another layout)."""
    match = _RELEASE.fullmatch(path)
    if match is None:
        raise ValueError(f"not an MLOmics release path: {path!r}; expected "
                         "Main_Dataset/<Family>_datasets/<set>/<Original|Top|Aligned>/<file>.csv")
    name = match["file"]
    omics = _OMICS_FILE.search(name)
    if name.endswith("_label_num.csv"):
        kind, om = "labels", None
    elif name.startswith("survival_"):
        kind, om = "survival", None
    elif omics is not None:
        kind, om = "omics", omics["omics"]
    else:
        raise ValueError(f"{path!r}: neither an omics matrix, a label file nor a survival file")
    return ReleaseFile(path, match["family"], match["set"], match["scale"], kind, om, bytes_, sha256)


def release_files() -> tuple[ReleaseFile, ...]:
    """Every file of the release, from the packaged pin list (:mod:`oncobench.datasets.sources.mlomics_pins`)."""
    from oncobench.datasets.sources.mlomics_pins import RELEASE_FILES

    return tuple(parse_release_path(p, b, s) for p, b, s in RELEASE_FILES)


def read_release_pin_list(path: str | Path) -> list[tuple[str, int | None, str | None]]:
    """The curators' pin list CSV (``path,size_bytes,sha256``); blank size/sha256 = unpinned."""
    path = Path(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != ["path", "size_bytes", "sha256"]:
        raise InputFormatError(path, "unexpected header", expected="path,size_bytes,sha256", found=",".join(frame.columns))
    out = []
    for i, (p, b, s) in enumerate(frame.itertuples(index=False), start=2):
        if (b == "") != (s == ""):
            raise InputFormatError(path, "size without sha256 (or the reverse)", row=i, expected="both or neither")
        if s and not re.fullmatch(r"[0-9a-f]{64}", s):
            raise InputFormatError(path, "not a sha256", row=i, column="sha256", found=repr(s))
        out.append((p, int(b) if b else None, s or None))
    return out


def repository_pin(pin: PinnedFile) -> PinnedFile:
    """A raw-folder pin of the MLOmics repository (roster, split files) with its URL at the pinned commit."""
    rel = pin.name.removeprefix(f"{SOURCE_FOLDER}/")
    for prefix, target in REPO_PATHS.items():
        if rel == prefix or (prefix.endswith("/") and rel.startswith(prefix)):
            upstream = target + rel[len(prefix):] if prefix.endswith("/") else target
            url = REPO_BASE + urllib.parse.quote(upstream)
            return PinnedFile(pin.name, url, pin.sha256, pin.bytes, pin.source)
    return pin


# ---- readers ---------------------------------------------------------------------------------------------------

@dataclass
class MatrixInfo:
    """What reading one matrix found beyond the values: samples as written, blank rows, empty cells."""

    samples: list[str]
    sample_types: dict[str, int]
    blank_rows: int
    empty_cells: int  # empty cells of the file as written (blank rows included)
    missing_cells: int  # empty cells kept as NaN (named rows)
    extra: dict[str, Any] = field(default_factory=dict)


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputFormatError(path, f"malformed CSV ({str(exc).strip()})", row=int(line[1]) if line else None,
                               expected="the same number of fields on every row") from None
    except pd.errors.EmptyDataError:
        raise InputFormatError(path, "empty file", expected="a header row of sample barcodes and one row per feature") from None


def read_matrix(path: str | Path, *, root: str | Path | None = None, omics: str | None = None,
                source: str = "MLOmics") -> tuple[FeatureBlock, MatrixInfo]:
    """Read one released features x samples CSV as a patients x features block.

    ``omics`` (mRNA, miRNA, Methy, CNV) picks the modality; by default it is read from the file name.
    Sample columns (dotted barcodes) become patient barcodes; two samples of one patient are refused.
    """
    path = Path(path)
    if omics is None:
        match = _OMICS_FILE.search(path.name)
        if match is None:
            raise InputFormatError(path, "cannot tell the omics from the file name", expected="<X>_{mRNA,miRNA,Methy,CNV}[_top|_aligned].csv")
        omics = match["omics"]
    frame = _read_csv(path, index_col=0, header=0)
    if frame.shape[1] == 0:
        raise InputFormatError(path, "no sample columns", expected="a header row of sample barcodes")
    samples = [str(c).strip() for c in frame.columns]
    patients, types = [], Counter()
    for j, sample in enumerate(samples):
        try:
            barcode = parse_barcode(sample)
        except ValueError:
            raise InputFormatError(path, "header cell is not a TCGA sample barcode", row=1, column=f"#{j + 2}",
                                   expected="a dotted barcode like TCGA.3C.AAAU.01", found=repr(sample)) from None
        patients.append(barcode.patient_id)
        types[barcode.sample or "?"] += 1
    dup = [p for p, n in Counter(patients).items() if n > 1]
    if dup:
        cols = [s for s, p in zip(samples, patients) if p == dup[0]]
        raise InputFormatError(path, f"two samples of patient {dup[0]}: {cols}", row=1,
                               expected="one sample per patient (the store is keyed by patient)")
    names = [None if pd.isna(n) or not str(n).strip() else str(n).strip() for n in frame.index]
    values = to_float32(frame.to_numpy(), path=path, row_labels=[f"{i + 2} ({n})" for i, n in enumerate(names)],
                        column_labels=samples)
    empty_cells = int(np.isnan(values).sum())
    blank = np.array([n is None for n in names])
    carrying = blank & ~np.all(np.isnan(values), axis=1)
    if carrying.any():
        i = int(np.flatnonzero(carrying)[0])
        raise InputFormatError(path, "row without a feature name carries values", row=i + 2, column="(first column)",
                               expected="a feature name (or an entirely empty padding row)")
    named = [n for n in names if n is not None]
    repeated = [n for n, c in Counter(named).items() if c > 1]
    if repeated:
        row = [i + 2 for i, n in enumerate(names) if n == repeated[0]]
        raise InputFormatError(path, f"feature {repeated[0]!r} appears twice", row=row[1], column="(first column)",
                               expected="unique feature names")
    kept = values[~blank].T  # patients x features
    if not named:
        raise InputFormatError(path, "no named feature rows", expected="one row per feature")
    info = MatrixInfo(samples, dict(types), int(blank.sum()), empty_cells, int(np.isnan(kept).sum()))
    transform = (f"MLOmics {path.parent.name} scale as released (values standardised by MLOmics on all samples of the "
                 "set; Top features ANOVA-selected by MLOmics with the labels of all samples); dotted sample barcodes "
                 f"-> patient barcodes; {info.blank_rows} nameless empty padding rows left out")
    provenance = Provenance(
        source=source, files=(SourceFile.of(path, root),), transform=transform, licence=LICENCE, citation=CITATION,
        comparable_across_cohorts=False,
        notes="Scaled and (Top) selected by MLOmics using every sample, test patients of any split included: "
              "treat scores on these values as optimistic.",
        extra={"omics": omics, "blank_rows": info.blank_rows, "empty_cells_in_file": info.empty_cells,
               "missing_cells_kept": info.missing_cells, "sample_types": info.sample_types},
    )
    order = np.argsort(np.array(patients))
    block = FeatureBlock(OMICS_MODALITY[omics], tuple(patients[i] for i in order), tuple(named),
                         np.ascontiguousarray(kept[order], dtype=np.float32), provenance)
    return block, info


def read_label_codes(path: str | Path, samples: list[str]) -> dict[str, int]:
    """``<X>_label_num.csv``: one integer code per sample, in the order of the matrices' ``samples`` columns.

    Returns patient barcode -> code.
    """
    path = Path(path)
    frame = _read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != ["Label"]:
        raise InputFormatError(path, "unexpected header", row=1, expected="one column 'Label'", found=",".join(map(str, frame.columns)))
    raw = [str(v).strip() for v in frame["Label"]]
    if len(raw) != len(samples):
        raise InputFormatError(path, f"{len(raw)} labels for {len(samples)} sample columns",
                               expected="one label per sample column of the matrices, in their order")
    codes = []
    for i, v in enumerate(raw):
        if not re.fullmatch(r"-?\d+", v):
            raise InputFormatError(path, "not an integer label code", row=i + 2, column="Label", found=repr(v))
        codes.append(int(v))
    return {parse_barcode(s).patient_id: c for s, c in zip(samples, codes)}


def read_roster(path: str | Path) -> pl.DataFrame:
    """``Clinical_Rec.csv``: one row per patient (8,314 in the real file, 32 types).

    Columns: patient_id, sample_barcode, sample_type (01 tumour, 03 blood cancer, 06 metastasis), cancer_type,
    mlomics_os (1 = dead), mlomics_os_days, age, sex, stage (I-IV as written).
    """
    path = Path(path)
    frame = _read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ROSTER_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFormatError(path, f"missing columns {missing}", row=1, expected=",".join(ROSTER_COLUMNS))
    frame = frame.replace({"": None, "NA": None, "NaN": None})
    ids, sample_types = [], []
    for i, raw in enumerate(frame["sample"]):
        try:
            barcode = parse_barcode(raw or "")
        except ValueError:
            raise InputFormatError(path, "not a TCGA sample barcode", row=i + 2, column="sample",
                                   expected="TCGA-XX-XXXX-01", found=repr(raw)) from None
        ids.append(barcode.patient_id)
        sample_types.append(barcode.sample)
    dup = [p for p, n in Counter(ids).items() if n > 1]
    if dup:
        raise InputFormatError(path, f"patient {dup[0]} listed {Counter(ids)[dup[0]]} times", column="sample",
                               expected="one row per patient")
    status = numeric_column(frame, "status", path=path, expected="0 (alive) or 1 (dead)")
    bad = next((i for i, s in enumerate(status) if s not in (None, 0.0, 1.0)), None)
    if bad is not None:
        raise InputFormatError(path, "status not 0/1", row=bad + 2, column="status", found=repr(frame["status"].iloc[bad]))
    labels = [str(v).strip() if v is not None else None for v in frame["label"]]
    if None in labels:
        raise InputFormatError(path, "empty cancer type", row=labels.index(None) + 2, column="label", expected="a TCGA type code")
    return pl.DataFrame({
        "patient_id": ids, "sample_barcode": [str(s).strip() for s in frame["sample"]], "sample_type": sample_types,
        "cancer_type": labels,
        "mlomics_os": [None if s is None else int(s) for s in status],
        "mlomics_os_days": numeric_column(frame, "days", path=path, expected="days (a number)"),
        "age": numeric_column(frame, "age_at_initial_pathologic_diagnosis", path=path, expected="age in years"),
        "sex": [None if v is None else str(v).strip().upper() for v in frame["gender"]],
        "stage": [None if v is None else str(v).strip() for v in frame["pathologic_stage"]],
    }, schema={"patient_id": pl.String, "sample_barcode": pl.String, "sample_type": pl.String, "cancer_type": pl.String,
               "mlomics_os": pl.Int8, "mlomics_os_days": pl.Float64, "age": pl.Float64, "sex": pl.String,
               "stage": pl.String}).sort("patient_id")


# ---- label codes -> names ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelMapping:
    """Integer codes -> names derived by joining with a reference table, with the agreement behind each code."""

    mapping: dict[int, str]
    per_code: dict[int, dict[str, Any]]
    n_shared: int
    reference: str

    def to_dict(self) -> dict[str, Any]:
        return {"mapping": {str(k): v for k, v in self.mapping.items()}, "reference": self.reference,
                "n_shared": self.n_shared, "per_code": {str(k): v for k, v in self.per_code.items()},
                "rule": "each code takes the reference label most of its shared patients carry; one-to-one; "
                        "agreement = that share"}


def derive_label_mapping(codes: Mapping[str, int], reference: Mapping[str, str], *, reference_name: str,
                         min_agreement: float = 0.8) -> LabelMapping:
    """Name each integer code by the reference label most of its patients carry.

    Raises :class:`LabelMappingError` when a code has no patient in the reference, two codes take one name,
    or a code's agreement is below ``min_agreement`` (codes are not that reference's classes).
    """
    shared = [p for p in codes if p in reference]
    mapping: dict[int, str] = {}
    per_code: dict[int, dict[str, Any]] = {}
    for code in sorted(set(codes.values())):
        labels = Counter(reference[p] for p in shared if codes[p] == code)
        n_code = sum(1 for c in codes.values() if c == code)
        if not labels:
            raise LabelMappingError(f"code {code} ({n_code} patients): none of its patients is in {reference_name}; "
                                    "cannot name it")
        name, hits = min(labels.items(), key=lambda kv: (-kv[1], kv[0]))
        agreement = hits / sum(labels.values())
        per_code[code] = {"label": name, "agreement": round(agreement, 4), "n_compared": sum(labels.values()),
                          "n_code": n_code, "reference_counts": dict(sorted(labels.items()))}
        if agreement < min_agreement:
            raise LabelMappingError(f"code {code}: only {agreement:.1%} of its {sum(labels.values())} patients in "
                                    f"{reference_name} carry its most common label {name!r} (need {min_agreement:.0%}); "
                                    f"labels {dict(labels)}")
        mapping[code] = name
    twice = [n for n, c in Counter(mapping.values()).items() if c > 1]
    if twice:
        raise LabelMappingError(f"codes {[c for c, n in mapping.items() if n == twice[0]]} all map to {twice[0]!r} "
                                f"in {reference_name}; the mapping must be one-to-one")
    return LabelMapping(mapping, per_code, len(shared), reference_name)
