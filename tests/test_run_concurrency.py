"""Runs on one home cooperate: fault injection with real processes and real SIGKILLs on tcga-mini.

- a SIGKILL at any point of MLflow's first-time setup leaves a home the next run uses, with no manual step;
- two ``oncobench run`` at once on one (fresh) home split the grid: every job runs exactly once;
- a run SIGKILLed mid-grid loses nothing: the other process (or a re-run) finishes exactly the jobs it left;
- the stale-run cleanup never touches the runs of a live process.

Each child is ``python tests/<script> ARGS``: the real CLI behind optional fault hooks that live only in this test
(a SIGKILL at the N-th SQL statement, a start barrier, logging held until a file appears).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from oncobench.benchmark.aggregate import summarize
from oncobench.benchmark.runner import run_grid
from oncobench.benchmark.tasks import load_task
from oncobench.benchmark.tracking import Tracker, TrackingStoreError

REPO = Path(__file__).resolve().parents[1]
GRID_ARGS = ["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", "logreg,prior", "--repeats", "0", "--quiet"]
# logreg and prior (the negative control) plus the clinical reference, 5 folds of repeat 0, seed 0
GRID = {f"pancan-type|{m}|r0|f{f}|s0" for m in ("logreg", "prior", "clinical-logreg") for f in range(5)}
SAFETY_NET_S = 600  # only against a hung child; no assertion is about time

CHILD = r'''
import os, signal, sys, time
from pathlib import Path

kill_at = int(os.environ.get("TEST_KILL_AT_STATEMENT", "0"))
count = [0]
if kill_at or sys.argv[1].startswith("count"):
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def _statement(*_):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # a real SIGKILL, exactly at this statement

    event.listen(Engine, "before_cursor_execute", _statement)
hold = os.environ.get("TEST_HOLD_LOGGING_UNTIL")
if hold:  # after N jobs, a job run stays RUNNING (created, not yet terminated) while this process lives
    from mlflow.tracking import MlflowClient

    _log_artifact, logged, after = MlflowClient.log_artifact, [0], int(os.environ.get("TEST_HOLD_LOGGING_AFTER", "0"))

    def _held(self, *args, **kwargs):
        if not str(args[1] if len(args) > 1 else kwargs.get("local_path", "")).endswith("predictions.parquet"):
            return _log_artifact(self, *args, **kwargs)  # a job's other artifacts (fairness.json) do not count
        logged[0] += 1
        while logged[0] > after and not Path(hold).exists():
            time.sleep(0.05)
        return _log_artifact(self, *args, **kwargs)

    MlflowClient.log_artifact = _held
import oncobench.benchmark.results, oncobench.benchmark.runner, oncobench.benchmark.tracking, oncobench.cli  # noqa: E401
go = os.environ.get("TEST_START_WHEN")
if go:  # a barrier: the children start their runs together, imports done
    while not Path(go).exists():
        time.sleep(0.005)
if sys.argv[1] == "count-setup-statements":  # SQL statements of opening a fresh home's tracking store
    from oncobench.benchmark.tracking import Tracker

    Tracker(Path(os.environ["ONCOBENCH_HOME"]))
    print(count[0])
elif sys.argv[1] == "mlflow-own-setup":  # MLflow opening the store itself, as OncoBench did before
    from mlflow.tracking import MlflowClient

    home = Path(os.environ["ONCOBENCH_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}").search_experiments(max_results=1)
else:
    from oncobench.cli import main

    sys.exit(main(sys.argv[1:]))
'''


@pytest.fixture(scope="module")
def pancan_type_mini():
    return load_task("pancan-type", dataset="tcga-mini")


_STARTED: list[subprocess.Popen] = []


@pytest.fixture()
def child(tmp_path: Path):
    """The child script; any child a failed test leaves running (held, waiting) is killed afterwards."""
    path = tmp_path / "child.py"
    path.write_text(CHILD)
    yield path
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _env(home: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return os.environ | {"ONCOBENCH_HOME": str(home), "PYTHONPATH": path} | extra


def _start(child: Path, args: list[str], home: Path, log: Path, **extra: str) -> subprocess.Popen:
    """A child whose stdout and stderr go to files (``log``.out / .err): no pipe can fill and block it."""
    out, err = open(log.with_suffix(".out"), "w"), open(log.with_suffix(".err"), "w")
    proc = subprocess.Popen([sys.executable, str(child), *args], env=_env(home, **extra), stdout=out, stderr=err)
    _STARTED.append(proc)
    return proc


def _wait(proc: subprocess.Popen, log: Path) -> tuple[int, str, str]:
    rc = proc.wait(timeout=SAFETY_NET_S)
    return rc, log.with_suffix(".out").read_text(), log.with_suffix(".err").read_text()


def _job_runs(home: Path) -> list[tuple[str, str, str | None]]:
    """(job key, status, pid tag) of every job run in the store, read with sqlite3 (not through the code under test)."""
    db = home / "mlflow.db"
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute(
                "SELECT k.value, r.status, (SELECT value FROM tags p WHERE p.run_uuid = r.run_uuid AND p.key = 'process.pid') "
                "FROM runs r JOIN tags l ON l.run_uuid = r.run_uuid AND l.key = 'oncobench_level' AND l.value = 'job' "
                "JOIN tags k ON k.run_uuid = r.run_uuid AND k.key = 'job_key'").fetchall()
    except sqlite3.OperationalError:  # the schema is being created
        return []


def _counts(rows: list[tuple[str, str, str | None]], status: str = "FINISHED") -> Counter:
    return Counter(key for key, st, _ in rows if st == status)


def _report_line(stdout: str) -> tuple[int, int, int, int]:
    """(planned, ran, skipped, failed) from the CLI's summary line 'N jobs: R ran, S already finished, F failed'."""
    line = next(l for l in stdout.splitlines() if " jobs: " in l)
    words = line.replace(",", "").split()
    return int(words[0]), int(words[2]), int(words[4]), int(words[7])


def _assert_parents_aggregate_every_fold(home: Path, task) -> None:
    """One parent run per model, whose aggregate covers the model's 5 folds."""
    tracker = Tracker(home)
    exp = tracker.experiment_id(task.name, task.dataset.id, create=False)
    parents = tracker.client.search_runs([exp], "tags.oncobench_level = 'model'")
    assert sorted(p.data.tags["model"] for p in parents) == ["clinical-logreg", "logreg", "prior"]
    children = tracker.job_runs(task.name, task.dataset.id)
    for parent in parents:
        scores = [r.data.metrics["test_macro_f1"] for r in children if r.data.tags["model"] == parent.data.tags["model"]]
        assert parent.data.tags["n_jobs"] == "5" and len(scores) == 5
        assert parent.data.metrics["macro_f1_mean"] == pytest.approx(summarize(scores)["mean"], abs=1e-12)


def test_sigkill_during_first_setup_then_the_next_run_succeeds(tmp_path: Path, child: Path, pancan_type_mini) -> None:
    """A real SIGKILL at seeded SQL statements of a fresh home's first `oncobench run`; then a run works as is."""
    probe = subprocess.run([sys.executable, str(child), "count-setup-statements"], env=_env(tmp_path / "probe"),
                           capture_output=True, text=True, check=True)
    total = int(probe.stdout.split()[-1])
    assert total > 100  # MLflow's whole schema migration ran (hundreds of statements), so the points fall inside it
    points = sorted(random.Random(20261201).sample(range(1, total + 1), 4))
    for point in points:
        home = tmp_path / f"home-{point}"
        proc = subprocess.run([sys.executable, str(child), "run", "--task", "pancan-type", "--dataset", "tcga-mini",
                               "--models", "prior", "--folds", "0", "--repeats", "0", "--no-controls", "--quiet"],
                              env=_env(home, TEST_KILL_AT_STATEMENT=str(point)), capture_output=True, text=True)
        assert proc.returncode == -signal.SIGKILL, f"statement {point} of {total}: {proc.stderr[-800:]}"
        report = run_grid([pancan_type_mini], ["prior"], folds=[0], controls=False, progress=False, home=home)
        assert (report.ran, report.skipped, report.failed) == (1, 0, []), f"killed at statement {point} of {total}"
        assert _job_runs(home)[0][:2] == ("pancan-type|prior|r0|f0|s0", "FINISHED") and len(_job_runs(home)) == 1
        # the half-built store was never the real one, and nothing of it is left behind
        assert sorted(p.name for p in home.iterdir() if p.name.startswith("mlflow.db")) == ["mlflow.db", "mlflow.db.lock"]


def test_store_broken_by_a_kill_inside_mlflows_own_setup_is_rebuilt(tmp_path: Path, child: Path, pancan_type_mini,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A home left by the old first run (MLflow migrating mlflow.db in place, SIGKILLed midway) repairs itself."""
    home = tmp_path / "home"
    # statement 400 of MLflow's own setup is inside its migrations: it left 'duplicate column name' behind
    proc = subprocess.run([sys.executable, str(child), "mlflow-own-setup"],
                          env=_env(home, TEST_KILL_AT_STATEMENT="400"), capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL and (home / "mlflow.db").exists()
    with sqlite3.connect(home / "mlflow.db") as con:
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'runs'").fetchone() == (1,)
    report = run_grid([pancan_type_mini], ["prior"], folds=[0], controls=False, progress=False, home=home)
    assert (report.ran, report.failed) == (1, [])
    assert "replaced an incomplete tracking store left by an interrupted first-time setup (it held no runs)" in caplog.text


def _downgrade_one_revision(db: Path) -> str:
    """Take a current store one MLflow schema revision back (what an older MLflow left); returns that revision."""
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config, create_sqlalchemy_engine

    engine = create_sqlalchemy_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        config = _get_alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    engine.dispose()
    with sqlite3.connect(db) as con:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_store_of_an_older_schema_is_upgraded_and_keeps_its_runs(tmp_path: Path, pancan_type_mini) -> None:
    from mlflow.store.db.utils import _get_latest_schema_revision

    home = tmp_path / "home"
    run_grid([pancan_type_mini], ["prior"], folds=[0, 1], controls=False, progress=False, home=home)
    older = _downgrade_one_revision(home / "mlflow.db")
    assert older != _get_latest_schema_revision()
    tracker = Tracker(home)  # upgrades (on a copy, renamed into place) instead of refusing the store
    assert len(tracker.job_runs(pancan_type_mini.name, pancan_type_mini.dataset.id)) == 2
    with sqlite3.connect(home / "mlflow.db") as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _get_latest_schema_revision()
    # this process had the old file open: its next runs must land in the new one
    run_grid([pancan_type_mini], ["prior"], folds=[2], controls=False, progress=False, home=home)
    assert sorted(key for key, _, _ in _job_runs(home)) == [f"pancan-type|prior|r0|f{f}|s0" for f in range(3)]


def test_half_upgraded_store_with_runs_gets_a_correct_message_and_is_left_as_is(tmp_path: Path, pancan_type_mini) -> None:
    home = tmp_path / "home"
    run_grid([pancan_type_mini], ["prior"], folds=[0], controls=False, progress=False, home=home)
    older = _downgrade_one_revision(home / "mlflow.db")
    with sqlite3.connect(home / "mlflow.db") as con:  # the first step of the next upgrade was done, not recorded
        con.execute("CREATE TABLE scheduler_leases (lease_key VARCHAR(255) PRIMARY KEY, acquired_at BIGINT, ttl_seconds INT)")
    before = (home / "mlflow.db").read_bytes()
    with pytest.raises(TrackingStoreError) as err:
        Tracker(home)
    message = str(err.value)
    assert f"{home / 'mlflow.db'}: an interrupted MLflow schema upgrade left it half-migrated (at revision {older})" in message
    assert "table scheduler_leases already exists" in message and "it holds 2 MLflow run(s)" in message  # the job and its parent
    assert "move the file aside" not in message
    assert (home / "mlflow.db").read_bytes() == before  # untouched
    assert sorted(p.name for p in home.iterdir() if p.name.startswith("mlflow.db")) == ["mlflow.db", "mlflow.db.lock"]


def test_store_of_a_newer_mlflow_is_named_and_left_as_is(tmp_path: Path, pancan_type_mini) -> None:
    import mlflow

    home = tmp_path / "home"
    run_grid([pancan_type_mini], ["prior"], folds=[0], controls=False, progress=False, home=home)
    with sqlite3.connect(home / "mlflow.db") as con:
        con.execute("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'")
    before = (home / "mlflow.db").read_bytes()
    with pytest.raises(TrackingStoreError, match=r"mlflow\.db: written by a newer MLflow \(schema revision f0f0f0f0f0f0, "
                       rf"unknown to the installed mlflow {mlflow.__version__}\); it holds 2 MLflow run\(s\) and was left"):
        Tracker(home)
    assert (home / "mlflow.db").read_bytes() == before


def test_two_runs_at_once_on_a_fresh_home_split_the_grid(tmp_path: Path, child: Path, pancan_type_mini) -> None:
    """Both start together (a barrier after the imports) on a home with no tracking store yet."""
    home, go = tmp_path / "home", tmp_path / "go"
    procs = [_start(child, GRID_ARGS, home, tmp_path / f"run{i}", TEST_START_WHEN=str(go)) for i in range(2)]
    time.sleep(1)
    go.touch()
    results = [_wait(p, tmp_path / f"run{i}") for i, p in enumerate(procs)]
    for rc, out, err in results:
        assert rc == 0 and "error" not in err.lower(), err[-800:]
    reports = [_report_line(out) for _, out, _ in results]
    rows = _job_runs(home)
    assert _counts(rows) == Counter({key: 1 for key in GRID})  # the union is the grid, no job twice
    assert len(rows) == len(GRID)  # and no other run of a job (killed, failed) either
    assert sum(ran for _, ran, _, _ in reports) == len(GRID)
    assert all(planned == len(GRID) and ran + skipped == planned and failed == 0
               for planned, ran, skipped, failed in reports)
    _assert_parents_aggregate_every_fold(home, pancan_type_mini)


def _poll(condition, *procs: subprocess.Popen) -> None:
    """Wait until ``condition()`` holds or a child ends (the caller's assertions then say which)."""
    deadline = time.monotonic() + SAFETY_NET_S
    while not condition() and all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_sigkill_mid_grid_the_other_run_finishes_it_and_a_rerun_has_nothing_left(tmp_path: Path, child: Path,
                                                                                 pancan_type_mini) -> None:
    """Round 1: the victim has logged N jobs (N seeded), is half-way through logging job N+1 and holds the claims
    of the jobs it fitted meanwhile; the survivor waits for them, naming it; SIGKILL: the survivor takes over exactly
    the rest. Round 2 (--force, both runs): the victim is SIGKILLed at a seeded count of new runs, wherever it is."""
    home = tmp_path / "home"
    Tracker(home)  # the store exists: this test is about the grid, not the setup
    n = random.Random(7).randrange(1, 14)
    victim = _start(child, GRID_ARGS, home, tmp_path / "victim", TEST_HOLD_LOGGING_UNTIL=str(tmp_path / "never"),
                    TEST_HOLD_LOGGING_AFTER=str(n))
    mine = lambda proc, status: [k for k, st, pid in _job_runs(home) if pid == str(proc.pid) and st == status]  # noqa: E731
    _poll(lambda: sorted(Counter(st for _, st, _ in _job_runs(home)).items()) == [("FINISHED", n), ("RUNNING", 1)], victim)
    assert (len(mine(victim, "FINISHED")), len(mine(victim, "RUNNING"))) == (n, 1)
    survivor = _start(child, GRID_ARGS, home, tmp_path / "survivor")
    _poll(lambda: "waiting" in (tmp_path / "survivor.err").read_text(), survivor)
    assert f"held by another run (pid {victim.pid} on " in (tmp_path / "survivor.err").read_text()
    victim.send_signal(signal.SIGKILL)
    assert _wait(victim, tmp_path / "victim")[0] == -signal.SIGKILL
    rc, out, err = _wait(survivor, tmp_path / "survivor")
    assert rc == 0, err[-800:]
    assert _report_line(out) == (len(GRID), len(GRID) - n, n, 0)
    assert "1 run(s) left unfinished by an interrupted process marked KILLED" in err
    assert _counts(_job_runs(home)) == Counter({key: 1 for key in GRID})  # nothing lost, nothing twice
    assert (len(mine(victim, "FINISHED")), len(mine(victim, "KILLED")), len(mine(survivor, "FINISHED"))) == (n, 1, len(GRID) - n)
    _assert_parents_aggregate_every_fold(home, pancan_type_mini)

    go, threshold = tmp_path / "go", random.Random(8).randrange(2, 12)
    procs = [_start(child, GRID_ARGS + ["--force"], home, tmp_path / f"forced{i}", TEST_START_WHEN=str(go)) for i in range(2)]
    before = len(_job_runs(home))
    go.touch()
    _poll(lambda: len(_job_runs(home)) - before >= threshold, procs[0])
    assert procs[0].poll() is None, "the victim ended before it could be killed"
    procs[0].send_signal(signal.SIGKILL)
    assert _wait(procs[0], tmp_path / "forced0")[0] == -signal.SIGKILL
    rc, out, err = _wait(procs[1], tmp_path / "forced1")
    assert rc == 0, err[-800:]
    rows = [r for r in _job_runs(home) if r[2] in {str(p.pid) for p in procs}]  # this round's runs
    assert _counts(rows) == Counter({key: 1 for key in GRID}), f"forced round, kill after {threshold} new runs"
    assert {st for _, st, _ in rows} <= {"FINISHED", "KILLED"}  # a run the victim left half-logged is closed
    assert all(pid == str(procs[0].pid) for _, st, pid in rows if st == "KILLED")
    _assert_parents_aggregate_every_fold(home, pancan_type_mini)
    again = run_grid([pancan_type_mini], ["logreg", "prior"], progress=False, home=home)
    assert (again.planned, again.ran, again.skipped, again.failed) == (len(GRID), 0, len(GRID), [])


def test_stale_run_cleanup_spares_a_live_process(tmp_path: Path, child: Path) -> None:
    """A holds a RUNNING job run (its logging is held); B starts on the same home: B must neither close A's run
    nor run A's jobs; it waits for them, naming A; once A is let go, every job has one FINISHED run."""
    home, release = tmp_path / "home", tmp_path / "release"
    args = ["run", "--task", "pancan-type", "--dataset", "tcga-mini", "--models", "prior", "--folds", "0,1",
            "--repeats", "0", "--no-controls", "--quiet"]
    a = _start(child, args, home, tmp_path / "a", TEST_HOLD_LOGGING_UNTIL=str(release))
    _poll(lambda: _job_runs(home), a)
    assert [r[1] for r in _job_runs(home)] == ["RUNNING"]
    b = _start(child, args, home, tmp_path / "b")
    _poll(lambda: "waiting" in (tmp_path / "b.err").read_text(), b)
    assert [r[1] for r in _job_runs(home)] == ["RUNNING"]  # B did not mark A's live run KILLED, nor run a job
    assert f"held by another run (pid {a.pid} on " in (tmp_path / "b.err").read_text()
    release.touch()
    (rc_a, out_a, err_a), (rc_b, out_b, err_b) = _wait(a, tmp_path / "a"), _wait(b, tmp_path / "b")
    assert rc_a == 0 and rc_b == 0, err_a[-500:] + err_b[-500:]
    assert _report_line(out_a) == (2, 2, 0, 0) and _report_line(out_b) == (2, 0, 2, 0)
    rows = _job_runs(home)
    assert sorted(rows) == [("pancan-type|prior|r0|f0|s0", "FINISHED", str(a.pid)),
                            ("pancan-type|prior|r0|f1|s0", "FINISHED", str(a.pid))]


def test_process_identity_tells_live_dead_and_reused_pids() -> None:
    import dataclasses
    import socket

    from oncobench.benchmark.claims import ProcessIdentity

    me = ProcessIdentity.current()
    assert (me.pid, me.host) == (os.getpid(), socket.gethostname()) and me.is_alive()
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not dataclasses.replace(me, pid=int(done.stdout)).is_alive()  # exited and reaped
    assert not dataclasses.replace(me, started=me.started - 3600).is_alive()  # this pid, but another process's
    assert dataclasses.replace(me, pid=int(done.stdout), host="another-host").is_alive()  # cannot tell: presumed live
    assert ProcessIdentity.from_tags(me.tags()) == me


def test_claims_are_exclusive_and_a_dead_holders_claim_is_taken_over(tmp_path: Path) -> None:
    import json

    from oncobench.benchmark.claims import JobClaims

    mine, dead, remote = ("a" * 64, "b" * 64, "c" * 64)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claims = JobClaims(tmp_path)
    for config_hash, pid, host in ((dead, int(gone.stdout), claims.me.host), (remote, 4242, "another-host")):
        (claims.dir / f"{config_hash}.json").write_text(json.dumps(
            {"job_key": "t|m|r0|f0|s0", "config_hash": config_hash, "pid": pid, "host": host, "process_started": 1.0}))
    assert claims.claim("t|m|r0|f0|s0", mine) is None and claims.claim("t|m|r0|f0|s0", mine) is None
    assert json.loads((claims.dir / f"{mine}.json").read_text())["pid"] == os.getpid()
    assert claims.claim("t|m|r0|f1|s0", dead) is None and claims.taken_over == 1  # its process exited
    holder = claims.claim("t|m|r0|f2|s0", remote)
    assert (holder.pid, holder.host) == (4242, "another-host") and claims.holder(remote) == holder
    claims.release_all()
    assert sorted(p.name for p in claims.dir.glob("*.json")) == [f"{remote}.json"]  # only its own claims dropped
    with pytest.raises(ValueError, match="expected a sha256 config hash, got 'x/../y'"):
        claims.claim("t|m|r0|f3|s0", "x/../y")
