"""Fault injection with real processes: SIGKILL a build at seeded random and at chosen points, race builds.

Each child process builds tcga-mini-sized content (the embedded tcga-mini's tables, matrices and splits)
through the public build path (:func:`oncobench.datasets.build.write_dataset`) into a temporary home.
After every kill: the previous version still opens and verifies, no half version is visible, the
catalog agrees with the folders, and a rebuild succeeds with the same content hash as an undisturbed
build. Racing builds of one version publish it exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from oncobench.datasets.build import DatasetContent, write_dataset
from oncobench.datasets.dataset import Dataset, load_dataset
from oncobench.datasets.errors import ImmutableVersionError
from oncobench.datasets.harmonize import FeatureBlock
from oncobench.datasets.provenance import Provenance
from oncobench.datasets.store import EMBEDDED_ROOT, forget_verified, list_versions, read_manifest

NAME = "faulty"
TESTS = Path(__file__).parent
ROOT = TESTS.parent


def mini_content(version: str, drop: tuple[str, ...] = (), shift: float = 0.0) -> DatasetContent:
    """tcga-mini's data as recipe output for dataset ``faulty`` (``drop`` modalities, ``shift`` the RNA values)."""
    mini = Dataset(EMBEDDED_ROOT / "tcga-mini" / "1.0")
    blocks = {}
    for modality in mini.modalities:
        if modality in drop:
            continue
        values, features = mini.matrix(modality)
        if modality == "rna":
            values = values + shift
        info = mini.modality_info(modality)
        prov = Provenance(source=f"mini-{modality}", files=(), transform="copied from tcga-mini@1.0", licence="see tcga-mini",
                          citation="see tcga-mini", comparable_across_cohorts=info["comparable_across_cohorts"])
        blocks[modality] = [FeatureBlock(modality, tuple(mini.modality_patients(modality)), tuple(features), values, prov)]
    splits = {s: (mini.split_table(s), mini.manifest["splits"][s]) for s in mini.schemes}
    return DatasetContent(name=NAME, version=version, clinical=mini.clinical, blocks=blocks, splits=splits,
                          card={"description": "tcga-mini copy for fault injection"},
                          endpoints=mini.manifest["endpoints"], labels=mini.manifest["labels"])


CHILD = textwrap.dedent(
    """
    import logging, os, signal, sys, time
    sys.path.insert(0, {tests!r})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from test_build_faults import mini_content
    from oncobench.datasets import build, store
    point, shift = sys.argv[1], float(sys.argv[2])
    content = mini_content("2", shift=shift)

    def die(*_a, **_k):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "before-publish":
        store.os.rename = die
    elif point == "after-publish":
        real = os.rename
        store.os.rename = lambda a, b: (real(a, b), die())
    elif point == "mid-catalog-transaction":
        opened = store._catalog
        class Dying:
            def __init__(self, con): self.con = con
            def __getattr__(self, item): return getattr(self.con, item)
            def executemany(self, *a, **k): die()  # after BEGIN, DELETE and the datasets INSERT
        store._catalog = lambda home: Dying(opened(home))
    go = sys.argv[3] if len(sys.argv) > 3 else None
    print("READY", flush=True)
    while go and not os.path.exists(go):
        time.sleep(0.01)
    start = time.perf_counter()
    try:
        build.write_dataset(content)
    except Exception as exc:
        print("FAILED", type(exc).__name__, exc, flush=True)
        sys.exit(3)
    print("DONE", time.perf_counter() - start, flush=True)
    """
)


def _child(home: Path, point: str = "none", shift: float = 0.0, go: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "ONCOBENCH_HOME": str(home), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-c", CHILD.format(tests=str(TESTS)), point, str(shift)] + ([str(go)] if go else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _catalog_rows(home: Path) -> dict[str, tuple[str, str, int]]:
    con = duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT version, content_hash, path FROM datasets WHERE name = ?", [NAME]).fetchall()
        files = dict(con.execute("SELECT version, count(*) FROM files WHERE name = ? GROUP BY version", [NAME]).fetchall())
    finally:
        con.close()
    return {v: (h, p, files.get(v, 0)) for v, h, p in rows}


def _check_home(home: Path, first_hash: str, second_hash: str) -> list[str]:
    """The invariants after a kill; returns the visible versions of ``faulty``."""
    forget_verified()  # re-hash everything: nothing remembered from before the kill
    assert load_dataset(f"{NAME}@1").content_hash == first_hash
    visible = [r["version"] for r in list_versions(home) if r["name"] == NAME]
    assert visible in (["1"], ["1", "2"])
    for version, (chash, path, n_files) in _catalog_rows(home).items():  # the catalog agrees with the folders
        manifest = read_manifest(home / path)
        assert manifest["content_hash"] == chash and len(manifest["files"]) == n_files
    if "2" in visible:  # a visible version is complete
        assert load_dataset(f"{NAME}@2").content_hash == second_hash
    return visible


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[str, str]:
    """Content hashes of versions 1 and 2 built undisturbed (in-process, in their own home)."""
    home = tmp_path_factory.mktemp("reference")
    first = write_dataset(mini_content("1", drop=("protein",)), home=home)
    second = write_dataset(mini_content("2"), home=home)
    return read_manifest(first)["content_hash"], read_manifest(second)["content_hash"]


@pytest.fixture()
def home(tmp_path, monkeypatch, reference) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ONCOBENCH_HOME", str(home))
    assert read_manifest(write_dataset(mini_content("1", drop=("protein",))))["content_hash"] == reference[0]
    return home


def _rebuild_and_check(home: Path, reference: tuple[str, str]) -> None:
    assert read_manifest(write_dataset(mini_content("2")))["content_hash"] == reference[1]
    assert _check_home(home, *reference) == ["1", "2"]
    assert not list((home / "datasets" / NAME).glob(".building-*"))


KILL_SEED = 20261201
RANDOM_KILLS = 10


def test_sigkill_at_seeded_random_moments(home, reference):
    # An undisturbed child build gives the time scale; kills then land uniformly inside it.
    probe = _child(home.parent / "probe-home")
    out, err = probe.communicate()
    assert probe.returncode == 0, err
    duration = float(out.split("DONE")[1])
    rng = random.Random(KILL_SEED)
    outcomes = []
    for _ in range(RANDOM_KILLS):
        delay = rng.uniform(0.0, duration)
        proc = _child(home)
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        visible = _check_home(home, *reference)
        parent = home / "datasets" / NAME
        left = {"building": bool(list(parent.glob(".building-*"))), "published": (parent / "2").exists()}
        outcomes.append((round(delay, 3), proc.returncode, visible, left))
        _rebuild_and_check(home, reference)
        # back to the state before the build: version 2 removed deliberately, and from the catalog
        _drop_version(home, "2")
    print(f"\nrandom kills (build takes {duration:.3f} s):", outcomes)
    assert sum(1 for _, rc, _, _ in outcomes if rc == -signal.SIGKILL) >= RANDOM_KILLS - 2  # most were real kills


def _drop_version(home: Path, version: str) -> None:
    import shutil

    shutil.rmtree(home / "datasets" / NAME / version)
    con = duckdb.connect(str(home / "catalog.duckdb"))
    con.execute("DELETE FROM datasets WHERE name = ? AND version = ?", [NAME, version])
    con.execute("DELETE FROM files WHERE name = ? AND version = ?", [NAME, version])
    con.close()


@pytest.mark.parametrize("point,published", [("before-publish", False), ("after-publish", False),
                                             ("mid-catalog-transaction", False)])
def test_sigkill_at_the_publish_steps(home, reference, point, published):
    proc = _child(home, point)
    out, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, (out, err)
    assert _check_home(home, *reference) == ["1"]  # renamed or not, an unregistered version is not visible
    assert (home / "datasets" / NAME / "2").exists() == (point != "before-publish")
    _rebuild_and_check(home, reference)


def test_concurrent_builds_of_one_version_publish_it_once(home, reference):
    go = home.parent / "go"
    procs = [_child(home, go=go) for _ in range(3)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "READY"
    go.touch()
    results = [proc.communicate() for proc in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    logs = "".join(err for _, err in results)
    assert logs.count(f"built {NAME}@2 (") == 1
    assert logs.count(f"{NAME}@2 already built with the same content") == 2
    assert _check_home(home, *reference) == ["1", "2"]
    assert [p.name for p in (home / "datasets" / NAME).iterdir()] in (["1", "2"], ["2", "1"])
    print("\nconcurrent same content: waits logged:", logs.count("another build of"))


def test_concurrent_builds_with_different_content_keep_the_first_and_refuse_the_second(home, reference):
    go = home.parent / "go"
    procs = [_child(home, shift=0.0, go=go), _child(home, shift=1.0, go=go)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "READY"
    go.touch()
    results = [proc.communicate() for proc in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], [err for _, err in results]
    refused = next(out for (out, _), p in zip(results, procs) if p.returncode == 3)
    assert f"FAILED {ImmutableVersionError.__name__} {NAME}@2 already exists" in refused
    winner = next(i for i, p in enumerate(procs) if p.returncode == 0)
    ds = load_dataset(f"{NAME}@2")
    assert (ds.content_hash == reference[1]) == (winner == 0)
    assert [r["version"] for r in list_versions(home) if r["name"] == NAME] == ["1", "2"]
