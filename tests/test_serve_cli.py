"""A real ``oncobench serve`` and the CLI on one home at the same time.

The server runs as a subprocess on a free loopback port; ``tokens create|list|revoke``, ``submit``,
``leaderboard --task`` and ``leaderboard export`` then run as subprocesses against the same home while it serves
(and while a thread keeps reading from it), and every one of them succeeds. Finished runs logged while the server
runs show up on it without anyone running ``leaderboard --task``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from oncobench.benchmark.tasks import load_task
from servers import ROOT, serve_subprocess
from synthetic import class_frames

DATASET = "tcga-mini"
PAGE = "pancan-type__tcga-mini_1.0"
SURV_PAGE = "pfi-pancan__tcga-mini_1.0"

pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m oncobench.cli ARGS`` on ``home`` with this checkout's code; fails the test on a non-zero exit."""
    env = os.environ | {"ONCOBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "oncobench.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def submission_folder(folder: Path, task, seed: int, method: str) -> Path:
    folder.mkdir(parents=True)
    for fold, frame in class_frames(task, seed, signal=0.3).items():
        frame.write_parquet(folder / f"fold{fold}_seed0.parquet")
    (folder / "meta.toml").write_text(f'method = "{method}"\nauthors = "Ada"\ncontact = "a@example.org"\n')
    return folder


def submission_zip(task, seed: int, method: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for fold, frame in class_frames(task, seed, signal=0.2).items():
            part = io.BytesIO()
            frame.write_parquet(part)
            z.writestr(f"fold{fold}_seed0.parquet", part.getvalue())
        z.writestr("meta.toml", f'method = "{method}"\nauthors = "Bo"\ncontact = "b@example.org"\n')
    return buf.getvalue()


@pytest.fixture
def server(tmp_path: Path):
    home = tmp_path / "home"
    log = tmp_path / "serve.log"
    with serve_subprocess(home, log) as (url, proc):
        yield {"url": url, "home": home, "proc": proc, "log": log}


def test_cli_commands_work_while_the_server_runs(server, tmp_path):
    task = load_task("pancan-type", dataset=DATASET)
    home, url = server["home"], server["url"]
    statuses: list[int] = []
    stop = threading.Event()

    def keep_reading() -> None:  # the server keeps using the database while the CLI does
        with httpx.Client(base_url=url, timeout=120) as client:
            while not stop.is_set():
                statuses.append(client.get("/api/leaderboard/pancan-type?dataset=tcga-mini").status_code)
                statuses.append(client.get("/").status_code)
                time.sleep(0.05)

    reader = threading.Thread(target=keep_reading, daemon=True)
    reader.start()
    try:
        alice = cli(home, "tokens", "create", "alice").stdout.strip().splitlines()[-1]
        bob = cli(home, "tokens", "create", "bob").stdout.strip().splitlines()[-1]
        submitted = cli(home, "submit", "--task", "pancan-type", "--dataset", DATASET, "--predictions",
                        str(submission_folder(tmp_path / "sub", task, 1, "cli-method")))
        assert submitted.stdout.startswith("accepted: cli-method v1 on pancan-type (tcga-mini@1.0), status verified")

        with httpx.Client(base_url=url, timeout=120) as client:
            r = client.post("/api/submissions?task=pancan-type&dataset=tcga-mini", content=submission_zip(task, 2, "http-method"),
                            headers={"authorization": f"Bearer {alice}", "content-type": "application/zip"})
            assert r.status_code == 201, r.text  # a token made by the CLI while the server runs is valid at once
            board = client.get("/api/leaderboard/pancan-type?dataset=tcga-mini").json()["entries"]
            assert sorted(e["method"] for e in board) == ["cli-method", "http-method"]

        listing = cli(home, "tokens", "list").stdout
        assert alice not in listing and bob not in listing
        rows = {line.split()[0]: line.split() for line in listing.strip().splitlines()[1:]}
        assert sorted(rows) == ["alice", "bob"]
        assert rows["alice"][2] != "never" and rows["bob"][2] == "never" and rows["alice"][3] == rows["bob"][3] == "no"

        assert cli(home, "tokens", "revoke", "alice").stdout.strip() == "token alice revoked: requests with it now get 401"
        with httpx.Client(base_url=url, timeout=120) as client:
            r = client.post("/api/submissions?task=pancan-type&dataset=tcga-mini", content=submission_zip(task, 3, "late"),
                            headers={"authorization": f"Bearer {alice}", "content-type": "application/zip"})
            assert r.status_code == 401 and r.json()["detail"] == "revoked token"

        text = cli(home, "leaderboard", "--task", "pancan-type", "--dataset", DATASET).stdout
        assert "leaderboard pancan-type on tcga-mini@1.0" in text
        ranked_methods = [line.split()[1] for line in text.splitlines()[3:] if line.strip()]
        assert sorted(ranked_methods) == ["cli-method", "http-method"]

        out = tmp_path / "site"
        assert cli(home, "leaderboard", "export", "--out", str(out)).stdout.startswith(f"static site written to {out}")
        page = (out / f"{PAGE}.html").read_text(encoding="utf-8")
        assert 'data-method="cli-method"' in page and 'data-method="http-method"' in page
    finally:
        stop.set()
        reader.join()
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert server["proc"].poll() is None, server["log"].read_text()


def test_finished_runs_appear_on_the_served_site_unviewed(tmp_path):
    """Runs logged while the server runs become a task page within a refresh, though no one viewed the task."""
    from oncobench.benchmark.runner import run_grid

    home, log = tmp_path / "home", tmp_path / "serve.log"
    with serve_subprocess(home, log, "--refresh", "1") as (url, _):
        surv = load_task("pfi-pancan", dataset=DATASET)
        assert run_grid([surv], ["km"], controls=False, progress=False, home=home).ran == 5
        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + 120  # the server imports every second; this only bounds a broken refresh
            while not client.get("/api/tasks").json():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            assert [(t["task"], t["entries"], t["best"]) for t in client.get("/api/tasks").json()] == [("pfi-pancan", 1, "")]
            assert re.findall(r'href="/([^"]+)\.html"', client.get("/").text) == [SURV_PAGE]
            board = client.get("/api/leaderboard/pfi-pancan?dataset=tcga-mini").json()["entries"]
            assert [(e["method"], e["status"], e["role"]) for e in board] == [("km", "baseline", "control")]
