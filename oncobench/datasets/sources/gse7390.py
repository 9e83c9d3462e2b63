"""GSE7390 (TRANSBIG): 198 node-negative breast cancers, 76 probes, time to distant metastasis.

Read from the ARFF file bundled with the installed scikit-survival (``sksurv.datasets.load_breast_cancer``
reads the same file; its loader sorts the columns, so the file is parsed here in its own order). The file
has no sample IDs (no GSM accession): patients are numbered ``GSE7390-001`` ... ``GSE7390-198`` in file
row order, so the IDs are stable only for this exact file (its sha256 is recorded). R's ``make.names``
prefixed the probe-set IDs with ``X`` (``X219340_s_at``); the prefix is removed (``219340_s_at``).

References
----------
Desmedt C et al. Strong time dependence of the 76-gene prognostic signature for node-negative breast
cancer patients in the TRANSBIG multicenter independent validation series. Clin Cancer Res 13(11):3207-14, 2007.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import polars as pl

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import FeatureBlock, to_float32
from oncobench.datasets.provenance import Provenance, SourceFile

SOURCE = "gse7390"
FILE_NAME = "breast_cancer_GSE7390-metastasis.arff"
CITATION = "Desmedt C et al., Clin Cancer Res 13(11):3207-14, 2007"
LICENCE = "GPL-3 (scikit-survival package); GEO public data"
CLINICAL = ("age", "size", "grade", "er", "t.tdm", "e.tdm")
GRADES = {"well differentiated", "intermediate", "poorly differentiated"}
_PROBE = re.compile(r"X(\d+(?:_[a-z])?_at)")  # R's make.names('219340_s_at') == 'X219340_s_at'


def bundled_path() -> Path:
    """The ARFF file shipped inside the installed scikit-survival."""
    import sksurv

    return Path(sksurv.__file__).parent / "datasets" / "data" / FILE_NAME


def read_arff(path: str | Path) -> tuple[list[tuple[str, str]], list[tuple[int, list[str]]]]:
    """A dense ARFF file as ``[(attribute, type), ...]`` and ``[(line number, cells), ...]`` in file order.

    Quoted names and values are unquoted; ``%`` lines are comments. Cells stay text (``?`` = missing).
    """
    path = Path(path)
    attributes: list[tuple[str, str]] = []
    rows: list[tuple[int, list[str]]] = []
    in_data = False
    with open(path, encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("%"):
                continue
            if in_data:
                cells = next(csv.reader([text], quotechar="'", skipinitialspace=True))
                if len(cells) != len(attributes):
                    raise InputFormatError(path, "wrong number of values", row=f"{len(rows) + 1} (line {number})",
                                           expected=f"{len(attributes)} comma-separated values", found=str(len(cells)))
                rows.append((number, [c.strip() for c in cells]))
            elif text.lower().startswith("@attribute"):
                match = re.fullmatch(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+(.+)", text, flags=re.IGNORECASE)
                if match is None:
                    raise InputFormatError(path, "malformed @attribute line", row=f"line {number}",
                                           expected="@attribute <name> <type>", found=repr(text))
                attributes.append((match.group(1).strip("'\""), match.group(2).strip()))
            elif text.lower().startswith("@data"):
                in_data = True
    if not attributes or not in_data:
        raise InputFormatError(path, "not an ARFF file (no @attribute or @data section)",
                               expected="an ARFF header followed by @data")
    if not rows:
        raise InputFormatError(path, "header only, no data rows", expected="one row per patient after @data")
    return attributes, rows


def read_gse7390(path: str | Path | None = None) -> tuple[pl.DataFrame, FeatureBlock]:
    """Read GSE7390 (default: the file bundled with scikit-survival).

    Returns
    -------
    clinical : polars.DataFrame
        ``patient_id`` (``GSE7390-001``..., file order), ``age`` (years), ``size`` (tumour size, cm),
        ``grade`` (well differentiated / intermediate / poorly differentiated; the file's ``unkown`` -> null),
        ``er`` (negative/positive), ``dm_time_days`` (``t.tdm``), ``dm_event`` (Int8, ``e.tdm``: 1 = distant metastasis).
    rna : FeatureBlock
        ``'rna'``: 198 patients x 76 Affymetrix HG-U133A probe sets (``X`` prefix removed), values as given.

    References
    ----------
    Desmedt C et al., Clin Cancer Res 13(11):3207-14, 2007.
    """
    path = Path(path) if path is not None else bundled_path()
    attributes, rows = read_arff(path)
    names = [a for a, _ in attributes]
    missing = [c for c in CLINICAL if c not in names]
    if missing:
        raise InputFormatError(path, f"missing attributes {missing}", expected=f"attributes {list(CLINICAL)} and the probes")
    probes = [n for n in names if n not in CLINICAL]
    bad = next((p for p in probes if not _PROBE.fullmatch(p)), None)
    if bad is not None:
        raise InputFormatError(path, "unexpected attribute", column=bad, expected="an R-style probe-set ID such as X219340_s_at")
    ids = [f"GSE7390-{i + 1:03d}" for i in range(len(rows))]
    cell = {name: [r[1][j] for r in rows] for j, name in enumerate(names)}
    labels = [f"{i + 1} (line {r[0]})" for i, r in enumerate(rows)]

    def number(column: str, *, required: bool = False) -> list[float | None]:
        out: list[float | None] = []
        for i, text in enumerate(cell[column]):
            if text == "?" and not required:
                out.append(None)
                continue
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise InputFormatError(path, "non-numeric cell", row=labels[i], column=column,
                                       expected="a finite number" + ("" if required else " or ?"), found=repr(text))
            out.append(value)
        return out

    def choice(column: str, allowed: set[str], *, required: bool = False) -> list[str | None]:
        out: list[str | None] = []
        for i, value in enumerate(cell[column]):
            if value not in allowed and (required or value != "?"):
                raise InputFormatError(path, f"unknown {column} value", row=labels[i], column=column,
                                       expected=" / ".join(sorted(allowed)), found=repr(value))
            out.append(None if value == "?" else value)
        return out

    times = number("t.tdm", required=True)
    negative = next((i for i, t in enumerate(times) if t < 0), None)
    if negative is not None:
        raise InputFormatError(path, "negative time to distant metastasis", row=labels[negative], column="t.tdm",
                               expected="days >= 0", found=repr(cell["t.tdm"][negative]))
    clinical = pl.DataFrame({
        "patient_id": ids,
        "age": number("age"),
        "size": number("size"),
        "grade": [None if g == "unkown" else g for g in choice("grade", GRADES | {"unkown"})],  # sic: 'unkown' in the file
        "er": choice("er", {"negative", "positive"}),
        "dm_time_days": times,
        "dm_event": [int(e) for e in choice("e.tdm", {"0", "1"}, required=True)],
    }, schema_overrides={"age": pl.Float64, "size": pl.Float64, "grade": pl.String, "er": pl.String,
                         "dm_time_days": pl.Float64, "dm_event": pl.Int8})
    matrix = np.array([[c if c != "?" else "" for c in r[1]] for r in rows], dtype=object)[:, [names.index(p) for p in probes]]
    values = to_float32(matrix, path=path, row_labels=labels, column_labels=probes)
    block = FeatureBlock(
        "rna", tuple(ids), tuple(_PROBE.fullmatch(p).group(1) for p in probes), np.ascontiguousarray(values),
        Provenance(source=SOURCE, files=(SourceFile.of(path),),
                   transform="log2-scale Affymetrix HG-U133A probe-set expression as published on GEO by the authors "
                             "(values 0.5..14.4) and bundled by scikit-survival; stored as given",
                   licence=LICENCE, citation=CITATION, comparable_across_cohorts=True,
                   notes="single cohort; patients numbered GSE7390-001.. in file row order (the file has no GSM IDs); "
                         "probe IDs without R's 'X' prefix",
                   extra={"probe_order": "file attribute order"}),
    )
    return clinical, block
