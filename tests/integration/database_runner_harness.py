"""Real ``queue_runner`` processes on the database backend, for test_database_runner.py.

Like :mod:`tests.integration.runner_harness`, without Redis: the runners use one of the
run's databases (:mod:`tests.integration.database_fixtures`), and the test tasks note
what they did in files under the lab's directory (``DLQ_TEST_RECORDS``). Every process
a lab starts holds a marker file open and is SIGKILLed at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dlq.backends.database import DatabaseBackend
from dlq.domain.envelope import Job, JSONValue
from tests.integration.database_fixtures import TestDatabase
from tests.integration.runner_harness import _LOGGING, REPO, START_TIMEOUT_S, RunnerProcess

__all__ = ["DbLab", "db_lab"]


@dataclass
class DbLab:
    tmp_path: Path
    database: TestDatabase
    #: What the runners' settings say DATABASES[alias] is (a proxy's port, say).
    config: dict[str, Any] = field(default_factory=dict)
    processes: list[RunnerProcess] = field(default_factory=list)
    _backends: list[DatabaseBackend] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = self.config or dict(self.database.config)
        self.records_dir.mkdir(exist_ok=True)

    @property
    def records_dir(self) -> Path:
        return self.tmp_path / "records"

    def settings(self, *, workers: Mapping[str, int] | None = None, **extra: object) -> str:
        """Write a settings module for the runner; returns its name."""
        alias = self.database.alias
        values: dict[str, object] = {
            "LIGHTWEIGHT_QUEUE_BACKEND": "dlq.backends.database.DatabaseBackend",
            "LIGHTWEIGHT_QUEUE_DATABASE_ALIAS": alias,
            "LIGHTWEIGHT_QUEUE_WORKERS": dict(workers or {"default": 1}),
        }
        values.update({f"LIGHTWEIGHT_QUEUE_{name}": value for name, value in extra.items()})
        name = f"db_runner_settings_{uuid.uuid4().hex[:8]}"
        lines = [
            "from tests.settings import *  # noqa: F403",
            f"DATABASES = {{**DATABASES, {alias!r}: {self.config!r}}}  # noqa: F405",
            f"LOGGING = {_LOGGING!r}",
        ]
        lines += [f"{key} = {value!r}" for key, value in values.items()]
        (self.tmp_path / f"{name}.py").write_text("\n".join(lines) + "\n")
        return name

    def _env(self, settings: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.tmp_path), str(REPO)]),
            "DJANGO_SETTINGS_MODULE": settings,
            "DLQ_TEST_RECORDS": str(self.records_dir),
        }

    @property
    def _marker(self) -> Path:
        return self.tmp_path / "lab.marker"

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

    def backend(self, max_deliveries: int = 5) -> DatabaseBackend:
        backend = self.database.backend(MAX_DELIVERIES=max_deliveries)
        self._backends.append(backend)
        return backend

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
        path = self.records_dir / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def tokens(self, name: str) -> list[str]:
        return [str(record["values"][0]) for record in self.records(name)]

    # -- teardown --------------------------------------------------------------------

    def lab_pids(self) -> list[int]:
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
                continue
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
        for backend in self._backends:
            backend.close()


def db_lab(tmp_path: Path, database: TestDatabase) -> Iterator[DbLab]:
    """The body of a ``lab`` fixture over the ``database`` fixture."""
    if sys.platform != "linux":
        pytest.skip("the process tests find processes through /proc")
    lab = DbLab(tmp_path, database)
    try:
        yield lab
    finally:
        lab.close()


def run_worker(queue: str, number: int, sleep_max_s: float, seed: int) -> None:
    """A bare worker for slot ``queue``.``number`` (no runner): takes jobs of
    ``tests.testapp.tasks.add`` and notes each delivery's start and end, with
    ``time.monotonic()`` (one clock for every process of the machine), in
    ``<DLQ_TEST_RECORDS>/deliveries.jsonl``. Runs until killed."""
    import random
    import time

    from dlq.conf import get_runtime
    from dlq.domain.outcome import Succeeded

    rng = random.Random(seed)
    backend = get_runtime().backend_for(queue)
    path = Path(os.environ["DLQ_TEST_RECORDS"]) / "deliveries.jsonl"

    def note(**values: object) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (json.dumps(values) + "\n").encode())
        finally:
            os.close(fd)

    while True:
        job = backend.dequeue(queue, number, 1.0)
        if job is None:
            continue
        note(job=job.args[0], pid=os.getpid(), attempt=job.attempts, start=time.monotonic())
        time.sleep(rng.uniform(0, sleep_max_s))
        note(job=job.args[0], pid=os.getpid(), end=time.monotonic())
        backend.acknowledge(queue, number, job, Succeeded(None, 0.0))
