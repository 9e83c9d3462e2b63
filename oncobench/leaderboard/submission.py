"""Submissions: a folder or zip of per-fold prediction files plus ``meta.toml``, validated and re-scored.

File names: ``fold<k>.parquet`` or ``fold<k>.csv`` (seed 0), or ``fold<k>_seed<s>.parquet|csv``; one file per
(fold, seed) of repeat 0 of the task's scheme, each holding exactly that fold's test patients. Only data files
are read (Parquet, CSV, and the TOML meta file): never pickles or code. Every problem found is listed in one
message; metric numbers in the meta file are ignored (the leaderboard computes them).
"""

from __future__ import annotations

import io
import re
import tomllib
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from oncobench.benchmark.tasks import Task
from oncobench.leaderboard.entries import META_KEYS, REQUIRED_META, TEXT_LIMIT, Entry, SubmissionError
from oncobench.leaderboard.scoring import score_submission

FILE_PATTERN = re.compile(r"^fold(\d{1,3})(?:_seed(\d{1,6}))?\.(parquet|csv)$")
MAX_FILE_BYTES = 50 * 2**20
MAX_TOTAL_BYTES = 200 * 2**20
MAX_FILES = 200
MAX_COMPRESSION_RATIO = 100
META_NAME = "meta.toml"
PARQUET_MAGIC = b"PAR1"


def _read_members(source: Path | bytes) -> tuple[dict[str, bytes], list[str]]:
    """Name -> bytes of a folder's or zip's files, refusing traversal, links, nesting and bombs."""
    problems: list[str] = []
    files: dict[str, bytes] = {}
    if isinstance(source, Path) and source.is_dir():
        entries = sorted(source.iterdir())
        if len(entries) > MAX_FILES:
            return {}, [f"{len(entries)} files; at most {MAX_FILES}"]
        for path in entries:
            if path.is_symlink() or not path.is_file():
                problems.append(f"{path.name}: not a regular file (folders and links are not read)")
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.append(f"{path.name}: {path.stat().st_size} bytes; at most {MAX_FILE_BYTES}")
                continue
            files[path.name] = path.read_bytes()
        return files, problems
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return {}, ["not a zip archive or a folder"]
    infos = archive.infolist()
    if len(infos) > MAX_FILES:
        return {}, [f"{len(infos)} archive members; at most {MAX_FILES}"]
    total = 0
    counts = Counter(info.filename for info in infos if not info.is_dir())
    for name in sorted(n for n, k in counts.items() if k > 1):
        # zipfile would let the last one win silently; which copy is "the" file is not ours to guess
        problems.append(f"{name!r}: {counts[name]} archive members have this name; member names must be unique")
    for info in infos:
        name = info.filename
        pure = PurePosixPath(name)
        if info.is_dir() or counts[name] > 1:
            continue
        if name.startswith("/") or "\\" in name or ".." in pure.parts or len(pure.parts) != 1:
            problems.append(f"{name!r}: member names must be plain file names (no folders, '..' or absolute paths)")
            continue
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            problems.append(f"{name!r}: symbolic links are not read")
            continue
        if info.file_size > MAX_FILE_BYTES:
            problems.append(f"{name!r}: {info.file_size} bytes uncompressed; at most {MAX_FILE_BYTES}")
            continue
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            problems.append(f"{name!r}: compression ratio {info.file_size / info.compress_size:.0f}:1 (a zip bomb?); "
                            f"at most {MAX_COMPRESSION_RATIO}:1")
            continue
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            return {}, problems + [f"archive expands beyond {MAX_TOTAL_BYTES} bytes"]
        try:
            with archive.open(info) as member:
                content = member.read(MAX_FILE_BYTES + 1)  # the header's size may lie: never read past the limit
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            problems.append(f"{name!r}: corrupt archive member ({type(exc).__name__}: {exc})")
            continue
        if len(content) > MAX_FILE_BYTES:
            problems.append(f"{name!r}: more than {MAX_FILE_BYTES} bytes")
            continue
        files[name] = content
    return files, problems


def parse_meta(text: bytes | None) -> tuple[dict[str, Any], list[str]]:
    """The submitter's metadata; unknown keys, wrong types and over-long text are problems."""
    if text is None:
        return {}, [f"{META_NAME} is missing"]
    try:
        meta = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{META_NAME}: not valid UTF-8 TOML ({exc})"]
    problems = []
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        problems.append(f"{META_NAME}: unknown keys {unknown}; allowed: {sorted(META_KEYS)}")
    for key, kind in META_KEYS.items():
        numeric = kind is int or kind == (int, float)
        if key in meta and (not isinstance(meta[key], kind) or (numeric and isinstance(meta[key], bool))):
            problems.append(f"{META_NAME}: {key} must be {getattr(kind, '__name__', kind)}, got {type(meta[key]).__name__}")
    for key in REQUIRED_META:
        if not str(meta.get(key, "")).strip():
            problems.append(f"{META_NAME}: {key} is required")
    for key, value in meta.items():
        if isinstance(value, str) and len(value) > TEXT_LIMIT:
            problems.append(f"{META_NAME}: {key} is {len(value)} characters; at most {TEXT_LIMIT}")
        if isinstance(value, str) and any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
            problems.append(f"{META_NAME}: {key} holds control characters")
    if isinstance(meta.get("modalities"), list) and not all(isinstance(m, str) for m in meta["modalities"]):
        problems.append(f"{META_NAME}: modalities must be a list of strings")
    if "method" in meta and isinstance(meta["method"], str) and len(meta["method"]) > 100:
        problems.append(f"{META_NAME}: method is at most 100 characters")
    return {k: v for k, v in meta.items() if k in META_KEYS}, problems


def _read_frame(name: str, content: bytes) -> pl.DataFrame:
    if name.endswith(".parquet"):
        if not (content[:4] == PARQUET_MAGIC and content[-4:] == PARQUET_MAGIC):
            raise ValueError("not a Parquet file (magic bytes missing)")
        return pl.read_parquet(io.BytesIO(content))
    frame = pl.read_csv(io.BytesIO(content), schema_overrides={"patient_id": pl.String}, infer_schema_length=None)
    return frame


def read_submission(task: Task, source: Path | bytes, meta_path: Path | None = None
                    ) -> tuple[dict[tuple[int, int], pl.DataFrame], dict[str, Any], list[str], set[tuple[int, int]]]:
    """Prediction frames by (fold, seed), the meta, every problem found while reading them, and the (fold, seed)
    keys whose file was present but unreadable.

    ``meta_path`` names a meta file outside the folder or zip (it replaces one inside).
    """
    files, problems = _read_members(source)
    meta_bytes = files.pop(META_NAME, None)
    if meta_path is not None:
        meta_bytes = Path(meta_path).read_bytes() if Path(meta_path).is_file() else None
    meta, meta_problems = parse_meta(meta_bytes)
    problems += meta_problems
    frames: dict[tuple[int, int], pl.DataFrame] = {}
    unreadable: set[tuple[int, int]] = set()
    for name, content in sorted(files.items()):
        match = FILE_PATTERN.match(name)
        if match is None:
            problems.append(f"{name!r}: unexpected file; expected fold<k>[_seed<s>].parquet|csv and {META_NAME} "
                            "(data files only: no pickles, code or folders)")
            continue
        key = (int(match[1]), int(match[2] or 0))
        if key in frames:
            problems.append(f"{name!r}: fold {key[0]} seed {key[1]} given twice")
            continue
        try:
            frames[key] = _read_frame(name, content)
        except Exception as exc:  # any parse failure of a submitted file is the submitter's problem, named here
            unreadable.add(key)
            problems.append(f"{name!r}: cannot be read as {name.rsplit('.', 1)[-1]} ({type(exc).__name__}: {str(exc)[:200]})")
    if not frames and not problems:
        problems.append("no prediction files")
    return frames, meta, problems, unreadable


def prepare_submission(task: Task, source: Path | bytes, *, meta_path: Path | None = None, status: str = "verified",
                       extra_meta: dict[str, Any] | None = None) -> tuple[Entry, dict[tuple[int, int], pl.DataFrame]]:
    """Read, validate and re-score; every problem of the files, the meta and every fold goes into one error."""
    frames, meta, problems, unreadable = read_submission(task, source, meta_path)
    method = str(meta.pop("method", "") or "?")
    entry = None
    if frames:
        try:
            entry = score_submission(task, frames, method=method, status=status, meta=meta | (extra_meta or {}),
                                     reported=unreadable)
        except SubmissionError as exc:
            problems += exc.problems
    if problems or entry is None:
        raise SubmissionError(problems or ["no prediction files"])
    return entry, frames


def submit(task: Task, source: Path | bytes, *, meta_path: Path | None = None, home: Path | None = None,
           status: str = "verified") -> Entry:
    """Validate, re-score and store a submission; returns the stored entry (a new version of its method)."""
    from oncobench.leaderboard.db import LeaderboardDB

    entry, frames = prepare_submission(task, source, meta_path=meta_path, status=status)
    with LeaderboardDB(home) as db:
        return db.add(entry, frames)


def write_template(task: Task, out: str | Path, *, seeds: tuple[int, ...] = (0,)) -> Path:
    """A ready example submission for ``task`` (prior-like predictions for every fold) that a user edits."""
    import numpy as np

    from oncobench.benchmark.evaluator import evaluation_times, survival_columns
    from oncobench.leaderboard.scoring import protocol_folds

    out = Path(out)  # issue 12: a str path crashed here
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for fold in protocol_folds(task):
        split = task.get_split(fold, 0)
        n = len(split.test)
        frame: dict[str, Any] = {"patient_id": list(split.test)}
        if task.kind in ("classification", "binary"):
            p = rng.dirichlet(np.ones(len(task.classes)), size=n)
            frame |= {f"proba_{c}": p[:, j] for j, c in enumerate(task.classes)}
        elif task.kind == "survival":
            frame["risk"] = rng.standard_normal(n)
            times = evaluation_times(task, split)
            for name in survival_columns(times):
                frame[name] = np.full(n, 0.5)
        elif task.kind == "clustering":
            frame["cluster"] = rng.integers(0, max(2, task.n_clusters), n)
        else:
            frame |= {f: rng.standard_normal(n) for f in task.target_features}
        for seed in seeds:
            pl.DataFrame(frame).write_parquet(out / f"fold{fold}_seed{seed}.parquet")
    (out / META_NAME).write_text(
        '# Edit, then: oncobench submit --task {task} --predictions {out} --meta {out}/meta.toml\n'
        'method = "my-method"\nauthors = "Ada Lovelace, Alan Turing"\ncontact = "you@example.org"\n'
        'code_url = "https://example.org/code"\npaper_url = ""\ndescription = "What the model is, in a sentence or two."\n'
        'modalities = {modalities}\nexternal_data = false\nexternal_data_text = ""\nhyperparameter_budget = "20 trials of random search"\n'
        'n_params = 1000\nruntime_seconds = 60.0\nhardware = "2 CPU cores"\n'.format(
            task=task.name, out=out, modalities="[" + ", ".join(f'"{m}"' for m in task.modalities) + "]"))
    return out
