"""dlq: a typed task queue and cron system for Django, compatible with django-lightweight-queue.

::

    from dlq import task

    @task(queue="emails")
    def send(user_id: int) -> None: ...

    send(42)   # queued; mypy checks the arguments
"""

from dlq.core.middleware import BaseMiddleware, LoggingMiddleware
from dlq.core.task import BulkEnqueue, Task, TaskOptions, task
from dlq.domain.envelope import Job
from dlq.domain.outcome import Failed, Outcome, Rejected, Succeeded, TimedOut

__all__ = [
    "BaseMiddleware",
    "BulkEnqueue",
    "Failed",
    "Job",
    "LoggingMiddleware",
    "Outcome",
    "Rejected",
    "Succeeded",
    "Task",
    "TaskOptions",
    "TimedOut",
    "task",
]
