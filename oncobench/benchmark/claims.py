"""Job claims: several ``oncobench run`` on one home split the grid instead of each running every job.

A process claims a job before fitting it: a small JSON file in ``<home>/claims/`` named by the job's config hash,
recording the job key and the process (pid, host, start time). Claims are taken and dropped under one file lock;
a claim whose process has died (or whose pid now belongs to another process) is taken over.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psutil
from filelock import FileLock

log = logging.getLogger(__name__)

# psutil derives a start time from the boot time, which some kernels report a second apart between reads;
# a reused pid belongs to a process started much later than that
START_TIME_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class ProcessIdentity:
    """A process that can be told apart from a later one given the same pid."""

    pid: int
    host: str
    started: float  # process start time, seconds since the epoch

    @classmethod
    def current(cls) -> "ProcessIdentity":
        return _current(os.getpid())

    def is_alive(self) -> bool:
        """True while the process runs; a process on another host cannot be checked and counts as alive."""
        if self.host != socket.gethostname():
            return True
        try:
            process = psutil.Process(self.pid)
            return (process.status() != psutil.STATUS_ZOMBIE
                    and abs(process.create_time() - self.started) <= START_TIME_TOLERANCE_S)
        except psutil.NoSuchProcess:
            return False

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"pid {self.pid} on {self.host}, started {since}"

    def tags(self) -> dict[str, str]:
        """As MLflow run tags."""
        return {"process.pid": str(self.pid), "process.host": self.host, "process.started": repr(self.started)}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> "ProcessIdentity | None":
        """The process that made a run, or None for a run made before these tags existed."""
        try:
            return cls(int(tags["process.pid"]), tags["process.host"], float(tags["process.started"]))
        except (KeyError, ValueError):
            return None


@lru_cache(maxsize=4)
def _current(pid: int) -> ProcessIdentity:  # keyed by pid: a forked child is another process
    return ProcessIdentity(pid, socket.gethostname(), psutil.Process(pid).create_time())


class JobClaims:
    """The claims of one home; this object holds this process's own claims until they are released."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "claims"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.me = ProcessIdentity.current()
        self._file_lock = FileLock(self.dir / ".lock", thread_local=False)
        self._mutex = threading.Lock()  # the file lock is per process; this one orders this process's threads
        self._mine: set[str] = set()
        self.taken_over = 0  # claims of dead processes taken over: their runs may be left RUNNING

    def _path(self, config_hash: str) -> Path:
        if len(config_hash) != 64 or not all(c in "0123456789abcdef" for c in config_hash):
            raise ValueError(f"job claim: expected a sha256 config hash, got {config_hash!r}")
        return self.dir / f"{config_hash}.json"

    def _holder(self, path: Path) -> tuple[ProcessIdentity, str] | None:
        try:
            record = json.loads(path.read_text())
            return ProcessIdentity(int(record["pid"]), record["host"], float(record["process_started"])), record["job_key"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:  # written atomically, so only tampering gets here
            log.warning("%s: unreadable job claim (%s); taking it over", path, exc)
            return None

    def claim(self, job_key: str, config_hash: str) -> ProcessIdentity | None:
        """Claim a job for this process; returns None once it is ours, or the live process that holds it."""
        path = self._path(config_hash)
        with self._mutex, self._file_lock:
            if config_hash in self._mine:
                return None
            held = self._holder(path)
            if held is not None and held[0] != self.me:
                holder, _ = held
                if holder.is_alive():
                    return holder
                log.info("job %s: taking over the claim of %s, which is no longer running", job_key, holder.describe())
                self.taken_over += 1
            record = {"job_key": job_key, "config_hash": config_hash, "pid": self.me.pid, "host": self.me.host,
                      "process_started": self.me.started,
                      "claimed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            tmp = path.with_name(f".{path.name}.{self.me.pid}.tmp")
            tmp.write_text(json.dumps(record, indent=1))
            os.replace(tmp, path)
            self._mine.add(config_hash)
            return None

    def holder(self, config_hash: str) -> ProcessIdentity | None:
        """The live process, other than this one, that holds a job's claim; None when it is free to claim."""
        with self._mutex, self._file_lock:
            held = self._holder(self._path(config_hash))
        if held is None or held[0] == self.me or not held[0].is_alive():
            return None
        return held[0]

    def release(self, config_hash: str) -> None:
        """Drop this process's claim of a job (it finished, failed, or was found finished by another process)."""
        path = self._path(config_hash)
        with self._mutex, self._file_lock:
            if config_hash not in self._mine:
                return
            self._mine.discard(config_hash)
            held = self._holder(path)
            if held is not None and held[0] == self.me:
                path.unlink()

    def release_all(self) -> None:
        for config_hash in sorted(self._mine):
            self.release(config_hash)

