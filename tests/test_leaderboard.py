"""The leaderboard at library and CLI level: validation, re-scoring, versions, zip safety, escaping, baselines,
ranking, the static site and the ``submit`` / ``leaderboard`` / ``tokens`` commands.

Only the embedded tcga-mini dataset is used. Every test gets its own OncoBench home; the benchmark runs that
baselines are made from are run once per module (their leaderboard rows are then copied into per-test homes
through ``import_baselines(..., db=...)``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from oncobench.benchmark.aggregate import summarize_metrics
from oncobench.benchmark.tasks import load_task
from oncobench.leaderboard.db import LeaderboardDB
from oncobench.leaderboard.entries import DuplicateSubmissionError, Entry, FoldScore, SubmissionError
from oncobench.leaderboard.scoring import protocol_folds
from oncobench.leaderboard.submission import prepare_submission, submit, write_template
from synthetic import class_frames

DATASET = "tcga-mini"
PAGE = "pancan-type__tcga-mini_1.0"
SURV_PAGE = "pfi-pancan__tcga-mini_1.0"

# matplotlib's default font lacks CJK and emoji glyphs; the unicode names are checked in the HTML and the DB
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


# ---- helpers ------------------------------------------------------------------------------------------------
def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # JSON strings and string lists are valid TOML


def meta_text(**fields: object) -> str:
    base = {"method": "my-method", "authors": "Ada Lovelace", "contact": "ada@example.org"}
    base.update(fields)
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in base.items() if v is not None)


def write_folder(folder: Path, frames: dict[int, pl.DataFrame], meta: str, fmt: str = "parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for fold, frame in frames.items():
        if fmt == "parquet":
            frame.write_parquet(folder / f"fold{fold}_seed0.parquet")
        else:
            frame.write_csv(folder / f"fold{fold}.csv")
    (folder / "meta.toml").write_text(meta, encoding="utf-8")
    return folder


def zip_members(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def folder_members(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    return set(a) == set(b) and all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def prediction_dirs(home: Path) -> list[str]:
    root = home / "leaderboard" / "predictions"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def entry_count(home: Path) -> int:
    with LeaderboardDB(home) as db:
        return len(db.entries())


# ---- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def task():
    return load_task("pancan-type", dataset=DATASET)


@pytest.fixture(scope="module")
def surv_task():
    return load_task("pfi-pancan", dataset=DATASET)


@pytest.fixture(scope="module")
def template(task, tmp_path_factory) -> Path:
    return write_template(task, tmp_path_factory.mktemp("template") / "submission")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("ONCOBENCH_HOME", str(h))
    return h


@pytest.fixture(scope="module")
def runs_home(task, surv_task, tmp_path_factory) -> Path:
    """A home whose MLflow store holds logreg (+ prior, clinical-logreg) on pancan-type and coxnet (+ km,
    clinical-cox) on pfi-pancan, every fold of repeat 0, seed 0."""
    from oncobench.benchmark.runner import run_grid

    h = tmp_path_factory.mktemp("runs") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONCOBENCH_HOME", str(h))
        report = run_grid([task], ["logreg"], progress=False, home=h)
        assert report.failed == [] and report.ran == 15
        report = run_grid([surv_task], ["coxnet"], progress=False, home=h)
        assert report.failed == [] and report.ran == 15
    return h


# ---- submissions: validation and re-scoring ---------------------------------------------------------------
def test_template_submission_is_rescored_with_the_evaluator(task, template, home):
    entry = submit(task, zip_members(folder_members(template)), home=home)
    assert (entry.method, entry.version, entry.status, entry.role) == ("my-method", 1, "verified", "model")
    assert entry.meta["authors"] == "Ada Lovelace, Alan Turing" and "method" not in entry.meta

    expected = {}
    for fold in protocol_folds(task):
        frame = pl.read_parquet(template / f"fold{fold}_seed0.parquet")
        expected[fold] = task.evaluate(frame, split=task.get_split(fold, 0))
    with LeaderboardDB(home) as db:
        [stored] = db.entries("pancan-type", "tcga-mini@1.0")
        stored_frames = db.predictions(stored)
    assert [f.fold for f in stored.folds] == [0, 1, 2, 3, 4]
    for f in stored.folds:
        result = expected[f.fold]
        assert same_metrics(f.test, dict(result.metrics))
        assert (f.split_sha256, f.predictions_sha256) == (result.split_sha256, result.predictions_sha256)
        assert stored_frames[(f.fold, 0)].equals(pl.read_parquet(template / f"fold{f.fold}_seed0.parquet"))
    summary = summarize_metrics([dict(expected[k].metrics) for k in sorted(expected)])
    assert stored.summary["macro_f1"] == pytest.approx(summary["macro_f1"] | {"n_seeds": 1})  # one seed: folds are the units
    assert stored.primary == "macro_f1" and stored.seeds == (0,)


def test_metric_numbers_in_meta_are_refused_not_trusted(task, template, tmp_path, home):
    folder = shutil.copytree(template, tmp_path / "sub")
    (folder / "meta.toml").write_text(meta_text(macro_f1=0.99), encoding="utf-8")
    with pytest.raises(SubmissionError) as err:
        submit(task, folder, home=home)
    assert len(err.value.problems) == 1
    assert "meta.toml: unknown keys ['macro_f1']" in err.value.problems[0]
    assert prediction_dirs(home) == []


def test_duplicate_and_new_version(task, template, tmp_path, home):
    first = submit(task, template, home=home)
    with pytest.raises(DuplicateSubmissionError) as err:
        submit(task, template, home=home)
    assert "already submitted as my-method v1" in str(err.value)
    assert isinstance(err.value, SubmissionError)

    changed = write_folder(tmp_path / "v2", class_frames(task, seed=7, signal=0.5), meta_text())
    second = submit(task, changed, home=home)
    assert second.version == 2 and second.method == "my-method"
    assert second.predictions_sha256 != first.predictions_sha256

    from oncobench.leaderboard.views import ranked

    with LeaderboardDB(home) as db:
        stored = db.entries("pancan-type", "tcga-mini@1.0")
        assert [(e.method, e.version) for e in stored] == [("my-method", 1), ("my-method", 2)]
        rows, others = ranked(task, db)
        assert [(r.rank, r.entry.version) for r in rows] == [(1, 2)] and others == 0
        every, _ = ranked(task, db, all_versions=True)
    assert sorted(r.entry.version for r in every) == [1, 2]
    assert sorted(prediction_dirs(home)) == sorted([first.predictions_sha256, second.predictions_sha256])


def test_read_level_problems_are_listed_together(task, template, tmp_path):
    folder = shutil.copytree(template, tmp_path / "sub")
    (folder / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    (folder / "run.py").write_text("import os\n")
    (folder / "meta.toml").write_text('method = "m"\nauthors = "A"\nn_params = "many"\nmacro_f1 = 0.99\n')
    with pytest.raises(SubmissionError) as err:
        prepare_submission(task, folder)
    problems = err.value.problems
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    for fragment in ("'model.pkl': unexpected file", "'run.py': unexpected file", "meta.toml: contact is required",
                     "meta.toml: unknown keys ['macro_f1']", "meta.toml: n_params must be int, got str"):
        assert fragment in text
    assert all(p in str(err.value) for p in problems)


def test_scoring_problems_of_every_fold_are_listed_together(task, template, tmp_path, home):
    folder = shutil.copytree(template, tmp_path / "sub")
    (folder / "fold4_seed0.parquet").unlink()
    pl.read_parquet(folder / "fold1_seed0.parquet").write_parquet(folder / "fold0_seed0.parquet")
    f2 = pl.read_parquet(folder / "fold2_seed0.parquet")
    f2.with_columns(pl.Series("proba_BLCA", [math.nan] + f2["proba_BLCA"].to_list()[1:])).write_parquet(folder / "fold2_seed0.parquet")
    with pytest.raises(SubmissionError) as err:
        submit(task, folder, home=home)
    problems = err.value.problems
    assert len(problems) == 3, problems
    assert "missing predictions for (fold, seed) [(4, 0)]" in problems[0]
    assert problems[1].startswith("fold 0 seed 0:") and "test patients have no prediction" in problems[1]
    assert problems[2].startswith("fold 2 seed 0:") and "'proba_BLCA' has 1 NaN/Inf values" in problems[2]
    assert not (home / "leaderboard").exists() or entry_count(home) == 0
    assert prediction_dirs(home) == []


def test_all_problems_of_a_submission_are_listed_at_once(task, template, tmp_path):
    folder = shutil.copytree(template, tmp_path / "sub")
    (folder / "fold4_seed0.parquet").unlink()
    pl.read_parquet(folder / "fold1_seed0.parquet").write_parquet(folder / "fold0_seed0.parquet")
    f2 = pl.read_parquet(folder / "fold2_seed0.parquet")
    f2.with_columns(pl.Series("proba_BLCA", [math.nan] + f2["proba_BLCA"].to_list()[1:])).write_parquet(folder / "fold2_seed0.parquet")
    (folder / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    (folder / "run.py").write_text("import os\n")
    (folder / "meta.toml").write_text('method = "m"\nauthors = "A"\nn_params = "many"\nmacro_f1 = 0.99\n')
    with pytest.raises(SubmissionError) as err:
        submit(task, folder, home=tmp_path / "home")
    text = "\n".join(err.value.problems)
    for fragment in ("missing predictions for (fold, seed) [(4, 0)]", "test patients have no prediction", "NaN/Inf",
                     "'model.pkl'", "'run.py'", "contact is required", "unknown keys ['macro_f1']", "n_params must be int"):
        assert fragment in text


def test_csv_predictions_score_like_parquet(task, template, tmp_path):
    frames = {f: pl.read_parquet(template / f"fold{f}_seed0.parquet") for f in protocol_folds(task)}
    csv_folder = write_folder(tmp_path / "csv", frames, meta_text(method="csv-method"), fmt="csv")
    assert sorted(p.name for p in csv_folder.iterdir()) == ["fold0.csv", "fold1.csv", "fold2.csv", "fold3.csv", "fold4.csv", "meta.toml"]
    as_csv = submit(task, csv_folder, home=tmp_path / "home-csv")
    as_parquet = submit(task, template, home=tmp_path / "home-parquet")
    assert as_csv.method == "csv-method" and as_csv.seeds == (0,)
    assert as_csv.predictions_sha256 == as_parquet.predictions_sha256  # the same numbers, whatever the format
    for a, b in zip(as_csv.folds, as_parquet.folds):
        assert same_metrics(a.test, b.test)
    # the same predictions in another format are still the same submission
    with pytest.raises(DuplicateSubmissionError):
        submit(task, csv_folder, home=tmp_path / "home-parquet")


def test_parquet_named_file_that_is_not_parquet_is_refused(task, template, tmp_path, home):
    folder = shutil.copytree(template, tmp_path / "sub")
    pl.read_parquet(folder / "fold3_seed0.parquet").write_csv(folder / "fold3_seed0.parquet")
    with pytest.raises(SubmissionError) as err:
        submit(task, folder, home=home)
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("'fold3_seed0.parquet': cannot be read as parquet")
    assert "not a Parquet file" in err.value.problems[0]


# ---- zip safety -----------------------------------------------------------------------------------------------
def _symlink_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            if name != "fold0_seed0.parquet":
                z.writestr(name, data)
        link = zipfile.ZipInfo("fold0_seed0.parquet")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    return buf.getvalue()


BOMB = 60 * 2**20
RATIO_BOMB = 8 * 2**20

ZIP_CASES = {
    "traversal": (lambda m: zip_members(m | {"../x.parquet": m["fold0_seed0.parquet"]}),
                  "'../x.parquet': member names must be plain file names"),
    "absolute": (lambda m: zip_members(m | {"/etc/x": b"x"}), "'/etc/x': member names must be plain file names"),
    "nested": (lambda m: zip_members(m | {"sub/fold0_seed0.parquet": m["fold0_seed0.parquet"]}),
               "'sub/fold0_seed0.parquet': member names must be plain file names"),
    "bomb-size": (lambda m: zip_members(m | {"fold0_seed0.parquet": bytes(BOMB)}),
                  f"'fold0_seed0.parquet': {BOMB} bytes uncompressed; at most {50 * 2**20}"),
    "bomb-ratio": (lambda m: zip_members(m | {"fold0_seed0.parquet": bytes(RATIO_BOMB)}),
                   "'fold0_seed0.parquet': compression ratio"),
    "symlink": (_symlink_zip, "'fold0_seed0.parquet': symbolic links are not read"),
    "not-a-zip": (lambda m: b"PK\x03\x04 this is not really a zip archive", "not a zip archive or a folder"),
}


@pytest.mark.parametrize("case", list(ZIP_CASES))
def test_unsafe_zips_are_refused_and_nothing_is_written(case, task, template, home, monkeypatch):
    build, fragment = ZIP_CASES[case]
    members = folder_members(template)
    submit(task, zip_members(members), home=home)  # one accepted entry, so the database exists
    before, dirs_before = entry_count(home), prediction_dirs(home)
    body = build(members)

    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(SubmissionError) as err:
        submit(task, body, home=home)
    assert not isinstance(err.value, DuplicateSubmissionError)
    assert any(fragment in p for p in err.value.problems), err.value.problems
    if case.startswith("bomb"):
        assert "fold0_seed0.parquet" not in opened  # refused from the header, never decompressed
        assert "a zip bomb?" in str(err.value) or "bytes uncompressed" in str(err.value)
    if case in ("traversal", "absolute", "nested", "symlink"):
        bad = {"traversal": "../x.parquet", "absolute": "/etc/x", "nested": "sub/fold0_seed0.parquet",
               "symlink": "fold0_seed0.parquet"}[case]
        assert bad not in opened
    assert entry_count(home) == before == 1
    assert prediction_dirs(home) == dirs_before
    assert not (home.parent / "x.parquet").exists()


def test_corrupted_zip_member_is_a_submission_problem(task, template, home):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, content in folder_members(template).items():
            z.writestr(name, content)
    data = bytearray(buf.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("fold0_seed0.parquet")
    data[info.header_offset + 30 + len(info.filename.encode()) + 100] ^= 0xFF  # flip a byte inside it: CRC mismatch
    with pytest.raises(SubmissionError) as err:
        submit(task, bytes(data), home=home)
    assert any("fold0_seed0.parquet" in p for p in err.value.problems)
    assert prediction_dirs(home) == []


# ---- escaping ----------------------------------------------------------------------------------------------
def test_formulas_are_neutralised_and_html_is_escaped(task, tmp_path, home):
    from oncobench.leaderboard import site
    from oncobench.leaderboard.views import ranked, render_task

    formula = "=cmd|' /C calc'!A0"
    script = "<script>alert(1)</script>"
    unicode_name = "Zoë Ærø 模型 🧬"
    specs = [
        dict(method=formula, authors="+1", description=script),
        dict(method="plain", authors=script, description="fine"),
        dict(method=unicode_name, authors=unicode_name, description="ünïcödé"),
    ]
    for i, meta in enumerate(specs):
        submit(task, write_folder(tmp_path / f"s{i}", class_frames(task, seed=100 + i), meta_text(**meta)), home=home)

    with LeaderboardDB(home) as db:
        stored = {e.method: e for e in db.entries()}
        rows, _ = ranked(task, db)
        page = render_task(task, db, tmp_path)
    assert set(stored) == {formula, "plain", unicode_name}
    assert stored[unicode_name].meta["authors"] == unicode_name and stored[formula].meta["description"] == script

    table = list(csv.DictReader(io.StringIO(site.leaderboard_csv(rows, "macro_f1"))))
    by_method = {r["method"]: r for r in table}
    assert by_method["'" + formula]["authors"] == "'+1"
    assert by_method["plain"]["authors"] == script  # not a formula: left as it is in the CSV
    assert by_method[unicode_name]["authors"] == unicode_name
    assert formula not in by_method

    assert script not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "=cmd|&#x27; /C calc&#x27;!A0" in page and formula not in page
    assert page.count(unicode_name) >= 2  # method and authors cells
    assert page.count("<script>") == 1  # only the page's own sorting script


def test_method_name_with_dollar_signs_does_not_break_the_page(task, tmp_path, home):
    from oncobench.leaderboard.views import render_task

    method = "cost $\\frac{$"
    submit(task, write_folder(tmp_path / "s", class_frames(task, seed=5), meta_text(method=method)), home=home)
    with LeaderboardDB(home) as db:
        page = render_task(task, db, tmp_path)
    assert "cost $\\frac{$" in page


# ---- baselines ---------------------------------------------------------------------------------------------
def test_baselines_from_runs(task, runs_home):
    from oncobench.benchmark.tracking import Tracker
    from oncobench.leaderboard.baselines import import_baselines

    added = import_baselines(task, home=runs_home)
    roles = {e.method: (e.status, e.role, e.version) for e in added}
    assert roles == {"logreg": ("baseline", "model", 1), "prior": ("baseline", "control", 1),
                     "clinical-logreg": ("baseline", "clinical reference", 1)}
    assert import_baselines(task, home=runs_home) == []

    finished = Tracker(runs_home).finished(task)
    with LeaderboardDB(runs_home) as db:
        stored = db.entries("pancan-type", "tcga-mini@1.0")
        assert len(stored) == 3
        for e in stored:
            assert [(f.repeat, f.fold, f.seed) for f in e.folds] == [(0, k, 0) for k in range(5)]
            for f in e.folds:
                run = finished[f"pancan-type|{e.method}|r0|f{f.fold}|s0"]
                assert same_metrics(f.test, run.test), (e.method, f.fold)
                assert same_metrics(f.valid, run.valid), (e.method, f.fold)
                assert f.predictions_sha256 == run.tags["predictions_sha256"]
                assert f.split_sha256 == run.tags["split_sha256"]
            assert len(db.predictions(e)) == 5
            assert e.summary["macro_f1"]["mean"] == pytest.approx(np.mean([f.test["macro_f1"] for f in e.folds]))


# ---- ranking -----------------------------------------------------------------------------------------------
def _entry(method: str, mean: float, low: float, high: float, role: str = "model", version: int = 1) -> Entry:
    folds = tuple(FoldScore(0, k, 0, f"s{k}", f"p{method}{k}", {"macro_f1": mean}) for k in range(5))
    return Entry(task="t", dataset="d@1", split_key="k", evaluator_version="1.0", method=method, status="verified",
                 folds=folds, summary={"macro_f1": {"mean": mean, "sd": 0.01, "ci_low": low, "ci_high": high, "n": 5}},
                 primary="macro_f1", predictions_sha256=f"h{method}{version}", role=role, version=version)


def test_ties_where_confidence_intervals_overlap():
    from oncobench.leaderboard.ranking import format_leaderboard, latest_versions, rank

    entries = [
        _entry("control-x", 0.20, 0.15, 0.25, role="control"),
        _entry("beta", 0.80, 0.74, 0.86),
        _entry("alpha", 0.90, 0.85, 0.95),  # overlaps beta (0.85 <= 0.86)
        _entry("gamma", 0.60, 0.55, 0.65),  # below beta's interval: no tie
        _entry("delta", 0.58, 0.50, 0.70),  # overlaps gamma
    ]
    rows = rank(entries, "macro_f1")
    assert [(r.rank, r.entry.method, r.tied_with_previous) for r in rows] == [
        (1, "alpha", False), (2, "beta", True), (3, "gamma", False), (4, "delta", True), (5, "control-x", False)]

    text = format_leaderboard("t", "d@1", rows, "macro_f1")
    lines = text.splitlines()
    assert lines[0] == "leaderboard t on d@1  ('=' : 95% CI overlaps the row above)"
    body = lines[3:]
    assert [line[:4] for line in body] == ["  1 ", "  2=", "  3 ", "  4=", "  5 "]
    assert "beta" in body[1] and "0.800 ± 0.010 [0.740, 0.860]" in body[1]
    assert "control-x" in body[4] and "control" in body[4].split("control-x", 1)[1]
    assert all(line.rstrip().endswith("5 x 1") for line in body)
    assert format_leaderboard("t", "d@1", [], "macro_f1") == "leaderboard t on d@1: no entries yet"

    # lower is better for log_loss; an undefined mean ranks last
    lossy = [_entry(m, v, v - 0.01, v + 0.01) for m, v in (("a", 0.9), ("b", 0.3), ("c", math.nan))]
    lossy = [Entry(**{**e.__dict__, "summary": {"log_loss": e.summary["macro_f1"]}, "primary": "log_loss"}) for e in lossy]
    assert [r.entry.method for r in rank(lossy, "log_loss")] == ["b", "a", "c"]

    versions = latest_versions([_entry("a", 0.5, 0.4, 0.6, version=1), _entry("a", 0.6, 0.5, 0.7, version=2),
                                _entry("b", 0.5, 0.4, 0.6)])
    assert sorted((e.method, e.version) for e in versions) == [("a", 2), ("b", 1)]


def test_task_page_says_whether_a_fusion_beats_the_best_single_modality_and_the_clinical_reference(task):
    from oncobench.leaderboard.comparisons import verdict_text
    from oncobench.leaderboard.ranking import rank
    from oncobench.leaderboard.site import task_page
    from oncobench.leaderboard.views import task_summary

    def entry(method: str, scores: list[float], status: str, role: str = "model", mods: list[str] | None = None) -> Entry:
        folds = tuple(FoldScore(0, k, 0, f"s{k}", f"p{method}{k}", {"macro_f1": v}) for k, v in enumerate(scores))
        mean = float(np.mean(scores))
        return Entry(task=task.name, dataset=task.dataset.id, split_key="k", evaluator_version="1.0", method=method,
                     status=status, folds=folds, summary={"macro_f1": {"mean": mean, "sd": 0.01, "ci_low": mean - 0.02,
                                                                       "ci_high": mean + 0.02, "n": 5}},
                     primary="macro_f1", predictions_sha256=f"h{method}", role=role, version=1,
                     meta={"modalities": mods} if mods else {})

    single = entry("logreg/rna", [0.50, 0.52, 0.49, 0.51, 0.50], "baseline")  # a model spec restricted to RNA
    clinical = entry("clinical-logreg", [0.40, 0.41, 0.39, 0.40, 0.40], "baseline", role="clinical reference")
    fusion = entry("MyFusion", [0.60, 0.63, 0.60, 0.61, 0.61], "verified", mods=["rna", "mirna"])
    control = entry("prior", [0.10] * 5, "baseline", role="control")
    rows = rank([single, clinical, fusion, control], "macro_f1")
    # means by hand: 2.52 / 5, 2.00 / 5; every per-fold difference is ~ +0.1, so the corrected t-test is far below 0.05
    assert verdict_text(task, rows) == ("macro_f1: best single modality: logreg/rna v1 0.504; clinical reference: "
                                        "clinical-logreg v1 0.400; fusion beats both (corrected t, p < 0.05): yes — "
                                        "MyFusion v1 (verified)")
    # a fusion that is not better than the single modality on every fold is not declared a winner
    weak = entry("MyFusion", [0.60, 0.40, 0.55, 0.45, 0.52], "verified", mods=["rna", "mirna"])
    assert verdict_text(task, rank([single, clinical, weak, control], "macro_f1")).endswith(
        "fusion beats both (corrected t, p < 0.05): no (best fusion MyFusion v1 (verified) 0.504)")
    html = task_page(task_summary(task, rows), rows, plots={}, verdict=verdict_text(task, rows))
    assert '<p class="verdict" id="verdict">macro_f1: best single modality: logreg/rna v1 0.504;' in html


# ---- static site -------------------------------------------------------------------------------------------
def test_static_site_export(task, surv_task, runs_home, tmp_path, home):
    from oncobench.leaderboard.baselines import import_baselines
    from oncobench.leaderboard.views import export_site

    with LeaderboardDB(home) as db:
        assert len(import_baselines(task, home=runs_home, db=db)) == 3
        assert {e.method for e in import_baselines(surv_task, home=runs_home, db=db)} == {"coxnet", "km", "clinical-cox"}
    submit(task, write_folder(tmp_path / "s", class_frames(task, seed=3, signal=0.3), meta_text(method="Zoë 模型")), home=home)

    out = tmp_path / "site"
    export_site(out, home=home)
    (out / "stale.txt").write_text("from the previous export")
    export_site(out, home=home)  # replaces the folder
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["index.html",
                            f"{PAGE}.html", f"{PAGE}.csv", f"{PAGE}_folds.png",
                            f"{SURV_PAGE}.html", f"{SURV_PAGE}.csv", f"{SURV_PAGE}_folds.png", f"{SURV_PAGE}_km.png"])
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000

    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="{PAGE}.html"' in index and f'href="{SURV_PAGE}.html"' in index
    page = (out / f"{PAGE}.html").read_text(encoding="utf-8")
    for method in ("logreg", "prior", "clinical-logreg", "Zoë 模型"):
        assert f'data-method="{method}"' in page
    assert f'src="{PAGE}_folds.png"' in page
    assert page.count('<tr class="control"') == 2  # prior and clinical-logreg are reference rows
    # no single-modality entry on this page: the header says so instead of guessing
    assert '<p class="verdict" id="verdict">macro_f1: best single modality: none run (e.g. MODEL/rna); clinical reference: clinical-logreg v1' in page
    surv_page = (out / f"{SURV_PAGE}.html").read_text(encoding="utf-8")
    assert f'src="{SURV_PAGE}_km.png"' in surv_page
    for method in ("coxnet", "km", "clinical-cox"):
        assert f'data-method="{method}"' in surv_page
    rows = list(csv.DictReader(io.StringIO((out / f"{PAGE}.csv").read_text(encoding="utf-8"))))
    assert sorted(r["method"] for r in rows) == sorted(["logreg", "prior", "clinical-logreg", "Zoë 模型"])
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    means = [float(r["macro_f1_mean"]) for r in rows]
    assert means == sorted(means, reverse=True)


# ---- CLI ---------------------------------------------------------------------------------------------------
def test_cli_submit_leaderboard(home, tmp_path, capsys):
    from oncobench.cli import main

    out = tmp_path / "tpl"
    assert main(["submit", "--template", "pancan-type", "--dataset", DATASET, "--out", str(out)]) == 0
    assert "template for pancan-type on tcga-mini@1.0 written" in capsys.readouterr().out
    (out / "meta.toml").write_text((out / "meta.toml").read_text().replace('"my-method"', '"cli-method"'))

    args = ["submit", "--task", "pancan-type", "--dataset", DATASET, "--predictions", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("accepted: cli-method v1 on pancan-type (tcga-mini@1.0), status verified; macro_f1 ")
    assert main(args) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and "already submitted as cli-method v1" in printed.err
    assert printed.err.startswith("oncobench: error: submission refused")

    assert main(["leaderboard", "--task", "pancan-type", "--dataset", DATASET]) == 0
    text = capsys.readouterr().out
    assert "leaderboard pancan-type on tcga-mini@1.0" in text
    [row] = [line for line in text.splitlines() if "cli-method" in line]
    assert row.startswith("  1 ") and "verified" in row and row.rstrip().endswith("5 x 1")

    assert main(["submit", "--task", "pancan-type", "--dataset", DATASET]) == 2
    assert "submit needs --task and --predictions" in capsys.readouterr().err


def test_cli_tokens_store_only_a_hash(home, capsys):
    from oncobench.cli import main

    assert main(["tokens", "create", "alice"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    assert main(["tokens", "create", "alice"]) == 2
    assert "a token named 'alice' exists already" in capsys.readouterr().err

    with LeaderboardDB(home) as db:
        assert db.token_name(token) == "alice"
        assert db.token_name(token + "x") is None and db.token_name("") is None
        with db.connection() as con:
            stored = con.execute("SELECT name, token_sha256 FROM tokens").fetchall()
    assert stored == [("alice", hashlib.sha256(token.encode()).hexdigest())]
    for path in (home / "leaderboard").glob("leaderboard.duckdb*"):
        assert token.encode() not in path.read_bytes()
