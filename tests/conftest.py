"""Shared fixtures. Real-data tests read $ONCOBENCH_RAW_DIR (CI sets it to ../shared/data/raw)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite runs every tuned model with a small declared budget (the same for all of them) so that CI stays inside
# its time budget; tests of the default budget unset it. Set before oncobench is imported by any test, and
# inherited by the CLI subprocesses the tests start.
os.environ.setdefault("ONCOBENCH_TUNING", "2,2,1")


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    """The real raw-data folder; skips (with the reason) when $ONCOBENCH_RAW_DIR is not set."""
    value = os.environ.get("ONCOBENCH_RAW_DIR")
    if not value and os.environ.get("CI") == "true":
        pytest.fail("CI=true but ONCOBENCH_RAW_DIR is not set: real-data tests must run in CI")
    if not value:
        pytest.skip("real-data test: set ONCOBENCH_RAW_DIR to the raw folder (../shared/data/raw) to run it")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"ONCOBENCH_RAW_DIR={value} is not a folder")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's ~/.oncobench: each test session gets its own home."""
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path_factory.getbasetemp() / "oncobench-home"))


@pytest.fixture(scope="session")
def pancan(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """tcga-pancan built once per test session from the real raw folder, in its own home.

    Outside CI, ``$ONCOBENCH_TEST_PANCAN`` may name an already built version folder to reuse (a developer
    speed-up; it is verified on open like any other version). CI always builds.
    """
    from oncobench.datasets.dataset import Dataset
    from oncobench.datasets.recipes import tcga_pancan

    prebuilt = os.environ.get("ONCOBENCH_TEST_PANCAN")
    if prebuilt and os.environ.get("CI") != "true":
        return Dataset(Path(prebuilt))
    home = tmp_path_factory.mktemp("pancan-home")
    return Dataset(tcga_pancan.build(raw_dir=raw_dir, progress=False, home=home))


@pytest.fixture(scope="session")
def pancan11(raw_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """tcga-pancan 1.1 built once per test session (one 1.1 build: methylation, ACC, PAAD omics).

    Outside CI, ``$ONCOBENCH_TEST_PANCAN11`` may name an already built 1.1 folder to reuse (verified on open).
    """
    from oncobench.datasets.dataset import Dataset
    from oncobench.datasets.recipes import tcga_pancan

    prebuilt = os.environ.get("ONCOBENCH_TEST_PANCAN11")
    if prebuilt and os.environ.get("CI") != "true":
        return Dataset(Path(prebuilt))
    home = tmp_path_factory.mktemp("pancan11-home")
    return Dataset(tcga_pancan.build(raw_dir=raw_dir, progress=False, home=home, version="1.1"))
