"""The dataset card's schema: its keys, the validated card (:class:`DatasetCard`) and a commented example.

:func:`read_card` checks the card table by table and reports every problem at once
(:class:`CardProblemsError`); the files it names are read by :mod:`oncobench.datasets.sources.generic`.
Paths are relative to the card's folder, or to the ``--raw-dir`` folder given at build time; they may not
leave it (``..``, absolute paths), while symlinks the user placed there are followed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from oncobench.datasets.errors import InputFormatError
from oncobench.datasets.harmonize import MODALITIES
from oncobench.datasets.sources.card_files import SUFFIXES, suffix_of

Kind = type | tuple[type, ...]
PATHS = (str, list)
# key -> (required, type); the card is refused on any other key
TOP_KEYS: dict[str, tuple[bool, Kind]] = {
    "name": (True, str), "version": (True, (str, int)), "description": (False, str), "licence": (False, str),
    "citation": (False, str), "clinical": (True, dict), "modalities": (True, list), "endpoints": (False, list),
    "splits": (False, dict), "tasks": (False, list),
}
# keys shared by every table a card reads
TABLE_KEYS: dict[str, tuple[bool, Kind]] = {
    "path": (True, PATHS), "id_column": (True, (str, int)), "select": (False, list), "drop": (False, list),
    "missing_values": (False, list), "values": (False, dict), "sheet": (False, str),
}
CLINICAL_KEYS: dict[str, tuple[bool, Kind]] = {
    **TABLE_KEYS, "cohort_column": (False, str), "cohort": (False, str), "event_column": (False, str),
    "time_column": (False, str), "unmatched": (False, str), "labels": (False, list),
}
MODALITY_KEYS: dict[str, tuple[bool, Kind]] = {
    **TABLE_KEYS, "name": (True, str), "orientation": (True, str), "transform": (False, str),
    "comparable_across_cohorts": (False, bool), "allow_missing": (False, bool), "infinite": (False, str),
    "hdf5": (False, dict),
}
ENDPOINT_KEYS: dict[str, tuple[bool, Kind]] = {
    "name": (True, str), "time_column": (True, PATHS), "event_column": (False, str),
    "censoring_column": (False, str), "unit": (False, str), "source": (False, str),
}
SPLIT_KEYS: dict[str, tuple[bool, Kind]] = {
    "seed": (False, int), "n_folds": (False, int), "n_repeats": (False, int), "stratify": (False, str),
    "group": (False, str), "import": (False, list),
}
IMPORT_KEYS: dict[str, tuple[bool, Kind]] = {"scheme": (True, str), "layout": (True, str), "path": (True, PATHS)}
ORIENTATIONS = ("features_x_patients", "patients_x_features")
# days per unit; months and years are the mean Gregorian lengths
UNITS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}
# cells read as "not measured" in text tables (as in harmonize.to_float32)
MISSING_TEXT = ("", "NA", "NaN", "nan")
INFINITE_TEXT = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
CENSOR_WORDS = re.compile(r"censor", re.IGNORECASE)


class CardProblemsError(InputFormatError):
    """Several problems found in one pass over a dataset card; ``problems`` holds each one's error."""

    def __init__(self, card: Path, problems: list[Exception]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, start=1))
        super().__init__(card, f"{len(problems)} problems in the dataset card and its files:\n{lines}")


class _Problems:
    """Collects the errors of independent checks so that one run reports them all."""

    def __init__(self, card: Path) -> None:
        self.card = card
        self.items: list[Exception] = []

    def check(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except (InputFormatError, FileNotFoundError) as exc:
            self.items.extend(exc.problems if isinstance(exc, CardProblemsError) else [exc])
            return None

    def ok(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run a check that returns nothing; True when it raised no problem."""
        before = len(self.items)
        self.check(call, *args, **kwargs)
        return len(self.items) == before

    def raise_any(self) -> None:
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            raise CardProblemsError(self.card, self.items)


@dataclass(frozen=True)
class TableSpec:
    """How to read one table: files (concatenated), ID column (name or 0-based position) and cell rules."""

    paths: tuple[Path, ...]
    id_column: str | int
    select: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    sheet: str | None = None

    @property
    def path(self) -> Path:
        return self.paths[0]


@dataclass(frozen=True)
class ModalitySpec(TableSpec):
    """One ``[[modalities]]`` entry of a card."""

    name: str = ""
    orientation: str = "features_x_patients"
    transform: str = "as provided"
    comparable_across_cohorts: bool = True
    allow_missing: bool = False
    infinite: str = "error"
    hdf5: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True)
class EndpointSpec:
    """One survival endpoint: time (first non-missing of ``time_columns``) and event or censoring flag."""

    name: str
    time_columns: tuple[str, ...]
    event_column: str | None
    censoring_column: str | None
    unit: str
    source: str
    legacy: bool = False  # [clinical] event_column/time_column: columns kept in place, named "event"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_") or "endpoint"


@dataclass(frozen=True)
class SplitImportSpec:
    scheme: str
    layout: str
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class DatasetCard:
    """A validated dataset card; paths are resolved inside the card's folder (or the raw folder)."""

    path: Path
    name: str
    version: str
    description: str
    licence: str
    citation: str
    clinical: TableSpec | None
    cohort_column: str | None
    cohort: str | None
    unmatched: str
    labels: tuple[str, ...]
    endpoints: tuple[EndpointSpec, ...]
    modalities: tuple[ModalitySpec, ...]
    split_seed: int = 0
    n_folds: int = 5
    n_repeats: int = 1
    stratify: str | None = None
    group: str | None = None
    split_imports: tuple[SplitImportSpec, ...] = ()
    base: Path | None = None
    # [[tasks]] tables, kept as written: checked against the built dataset (task_cards.register_card_tasks)
    tasks: tuple[dict[str, Any], ...] = ()

    # the fields of the first card format, kept for callers of that API
    @property
    def clinical_path(self) -> Path:
        assert self.clinical is not None
        return self.clinical.path

    @property
    def clinical_id_column(self) -> str | int:
        assert self.clinical is not None
        return self.clinical.id_column

    @property
    def event_column(self) -> str | None:
        legacy = [e for e in self.endpoints if e.legacy]
        return legacy[0].event_column if legacy else None

    @property
    def time_column(self) -> str | None:
        legacy = [e for e in self.endpoints if e.legacy]
        return legacy[0].time_columns[0] if legacy else None


# ------------------------------------------------------------------------------------------------ the card
def _check_keys(card: Path, table: dict[str, Any], allowed: dict[str, tuple[bool, Any]], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InputFormatError(card, f"unknown key {unknown[0]!r} in {where}", expected=f"keys {sorted(allowed)}")
    required = sorted(k for k, (needed, _) in allowed.items() if needed)
    missing = [k for k in required if k not in table]
    if missing:
        raise InputFormatError(card, f"missing key {missing[0]!r} in {where}", expected=f"required keys {required}")
    for key, value in table.items():
        kind = allowed[key][1]
        # bool is an int in Python: `version = true` must not pass as an int
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise InputFormatError(card, f"key {key!r} in {where} has the wrong type", expected=names,
                                   found=f"{type(value).__name__} {value!r}")


def _inside(card: Path, base: Path, raw: str, where: str, base_name: str, *, any_suffix: bool = False) -> Path:
    """``raw`` resolved against ``base``; refused when it leaves it (``..``, absolute). Symlinks are followed.

    ``any_suffix``: split files may have any extension (MLOmics ships ``.txt`` lists of IDs).
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InputFormatError(card, f"{where}: empty path", expected=f"a file name relative to {base_name}")
    if Path(raw).is_absolute():
        raise InputFormatError(card, f"{where}: absolute path {raw!r} refused", expected=f"a path relative to {base_name}")
    if not any_suffix and not suffix_of(raw):
        raise InputFormatError(card, f"{where}: unsupported file type {raw!r}", expected=f"one of {', '.join(SUFFIXES)}")
    folder = Path(os.path.abspath(base))
    # lexical check: a symlink the user placed in the folder is their choice, a '..' in the card is not
    target = Path(os.path.normpath(folder / raw))
    if folder not in target.parents:
        raise InputFormatError(card, f"{where}: path {raw!r} escapes {base_name}", expected=f"a file inside {folder}")
    return target


def _strings(card: Path, value: Any, key: str, where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in value):
        raise InputFormatError(card, f"key {key!r} in {where} must list strings", found=repr(value))
    return tuple(value)


def _table_spec(card: Path, base: Path, base_name: str, table: dict[str, Any], where: str) -> dict[str, Any]:
    raw = table["path"]
    raws = [raw] if isinstance(raw, str) else raw
    if not raws:
        raise InputFormatError(card, f"{where}: empty path list", expected="one or more files")
    if isinstance(table["id_column"], int) and table["id_column"] < 0:
        raise InputFormatError(card, f"{where}: id_column {table['id_column']} is negative", expected="a 0-based position or a name")
    if "select" in table and "drop" in table:
        raise InputFormatError(card, f"{where} declares both select and drop", expected="one of them")
    values = table.get("values", {})
    return dict(
        paths=tuple(_inside(card, base, r, where, base_name) for r in raws), id_column=table["id_column"],
        select=_strings(card, table.get("select", []), "select", where),
        drop=_strings(card, table.get("drop", []), "drop", where),
        missing_values=_strings(card, table.get("missing_values", []), "missing_values", where),
        values=values, sheet=table.get("sheet"),
    )


def _endpoint(card: Path, entry: Any, where: str, default_source: str) -> EndpointSpec:
    if not isinstance(entry, dict):
        raise InputFormatError(card, f"{where} is not a table", expected="[[endpoints]] tables")
    _check_keys(card, entry, ENDPOINT_KEYS, where)
    has_event, has_censor = "event_column" in entry, "censoring_column" in entry
    if has_event == has_censor:
        raise InputFormatError(card, f"{where} ({entry['name']}) declares {'both' if has_event else 'neither'} of "
                               "event_column and censoring_column",
                               expected="event_column (1 = event) or censoring_column (1 = censored), one of them")
    if has_event and CENSOR_WORDS.search(entry["event_column"]):
        raise InputFormatError(card, f"{where} ({entry['name']}): event_column {entry['event_column']!r} is named like a "
                               "censoring flag (1 = censored, so events would be counted backwards)",
                               expected=f"censoring_column = {entry['event_column']!r} (event = 1 - censoring), "
                                        "or an event column (1 = event)")
    unit = entry.get("unit", "days")
    if unit not in UNITS:
        raise InputFormatError(card, f"{where} ({entry['name']}): unknown time unit {unit!r}", expected=f"one of {', '.join(UNITS)}")
    times = entry["time_column"]
    times = (times,) if isinstance(times, str) else _strings(card, times, "time_column", where)
    if not times:
        raise InputFormatError(card, f"{where} ({entry['name']}): empty time_column list", expected="one or more columns")
    return EndpointSpec(entry["name"], times, entry.get("event_column"), entry.get("censoring_column"), unit,
                        entry.get("source", default_source))


def _modality(card: Path, base: Path, base_name: str, mod: Any, where: str) -> ModalitySpec:
    if not isinstance(mod, dict):
        raise InputFormatError(card, f"{where} is not a table", expected="[[modalities]] tables")
    _check_keys(card, mod, MODALITY_KEYS, where)
    if mod["name"] not in MODALITIES:
        raise InputFormatError(card, f"{where}: unknown modality {mod['name']!r}", expected=f"one of {', '.join(MODALITIES)}")
    if mod["orientation"] not in ORIENTATIONS:
        raise InputFormatError(card, f"{where}: unknown orientation {mod['orientation']!r}",
                               expected=f"one of {', '.join(ORIENTATIONS)}")
    if mod.get("infinite", "error") not in ("error", "missing"):
        raise InputFormatError(card, f"{where}: infinite = {mod['infinite']!r}", expected='"error" or "missing"')
    bad = [k for k, v in mod.get("values", {}).items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise InputFormatError(card, f"{where}: values maps {bad[0]!r} to a non-number", expected="cell text = number")
    return ModalitySpec(
        **_table_spec(card, base, base_name, mod, where), name=mod["name"], orientation=mod["orientation"],
        transform=mod.get("transform", "as provided"), comparable_across_cohorts=mod.get("comparable_across_cohorts", True),
        allow_missing=mod.get("allow_missing", False), infinite=mod.get("infinite", "error"),
        hdf5=mod.get("hdf5", {}), where=f'{where} ("{mod["name"]}")',
    )


def read_card(path: str | Path, raw_dir: str | Path | None = None, *, extension: bool = False) -> DatasetCard:
    """Parse and validate a dataset card; every problem found is reported at once.

    Paths resolve against ``raw_dir`` when given, else the card's folder. With ``extension`` (a card
    that adds to a built dataset: ``oncobench datasets extend``) name, version, clinical and
    modalities are optional.
    """
    problems = _Problems(Path(path))
    card = _parse_card(path, raw_dir, extension, problems)
    problems.raise_any()
    return card


def _parse_card(path: str | Path, raw_dir: str | Path | None, extension: bool, problems: "_Problems") -> DatasetCard:
    """The card with every well-formed part; the problems of the others go to ``problems``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such dataset card") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(path, f"not a valid TOML dataset card ({exc})") from None
    base = Path(raw_dir) if raw_dir is not None else path.parent
    base_name = "the raw folder (--raw-dir)" if raw_dir is not None else "the card's folder"
    top = {k: (False if extension and k in ("name", "version", "clinical", "modalities") else need, kind)
           for k, (need, kind) in TOP_KEYS.items()}
    problems.check(_check_keys, path, data, top, "the card")
    clinical_raw = data.get("clinical") if isinstance(data.get("clinical"), dict) else None
    clinical = None
    legacy: list[EndpointSpec] = []
    if clinical_raw is not None:
        keys = {k: (False if k == "path" and extension else need, kind) for k, (need, kind) in CLINICAL_KEYS.items()}
        if problems.ok(_check_keys, path, clinical_raw, keys, "[clinical]"):
            if ("event_column" in clinical_raw) != ("time_column" in clinical_raw):
                problems.check(_raise, InputFormatError(path, "[clinical] declares only one of event_column and time_column",
                                                        expected="both (a survival endpoint) or neither"))
            elif "event_column" in clinical_raw:
                legacy = [problems.check(_endpoint, path, {"name": "event", "event_column": clinical_raw["event_column"],
                                                           "time_column": clinical_raw["time_column"]},
                                         "[clinical]", str(data.get("name", path.stem)))]
                legacy = [dataclass_replace(e, legacy=True) for e in legacy if e is not None]
            if clinical_raw.get("unmatched", "error") not in ("error", "drop"):
                problems.check(_raise, InputFormatError(path, f"[clinical]: unmatched = {clinical_raw['unmatched']!r}",
                                                        expected='"error" or "drop"'))
            if "path" in clinical_raw:
                spec = problems.check(_table_spec, path, base, base_name, clinical_raw, "[clinical]")
                clinical = TableSpec(**spec) if spec else None
    endpoints = list(legacy)
    for i, entry in enumerate(data.get("endpoints", []) if isinstance(data.get("endpoints"), list) else []):
        spec = problems.check(_endpoint, path, entry, f"[[endpoints]] #{i + 1}", str(data.get("name", path.stem)))
        if spec is not None:
            endpoints.append(spec)
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        problems.check(_raise, InputFormatError(path, "an endpoint name is used twice", expected="unique names", found=str(names)))
    modalities_raw = data.get("modalities", []) if isinstance(data.get("modalities"), list) else []
    if not modalities_raw and not extension and "modalities" in data:
        problems.check(_raise, InputFormatError(path, "no [[modalities]]", expected="at least one modality"))
    specs = [problems.check(_modality, path, base, base_name, mod, f"[[modalities]] #{i + 1}")
             for i, mod in enumerate(modalities_raw)]
    specs = [s for s in specs if s is not None]
    mods = [s.name for s in specs]
    if len(set(mods)) != len(mods):
        problems.check(_raise, InputFormatError(path, "a modality is listed twice", expected="each modality once", found=str(mods)))
    splits = data.get("splits", {}) if isinstance(data.get("splits"), dict) else {}
    imports: list[SplitImportSpec] = []
    if not problems.ok(_check_keys, path, splits, SPLIT_KEYS, "[splits]"):
        splits = {}
    if "import" in splits:
        from oncobench.datasets.split_import import LAYOUTS

        for i, entry in enumerate(splits["import"]):
            where = f"[[splits.import]] #{i + 1}"
            if not isinstance(entry, dict):
                problems.check(_raise, InputFormatError(path, f"{where} is not a table", expected="[[splits.import]] tables"))
                continue
            if not problems.ok(_check_keys, path, entry, IMPORT_KEYS, where):
                continue
            if entry["layout"] not in LAYOUTS:
                problems.check(_raise, InputFormatError(path, f"{where}: unknown layout {entry['layout']!r}",
                                                        expected=f"one of {', '.join(LAYOUTS)}"))
                continue
            raws = [entry["path"]] if isinstance(entry["path"], str) else entry["path"]
            paths = [problems.check(_inside, path, base, r, where, base_name, any_suffix=True) for r in raws]
            imports.append(SplitImportSpec(entry["scheme"], entry["layout"], tuple(p for p in paths if p)))
    tasks_raw = data.get("tasks", []) if isinstance(data.get("tasks"), list) else []
    for i, entry in enumerate(tasks_raw):
        if not isinstance(entry, dict):
            problems.check(_raise, InputFormatError(path, f"[[tasks]] #{i + 1} is not a table", expected="[[tasks]] tables"))
    clinical_raw = clinical_raw or {}
    return DatasetCard(
        path=path, name=str(data.get("name", "")), version=str(data.get("version", "")),
        description=data.get("description", ""), licence=data.get("licence", ""), citation=data.get("citation", ""),
        clinical=clinical, cohort_column=clinical_raw.get("cohort_column"), cohort=clinical_raw.get("cohort"),
        unmatched=clinical_raw.get("unmatched", "error"), labels=tuple(str(v) for v in clinical_raw.get("labels", ())),
        endpoints=tuple(endpoints), modalities=tuple(specs), split_seed=splits.get("seed", 0),
        n_folds=splits.get("n_folds", 5), n_repeats=splits.get("n_repeats", 1), stratify=splits.get("stratify"),
        group=splits.get("group"), split_imports=tuple(imports), base=base,
        tasks=tuple(t for t in tasks_raw if isinstance(t, dict)),
    )


def _raise(exc: Exception) -> None:
    raise exc


def dataclass_replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)


EXAMPLE_CARD = '''\
# An OncoBench dataset card (TOML). Build it with
#   oncobench datasets build card.toml [--raw-dir DIR]
# Paths are relative to this card's folder, or to DIR when --raw-dir is given; they may not leave it.
# Files: .csv .tsv .txt (tab) and their .gz, .parquet, .xlsx (name the sheet), .h5/.hdf5 (name the datasets).
name = "my-cohort"                  # the dataset's name in the store
version = "1.0"                     # a built version never changes: edit the data, bump the version
description = "Hospital series, RNA + methylation, overall survival"
licence = "CC BY 4.0"
citation = "Author A. et al., Journal 2025"

[clinical]
path = "clinical.csv"               # or a list of files with the same header, concatenated
id_column = "patient"               # a name, or a 0-based position (0 = a blank-headed row-name column)
# cohort_column = "centre"          # per-patient cohort; or cohort = "paad" for one cohort name
# select = ["patient", "age", "sex", "stage", "os_days", "vital"]   # or drop = [...]
missing_values = ["--", "#DIV/0!", "not reported"]                    # read as missing
values = { sex = { male = 0, female = 1 }, vital = { Dead = 1, Alive = 0 } }   # per-column value maps
unmatched = "drop"                  # matrix patients without a clinical row: "error" (default) or "drop" (counted)
labels = ["stage"]                  # classification labels recorded in the manifest

[[endpoints]]                       # any number: OS, DSS, DFI, PFI, recurrence, metastasis ...
name = "OS"
time_column = ["days_to_death", "days_to_last_followup"]   # the first non-missing one per patient
event_column = "vital"              # 1 = event; or censoring_column = "censorship" (1 = censored)
unit = "days"                       # days, weeks, months or years; stored converted to days

[splits]                            # drawn kfold and holdout schemes
seed = 0
n_folds = 5
stratify = "stage"                  # a label (default: the first endpoint's event), always with the cohort
# group = "hospital"                # no hospital on both sides of a fold

# [[splits.import]]                 # published splits, kept as published
# scheme = "paper"
# layout = "subsampling"            # fold-csv, long, subsampling or id-lists (see `oncobench splits import -h`)
# path = "splits.csv"

[[modalities]]
name = "rna"                        # rna, cnv, mutation, mirna, methylation, protein, pathology, radiology, clinical
path = ["expr_site1.tsv", "expr_site2.tsv"]   # several files: same features, patients concatenated
orientation = "features_x_patients" # or "patients_x_features"
id_column = 0                       # the feature names (features_x_patients) or patient IDs
transform = "log2(TPM+1)"           # what was done to the values (they are stored as given)
comparable_across_cohorts = true
allow_missing = false               # empty/NA cells refused unless true
infinite = "missing"                # inf -> missing, counted (default "error")

[[modalities]]
name = "mutation"
path = "mutations.xlsx"
sheet = "calls"
orientation = "patients_x_features"
id_column = "sample"
drop = ["comment"]
values = { MUTATED = 1, WT = 0 }    # cell text -> number

[[modalities]]
name = "methylation"
path = "beta.h5"
orientation = "features_x_patients"
id_column = 0
hdf5 = { values = "beta", rows = "cpg", columns = "samples" }
allow_missing = true

# [[tasks]]                         # tasks on this dataset, stored when it is built (keys: `oncobench tasks add -h`)
# name = "os-my-cohort"
# kind = "survival"                 # classification, binary, survival, clustering, translation
# target = "OS"                     # an endpoint, or a clinical column for the other kinds
# scheme = "kfold"                  # a drawn or an imported scheme
# covariates = ["age", "sex"]       # the clinical reference's features
'''
