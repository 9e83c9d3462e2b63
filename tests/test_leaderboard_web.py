"""The served leaderboard: JSON API, HTML pages, submissions over HTTP, concurrency and a real browser.

Read-only checks and the browser run against ``python -m oncobench.cli serve`` in a subprocess whose home is
prepared first (``tests/test_serve_cli.py`` checks the CLI on a home while it is served). Submission checks run
uvicorn in a thread of this process, so ``api.MAX_UPLOAD_BYTES`` can be lowered.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import polars as pl
import pytest

from oncobench.benchmark.tasks import load_task
from oncobench.leaderboard.db import LeaderboardDB
from oncobench.leaderboard.scoring import score_submission
from oncobench.leaderboard.submission import read_submission, submit
from servers import inprocess_server, serve_subprocess
from synthetic import class_frames

ROOT = Path(__file__).resolve().parents[1]
DATASET = "tcga-mini"
PAGE = "pancan-type__tcga-mini_1.0"
SUBMISSIONS = "/api/submissions?task=pancan-type&dataset=tcga-mini"
LEADERBOARD = "/api/leaderboard/pancan-type?dataset=tcga-mini"


# ---- submissions -----------------------------------------------------------------------------------------
def submission_zip(frames: dict[int, pl.DataFrame], method: str, authors: str = "Ada Lovelace",
                   extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for fold, frame in frames.items():
            part = io.BytesIO()
            frame.write_parquet(part)
            z.writestr(f"fold{fold}_seed0.parquet", part.getvalue())
        z.writestr("meta.toml", f'method = "{method}"\nauthors = "{authors}"\ncontact = "x@example.org"\n')
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def prediction_dirs(home: Path) -> list[str]:
    root = home / "leaderboard" / "predictions"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture(scope="module")
def task():
    return load_task("pancan-type", dataset=DATASET)


@pytest.fixture
def api_home(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "home"
    with LeaderboardDB(home) as db:
        token = db.create_token("alice")
    return home, token


def count_entries(client: httpx.Client) -> int:
    r = client.get(LEADERBOARD + "&all_versions=true")
    assert r.status_code == 200
    return len(r.json()["entries"])


# Entries of the served (subprocess) leaderboard: method -> (signal, seed); "half" also has an older version.
SERVED = {"strong": (0.3, 1), "half": (0.15, 2), "weak": (0.05, 3), "noise": (0.0, 4)}  # macro_f1 ~ .80, .33, .23, .19


@pytest.fixture(scope="module")
def served(task, tmp_path_factory) -> Iterator[dict]:
    """`oncobench serve` in a subprocess over a home prepared beforehand (every DuckDB connection closed)."""
    home = tmp_path_factory.mktemp("served") / "home"
    submit(task, submission_zip(class_frames(task, 20, 0.3), "half"), home=home)  # half v1 (better, but replaced by v2)
    for method, (signal, seed) in SERVED.items():
        submit(task, submission_zip(class_frames(task, seed, signal), method, authors=f"{method} lab"), home=home)
    with LeaderboardDB(home) as db:
        entries = db.entries()
    assert len(entries) == 5
    log = tmp_path_factory.mktemp("served-log") / "serve.log"
    with serve_subprocess(home, log) as (url, _):
        yield {"url": url, "home": home, "entries": entries}


# ---- read endpoints and pages (subprocess server) --------------------------------------------------------
def test_api_tasks_and_leaderboard(served):
    with httpx.Client(base_url=served["url"], timeout=60) as client:
        r = client.get("/api/tasks")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        latest = {e.method: e for e in served["entries"] if not (e.method == "half" and e.version == 1)}
        best = max(latest.values(), key=lambda e: e.summary["macro_f1"]["mean"])
        assert best.method == "strong"
        assert r.json() == [{"task": "pancan-type", "dataset": "tcga-mini@1.0", "kind": "classification",
                             "primary": "macro_f1", "secondary": ["accuracy", "balanced_accuracy", "weighted_f1", "auroc", "log_loss"],
                             "scheme": "kfold", "description": load_task("pancan-type", dataset=DATASET).spec.description,
                             "entries": 4, "best": f"{best.method} v{best.version}"}]

        r = client.get(LEADERBOARD)
        assert r.status_code == 200
        body = r.json()
        assert (body["task"], body["dataset"], body["primary"], body["not_comparable"]) == ("pancan-type", "tcga-mini@1.0", "macro_f1", 0)
        expected = sorted(latest.values(), key=lambda e: -e.summary["macro_f1"]["mean"])
        assert [(e["rank"], e["method"], e["version"]) for e in body["entries"]] == [
            (i + 1, e.method, e.version) for i, e in enumerate(expected)]
        assert body["entries"][0]["method"] == "strong" and body["entries"][-1]["method"] == "noise"
        for got, want in zip(body["entries"], expected):
            assert got["entry_id"] == want.entry_id and got["predictions_sha256"] == want.predictions_sha256
            assert got["summary"]["macro_f1"]["mean"] == pytest.approx(want.summary["macro_f1"]["mean"], rel=1e-12)
            assert got["status"] == "verified" and got["meta"]["authors"] == f"{want.method} lab"
            assert [f["fold"] for f in got["folds"]] == [0, 1, 2, 3, 4]

        every = client.get(LEADERBOARD + "&all_versions=true").json()["entries"]
        assert sorted((e["method"], e["version"]) for e in every) == sorted(
            [("half", 1), ("half", 2), ("strong", 1), ("weak", 1), ("noise", 1)])

        r = client.get("/api/leaderboard/no-such-task?dataset=tcga-mini")
        assert r.status_code == 404 and "unknown task 'no-such-task'" in r.json()["detail"]
        r = client.get("/api/leaderboard/pancan-type?dataset=no-such-dataset")
        assert r.status_code == 404 and "no-such-dataset" in r.json()["detail"]


def test_html_pages(served):
    with httpx.Client(base_url=served["url"], timeout=60) as client:
        r = client.get("/")
        assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
        links = re.findall(r'href="([^"]+\.html)"', r.text)
        assert links == [f"/{PAGE}.html"]
        page = client.get(links[0])
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        for method in SERVED:
            assert f'data-method="{method}"' in page.text and f"{method} lab" in page.text
        plots = re.findall(r'<img alt="[^"]*" src="(/plots/[^"]+)"', page.text)
        assert plots == [f"/plots/{PAGE}_folds.png"]
        png = client.get(plots[0])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"

        assert client.get("/no-such-task__tcga-mini_1.0.html").status_code == 404
        assert client.get("/plots/..%2Fleaderboard.duckdb").status_code == 404
        assert client.get("/plots/nothing.png").status_code == 404


# ---- browser ---------------------------------------------------------------------------------------------
def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = Path("/usr/bin/chromium")
    if not exe.exists():
        try:
            subprocess.run(["bash", str(ROOT / "scripts" / "install_chromium.sh")], check=True, capture_output=True, text=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            _unavailable(f"/usr/bin/chromium is missing and scripts/install_chromium.sh failed: {exc} "
                         f"{getattr(exc, 'stderr', '') or ''}".strip())
        if not exe.exists():
            _unavailable("scripts/install_chromium.sh ran but /usr/bin/chromium is still missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _unavailable(f"playwright is not installed: {exc}")
    return str(exe)


def test_browser_sorts_the_leaderboard(served, chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    api_entries = httpx.get(served["url"] + LEADERBOARD, timeout=60).json()["entries"]
    ranked = [e["method"] for e in api_entries]
    means = {e["method"]: e["summary"]["macro_f1"]["mean"] for e in api_entries}
    artifact = Path(os.environ.get("ONCOBENCH_TEST_ARTIFACTS", tmp_path)) / "leaderboard.png"
    artifact.parent.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(served["url"] + "/")
            assert page.title() == "OncoBench leaderboard"
            page.get_by_role("link", name="pancan-type", exact=True).click()
            page.wait_for_url(f"**/{PAGE}.html")
            assert page.title() == "pancan-type — OncoBench leaderboard"

            def table() -> list[tuple[str, float]]:
                return [(m, float(v)) for m, v in page.eval_on_selector_all(
                    "#leaderboard tbody tr", f"rows => rows.map(r => [r.dataset.method, r.cells[{col}].dataset.sort])")]

            headers = page.eval_on_selector_all("#leaderboard thead th", "hs => hs.map(h => h.textContent)")
            col = headers.index("macro_f1 mean")
            header = page.locator("#leaderboard thead th").nth(col)

            initial = table()
            assert [m for m, _ in initial] == ranked  # the table shows the API's entries in rank order
            for method, value in initial:
                assert value == pytest.approx(means[method], rel=1e-5)

            header.click()
            assert header.get_attribute("class") == "sorted-asc"
            ascending = table()
            assert [v for _, v in ascending] == sorted(v for _, v in initial)
            assert [m for m, _ in ascending] == ranked[::-1] != ranked

            header.click()
            assert header.get_attribute("class") == "sorted-desc"
            assert table() == initial

            page.screenshot(path=str(artifact), full_page=True)
        finally:
            browser.close()
    assert artifact.is_file() and artifact.stat().st_size > 0
    assert artifact.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- submissions over HTTP (in-process server) -----------------------------------------------------------
def test_post_refusals_write_nothing(task, api_home, monkeypatch):
    from oncobench.leaderboard import api

    home, token = api_home
    good = submission_zip(class_frames(task, 1), "http-method")
    auth = {"authorization": f"Bearer {token}"}
    zip_type = {"content-type": "application/zip"}
    with inprocess_server(home) as url, httpx.Client(base_url=url, timeout=60) as client:
        def refused(response: httpx.Response, status: int, fragment: str) -> None:
            assert response.status_code == status, response.text
            assert fragment in str(response.json()), response.json()
            assert count_entries(client) == 0
            assert prediction_dirs(home) == []

        r = client.post(SUBMISSIONS, content=good, headers=zip_type)
        refused(r, 401, "missing bearer token")
        assert r.headers["www-authenticate"] == "Bearer"
        refused(client.post(SUBMISSIONS, content=good, headers=zip_type | {"authorization": "Basic YWxpY2U6eA=="}), 401, "missing bearer token")
        refused(client.post(SUBMISSIONS, content=good, headers=zip_type | {"authorization": "Bearer not-a-token"}), 403, "unknown token")
        refused(client.post(SUBMISSIONS, content=good, headers=auth | {"content-type": "text/plain"}), 415, "'text/plain'")
        refused(client.post(SUBMISSIONS, files={"file": ("s.zip", good, "application/zip")}, headers=auth), 415, "'multipart/form-data'")
        refused(client.post(SUBMISSIONS, content=good, headers=auth), 415, "expected application/zip")

        monkeypatch.setattr(api, "MAX_UPLOAD_BYTES", len(good) - 1)
        refused(client.post(SUBMISSIONS, content=good, headers=auth | zip_type), 413, f"upload of {len(good)} bytes; at most {len(good) - 1}")
        chunks = (good[i:i + 4096] for i in range(0, len(good), 4096))  # no Content-Length: limited while streaming
        refused(client.post(SUBMISSIONS, content=chunks, headers=auth | zip_type), 413, f"upload larger than {len(good) - 1} bytes")
        monkeypatch.setattr(api, "MAX_UPLOAD_BYTES", 50 * 2**20)

        r = client.post(SUBMISSIONS, content=b"definitely not a zip", headers=auth | zip_type)
        refused(r, 422, "not a zip archive or a folder")
        assert r.json() == {"detail": "submission refused", "problems": ["not a zip archive or a folder", "meta.toml is missing"]}

        unsafe = submission_zip(class_frames(task, 1), "http-method", extra={"../evil.parquet": b"x", "model.pkl": b"x"})
        r = client.post(SUBMISSIONS, content=unsafe, headers=auth | zip_type)
        refused(r, 422, "'../evil.parquet': member names must be plain file names")
        assert len(r.json()["problems"]) == 2 and "'model.pkl': unexpected file" in r.json()["problems"][1]

        r = client.post("/api/submissions?task=no-such-task&dataset=tcga-mini", content=good, headers=auth | zip_type)
        refused(r, 404, "unknown task 'no-such-task'")
    assert not (home.parent / "evil.parquet").exists()


def test_post_accepts_then_refuses_the_same_zip(task, api_home):
    home, token = api_home
    frames = class_frames(task, 2, signal=0.4)
    body = submission_zip(frames, "http-method")
    expected = score_submission(task, read_submission(task, body)[0], method="http-method", status="verified")
    headers = {"authorization": f"Bearer {token}", "content-type": "application/zip"}
    with inprocess_server(home) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.post(SUBMISSIONS, content=body, headers=headers)
        assert r.status_code == 201, r.text
        entry = r.json()
        assert (entry["method"], entry["version"], entry["status"], entry["role"]) == ("http-method", 1, "verified", "model")
        assert (entry["task"], entry["dataset"], entry["primary"]) == ("pancan-type", "tcga-mini@1.0", "macro_f1")
        assert entry["meta"] == {"authors": "Ada Lovelace", "contact": "x@example.org", "submitted_by": "alice"}
        assert entry["predictions_sha256"] == expected.predictions_sha256
        assert entry["summary"]["macro_f1"]["mean"] == pytest.approx(expected.summary["macro_f1"]["mean"], rel=1e-12)
        assert [f["fold"] for f in entry["folds"]] == [0, 1, 2, 3, 4]

        board = client.get(LEADERBOARD).json()["entries"]
        assert [(e["rank"], e["method"], e["entry_id"]) for e in board] == [(1, "http-method", entry["entry_id"])]

        r = client.post(SUBMISSIONS, content=body, headers=headers)
        assert r.status_code == 409
        assert r.json()["detail"] == "duplicate"
        assert "already submitted as http-method v1" in r.json()["problems"][0]
        assert count_entries(client) == 1
    with LeaderboardDB(home) as db:
        assert [(e.method, e.version) for e in db.entries()] == [("http-method", 1)]
        assert db.integrity() == []
    assert prediction_dirs(home) == [entry["predictions_sha256"]]


def test_post_corrupted_zip_is_a_clean_422(task, api_home):
    home, token = api_home
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z, zipfile.ZipFile(io.BytesIO(submission_zip(class_frames(task, 3), "m"))) as src:
        for info in src.infolist():
            z.writestr(info.filename, src.read(info))
    data = bytearray(buf.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("fold0_seed0.parquet")
    data[info.header_offset + 30 + len(info.filename.encode()) + 100] ^= 0xFF
    headers = {"authorization": f"Bearer {token}", "content-type": "application/zip", "connection": "close"}
    with inprocess_server(home) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.post(SUBMISSIONS, content=bytes(data), headers=headers)
        assert r.status_code == 422, r.text
        assert any("fold0_seed0.parquet" in p for p in r.json()["problems"])
        assert count_entries(client) == 0


def test_concurrent_submissions(task, api_home):
    home, token = api_home
    methods = [f"conc-{k}" for k in range(5)]
    bodies = [submission_zip(class_frames(task, 1000 + i, signal=0.05 * (i % 7)), methods[i % 5]) for i in range(50)]
    duplicates = [0, 1, 2, 17, 33, 49]  # exact copies of these bodies are sent as well
    jobs = [(i, bodies[i]) for i in range(50)] + [(i, bodies[i]) for i in duplicates]
    order = np.random.default_rng(0).permutation(len(jobs))
    jobs = [jobs[k] for k in order]
    headers = {"authorization": f"Bearer {token}", "content-type": "application/zip"}

    with inprocess_server(home) as url, httpx.Client(base_url=url, timeout=300,
                                                      limits=httpx.Limits(max_connections=60)) as client:
        def post(job: tuple[int, bytes]) -> tuple[int, int, dict]:
            r = client.post(SUBMISSIONS, content=job[1], headers=headers)
            return job[0], r.status_code, r.json()

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(post, jobs))
        assert count_entries(client) == 50

    statuses = [s for _, s, _ in results]
    assert set(statuses) <= {201, 409}, [(s, b) for _, s, b in results if s not in (201, 409)]
    assert statuses.count(201) == 50 and statuses.count(409) == len(duplicates)
    for i in range(50):  # of identical bodies exactly one is accepted
        assert [s for j, s, _ in results if j == i].count(201) == 1
    for _, s, body in results:
        if s == 409:
            assert body["detail"] == "duplicate" and "already submitted" in body["problems"][0]
    accepted = {b["entry_id"]: b for _, s, b in results if s == 201}
    assert len(accepted) == 50

    with LeaderboardDB(home) as db:
        stored = db.entries()
        assert db.integrity() == []
    assert len(stored) == 50 == len(accepted)
    assert {e.entry_id for e in stored} == set(accepted)
    assert len({e.predictions_sha256 for e in stored}) == 50
    for e in stored:
        assert (e.method, e.version) == (accepted[e.entry_id]["method"], accepted[e.entry_id]["version"])
    for method in methods:
        versions = sorted(e.version for e in stored if e.method == method)
        assert versions == list(range(1, 11)), (method, versions)
    assert prediction_dirs(home) == sorted(e.predictions_sha256 for e in stored)  # no .tmp folder left behind
