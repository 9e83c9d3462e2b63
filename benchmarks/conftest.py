"""Shared fixtures of the benchmark suites: raw folder, a throw-away store home, and the ratio report.

Benchmarks report ratios against a baseline timed in the same run (same machine, same page cache), never
absolute wall-clock limits. Each suite records its figures in ``benchmark.extra_info`` (saved by
``--benchmark-json``) and in the session report printed at the end of the run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

_REPORT = pytest.StashKey["BenchReport"]()


@dataclass
class BenchReport:
    """Means of the benchmarks timed so far (the baselines of later ratios) and the lines of the final summary."""

    means: dict[str, float] = field(default_factory=dict)
    medians: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    failed_targets: list[str] = field(default_factory=list)

    def mean(self, benchmark: Any) -> float:
        """Mean seconds per round of a benchmark that has run; skips when timings are disabled."""
        if benchmark.stats is None:
            pytest.skip("benchmark timings are disabled (--benchmark-disable): no ratio to report")
        return float(benchmark.stats.stats.mean)

    def keep(self, key: str, benchmark: Any) -> float:
        """Store a benchmark's mean under ``key`` as the baseline of later ratios; returns it."""
        self.means[key] = self.mean(benchmark)
        self.medians[key] = float(benchmark.stats.stats.median)
        return self.means[key]

    def baseline(self, key: str, target: Callable[[], Any], *, rounds: int = 3, warmup_rounds: int = 1) -> float:
        """The mean kept under ``key``; when its benchmark was deselected (``-k``), time ``target`` now the same way."""
        if key not in self.means:
            for _ in range(warmup_rounds):
                target()
            spent = []
            for _ in range(rounds):
                start = time.perf_counter()
                target()
                spent.append(time.perf_counter() - start)
            self.means[key] = sum(spent) / len(spent)
            self.lines.append(f"(baseline {key} was deselected: timed outside pytest-benchmark, {rounds} rounds)")
        return self.means[key]

    def target(self, text: str, ok: bool) -> None:
        """Record a target check for the summary (the assert itself stays in the test)."""
        self.lines.append(f"{text}  [{'PASS' if ok else 'FAIL'}]")
        if not ok:
            self.failed_targets.append(text)


@pytest.fixture(scope="session")
def bench_report(request: pytest.FixtureRequest) -> BenchReport:
    """The session's :class:`BenchReport` (shared by all suites)."""
    if _REPORT not in request.config.stash:
        request.config.stash[_REPORT] = BenchReport()
    return request.config.stash[_REPORT]


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    """The real raw-data folder ($ONCOBENCH_RAW_DIR); skips with the reason when it is not set."""
    value = os.environ.get("ONCOBENCH_RAW_DIR")
    if not value:
        pytest.skip("real-data benchmark: set ONCOBENCH_RAW_DIR to the raw folder (../shared/data/raw) to run it")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"ONCOBENCH_RAW_DIR={value} is not a folder")
    return path.resolve()


@pytest.fixture(scope="session", autouse=True)
def oncobench_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh store home for the whole session: benchmarks never read or write the user's ~/.oncobench."""
    home = tmp_path_factory.mktemp("oncobench-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("ONCOBENCH_HOME", str(home))
    yield home
    patch.undo()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None or not report.lines:
        return
    terminalreporter.section("OncoBench benchmark ratios (baselines timed in this run)")
    for line in report.lines:
        terminalreporter.write_line(line)
    if report.failed_targets:
        terminalreporter.write_line(f"{len(report.failed_targets)} target(s) missed")
