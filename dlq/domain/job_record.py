"""What a backend keeps about a job whose task asked for its result (``store_result``).

A :class:`JobRecord` is written when the job is queued, when each attempt starts and when
it ends; ``dlq.get_job(id)`` and ``manage.py queue_job ID`` read it back. It is kept as
JSON, the same bytes on every backend.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from dlq.domain.envelope import Job, JSONValue
from dlq.domain.outcome import (
    Failed,
    GaveUp,
    Outcome,
    Rejected,
    Retrying,
    Succeeded,
    TimedOut,
    class_path,
)
from dlq.exceptions import PayloadError

__all__ = ["JobError", "JobRecord", "JobStatus", "decode_record"]


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    DELAYED = "delayed"  #: waiting for its ``run_after`` (a delayed job, or a retry)
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  #: raised, and no retry was allowed
    DEAD = "dead"  #: kept as a dead letter (retries used up, timed out, crashed too often)

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD})


@dataclasses.dataclass(frozen=True, slots=True)
class JobError:
    """One attempt's failure: the exception's ``module.Class``, message and traceback."""

    exception_class: str
    message: str
    traceback: str

    @classmethod
    def of(cls, exception: BaseException) -> JobError:
        trace = "".join(traceback.format_exception(exception)).rstrip()
        return cls(class_path(exception), str(exception), trace)


@dataclasses.dataclass(frozen=True, slots=True)
class JobRecord:
    """A job's status and history. ``attempt`` is the number (1-based) of the latest run
    started, 0 before the first; ``errors`` holds one entry per failed attempt, oldest
    first; ``worker_ids`` names the worker of each attempt started."""

    id: str
    path: str
    queue: str
    status: JobStatus
    args: tuple[JSONValue, ...] = ()
    kwargs: Mapping[str, JSONValue] = dataclasses.field(default_factory=dict)
    enqueued_at: datetime | None = None
    run_after: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int = 0
    return_value: JSONValue = None
    errors: tuple[JobError, ...] = ()
    worker_ids: tuple[str, ...] = ()

    @classmethod
    def queued(cls, job: Job, queue: str) -> JobRecord:
        """The record of ``job`` as it is enqueued (or queued again by a retry)."""
        return cls(
            id=job.id,
            path=job.path,
            queue=queue,
            status=JobStatus.QUEUED if job.run_after is None else JobStatus.DELAYED,
            args=job.args,
            kwargs=job.kwargs,
            enqueued_at=job.created_time,
            run_after=job.run_after,
        )

    def started(self, job: Job, worker_id: str, now: datetime) -> JobRecord:
        """This record as attempt ``job.retry + 1`` starts in ``worker_id``."""
        return self.replace(
            status=JobStatus.RUNNING,
            started_at=now,
            finished_at=None,
            attempt=job.retry + 1,
            worker_ids=(*self.worker_ids, worker_id),
        )

    def finished(self, outcome: Outcome, now: datetime) -> JobRecord:
        """This record after the run that ended with ``outcome``."""
        match outcome:
            case Succeeded(stored=stored):
                return self.replace(
                    status=JobStatus.SUCCEEDED,
                    finished_at=now,
                    return_value=cast(JSONValue, stored),
                )
            case Retrying(exception=exc, run_after=run_after):
                return self.replace(
                    status=JobStatus.DELAYED,
                    run_after=run_after,
                    errors=(*self.errors, JobError.of(exc)),
                )
            case Failed(exception=exc):
                return self._ended(JobStatus.FAILED, now, JobError.of(exc))
            case GaveUp(exception=exc):
                return self._ended(JobStatus.DEAD, now, JobError.of(exc))
            case Rejected(reason=reason):
                return self._ended(JobStatus.DEAD, now, JobError("dlq.Rejected", reason, ""))
            case TimedOut(timeout_s=timeout_s):
                error = JobError("dlq.TimedOut", f"killed after its timeout of {timeout_s:g}s", "")
                return self._ended(JobStatus.FAILED, now, error)

    def _ended(self, status: JobStatus, now: datetime, error: JobError) -> JobRecord:
        return self.replace(status=status, finished_at=now, errors=(*self.errors, error))

    def replace(self, **changes: Any) -> JobRecord:
        return dataclasses.replace(self, **changes)

    def encode(self) -> bytes:
        # Field by field, not dataclasses.asdict (which deep-copies): written twice per job.
        return json.dumps(
            {
                "id": self.id,
                "path": self.path,
                "queue": self.queue,
                "status": self.status.value,
                "args": self.args,
                "kwargs": dict(self.kwargs),
                "enqueued_at": _time(self.enqueued_at),
                "run_after": _time(self.run_after),
                "started_at": _time(self.started_at),
                "finished_at": _time(self.finished_at),
                "attempt": self.attempt,
                "return_value": self.return_value,
                "errors": [
                    {
                        "exception_class": e.exception_class,
                        "message": e.message,
                        "traceback": e.traceback,
                    }
                    for e in self.errors
                ],
                "worker_ids": self.worker_ids,
            },
            separators=(",", ":"),
        ).encode()


def _time(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


class _WireError(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    exception_class: str
    message: str
    traceback: str


class _WireRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    path: str
    queue: str
    status: JobStatus
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    enqueued_at: datetime | None = None
    run_after: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int = 0
    return_value: Any = None
    errors: list[_WireError] = []
    worker_ids: list[str] = []


def decode_record(raw: bytes | str) -> JobRecord:
    """The record in ``raw``; :class:`~dlq.exceptions.PayloadError` when it is not one."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        wire = _WireRecord.model_validate_json(data)
    except ValidationError as exc:
        raise PayloadError(f"malformed job record: {exc.errors(include_url=False)}", data) from None
    return JobRecord(
        id=wire.id,
        path=wire.path,
        queue=wire.queue,
        status=wire.status,
        args=tuple(wire.args),
        kwargs=wire.kwargs,
        enqueued_at=wire.enqueued_at,
        run_after=wire.run_after,
        started_at=wire.started_at,
        finished_at=wire.finished_at,
        attempt=wire.attempt,
        return_value=wire.return_value,
        errors=tuple(JobError(e.exception_class, e.message, e.traceback) for e in wire.errors),
        worker_ids=tuple(wire.worker_ids),
    )
