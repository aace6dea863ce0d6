"""dlq: a typed task queue and cron system for Django, compatible with django-lightweight-queue.

::

    from dlq import task

    @task(queue="emails")
    def send(user_id: int) -> None: ...

    send(42)   # queued; mypy checks the arguments
"""

from dlq.core.context import JobContext, current_job
from dlq.core.middleware import BaseMiddleware, LoggingMiddleware
from dlq.core.results import JobFailedError, JobHandle, get_job
from dlq.core.task import BulkEnqueue, Task, TaskOptions, task
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobError, JobRecord, JobStatus
from dlq.domain.outcome import (
    Failed,
    GaveUp,
    Outcome,
    Rejected,
    Retrying,
    Succeeded,
    TimedOut,
)
from dlq.domain.retry import Backoff
from dlq.exceptions import JobWaitTimeout, NoCurrentJobError, Retry

__all__ = [
    "Backoff",
    "BaseMiddleware",
    "BulkEnqueue",
    "Failed",
    "GaveUp",
    "Job",
    "JobContext",
    "JobError",
    "JobFailedError",
    "JobHandle",
    "JobRecord",
    "JobStatus",
    "JobWaitTimeout",
    "LoggingMiddleware",
    "NoCurrentJobError",
    "Outcome",
    "Rejected",
    "Retry",
    "Retrying",
    "Succeeded",
    "Task",
    "TaskOptions",
    "TimedOut",
    "current_job",
    "get_job",
    "task",
]
