"""Leaderboard servers for tests: ``oncobench serve`` in a subprocess, or uvicorn in a thread of this process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, alive, describe) -> None:
    """Poll /api/tasks until it answers (the deadline only guards against a server that never starts)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not alive():
            pytest.fail(f"the server at {url} exited before answering: {describe()}")
        try:
            if httpx.get(url + "/api/tasks", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server at {url} did not answer /api/tasks: {describe()}")


@contextmanager
def serve_subprocess(home: Path, log: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m oncobench.cli serve`` on ``home`` (this checkout's code), its output in ``log``: (url, process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"ONCOBENCH_HOME": str(home), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "oncobench.cli", "serve", "--port", str(port), *args], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(url, lambda: proc.poll() is None, lambda: log.read_text())
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def inprocess_server(home: Path) -> Iterator[str]:
    """uvicorn serving ``create_app(home)`` in a thread of this process (so module constants can be patched)."""
    import uvicorn

    from oncobench.leaderboard.api import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(home), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, thread.is_alive, lambda: "thread stopped")
        yield url
    finally:
        server.should_exit = True
        thread.join()
