"""What the queue-command tests share: running a command, making jobs, the backends.

Each command has a module of its own (``test_command_*.py``): error paths and output
details against the in-memory backend, main paths against every backend in
``tests/backends.py`` (``any_backend``), as the commands find it through the runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from dlq.backends.memory import InMemoryBackend
from dlq.conf import DjangoRuntime
from dlq.core.protocols import Backend
from dlq.core.settings import PREFIX
from dlq.domain.envelope import Job, JSONValue
from dlq.domain.outcome import Rejected
from tests.backends import KINDS

__all__ = [
    "ADD",
    "SYNCHRONOUS",
    "WORKERS",
    "Output",
    "TTYStringIO",
    "any_backend",
    "bury",
    "fill",
    "make_job",
    "memory",
    "redis_backend",
    "run",
    "synchronous",
]

ADD = "tests.testapp.tasks.add"
SYNCHRONOUS = "dlq.backends.synchronous.SynchronousBackend"
WORKERS = {"default": 1, "emails": 2}


@dataclass(frozen=True)
class Output:
    stdout: str
    stderr: str


class TTYStringIO(StringIO):
    def isatty(self) -> bool:
        return True


def run(command: str, *args: str, stdin: str | None = None, **options: object) -> Output:
    out, err = StringIO(), StringIO()
    if stdin is not None:
        options["stdin"] = StringIO(stdin)
    call_command(command, *args, stdout=out, stderr=err, **options)
    return Output(out.getvalue(), err.getvalue())


def make_job(*args: JSONValue, path: str = ADD) -> Job:
    return Job.create(path, args, {}, now=datetime.now(UTC))


def fill(backend: Backend, queue: str, *jobs: Job) -> list[Job]:
    backend.bulk_enqueue(jobs, queue)
    return list(jobs)


def bury(backend: Backend, queue: str, reason: str, worker: int = 1) -> Job:
    """Make the next job of ``queue`` a dead letter, the way a worker would."""
    job = backend.dequeue(queue, worker, 0.1)
    assert job is not None
    backend.acknowledge(queue, worker, job, Rejected(reason))
    return job


@pytest.fixture
def memory(memory: InMemoryBackend, runtime: DjangoRuntime) -> Iterator[InMemoryBackend]:
    """conftest's ``memory``, as every command will find it, with queues default and emails.

    The settings override builds a fresh backend, so the one to fill is fetched again.
    """
    with override_settings(LIGHTWEIGHT_QUEUE_WORKERS=WORKERS):
        backend = runtime.backend_for("default")
        assert isinstance(backend, InMemoryBackend)
        yield backend


@pytest.fixture
def synchronous() -> Iterator[None]:
    """A backend with none of the capabilities."""
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND=SYNCHRONOUS, LIGHTWEIGHT_QUEUE_WORKERS=WORKERS
    ):
        yield


def _configured(
    name: str, request: pytest.FixtureRequest, runtime: DjangoRuntime
) -> Iterator[Backend]:
    with KINDS[name].settings(request) as values:
        overrides = {PREFIX + key: value for key, value in values.items()}
        with override_settings(**overrides, LIGHTWEIGHT_QUEUE_WORKERS=WORKERS):
            backend = runtime.backend_for("default")
            try:
                yield backend
            finally:
                close = getattr(backend, "close", None)
                if callable(close):
                    close()


@pytest.fixture(params=sorted(KINDS))
def any_backend(request: pytest.FixtureRequest, runtime: DjangoRuntime) -> Iterator[Backend]:
    """Each backend kind in turn, as the commands will find it."""
    yield from _configured(request.param, request, runtime)


@pytest.fixture(params=["redis", "reliable_redis"])
def redis_backend(request: pytest.FixtureRequest, runtime: DjangoRuntime) -> Iterator[Backend]:
    yield from _configured(request.param, request, runtime)
