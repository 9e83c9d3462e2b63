"""The command line fails cleanly: one ``oncobench: error: ...`` line naming the file, exit code 2, no traceback.

Every test runs the real command in a subprocess (``python -m oncobench.cli`` with this checkout first on
PYTHONPATH) against its own home, so what is checked is exactly what a user sees on stderr. The anticipated
failures are made for real: a home the process cannot write (as root: with CAP_DAC_OVERRIDE dropped, since root
ignores mode bits otherwise), a DuckDB file held open by another process, a dataset copy with corrupted files, a
pipe whose reader has gone.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
PR_CAPBSET_DROP = 24  # <linux/prctl.h>
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2  # <linux/capability.h>
RUN_MINI = ["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--folds", "0", "--repeats", "0", "--quiet"]


def _env(home: Path) -> dict[str, str]:
    path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return dict(os.environ, ONCOBENCH_HOME=str(home), PYTHONPATH=path, MLFLOW_ENABLE_TELEMETRY="false")


def oncobench(home: Path, *args: str, preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oncobench.cli", *args], env=_env(home), capture_output=True,
                          text=True, preexec_fn=preexec_fn)


def assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2 and exactly one stderr line ``oncobench: error: ...`` containing every needle; returns it."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == 2, result.stderr
    assert lines[0].startswith("oncobench: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ---- a home the process cannot write ---------------------------------------------------------------------


def _drop_write_override() -> None:
    """preexec_fn: as root, drop the capabilities that bypass mode bits, so 0555 really means read-only after exec.

    Root's permitted set after ``exec`` is its bounding set (no file capabilities): removing CAP_DAC_OVERRIDE
    and CAP_DAC_READ_SEARCH from it makes the kernel check permission bits for this process like for any user.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _read_only(folder: Path) -> Callable[[], None] | None:
    """Make ``folder`` (and everything under it) read-only for the subprocesses; returns their preexec_fn."""
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    preexec = _drop_write_override if os.geteuid() == 0 else None
    probe = subprocess.run([sys.executable, "-c", f"open({str(folder / 'probe')!r}, 'w')"], preexec_fn=preexec,
                           capture_output=True, text=True)
    if probe.returncode == 0:  # e.g. root without CAP_SETPCAP: no way to make a folder read-only for it
        pytest.skip(f"cannot make {folder} read-only for this process (uid {os.geteuid()})")
    assert "PermissionError" in probe.stderr
    return preexec


@pytest.fixture
def writable_again(tmp_path: Path) -> Iterator[None]:
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:  # so pytest can delete it
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_run_in_read_only_home_is_one_line(tmp_path: Path, writable_again: None) -> None:
    home = tmp_path / "home"
    home.mkdir()
    preexec = _read_only(home)
    result = oncobench(home, *RUN_MINI, "--models", "prior", preexec_fn=preexec)
    line = assert_clean_failure(result, str(home), "Permission denied", "ONCOBENCH_HOME")
    assert not (home / "mlflow.db").exists()
    assert "MLflow" not in line  # the home's permission is the problem, not the tracking store


def test_run_when_home_cannot_be_created_is_one_line(tmp_path: Path, writable_again: None) -> None:
    parent = tmp_path / "readonly"
    parent.mkdir()
    preexec = _read_only(parent)
    home = parent / "home"
    assert_clean_failure(oncobench(home, *RUN_MINI, "--models", "prior", preexec_fn=preexec), str(home),
                         "Permission denied")
    assert not home.exists()


def test_synth_in_read_only_home_is_one_line(tmp_path: Path, writable_again: None) -> None:
    home = tmp_path / "home"
    home.mkdir()
    preexec = _read_only(home)
    result = oncobench(home, "datasets", "synth", "tiny", "--patients", "60", "--cohorts", "2",
                       "--modalities", "rna=10", preexec_fn=preexec)
    assert_clean_failure(result, str(home / "datasets"), "Permission denied")


def test_run_with_read_only_tracking_store_is_one_line(tmp_path: Path, writable_again: None) -> None:
    """A writable home whose MLflow store is not (e.g. a colleague's): named at once, before any job is fitted."""
    from oncobench.benchmark.tracking import Tracker

    home = tmp_path / "home"
    Tracker(home)
    store = home / "mlflow.db"
    assert store.is_file()
    preexec = _drop_write_override if os.geteuid() == 0 else None
    store.chmod(0o444)
    result = oncobench(home, *RUN_MINI, "--models", "prior", preexec_fn=preexec)
    if result.returncode == 0:
        pytest.skip(f"cannot make {store} read-only for this process (uid {os.geteuid()})")
    assert_clean_failure(result, f"{store}: Permission denied")


def test_home_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    assert_clean_failure(oncobench(home, *RUN_MINI, "--models", "prior"), str(home), "File exists")
    assert_clean_failure(oncobench(home, "datasets", "synth", "tiny", "--patients", "60", "--cohorts", "2",
                                   "--modalities", "rna=10"), str(home), "Not a directory")


# ---- a database locked by another process ----------------------------------------------------------------


def _mini_copy(home: Path) -> Path:
    """A built copy of the embedded tcga-mini registered in ``home``'s catalog (it shadows the embedded one)."""
    from oncobench.datasets.store import EMBEDDED_ROOT, register_version

    folder = home / "datasets" / "tcga-mini" / "1.0"
    shutil.copytree(EMBEDDED_ROOT / "tcga-mini" / "1.0", folder)
    register_version(folder, home)
    return folder


class _Holder:
    """Another process holding a DuckDB file open for writing until closed."""

    def __init__(self, path: Path) -> None:
        code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute('CREATE TABLE IF NOT EXISTS held (x INT)');"
                "print('ready', flush=True); sys.stdin.read()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait() == 0


@pytest.fixture
def held() -> Iterator[Callable[[Path], _Holder]]:
    holders: list[_Holder] = []

    def hold(path: Path) -> _Holder:
        holders.append(_Holder(path))
        return holders[-1]

    yield hold
    for h in holders:
        if h.proc.poll() is None:
            h.close()


def test_locked_catalog_is_one_line(tmp_path: Path, held: Callable[[Path], _Holder]) -> None:
    home = tmp_path / "home"
    _mini_copy(home)
    catalog = home / "catalog.duckdb"
    holder = held(catalog)
    for args in (["datasets", "list"], ["tasks", "info", "pancan-type", "--dataset", "tcga-mini"]):
        line = assert_clean_failure(oncobench(home, *args), str(catalog), "lock")
        assert f"(PID {holder.proc.pid})" in line  # DuckDB names the holder
        assert "another process" in line
    holder.close()
    assert oncobench(home, "datasets", "list").returncode == 0  # nothing was left broken


def test_locked_leaderboard_is_one_line(tmp_path: Path, held: Callable[[Path], _Holder]) -> None:
    home = tmp_path / "home"
    db = home / "leaderboard" / "leaderboard.duckdb"
    db.parent.mkdir(parents=True)
    held(db)
    assert_clean_failure(oncobench(home, "tokens", "create", "alice"), str(db), "lock")


# ---- corrupted files of a built dataset --------------------------------------------------------------------


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(255 - b for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_text("{ this is not json")


CORRUPTIONS = {
    "manifest-garbage": ("manifest.json", _garbage),
    "clinical-truncated": ("clinical.parquet", _truncate),
    "clinical-flipped": ("clinical.parquet", _flip_bytes),
}
COMMANDS = {
    "datasets-info": ["datasets", "info", "tcga-mini"],
    "tasks-info": ["tasks", "info", "pancan-type", "--dataset", "tcga-mini"],
    "run": [*RUN_MINI, "--models", "prior"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_dataset_file_is_one_line(tmp_path: Path, corruption: str, command: str) -> None:
    home = tmp_path / "home"
    folder = _mini_copy(home)
    name, damage = CORRUPTIONS[corruption]
    damage(folder / name)
    assert_clean_failure(oncobench(home, *COMMANDS[command]), str(folder / name))


# ---- output into a closed pipe -----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["datasets", "list"], ["models", "list"], ["tasks", "list", "--dataset", "tcga-mini"]])
def test_closed_pipe_ends_quietly(tmp_path: Path, args: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte is written: every write gets EPIPE
    try:
        result = subprocess.run([sys.executable, "-m", "oncobench.cli", *args], env=_env(tmp_path / "home"),
                                stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert result.stderr == ""  # no "Exception ignored ... BrokenPipeError", no traceback
    assert result.returncode == 1  # the Python documentation's convention for EPIPE


def test_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    command = f"{sys.executable} -m oncobench.cli datasets list | head -1"
    result = subprocess.run(["sh", "-c", command], env=_env(tmp_path / "home"), capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.split() == ["dataset", "version", "origin", "content", "sha256", "path"]


# ---- arguments ------------------------------------------------------------------------------------------


def test_duplicate_tasks_models_seeds_and_folds_run_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = oncobench(home, "run", "--task", "pancan-type", "--task", "pancan-type", "--dataset", "tcga-mini",
                       "--models", "prior, prior,prior", "--seeds", "0,0", "--folds", "0,0", "--repeats", "0", "--quiet")
    assert result.returncode == 0, result.stderr
    # prior (listed once, also the negative control) + the clinical reference, on one fold, one repeat, one seed
    assert result.stdout.splitlines()[0] == "2 jobs: 2 ran, 0 already finished, 0 failed"
    assert result.stdout.count("pancan-type on tcga-mini@1.0") == 1  # the results table once
    notes = [line for line in result.stderr.splitlines() if "given more than once" in line]
    assert notes == [
        "WARNING oncobench: --task given more than once (pancan-type); each runs once",
        "WARNING oncobench: --models given more than once (prior); each runs once",
        "WARNING oncobench: --seeds given more than once (0); each runs once",
        "WARNING oncobench: --folds given more than once (0); each runs once",
    ]
    again = oncobench(home, "run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", "prior",
                      "--folds", "0", "--repeats", "0", "--quiet")
    assert again.stdout.splitlines()[0] == "2 jobs: 0 ran, 2 already finished, 0 failed"


def test_duplicate_results_task_shown_once(tmp_path: Path) -> None:
    result = oncobench(tmp_path / "home", "results", "--task", "pancan-type", "--task", "pancan-type",
                       "--dataset", "tcga-mini")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("pancan-type on tcga-mini@1.0") == 1


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--models", ",", "argument --models: expected comma-separated model names, got ','"),
    ("--models", "", "argument --models: expected comma-separated model names, got ''"),
    ("--models", " , ", "argument --models: expected comma-separated model names, got ' , '"),
    ("--jobs", "-3", "argument --jobs: expected a positive integer, got '-3'"),
    ("--jobs", "0", "argument --jobs: expected a positive integer, got '0'"),
    ("--jobs", "two", "argument --jobs: expected a positive integer, got 'two'"),
    ("--seeds", "-1", "argument --seeds: expected comma-separated integers >= 0, got '-1'"),
    ("--seeds", "1.5", "argument --seeds: expected comma-separated integers >= 0, got '1.5'"),
    ("--seeds", "0,x", "argument --seeds: expected comma-separated integers >= 0, got '0,x'"),
    ("--seeds", ",", "argument --seeds: expected comma-separated integers >= 0, got ','"),
    ("--folds", "0,-2", "argument --folds: expected comma-separated integers >= 0, got '0,-2'"),
    ("--repeats", "", "argument --repeats: expected comma-separated integers >= 0, got ''"),
])
def test_bad_run_arguments_refused_before_anything_runs(tmp_path: Path, option: str, value: str, message: str) -> None:
    home = tmp_path / "home"
    args = ["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", "prior", "--repeats", "0", "--quiet"]
    if option == "--models":
        args[args.index("--models") + 1] = value
    else:
        args += [option, value]
    result = oncobench(home, *args)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"oncobench run: error: {message}"
    assert result.stdout == "" and not home.exists()  # refused before any job (no tracking store created)


@pytest.mark.parametrize(("args", "message"), [
    (["tasks", "info", ""], "oncobench tasks info: error: argument name: expected a name, got ''"),
    (["datasets", "info", " "], "oncobench datasets info: error: argument name: expected a name, got ' '"),
    (["datasets", "synth", "x", "--patients", "0"],
     "oncobench datasets synth: error: argument --patients: expected a positive integer, got '0'"),
    (["results", "--task", "", "--dataset", "tcga-mini"],
     "oncobench results: error: argument --task: expected a name, got ''"),
])
def test_bad_names_and_counts_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = oncobench(tmp_path / "home", *args)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == message


# ---- --debug, and real bugs --------------------------------------------------------------------------------


def test_debug_shows_the_traceback_of_an_anticipated_failure(tmp_path: Path) -> None:
    plain = oncobench(tmp_path / "home", "datasets", "info", "nope")
    line = assert_clean_failure(plain, "no dataset 'nope'")
    debug = oncobench(tmp_path / "home", "--debug", "datasets", "info", "nope")
    assert debug.returncode == 2
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert "DatasetNotFoundError" in debug.stderr
    assert debug.stderr.splitlines()[-1] == line


def _patched_main(body: str, args: list[str]) -> str:
    """Python code running ``main(args)`` with ``_cmd_models_list`` replaced by a function whose body is ``body``."""
    return ("import numpy as np\nimport oncobench.cli as cli\n"
            f"def broken(args):\n    {body}\n"
            f"cli._cmd_models_list = broken\nraise SystemExit(cli.main({args!r}))\n")


@pytest.mark.parametrize("body", ["return len(args.no_such_option)", "return np.linspace(0, 1, num=-1)"])
def test_unexpected_bug_keeps_its_traceback(tmp_path: Path, body: str) -> None:
    """A bug (here an AttributeError, or a ValueError raised inside numpy) is not dressed up as a user error."""
    result = subprocess.run([sys.executable, "-c", _patched_main(body, ["models", "list"])], env=_env(tmp_path / "home"),
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert re.search(r"^(AttributeError|ValueError): ", result.stderr, re.M)
    assert result.stderr.splitlines()[-1] == ("oncobench: this is a bug in OncoBench, not a problem with your input "
                                              "or files: please report it with the traceback above")
