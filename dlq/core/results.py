"""Reading a job's fate: :class:`JobHandle` (what ``fn.enqueue(...)`` returns),
``dlq.get_job(id)``, and the typed return value.

A return value is kept as JSON. Annotated with a type pydantic understands (a model, a
dataclass, ``datetime``, ``list[Decimal]``...), it is encoded by that type in the worker
and rebuilt as that type by :meth:`JobHandle.wait`, as arguments are.
"""

from __future__ import annotations

import json
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import TypeAdapter

from dlq.core.protocols import Backend, SupportsResults
from dlq.core.runtime import current_runtime
from dlq.domain.job_record import JobRecord, JobStatus
from dlq.exceptions import DLQError, JobWaitTimeout, ReturnValueError

if TYPE_CHECKING:
    from dlq.core.task import Task

__all__ = ["JobFailedError", "JobHandle", "ResultCodec", "get_job", "record_from"]

R = TypeVar("R")


class JobFailedError(DLQError):
    """The job a handle waited for ended without a result; ``record`` says how."""

    def __init__(self, record: JobRecord) -> None:
        self.record = record
        last = record.errors[-1] if record.errors else None
        detail = f": {last.exception_class}: {last.message}" if last else ""
        super().__init__(f"job {record.id} ({record.path}) {record.status}{detail}")


class ResultCodec(Generic[R]):
    """The return value of one task function, to JSON and back, by its annotation."""

    def __init__(self, fn: Callable[..., R], task_path: str) -> None:
        self._fn = fn
        self._path = task_path

    @cached_property
    def _adapter(self) -> TypeAdapter[Any] | None:
        hint = typing.get_type_hints(self._fn).get("return", Any)
        if hint in (Any, object, type(None)):
            return None
        return TypeAdapter(hint)

    def encode(self, value: object) -> object:
        """``value`` as JSON; :class:`ReturnValueError` naming what is wrong otherwise."""
        try:
            adapter = self._adapter
            encoded = value if adapter is None else adapter.dump_python(value, mode="json")
            json.dumps(encoded, allow_nan=False)
        except Exception as exc:
            raise ReturnValueError(
                f"{self._path} returned {type(value).__name__} {value!r:.80}, which cannot be"
                f" kept as its result: {exc} (return JSON, or annotate the return type with"
                " one pydantic can encode)"
            ) from None
        return encoded

    def decode(self, stored: object) -> R:
        adapter = self._adapter
        return cast(R, stored if adapter is None else adapter.validate_python(stored))


@dataclass(frozen=True)
class JobHandle(Generic[R]):
    """One enqueued job: its ``id`` and ``queue`` always; its record and result when its
    task keeps results (``store_result``)."""

    id: str
    queue: str
    task: Task[..., R] | None = None

    def refresh(self) -> JobRecord | None:
        """The job's record as the backend has it now; None when none is kept (yet)."""
        return get_job(self.id, self.queue)

    @property
    def status(self) -> JobStatus | None:
        record = self.refresh()
        return None if record is None else record.status

    def wait(self, timeout: float, poll_s: float = 0.05) -> R:
        """The job's return value once it has succeeded, waiting up to ``timeout``
        seconds; :class:`JobFailedError` when it failed or is dead,
        :class:`~dlq.exceptions.JobWaitTimeout` when it has not finished in time."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.refresh()
            if record is not None and record.status.finished:
                return self._result_of(record)
            left = deadline - time.monotonic()
            if left <= 0:
                status = "no record" if record is None else f"status {record.status}"
                raise JobWaitTimeout(f"job {self.id} did not finish within {timeout:g}s ({status})")
            time.sleep(min(poll_s, left))

    def result(self) -> R:
        """The return value of a job that has succeeded (no waiting)."""
        record = self.refresh()
        if record is None or not record.status.finished:
            raise JobWaitTimeout(f"job {self.id} has not finished")
        return self._result_of(record)

    def _result_of(self, record: JobRecord) -> R:
        if record.status is not JobStatus.SUCCEEDED:
            raise JobFailedError(record)
        if self.task is None:
            return cast(R, record.return_value)
        return self.task.result_codec.decode(record.return_value)


def get_job(job_id: str, queue: str | None = None) -> JobRecord | None:
    """The record of job ``job_id``; None when no backend keeps one. Give ``queue`` to
    ask only that queue's backend; without it, every configured backend that keeps
    results is asked."""
    runtime = current_runtime()
    if queue is not None:
        backend = runtime.backend_for(queue)
        return backend.get_record(job_id) if isinstance(backend, SupportsResults) else None
    settings = runtime.settings
    queues = {"default", *settings.WORKERS, *settings.BACKEND_OVERRIDES}
    return record_from((runtime.backend_for(name) for name in sorted(queues)), job_id)


def record_from(backends: Iterable[Backend], job_id: str) -> JobRecord | None:
    """The record of ``job_id`` in the first of ``backends`` that has one, each store asked
    once however many queues share it; None when none has."""
    seen: set[int] = set()
    for backend in backends:
        if id(backend) in seen or not isinstance(backend, SupportsResults):
            continue
        seen.add(id(backend))
        record = backend.get_record(job_id)
        if record is not None:
            return record
    return None
