"""Testing code that enqueues: jobs kept in memory, run when the test says, and looked at.

With pytest, load the plugin once (in ``conftest.py``) and ask for the fixture::

    pytest_plugins = ["dlq.testing"]

    def test_welcome_mail(dlq_queue):
        signup("ada@example.com")                     # calls send_welcome.enqueue(...)
        dlq.testing.assert_enqueued(send_welcome, "ada@example.com")
        outcomes = dlq.testing.run_queued("emails")   # runs them, as a worker would
        assert all(isinstance(o, dlq.Succeeded) for o in outcomes)

``dlq_queue`` points every queue at an :class:`~dlq.backends.memory.InMemoryBackend` for
the test (through ``override_settings``, so anything the test's settings said is back
afterwards) and yields it. Without pytest, :func:`in_memory_queues` does the same as a
context manager. Jobs go through their JSON form and the same execution path a worker
uses (middleware, ``atomic``), so a test sees what production would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.test.utils import override_settings

from dlq.backends.memory import InMemoryBackend
from dlq.conf import get_runtime
from dlq.core.settings import PREFIX
from dlq.core.task import Task
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome
from dlq.exceptions import ConfigurationError, Problem

__all__ = [
    "assert_enqueued",
    "assert_not_enqueued",
    "backend",
    "dlq_queue",
    "enqueued",
    "in_memory_queues",
    "run_queued",
]

_MEMORY = f"{InMemoryBackend.__module__}.{InMemoryBackend.__qualname__}"


@contextmanager
def in_memory_queues() -> Iterator[InMemoryBackend]:
    """Every queue on one fresh in-memory backend until the block ends."""
    with override_settings(**{f"{PREFIX}BACKEND": _MEMORY, f"{PREFIX}BACKEND_OVERRIDES": {}}):
        yield backend()


try:
    import pytest
except ImportError:  # the fixture is for pytest users; the rest works without it
    pass
else:

    @pytest.fixture
    def dlq_queue() -> Iterator[InMemoryBackend]:
        """pytest: every queue on a fresh in-memory backend for this test."""
        with in_memory_queues() as memory:
            yield memory


def backend(queue: str = "default") -> InMemoryBackend:
    """The in-memory backend ``queue`` uses; a ConfigurationError if it uses another."""
    found = get_runtime().backend_for(queue)
    if not isinstance(found, InMemoryBackend):
        raise ConfigurationError(
            [
                Problem(
                    f"{PREFIX}BACKEND",
                    f"queue {queue!r} uses {type(found).__qualname__}, not the in-memory backend",
                    expected=f"{_MEMORY!r} (use the dlq_queue fixture or in_memory_queues())",
                )
            ]
        )
    return found


def run_queued(queue: str | None = None, *, delayed: bool = False) -> list[Outcome]:
    """Run what waits in ``queue`` (or in every queue, in name order), as a worker would.

    Jobs enqueued by the jobs that run are run too, before this returns. ``delayed``: run
    the held jobs too (delayed ones, and retries, until the last attempt) at once, as if
    their time had come.
    """
    memory = backend(queue or "default")
    outcomes: list[Outcome] = []
    while True:
        if delayed:
            for name in [queue] if queue is not None else memory.held_queues():
                memory.hurry(name)
        queues = [queue] if queue is not None else memory.queues()
        ran = [outcome for name in queues for outcome in memory.run_queued(name)]
        if not ran:
            return outcomes
        outcomes += ran


def enqueued(
    task: Task[..., Any] | Callable[..., object] | None = None, *, queue: str | None = None
) -> list[Job]:
    """The jobs waiting (in ``queue``, or in every queue), optionally only ``task``'s."""
    memory = backend(queue or "default")
    queues = [queue] if queue is not None else memory.queues()
    jobs = [job for name in queues for job in memory.waiting(name)]
    if task is None:
        return jobs
    path = _path(task)
    return [job for job in jobs if job.path == path]


def assert_enqueued(
    task: Task[..., Any], *args: object, queue: str | None = None, **kwargs: object
) -> Job:
    """The one waiting job of ``task`` called with exactly these arguments (as encoded)."""
    wanted_args, wanted_kwargs = task.codec.encode(args, kwargs)
    candidates = enqueued(task, queue=queue)
    matches = [
        job
        for job in candidates
        if list(job.args) == list(wanted_args) and dict(job.kwargs) == dict(wanted_kwargs)
    ]
    if len(matches) != 1:
        seen = "\n".join(f"  {job.path}{job.args!r} {dict(job.kwargs)!r}" for job in candidates)
        raise AssertionError(
            f"expected one waiting job of {task.path} with args {wanted_args!r} and kwargs"
            f" {dict(wanted_kwargs)!r}, found {len(matches)}; its waiting jobs:\n"
            + (seen or "  (none)")
        )
    return matches[0]


def assert_not_enqueued(task: Task[..., Any], *, queue: str | None = None) -> None:
    found = enqueued(task, queue=queue)
    if found:
        raise AssertionError(f"expected no waiting job of {task.path}, found {len(found)}")


def _path(task: Task[..., Any] | Callable[..., object]) -> str:
    if isinstance(task, Task):
        return task.path
    return f"{task.__module__}.{getattr(task, '__qualname__', getattr(task, '__name__', ''))}"
