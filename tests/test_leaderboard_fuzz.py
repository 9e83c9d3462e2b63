"""Property tests of the submission reader (Hypothesis) and fuzzing of the served API from its OpenAPI schema
(Schemathesis, against the real app in-process).

- Every generated valid submission (zip or folder, Parquet or CSV, any row and column order, one or more seeds)
  is accepted and re-scored exactly like evaluating each fold directly.
- Every generated invalid one (a single defect drawn from many kinds, some with Hypothesis-made bytes or text)
  raises ``SubmissionError``: never another exception type.
- No request the OpenAPI schema allows (or nearly allows) gets a 5xx answer.

The example counts are printed by the last test of the module (run with ``-s`` to see them).
"""

from __future__ import annotations

import io
import math
import re
import tempfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncobench.benchmark.tasks import load_task
from oncobench.leaderboard.entries import SubmissionError
from oncobench.leaderboard.intervals import fold_summary
from oncobench.leaderboard.scoring import protocol_folds
from oncobench.leaderboard.submission import prepare_submission, submit
from synthetic import class_frames

DATASET = "tcga-mini"
TASK = load_task("pancan-type", dataset=DATASET)
FOLDS = protocol_folds(TASK)
META = 'method = "prop"\nauthors = "Ada"\ncontact = "a@example.org"\n'
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


# ---- generated submissions ---------------------------------------------------------------------------------
def fold_frame(fold: int, rng: np.random.Generator, concentration: float) -> pl.DataFrame:
    test = list(TASK.get_split(fold, 0).test)
    p = rng.dirichlet(np.full(len(TASK.classes), concentration), size=len(test))
    return pl.DataFrame({"patient_id": test} | {f"proba_{c}": p[:, j] for j, c in enumerate(TASK.classes)})


@st.composite
def valid_submissions(draw) -> dict:
    """Files (name -> bytes) of a valid submission and the frames they hold, by (fold, seed)."""
    seeds = draw(st.lists(st.integers(0, 999), min_size=1, max_size=2, unique=True))
    rng_seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=len(seeds), max_size=len(seeds), unique=True))
    concentration = draw(st.sampled_from([0.05, 1.0, 20.0]))
    files, frames = {}, {}
    for seed, rng_seed in zip(seeds, rng_seeds):
        rng = np.random.default_rng(rng_seed)
        for fold in FOLDS:
            frame = fold_frame(fold, rng, concentration)
            frames[(fold, seed)] = frame
            shuffled = frame.select(draw(st.permutations(frame.columns)))[draw(st.permutations(range(len(frame))))]
            fmt = draw(st.sampled_from(["parquet", "csv"]))
            name = f"fold{fold}.{fmt}" if seed == 0 and draw(st.booleans()) else f"fold{fold}_seed{seed}.{fmt}"
            buf = io.BytesIO()
            shuffled.write_parquet(buf) if fmt == "parquet" else shuffled.write_csv(buf)
            files[name] = buf.getvalue()
    files["meta.toml"] = META.encode()
    return {"files": files, "frames": frames, "as_zip": draw(st.booleans())}


def as_source(files: dict[str, bytes], as_zip: bool, folder: Path, duplicate: str | None = None) -> Path | bytes:
    if not as_zip:
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": written on purpose
        for name, data in files.items():
            z.writestr(name, data)
        if duplicate is not None:
            z.writestr(duplicate, files[duplicate])
    return buf.getvalue()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def first_fold(files: dict[str, bytes]) -> str:
    return sorted(n for n in files if n.startswith("fold"))[0]


def read(name: str, data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data)) if name.endswith(".parquet") else pl.read_csv(
        io.BytesIO(data), schema_overrides={"patient_id": pl.String})


def replace_frame(files: dict[str, bytes], change) -> dict[str, bytes]:
    """Files with the first fold file's table changed by ``change`` (written back in its own format)."""
    name = first_fold(files)
    frame = change(read(name, files[name]))
    buf = io.BytesIO()
    frame.write_parquet(buf) if name.endswith(".parquet") else frame.write_csv(buf)
    return files | {name: buf.getvalue()}


def copy_seed(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files of one seed again under seed 1000: a complete second seed that copies the first."""
    seed = re.match(r"fold\d+(?:_seed(\d+))?\.", first_fold(files))[1] or "0"
    out = {}
    for name, data in files.items():
        match = re.fullmatch(r"fold(\d+)(?:_seed(\d+))?\.(parquet|csv)", name)
        if match and (match[2] or "0") == seed:
            out[f"fold{match[1]}_seed1000.{match[3]}"] = data
    return out


PROBA = f"proba_{TASK.classes[0]}"
DEFECTS = {
    "missing fold": lambda f, d: {k: v for k, v in f.items() if k != first_fold(f)},
    "nan value": lambda f, d: replace_frame(f, lambda x: x.with_columns(pl.when(pl.int_range(pl.len()) == 0)
                                                                        .then(float("nan")).otherwise(pl.col(PROBA)).alias(PROBA))),
    "infinite value": lambda f, d: replace_frame(f, lambda x: x.with_columns(pl.when(pl.int_range(pl.len()) == 0)
                                                                             .then(float("inf")).otherwise(pl.col(PROBA)).alias(PROBA))),
    "patient dropped": lambda f, d: replace_frame(f, lambda x: x[1:]),
    "patient twice": lambda f, d: replace_frame(f, lambda x: pl.concat([x, x[:1]])),
    "unknown patient": lambda f, d: replace_frame(f, lambda x: x.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("TCGA-ZZ-ZZZZ")).otherwise(pl.col("patient_id")).alias("patient_id"))),
    "extra column": lambda f, d: replace_frame(f, lambda x: x.with_columns(pl.lit(0.5).alias("my_score"))),
    "class column missing": lambda f, d: replace_frame(f, lambda x: x.drop(PROBA)),
    "sum is not 1": lambda f, d: replace_frame(f, lambda x: x.with_columns(pl.col(PROBA) + 0.5)),
    "negative probability": lambda f, d: replace_frame(f, lambda x: x.with_columns(pl.col(PROBA) - 2.0)),
    "text probabilities": lambda f, d: replace_frame(f, lambda x: x.with_columns(pl.col(PROBA).cast(pl.String) + "%")),
    "integer patient ids": lambda f, d: {k: v for k, v in f.items() if k != first_fold(f)} | {
        first_fold(f).rsplit(".", 1)[0] + ".parquet": parquet_bytes(pl.DataFrame({"patient_id": [1, 2], PROBA: [1.0, 1.0]}))},
    "header only csv": lambda f, d: {k: v for k, v in f.items() if k != first_fold(f)} | {
        first_fold(f).rsplit(".", 1)[0] + ".csv": b"patient_id," + PROBA.encode() + b"\n"},
    "empty file": lambda f, d: f | {first_fold(f): b""},
    "truncated file": lambda f, d: f | {first_fold(f): f[first_fold(f)][: len(f[first_fold(f)]) // 2]},
    "random bytes file": lambda f, d: f | {first_fold(f): d.draw(st.binary(max_size=300))},
    "pickle": lambda f, d: f | {"model.pkl": b"\x80\x04K\x01."},
    "bad file name": lambda f, d: f | {d.draw(st.sampled_from(["fold0.txt", "fold.csv", "predictions.parquet",
                                                               "fold0_seed.csv", "FOLD0.csv", "fold0_seed1234567.csv"])): b"x"},
    "fold not in the task": lambda f, d: f | {"fold9_seed0.parquet": f[first_fold(f)]},
    "copied seed": lambda f, d: f | copy_seed(f),
    "meta missing": lambda f, d: {k: v for k, v in f.items() if k != "meta.toml"},
    "meta random text": lambda f, d: f | {"meta.toml": d.draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")},
    "meta random bytes": lambda f, d: f | {"meta.toml": d.draw(st.binary(max_size=200))},
    "meta wrong type": lambda f, d: f | {"meta.toml": META.encode() + d.draw(st.sampled_from(
        [b"n_params = \"many\"\n", b"external_data = 3\n", b"modalities = [1, 2]\n", b"runtime_seconds = true\n"]))},
    "meta unknown key": lambda f, d: f | {"meta.toml": META.encode() + b"macro_f1 = 0.99\n"},
    "meta control characters": lambda f, d: f | {"meta.toml": META.encode() + b'description = "a\\u0007b"\n'},
    "meta too long": lambda f, d: f | {"meta.toml": META.encode() + b'description = "' + b"x" * 2001 + b'"\n'},
}
ZIP_DEFECTS = ("not a zip", "traversal", "duplicate member", "folder member")


@st.composite
def invalid_submissions(draw, kind: str) -> dict:
    """A valid submission with one defect of ``kind`` (the defect itself drawn where it can vary)."""
    base = draw(valid_submissions())
    out = {"files": base["files"], "as_zip": base["as_zip"], "duplicate": None, "raw": None}
    if kind in DEFECTS:
        out["files"] = DEFECTS[kind](base["files"], draw_proxy(draw))
    elif kind == "not a zip":
        out["raw"] = draw(st.binary(max_size=500))
    else:
        out["as_zip"] = True
        if kind == "duplicate member":
            out["duplicate"] = draw(st.sampled_from(sorted(base["files"])))
        else:
            name = "../evil.csv" if kind == "traversal" else "sub/fold0.csv"
            out["files"] = base["files"] | {name: b"patient_id\n"}
    return out


class draw_proxy:  # noqa: N801  (lets the DEFECTS table draw Hypothesis data through one small object)
    def __init__(self, draw) -> None:
        self.draw = draw


# ---- properties --------------------------------------------------------------------------------------------
def test_valid_submissions_are_accepted_and_scored_like_direct_evaluation():
    examples = []

    @settings(PROPERTY, max_examples=40)
    @given(sub=valid_submissions())
    def check(sub: dict) -> None:
        examples.append(len(sub["frames"]))
        with tempfile.TemporaryDirectory() as tmp:
            entry, frames = prepare_submission(TASK, as_source(sub["files"], sub["as_zip"], Path(tmp)))
        assert sorted(frames) == sorted(sub["frames"])
        assert entry.seeds == tuple(sorted({s for _, s in sub["frames"]}))
        for f in entry.folds:
            direct = TASK.evaluate(sub["frames"][(f.fold, f.seed)], split=TASK.get_split(f.fold, 0))
            assert f.predictions_sha256 == direct.predictions_sha256
            assert set(f.test) == set(direct.metrics)
            for name, value in direct.metrics.items():
                assert (math.isnan(value) and math.isnan(f.test[name])) or f.test[name] == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert entry.summary == fold_summary(entry.folds)

    check()
    print(f"\nHypothesis: {len(examples)} valid submissions accepted ({sum(examples)} fold files re-scored)")
    assert len(examples) == 40


@pytest.mark.parametrize("kind", sorted(DEFECTS) + list(ZIP_DEFECTS))
def test_invalid_submissions_raise_submission_error_only(kind):
    examples = []

    @settings(PROPERTY, max_examples=8)
    @given(sub=invalid_submissions(kind))
    def check(sub: dict) -> None:
        examples.append(kind)
        with tempfile.TemporaryDirectory() as tmp:
            source = sub["raw"] if sub["raw"] is not None else as_source(sub["files"], sub["as_zip"], Path(tmp), sub["duplicate"])
            with pytest.raises(SubmissionError) as err:  # any other exception type fails the test
                prepare_submission(TASK, source)
        assert err.value.problems and all(isinstance(p, str) and p for p in err.value.problems)

    check()
    print(f"\nHypothesis: {len(examples)} invalid submissions ({kind}) refused with SubmissionError")
    assert len(examples) >= 1


# ---- the served API, fuzzed from its OpenAPI schema ----------------------------------------------------------
@pytest.fixture(scope="module")
def served_app(tmp_path_factory):
    from oncobench.leaderboard.api import create_app
    from oncobench.leaderboard.db import LeaderboardDB

    home = tmp_path_factory.mktemp("fuzz") / "home"
    submit(TASK, as_source({f"fold{k}_seed0.parquet": parquet_bytes(v) for k, v in class_frames(TASK, 1, 0.3).items()}
                           | {"meta.toml": META.replace("prop", "=cmd|' /C calc'!A0 <b>$x$</b>").encode()}, True, home), home=home)
    surv = load_task("pfi-pancan", dataset=DATASET)
    rng = np.random.default_rng(0)
    surv_files = {f"fold{k}_seed0.parquet": parquet_bytes(pl.DataFrame({
        "patient_id": list(surv.get_split(k, 0).test), "risk": rng.standard_normal(len(surv.get_split(k, 0).test))}))
        for k in protocol_folds(surv)}
    submit(surv, as_source(surv_files | {"meta.toml": META.replace("prop", "oracle $\\\\frac{$ x").encode()},
                           True, home), home=home)
    token = LeaderboardDB(home).create_token("fuzzer")
    return {"app": create_app(home), "token": token, "home": home}


FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
PAGES = ["pancan-type__tcga-mini_1.0", "pfi-pancan__tcga-mini_1.0"]
# Besides free generation (where almost every task name is unknown: a 404), each operation is fuzzed anchored on
# real tasks, pages and plots, so the ranking, rendering and submission code behind them is reached.
ANCHORS = {
    "GET /api/leaderboard/{task}": [{"path_parameters": {"task": "pancan-type"}}, {"path_parameters": {"task": "pfi-pancan"}},
                                    {"path_parameters": {"task": "pfi-pancan"}, "query": {"dataset": "tcga-mini"}}],
    "GET /{page}.html": [{"path_parameters": {"page": page}} for page in PAGES],
    "GET /plots/{name}": [{"path_parameters": {"name": f"{PAGES[1]}_km.png"}}],
    "POST /api/submissions": [{"query": {"task": "pancan-type", "dataset": "tcga-mini"}},
                              {"query": {"task": "pfi-pancan", "dataset": "tcga-mini@1.0"}}],
}


def test_api_never_answers_5xx(served_app):
    """Every operation of the app's OpenAPI schema, with schema-valid (positive) and, where it takes a query,
    schema-violating (negative) requests; POSTs carry a valid token so the submission reader is reached."""
    from schemathesis import GenerationMode

    schemathesis.serializer.alias("application/zip", "application/octet-stream")  # the body is sent as raw bytes
    api = schemathesis.openapi.from_asgi("/openapi.json", served_app["app"])
    operations = [result.ok() for result in api.get_all_operations()]
    assert sorted(op.label for op in operations) == [
        "GET /", "GET /api/federated", "GET /api/leaderboard/{task}", "GET /api/tasks", "GET /index.html", "GET /plots/{name}",
        "GET /{page}.html", "POST /api/submissions"]
    statuses: Counter = Counter()
    errors = []
    for op in operations:
        # a path of string parameters only has no schema-violating form (every string is a string): positive only
        negative = any(param.location == "query" for param in op.iter_parameters())
        for mode in [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negative else []):
            for anchor in [{}] + ANCHORS.get(op.label, []):
                if mode == GenerationMode.NEGATIVE and "query" in anchor:
                    continue  # a fixed query leaves nothing to violate but the body, which positive mode covers

                @FUZZ
                @given(case=op.as_strategy(mode, **anchor))
                def run(case) -> None:
                    headers = {"authorization": f"Bearer {served_app['token']}"} if op.method.upper() == "POST" else None
                    response = case.call(headers=headers)
                    statuses[(op.label, response.status_code)] += 1
                    if response.status_code >= 500:
                        errors.append((op.label, case.formatted_path, case.query, response.status_code, response.text[:300]))

                run()
    total = sum(statuses.values())
    print(f"\nSchemathesis: {total} requests, {sum(v for (_, code), v in statuses.items() if code >= 500)} answered 5xx")
    print("\n".join(f"  {label} -> {code}: {n}" for (label, code), n in sorted(statuses.items())))
    assert errors == []
    assert total >= 200
    # the anchors reach past the 404s: rankings, pages, plots, and the submission reader's refusals
    assert {(label, code) for label, code in statuses} >= {
        ("GET /api/leaderboard/{task}", 200), ("GET /{page}.html", 200), ("GET /plots/{name}", 200),
        ("POST /api/submissions", 422)}
