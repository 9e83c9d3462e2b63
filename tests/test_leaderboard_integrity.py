"""Leaderboard integrity: honest intervals, refused copies, escaped submitter text, cheap refusals of unknown
datasets, unique zip members, every finished task on the site, and tokens that can be listed and revoked.

Only the embedded tcga-mini dataset is used; every test gets its own OncoBench home.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import statistics
import warnings
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from oncobench.benchmark.tasks import load_task
from oncobench.leaderboard.db import LeaderboardDB
from oncobench.leaderboard.entries import DuplicateSubmissionError, Entry, FoldScore, SubmissionError
from oncobench.leaderboard.scoring import protocol_folds, score_submission
from oncobench.leaderboard.submission import prepare_submission, submit
from synthetic import class_frames

DATASET = "tcga-mini"
PAGE = "pancan-type__tcga-mini_1.0"
SURV_PAGE = "pfi-pancan__tcga-mini_1.0"
MATHTEXT = "oracle $\\frac{$ x"  # unbalanced mathtext: matplotlib raises on it unless it is escaped

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


def meta(method: str = "my-method") -> str:
    return f'method = "{method}"\nauthors = "Ada Lovelace"\ncontact = "ada@example.org"\n'.replace("\\", "\\\\")


def zip_of(frames: dict[tuple[int, int], pl.DataFrame], method: str = "my-method",
           extra: list[tuple[str, bytes]] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate names some tests write
        for (fold, seed), frame in frames.items():
            part = io.BytesIO()
            frame.write_parquet(part)
            z.writestr(f"fold{fold}_seed{seed}.parquet", part.getvalue())
        z.writestr("meta.toml", meta(method))
        for name, data in extra:
            z.writestr(name, data)
    return buf.getvalue()


def seeded(frames: dict[int, pl.DataFrame], seed: int = 0) -> dict[tuple[int, int], pl.DataFrame]:
    return {(fold, seed): frame for fold, frame in frames.items()}


def survival_frames(task, seed: int) -> dict[tuple[int, int], pl.DataFrame]:
    rng = np.random.default_rng(seed)
    return {(fold, 0): pl.DataFrame({"patient_id": list(task.get_split(fold, 0).test),
                                     "risk": rng.standard_normal(len(task.get_split(fold, 0).test))})
            for fold in protocol_folds(task)}


@pytest.fixture(scope="module")
def task():
    return load_task("pancan-type", dataset=DATASET)


@pytest.fixture(scope="module")
def surv_task():
    return load_task("pfi-pancan", dataset=DATASET)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("ONCOBENCH_HOME", str(h))
    return h


def files_of(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``home`` with its size and modification time."""
    return {str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns) for p in home.rglob("*") if p.is_file()}


def t_interval(values: list[float]) -> tuple[float, float]:
    """The 95 % Student-t interval of the mean, computed with the standard library and scipy's t quantile."""
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    return mean - half, mean + half


# ---- confidence intervals ----------------------------------------------------------------------------------
def test_ci_is_over_folds_with_seeds_averaged_first(task):
    frames = seeded(class_frames(task, 11, signal=0.2), 0) | seeded(class_frames(task, 12, signal=0.2), 1)
    entry = score_submission(task, frames, method="m", status="verified")
    per_fold = {f: statistics.fmean([s.test["macro_f1"] for s in entry.folds if s.fold == f]) for f in range(5)}
    summary = entry.summary["macro_f1"]
    assert len(entry.folds) == 10 and entry.seeds == (0, 1)
    assert summary["n"] == 5  # independent units: the folds, not the 10 (fold, seed) scores
    assert summary["mean"] == pytest.approx(statistics.fmean(per_fold.values()), rel=1e-12)
    assert summary["sd"] == pytest.approx(statistics.stdev(per_fold.values()), rel=1e-12)
    low, high = t_interval(list(per_fold.values()))
    assert (summary["ci_low"], summary["ci_high"]) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))


def test_ci_is_clipped_to_the_metric_range():
    from oncobench.leaderboard.intervals import METRIC_RANGES, fold_summary

    scores = {"macro_f1": [0.445, 1.0, 1.0, 1.0, 1.0], "logrank_p": [0.001, 0.002, 0.9, 0.001, 0.003],
              "mse_mean": [0.01, 0.02, 3.0, 0.01, 0.01], "pearson_mean": [-0.99, -0.2, -1.0, -1.0, -1.0]}
    folds = tuple(FoldScore(0, k, 0, "s", "p", {m: v[k] for m, v in scores.items()}) for k in range(5))
    summary = fold_summary(folds)
    for metric, values in scores.items():
        low, high = t_interval(values)
        lo, hi = METRIC_RANGES[metric]
        s = summary[metric]
        assert (s["ci_low"], s["ci_high"]) == (pytest.approx(max(low, lo), rel=1e-12), pytest.approx(min(high, hi), rel=1e-12))
        assert s["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
    # the unclipped intervals do leave the ranges: the clip is doing the work
    assert t_interval(scores["macro_f1"])[1] > 1 and t_interval(scores["logrank_p"])[0] < 0
    assert t_interval(scores["mse_mean"])[0] < 0 and t_interval(scores["pearson_mean"])[0] < -1
    assert summary["macro_f1"]["ci_high"] == 1.0 and summary["mse_mean"]["ci_low"] == 0.0


def test_every_metric_the_evaluator_reports_has_a_range(task, surv_task):
    from oncobench.benchmark import metrics as M
    from oncobench.leaderboard.intervals import METRIC_RANGES

    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 10)
    t, e = rng.uniform(1, 100, 20), np.array([True, False] * 10)
    reported = set(M.classification_metrics(y, rng.dirichlet([1, 1], 20), ["a", "b"]))
    reported |= set(M.survival_metrics(t, e, rng.standard_normal(20), t, e))
    reported |= set(M.clustering_metrics(y, rng.integers(0, 2, 20), time=t, event=e))
    reported |= set(M.translation_metrics(rng.standard_normal((20, 3)), rng.standard_normal((20, 3)), ["f1", "f2", "f3"])[0])
    from oncobench.benchmark.metrics.imputation import imputation_metrics

    reported |= set(imputation_metrics(np.zeros((2, 2)), np.ones((2, 2)), np.eye(2, dtype=bool), np.zeros(2), np.ones(2)))
    assert reported - set(METRIC_RANGES) == set()
    assert METRIC_RANGES["harrell_c"] == (0.0, 1.0) and METRIC_RANGES["pearson_mean"] == (-1.0, 1.0)
    assert METRIC_RANGES["mse_mean"] == (0.0, math.inf) and METRIC_RANGES["logrank_p"] == (0.0, 1.0)


# ---- copies ------------------------------------------------------------------------------------------------
def test_one_seed_copied_into_many_is_refused(task, home):
    frames = class_frames(task, 21, signal=0.2)
    copies = {(fold, seed): frame for fold, frame in frames.items() for seed in range(20)}
    with pytest.raises(SubmissionError) as err:
        submit(task, zip_of(copies), home=home)
    assert err.value.problems == [f"fold {f}: seeds 0-19 hold the same predictions (equal within 1e-09); seeds must "
                                  "come from independent runs (submit one seed if the method is deterministic)"
                                  for f in range(5)]
    # a copy shifted by far less than the tolerance is still a copy
    nudged = dict(copies)
    nudged[(0, 7)] = frames[0].with_columns(pl.col(frames[0].columns[1]) + 1e-12, pl.col(frames[0].columns[2]) - 1e-12)
    with pytest.raises(SubmissionError) as err:
        submit(task, zip_of(nudged), home=home)
    assert err.value.problems[0].startswith("fold 0: seeds 0-19 hold the same predictions")
    assert not (home / "leaderboard" / "predictions").exists() or not any((home / "leaderboard" / "predictions").iterdir())


def test_near_copy_of_another_entry_is_refused(task, home):
    frames = class_frames(task, 22, signal=0.2)
    first = submit(task, zip_of(seeded(frames), "original"), home=home)
    col = frames[0].columns[1:3]
    nudged = {f: fr.with_columns(pl.col(col[0]) + 4e-11, pl.col(col[1]) - 4e-11) for f, fr in frames.items()}
    with pytest.raises(DuplicateSubmissionError) as err:
        submit(task, zip_of(seeded(nudged), "copycat"), home=home)
    assert err.value.problems == [f"these predictions equal those of original v1 (entry {first.entry_id}) within 1e-09"]
    # renumbering the seed does not make a copy new either
    with pytest.raises(DuplicateSubmissionError):
        submit(task, zip_of(seeded(frames, seed=5), "copycat"), home=home)
    with LeaderboardDB(home) as db:
        assert [(e.method, e.version) for e in db.entries()] == [("original", 1)]
    # a genuinely different submission is still accepted
    assert submit(task, zip_of(seeded(class_frames(task, 23, signal=0.2)), "other"), home=home).version == 1


# ---- zip members -------------------------------------------------------------------------------------------
def test_duplicate_zip_member_names_are_refused(task, home):
    frames = class_frames(task, 31, signal=0.2)
    other = io.BytesIO()
    class_frames(task, 32, signal=0.9)[0].write_parquet(other)
    body = zip_of(seeded(frames), extra=[("fold0_seed0.parquet", other.getvalue()), ("meta.toml", meta("second").encode())])
    with pytest.raises(SubmissionError) as err:
        prepare_submission(task, body)
    assert err.value.problems[:2] == ["'fold0_seed0.parquet': 2 archive members have this name; member names must be unique",
                                      "'meta.toml': 2 archive members have this name; member names must be unique"]
    # neither copy is read: the meta and fold 0 count as absent
    assert "meta.toml is missing" in err.value.problems and any("missing predictions for (fold, seed) [(0, 0)]" in p
                                                                for p in err.value.problems)


# ---- escaping ----------------------------------------------------------------------------------------------
def test_mathtext_method_name_on_a_survival_task_exports_and_serves(surv_task, task, tmp_path, home):
    from fastapi.testclient import TestClient

    from oncobench.leaderboard.api import create_app
    from oncobench.leaderboard.views import export_site

    submit(surv_task, zip_of(survival_frames(surv_task, 41), MATHTEXT), home=home)
    submit(task, zip_of(seeded(class_frames(task, 42, 0.3)), MATHTEXT), home=home)
    out = export_site(tmp_path / "site", home=home)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.html", f"{PAGE}.html", f"{PAGE}.csv", f"{PAGE}_folds.png",
         f"{SURV_PAGE}.html", f"{SURV_PAGE}.csv", f"{SURV_PAGE}_folds.png", f"{SURV_PAGE}_km.png"])
    page = (out / f"{SURV_PAGE}.html").read_text(encoding="utf-8")
    assert f'data-method="{MATHTEXT}"' in page and f'src="{SURV_PAGE}_km.png"' in page
    with TestClient(create_app(home)) as client:
        before = files_of(home)
        r = client.get(f"/{SURV_PAGE}.html")
        assert r.status_code == 200, r.text
        assert re.findall(r'<img alt="[^"]*" src="([^"]+)"', r.text) == [f"/plots/{SURV_PAGE}_folds.png",
                                                                          f"/plots/{SURV_PAGE}_km.png"]
        for name in (f"{SURV_PAGE}_km.png", f"{SURV_PAGE}_folds.png", f"{PAGE}_folds.png"):
            png = client.get(f"/plots/{name}")
            assert png.status_code == 200 and png.content[:4] == b"\x89PNG" and len(png.content) > 1000
        assert client.get(f"/plots/{PAGE}_km.png").status_code == 404  # a classification task has no KM plot
        assert [client.get(u).status_code for u in ("/", f"/{PAGE}.html", "/api/tasks")] == [200, 200, 200]
        assert files_of(home) == before  # read requests wrote nothing (the plots are drawn in memory)


def test_plot_text_is_rendered_literally(tmp_path):
    """The title and tick labels carry the submitter's text as it is: no mathtext, no TeX."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from oncobench.leaderboard import site

    seen = []
    real_savefig = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        for ax in fig.axes:
            for text in [ax.title, *ax.get_yticklabels()]:
                seen.append((text.get_text(), text.get_parse_math(), text.get_usetex()))
        return real_savefig(fig, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Figure, "savefig", spy)
        site.km_plot([1.0, 2.0, 3.0, 4.0], [True, True, False, True], [True, False, True, False], tmp_path / "km.png",
                     f"{MATHTEXT} v1: test patients")
        entry = Entry(task="t", dataset="d@1", split_key="k", evaluator_version="1", method=MATHTEXT, status="verified",
                      folds=(FoldScore(0, 0, 0, "s", "p", {"harrell_c": 0.6}),), summary={}, primary="harrell_c",
                      predictions_sha256="h", version=1)
        from oncobench.leaderboard.ranking import RankedRow

        site.fold_plot([RankedRow(1, entry, False)], "harrell_c", tmp_path / "folds.png")
    assert (f"{MATHTEXT} v1: test patients", False, False) in seen
    assert (f"{MATHTEXT} v1", False, False) in seen


def test_csv_cells_with_a_formula_after_spaces_are_neutralised():
    from oncobench.leaderboard.site import csv_safe

    assert [csv_safe(v) for v in ("=1+1", "  =1+1", "\n-2", "plain", "a=b", "")] == \
        ["'=1+1", "'  =1+1", "'\n-2", "plain", "a=b", ""]
    buf = io.StringIO()
    csv.writer(buf).writerow([csv_safe(" @SUM(A1)")])
    assert next(csv.reader(io.StringIO(buf.getvalue()))) == ["' @SUM(A1)"]


# ---- unauthenticated requests never build ------------------------------------------------------------------
def test_unbuilt_dataset_in_a_query_is_a_cheap_404(home):
    from fastapi.testclient import TestClient

    from oncobench.leaderboard.api import create_app

    with TestClient(create_app(home)) as client:
        for url in ("/api/leaderboard/pancan-type?dataset=gse7390-metastasis@9.9",
                    "/api/leaderboard/pancan-type?dataset=gse7390-metastasis@1.0",
                    "/api/leaderboard/pancan-type?dataset=gse7390-metastasis",
                    "/api/leaderboard/metastasis-gse7390"):
            r = client.get(url)
            assert r.status_code == 404, (url, r.text)
            assert not (home / "datasets").exists() and not (home / "catalog.duckdb").exists(), url  # nothing built
            assert "gse7390-metastasis" in r.json()["detail"] and "not built" in r.json()["detail"]
        assert client.get("/api/leaderboard/pancan-type?dataset=tcga-mini").status_code == 200
        assert client.get("/api/leaderboard/pancan-type?dataset=tcga-mini@1.0").status_code == 200
    assert not (home / "datasets").exists() and not (home / "catalog.duckdb").exists()


# ---- every finished task is on the site --------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs_home(task, surv_task, tmp_path_factory) -> Path:
    """An MLflow store with complete runs on two tasks and incomplete ones on a third; no leaderboard yet."""
    from oncobench.benchmark.runner import run_grid

    h = tmp_path_factory.mktemp("runs") / "home"
    blca = load_task("os-blca", dataset=DATASET)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONCOBENCH_HOME", str(h))
        assert run_grid([task], ["prior"], controls=False, progress=False, home=h).ran == 5
        assert run_grid([surv_task], ["km"], controls=False, progress=False, home=h).ran == 5
        assert run_grid([surv_task], ["coxnet"], controls=False, folds=[0, 1], progress=False, home=h).ran == 2
        assert run_grid([blca], ["km"], controls=False, folds=[0, 1], progress=False, home=h).ran == 2
    assert not (h / "leaderboard").exists()
    return h


def test_export_and_served_pages_show_every_task_with_complete_runs(runs_home, tmp_path):
    from fastapi.testclient import TestClient

    from oncobench.leaderboard.api import create_app
    from oncobench.leaderboard.views import export_site

    from oncobench.benchmark.tracking import Tracker

    home = tmp_path / "home"
    shutil.copytree(runs_home, home)  # the artifacts stay where MLflow recorded them (absolute URIs)
    tracker = Tracker(home)  # experiments the export must skip: an unknown task, a dataset not built here
    tracker.experiment_id("no-such-task", "tcga-mini@1.0")
    tracker.experiment_id("pancan-type", "gse7390-metastasis@1.0")
    out = export_site(tmp_path / "site", home=home)
    assert not (home / "datasets").exists()  # nothing was built for the second one
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == sorted(["index.html", f"{PAGE}.html", f"{SURV_PAGE}.html"])  # os-blca is incomplete: no page
    assert re.findall(r'data-method="([^"]+)"', (out / f"{SURV_PAGE}.html").read_text(encoding="utf-8")) == ["km"]
    assert re.findall(r'data-method="([^"]+)"', (out / f"{PAGE}.html").read_text(encoding="utf-8")) == ["prior"]

    fresh = tmp_path / "served"
    shutil.copytree(runs_home, fresh)
    with TestClient(create_app(fresh)) as client:
        tasks = client.get("/api/tasks").json()
        assert sorted((t["task"], t["entries"]) for t in tasks) == [("pancan-type", 1), ("pfi-pancan", 1)]
        index = client.get("/").text
        assert re.findall(r'href="/([^"]+)\.html"', index) == [PAGE, SURV_PAGE]


# ---- tokens ------------------------------------------------------------------------------------------------
def test_tokens_list_and_revoke(task, home, capsys):
    from fastapi.testclient import TestClient

    from oncobench.cli import main
    from oncobench.leaderboard.api import create_app

    assert main(["tokens", "create", "alice"]) == 0
    alice = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["tokens", "create", "bob"]) == 0
    bob = capsys.readouterr().out.strip().splitlines()[-1]

    with TestClient(create_app(home)) as client:
        r = client.post("/api/submissions?task=pancan-type&dataset=tcga-mini", content=zip_of(seeded(class_frames(task, 51))),
                        headers={"authorization": f"Bearer {alice}", "content-type": "application/zip"})
        assert r.status_code == 201, r.text

    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert alice not in listing and bob not in listing
    lines = listing.strip().splitlines()
    assert lines[0].split() == ["name", "created", "last", "used", "revoked"]
    assert [line.split()[0] for line in lines[1:]] == ["alice", "bob"]
    with LeaderboardDB(home) as db:
        tokens = {t.name: t for t in db.tokens()}
    assert tokens["alice"].last_used_at is not None and tokens["bob"].last_used_at is None
    assert not tokens["alice"].revoked and not tokens["bob"].revoked
    assert "token_sha256" not in tokens["alice"].__dataclass_fields__

    assert main(["tokens", "revoke", "alice"]) == 0
    assert capsys.readouterr().out.strip() == "token alice revoked: requests with it now get 401"
    assert main(["tokens", "revoke", "nobody"]) == 2
    assert "no token named 'nobody'" in capsys.readouterr().err
    assert main(["tokens", "list"]) == 0
    [alice_line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("alice")]
    assert alice_line.split()[-1] != "no"
    with LeaderboardDB(home) as db:
        assert db.token_name(alice) is None and db.token_name(bob) == "bob"

    with TestClient(create_app(home)) as client:
        r = client.post("/api/submissions?task=pancan-type&dataset=tcga-mini", content=zip_of(seeded(class_frames(task, 52))),
                        headers={"authorization": f"Bearer {alice}", "content-type": "application/zip"})
        assert r.status_code == 401 and r.json()["detail"] == "revoked token"
        r = client.post("/api/submissions?task=pancan-type&dataset=tcga-mini", content=zip_of(seeded(class_frames(task, 52))),
                        headers={"authorization": f"Bearer {bob}", "content-type": "application/zip"})
        assert r.status_code == 201, r.text
