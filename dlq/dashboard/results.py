"""A job's stored record, for the job page: what ``dlq.get_job`` reads, shaped for it.

Only jobs whose task keeps its result (``store_result``) have one; for the others, and on
a backend that keeps none, the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dlq.core.protocols import Backend, SupportsResults
from dlq.domain.envelope import JSONValue

__all__ = ["StoredResult", "stored_result"]


@dataclass(frozen=True, slots=True)
class StoredResult:
    """What a backend kept of one job. ``return_value`` and ``traceback`` are shown only
    with the permission to see payloads."""

    status: str
    attempts: int
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    return_value: JSONValue = None
    error: str | None = None
    traceback: str | None = None


def stored_result(backend: Backend, job_id: str) -> StoredResult | None:
    """The record ``backend`` keeps for ``job_id``; None when it keeps none."""
    if not isinstance(backend, SupportsResults):
        return None
    record = backend.get_record(job_id)
    if record is None:
        return None
    last = record.errors[-1] if record.errors else None
    return StoredResult(
        status=str(record.status),
        attempts=record.attempt,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        return_value=record.return_value,
        error=None if last is None else f"{last.exception_class}: {last.message}",
        traceback=None if last is None or not last.traceback else last.traceback,
    )
