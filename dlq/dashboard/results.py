"""MERGE POINT: a job's stored result, for the job page and the "running for" column.

The job lifecycle work (issue 11) adds stored results: status, attempts, timings, the
return value or the traceback, behind a ``get_job(id)``-style capability of a backend.
It is being written at the same time as the dashboard, so this module is the one place
the dashboard asks for a result: :func:`stored_result` returns None ("not available for
this backend") until it is connected to that capability, and every page already shows a
:class:`StoredResult` when one comes back. Connecting it is this function's body alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dlq.core.protocols import Backend
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
    """The result ``backend`` keeps for ``job_id``; None when it keeps none.

    MERGE: no backend keeps results yet. Once the lifecycle's capability exists, return
    what it gives here (converted to :class:`StoredResult`) when ``backend`` implements
    it, and None otherwise.
    """
    return None
