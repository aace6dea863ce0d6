"""``dlq.current_job()``: what a running task may know about its own job.

Set by :class:`~dlq.core.execution.JobRunner` around each run (a context variable, so a
task's threads started with ``contextvars.copy_context`` see it too).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import datetime

from dlq.domain.envelope import Job
from dlq.exceptions import NoCurrentJobError

__all__ = ["JobContext", "current_job", "enter", "leave"]


@dataclass(frozen=True, slots=True)
class JobContext:
    """The running job. ``attempt`` counts runs after raised exceptions (1 for the
    first run, 2 for the first retry); ``delivery`` counts the deliveries of this attempt
    (above 1 only after a worker died running it). ``id`` stays the same across both,
    so it makes a good idempotency key."""

    id: str
    path: str
    queue: str
    attempt: int
    delivery: int
    enqueued_at: datetime | None
    run_after: datetime | None

    @classmethod
    def of(cls, job: Job, queue: str) -> JobContext:
        return cls(
            job.id,
            job.path,
            queue,
            job.retry + 1,
            max(job.attempts, 1),
            job.created_time,
            job.run_after,
        )


#: The job being run and its queue. A pair, not a JobContext: every job sets it and few
#: tasks ask, so the context is built when asked for.
_current: contextvars.ContextVar[tuple[Job, str]] = contextvars.ContextVar("dlq_current_job")

#: What :class:`~dlq.core.execution.JobRunner` calls around a task: set, then reset with
#: the token it returned.
enter = _current.set
leave = _current.reset


def current_job() -> JobContext:
    """The job the calling task runs for; :class:`~dlq.exceptions.NoCurrentJobError`
    when called outside one (at import time, in a view, in a plain function call)."""
    try:
        job, queue = _current.get()
    except LookupError:
        raise NoCurrentJobError(
            "dlq.current_job() was called outside a running job: only code a worker (or"
            " dlq.testing.run_queued) runs for a job has one"
        ) from None
    return JobContext.of(job, queue)
