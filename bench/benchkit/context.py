"""What a scenario gets: the system, its settings, a Redis client and bounded helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import redis

from benchkit.config import QUEUE, WORKERS_ENV, BenchConfig
from benchkit.procs import Spawned, running
from benchkit.systems import System

__all__ = ["Context", "ScenarioError"]


class ScenarioError(RuntimeError):
    """A scenario could not produce a trustworthy figure; the message says why."""


@dataclass
class Context:
    system: System
    config: BenchConfig
    client: redis.Redis
    tasks: ModuleType | None  # benchapp.tasks of the system (None for internal scenarios)
    workdir: Path
    jobs: int
    samples: int
    time_limit_s: float

    # -- Redis ----------------------------------------------------------------------------

    def clean(self) -> int:
        """Delete every key under our prefix in our database, and nothing else."""
        if len(self.config.prefix) < 4:
            raise ScenarioError(
                f"refusing to delete keys under a short prefix {self.config.prefix!r}"
            )
        deleted = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=self.config.key_pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += self.client.delete(*batch)
                batch = []
        if batch:
            deleted += self.client.delete(*batch)
        self.config.count_file.unlink(missing_ok=True)
        return deleted

    def queued_jobs(self) -> int:
        """Jobs held by the system under our prefix, whatever the key layout.

        Sums the lengths of the lists and streams that are not the harness's own keys;
        this counts a reliable backend's processing lists too. Hashes and sorted sets are
        left out: a backend may keep bookkeeping there that is not a queued job.
        """
        own = f"{self.config.prefix}:bench:"
        total = 0
        for key in self.client.scan_iter(match=self.config.key_pattern, count=1000):
            if key.decode(errors="replace").startswith(own):
                continue
            kind = self.client.type(key).decode()
            if kind == "list":
                total += self.client.llen(key)
            elif kind == "stream":
                total += self.client.xlen(key)
        return total

    def counter(self) -> int:
        try:
            return self.config.count_file.stat().st_size
        except FileNotFoundError:
            return 0

    def pop_stamp(self, key: str, timeout_s: float) -> tuple[str, float] | None:
        """BLPOP one "name time" entry written by a task; None on timeout."""
        item = self.client.blpop([key], timeout=timeout_s)
        if item is None:
            return None
        name, stamp = item[1].decode().split(" ", 1)
        return name, float(stamp)

    # -- processes ------------------------------------------------------------------------

    @contextmanager
    def worker(self, number: int = 1) -> Iterator[Spawned]:
        argv = self.system.worker_argv(QUEUE, number)
        with running(self.system, self.config, argv, self.log_path("worker")) as spawned:
            yield spawned

    @contextmanager
    def runner(
        self, *extra: str, workers: int = 1, env: dict[str, str] | None = None
    ) -> Iterator[Spawned]:
        """`manage.py queue_runner *extra` with LIGHTWEIGHT_QUEUE_WORKERS = {QUEUE: workers}
        (or the system's own worker pool), with `env` added to its environment."""
        argv = self.system.runner_argv(*extra)
        env = {**self.system.runner_env, **(env or {}), WORKERS_ENV: str(workers)}
        with running(self.system, self.config, argv, self.log_path("runner"), env) as spawned:
            yield spawned

    def log_path(self, what: str) -> Path:
        return self.workdir / f"{self.system.name}-{self.config.backend}-{what}.log"

    def deadline(self, limit_s: float | None = None) -> float:
        return time.monotonic() + (self.time_limit_s if limit_s is None else limit_s)

    def wait_for_stamp(
        self, key: str, name: str, deadline: float, process: Spawned | None = None
    ) -> float:
        """Wait for the task stamp called `name`; fail clearly on time-out or a dead process."""
        while time.monotonic() < deadline:
            got = self.pop_stamp(key, timeout_s=min(0.5, max(0.01, deadline - time.monotonic())))
            if got is None:
                if process is not None and not process.alive():
                    raise ScenarioError(
                        f"{process.argv[2:]} exited with {process.proc.returncode} before "
                        f"{name!r} ran; its output ends:\n{process.log_tail()}"
                    )
                continue
            if got[0] == name:
                return got[1]
        tail = process.log_tail() if process is not None else ""
        raise ScenarioError(f"timed out waiting for {name!r}; process output ends:\n{tail}")
