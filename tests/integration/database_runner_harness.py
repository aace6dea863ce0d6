"""Real ``queue_runner`` processes on the database backend, for test_database_runner.py.

A :class:`~tests.integration.runner_harness.ProcessLab` whose runners use one of the run's
databases (:mod:`tests.integration.database_fixtures`) instead of Redis.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dlq.backends.database import DatabaseBackend
from tests.integration.database_fixtures import TestDatabase
from tests.integration.runner_harness import ProcessLab

__all__ = ["DbLab", "db_lab"]


@dataclass
class DbLab(ProcessLab):
    """Runners on one of the run's databases."""

    database: TestDatabase = field(kw_only=True)
    #: What the runners' settings say DATABASES[alias] is (a proxy's port, say).
    config: dict[str, Any] = field(default_factory=dict, kw_only=True)
    _backends: list[DatabaseBackend] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.config = self.config or dict(self.database.config)

    def settings(self, *, workers: Mapping[str, int] | None = None, **extra: object) -> str:
        """Write a settings module for the runner; returns its name."""
        alias = self.database.alias
        values: dict[str, object] = {
            "LIGHTWEIGHT_QUEUE_BACKEND": "dlq.backends.database.DatabaseBackend",
            "LIGHTWEIGHT_QUEUE_DATABASE_ALIAS": alias,
            "LIGHTWEIGHT_QUEUE_WORKERS": dict(workers or {"default": 1}),
        }
        values.update({f"LIGHTWEIGHT_QUEUE_{name}": value for name, value in extra.items()})
        return self._write_settings(
            values, f"DATABASES = {{**DATABASES, {alias!r}: {self.config!r}}}  # noqa: F405"
        )

    def backend(self, max_deliveries: int = 5) -> DatabaseBackend:
        backend = self.database.backend(MAX_DELIVERIES=max_deliveries)
        self._backends.append(backend)
        return backend

    def close(self) -> None:
        try:
            super().close()
        finally:
            for backend in self._backends:
                backend.close()


def db_lab(tmp_path: Path, database: TestDatabase) -> Iterator[DbLab]:
    """The body of a ``lab`` fixture over the ``database`` fixture."""
    if sys.platform != "linux":
        pytest.skip("the process tests find processes through /proc")
    lab = DbLab(tmp_path, database=database)
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
