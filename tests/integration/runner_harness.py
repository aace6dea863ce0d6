"""Real ``queue_runner`` processes against a real Redis, for tests/integration/test_runner_*.

Each test gets a :class:`Lab`: a unique ``REDIS_PREFIX`` (keys are deleted by prefix
afterwards, never with FLUSHALL/FLUSHDB), a settings module of its own in ``tmp_path``,
and every process it starts is SIGKILLed at teardown, found by a marker file they all
hold open, so that even a worker orphaned by a bug is found. Redis (as
:mod:`tests.services` finds it) is required under ``CI=true``; the tests skip without it
otherwise.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
import redis

from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.protocols import Backend
from dlq.core.settings import build_settings
from dlq.domain.envelope import Job, JSONValue
from tests.integration.redis_fixtures import delete_prefix
from tests.services import REDIS_URL, require_redis

__all__ = [
    "BACKENDS",
    "Lab",
    "ProcessLab",
    "RunnerProcess",
    "free_ports",
    "lab_fixture",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[2]
BACKENDS = {
    "at-most-once": "dlq.backends.redis.RedisBackend",
    "reliable": "dlq.backends.reliable_redis.ReliableRedisBackend",
}
Delivery = Literal["at-most-once", "reliable"]
T = TypeVar("T")

# Generous, for a loaded two-core machine: none of these is a promise being measured.
START_TIMEOUT_S = 30.0
WAIT_TIMEOUT_S = 30.0


def wait_until(
    check: Callable[[], T | None], timeout_s: float = WAIT_TIMEOUT_S, what: str = "it"
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def free_ports(count: int) -> int:
    """A port P such that P .. P+count-1 are free now (as far as a bind can tell)."""
    for _ in range(50):
        with closing(socket.socket()) as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            sockets = []
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise RuntimeError(f"no {count} consecutive free ports found")


@dataclass
class RunnerProcess:
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout_s: float = WAIT_TIMEOUT_S) -> re.Match[str]:
        def check() -> re.Match[str] | None:
            if self.popen.poll() is not None and not re.search(pattern, self.log()):
                pytest.fail(
                    f"runner exited ({self.popen.returncode}) before logging {pattern!r}:\n"
                    + self.log()
                )
            return re.search(pattern, self.log())

        return wait_until(check, timeout_s, f"{pattern!r} in the log")

    def worker_pids(self) -> dict[str, int]:
        """The latest pid of each worker slot the runner started, from its log."""
        return {
            slot: int(pid)
            for slot, pid in re.findall(
                r"(?:Started|Restarted) worker (\S+) \(pid (\d+)\)", self.log()
            )
        }

    def send(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout_s: float = WAIT_TIMEOUT_S) -> int:
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the runner did not exit within {timeout_s}s:\n{self.log()}")


@dataclass
class ProcessLab:
    """What every process lab shares: a directory, the processes it started, their records.

    Every process the lab starts holds ``lab.marker`` open: inherited through fork(), it
    marks the runners' workers (and a daemon's) for :meth:`lab_pids`. An environment
    variable would not do: setproctitle overwrites /proc/<pid>/environ. The test tasks
    note what they did in ``<records_dir>/<name>.jsonl`` (``DLQ_TEST_RECORDS``).
    """

    tmp_path: Path
    processes: list[RunnerProcess] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.records_dir.mkdir(exist_ok=True)

    @property
    def records_dir(self) -> Path:
        return self.tmp_path / "records"

    @property
    def _marker(self) -> Path:
        return self.tmp_path / "lab.marker"

    def _write_settings(self, values: Mapping[str, object], *lines: str) -> str:
        """A settings module over tests.settings with ``values`` (full names); its name."""
        name = f"lab_settings_{uuid.uuid4().hex[:8]}"
        text = ["from tests.settings import *  # noqa: F403", f"LOGGING = {_LOGGING!r}", *lines]
        text += [f"{key} = {value!r}" for key, value in values.items()]
        (self.tmp_path / f"{name}.py").write_text("\n".join(text) + "\n")
        return name

    def _env(self, settings: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": settings,
            "DLQ_TEST_RECORDS": str(self.records_dir),
        }

    def start(self, settings: str, *args: str, command: str = "queue_runner") -> RunnerProcess:
        return self.spawn(settings, command, *args)

    def spawn(self, settings: str, *argv: str) -> RunnerProcess:
        """``python -m django ARGV...`` in the lab, logging to a file of its own."""
        log_path = self.tmp_path / f"{argv[0]}-{len(self.processes) + 1}.log"
        marker = os.open(self._marker, os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            with log_path.open("wb") as log:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "django", *argv],
                    cwd=REPO,
                    env=self._env(settings),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(marker,),
                )
        finally:
            os.close(marker)
        process = RunnerProcess(popen, log_path)
        self.processes.append(process)
        return process

    def run_command(self, settings: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=REPO,
            env=self._env(settings),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S * 2,
            check=False,
        )

    # -- the queue, seen from the test -----------------------------------------------

    def backend(self, max_deliveries: int = 5) -> Backend:
        raise NotImplementedError

    def enqueue(
        self,
        path: str,
        *args: JSONValue,
        queue: str = "default",
        timeout: int | None = None,
        sigkill_on_stop: bool = False,
    ) -> None:
        job = Job.create(
            f"tests.testapp.tasks.{path}",
            args,
            {},
            now=datetime.now(UTC),
            timeout=timeout,
            sigkill_on_stop=sigkill_on_stop,
        )
        self.backend().enqueue(job, queue)

    def records(self, name: str) -> list[dict[str, Any]]:
        """What the test tasks noted under ``name`` (see tests/testapp/tasks.py)."""
        path = self.records_dir / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def tokens(self, name: str) -> list[str]:
        return [str(record["values"][0]) for record in self.records(name)]

    # -- teardown --------------------------------------------------------------------

    def lab_pids(self) -> list[int]:
        """Live processes (not zombies) started by this lab, the runners' children included."""
        marker = str(self._marker)
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state in {"Z", "X"}:
                    continue
                targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
            except OSError:
                continue  # gone meanwhile, or not ours to read
            if marker in targets:
                found.append(int(entry.name))
        return found

    def close(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.kill()
        for pid in self.lab_pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            with suppress(subprocess.TimeoutExpired):
                process.popen.wait(10)


@dataclass
class Lab(ProcessLab):
    """Runners on the shared Redis, under a key prefix of the lab's own."""

    client: redis.Redis = field(default_factory=require_redis)
    prefix: str = field(default_factory=lambda: f"dlqtest-{uuid.uuid4().hex[:12]}")

    def settings(
        self,
        *,
        delivery: Delivery = "reliable",
        workers: Mapping[str, int] | None = None,
        django: Mapping[str, object] | None = None,
        **extra: object,
    ) -> str:
        """Write a settings module for the runner; returns its name.

        ``extra`` are ``LIGHTWEIGHT_QUEUE_*`` settings without the prefix; ``django``
        other Django settings (``DATABASES``, say), written as they are."""
        values: dict[str, object] = {
            "LIGHTWEIGHT_QUEUE_BACKEND": BACKENDS[delivery],
            "LIGHTWEIGHT_QUEUE_REDIS_URL": REDIS_URL,
            "LIGHTWEIGHT_QUEUE_REDIS_PREFIX": self.prefix,
            "LIGHTWEIGHT_QUEUE_WORKERS": dict(workers or {"default": 1}),
        }
        values.update({f"LIGHTWEIGHT_QUEUE_{name}": value for name, value in extra.items()})
        values.update(django or {})
        return self._write_settings(values)

    def backend(self, max_deliveries: int = 5) -> ReliableRedisBackend:
        settings = build_settings(
            {
                "LIGHTWEIGHT_QUEUE_REDIS_URL": REDIS_URL,
                "LIGHTWEIGHT_QUEUE_REDIS_PREFIX": self.prefix,
                "LIGHTWEIGHT_QUEUE_MAX_DELIVERIES": max_deliveries,
            }
        )
        return ReliableRedisBackend(settings)

    def close(self) -> None:
        try:
            super().close()
        finally:
            delete_prefix(self.client, self.prefix)
            self.client.close()


_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"dlq": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}


def lab_fixture(tmp_path: Path) -> Iterator[Lab]:
    """The body of each process-test module's ``lab`` fixture."""
    if sys.platform != "linux":
        pytest.skip("the process tests find processes through /proc")
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()
