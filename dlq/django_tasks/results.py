"""A dlq :class:`~dlq.domain.job_record.JobRecord` as Django's ``TaskResult``.

The statuses map as Django's docs define theirs: queued or delayed (waiting, or waiting
for a retry) is READY, running is RUNNING, succeeded is SUCCESSFUL, and failed or dead
(raised with no retry left, timed out, crashed too often, refused) is FAILED. Each failed
attempt's error becomes a ``TaskError`` with the exception's class path and traceback;
``worker_ids`` names the worker of each attempt, so ``attempts`` counts them.
"""

from __future__ import annotations

from typing import Any

from dlq.django_tasks.compat import Framework
from dlq.domain.job_record import JobRecord, JobStatus

__all__ = ["task_result"]

_STATUS = {
    JobStatus.QUEUED: "READY",
    JobStatus.DELAYED: "READY",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.SUCCEEDED: "SUCCESSFUL",
    JobStatus.FAILED: "FAILED",
    JobStatus.DEAD: "FAILED",
}


def task_result(record: JobRecord, task: Any, framework: Framework, alias: str) -> Any:
    """The ``TaskResult`` of ``framework`` for ``record``, a job of ``task``."""
    status = framework.TaskResultStatus[_STATUS[record.status]]
    if task.queue_name != record.queue:
        task = task.using(queue_name=record.queue)
    result = framework.TaskResult(
        task=task,
        id=record.id,
        status=status,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        last_attempted_at=record.started_at,
        args=list(record.args),
        kwargs=dict(record.kwargs),
        backend=alias,
        errors=[
            framework.TaskError(
                exception_class_path=error.exception_class, traceback=error.traceback
            )
            for error in record.errors
        ],
        worker_ids=list(record.worker_ids),
    )
    if record.status is JobStatus.SUCCEEDED:
        object.__setattr__(result, "_return_value", record.return_value)
    return result
