"""Writing :class:`~dlq.domain.job_record.JobRecord` s at each step of a job's life.

Only jobs with ``store_result`` are recorded, so a plain job costs nothing here. The
record is written before the step it describes becomes visible to anyone else: the
QUEUED record before the job is enqueued (a fast worker's RUNNING record must not be
overwritten by it), the RUNNING one before the task is called, the final one after the
backend acknowledged the job.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from dlq.core.clock import utc_now
from dlq.core.protocols import Backend, Clock, SupportsResults
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import Outcome
from dlq.exceptions import CapabilityError

__all__ = ["RecordKeeper", "enqueue_job", "enqueue_jobs", "record_ttl_s", "results_store"]


def record_ttl_s(record: JobRecord, ttl_s: int, now: datetime) -> int:
    """How long to keep ``record``: ``ttl_s`` past now, or past its ``run_after`` when it
    waits longer than that (a job delayed a week keeps its record until it has run)."""
    if record.status.finished or record.run_after is None:
        return ttl_s
    waiting = max(timedelta(0), record.run_after - now)
    return ttl_s + int(waiting.total_seconds()) + 1


def results_store(backend: Backend, queue: str) -> SupportsResults:
    if not isinstance(backend, SupportsResults):
        raise CapabilityError(
            f"{type(backend).__name__} (the backend of queue {queue!r})",
            "keeping job results (store_result=True or LIGHTWEIGHT_QUEUE_STORE_RESULTS)",
        )
    return backend


def enqueue_job(backend: Backend, job: Job, queue: str, ttl_s: int) -> None:
    """Enqueue ``job``, its QUEUED (or DELAYED) record first when it keeps its result."""
    if job.store_result:
        _save_queued(backend, job, queue, ttl_s)
    backend.enqueue(job, queue)


def enqueue_jobs(backend: Backend, jobs: Sequence[Job], queue: str, ttl_s: int) -> None:
    """:func:`enqueue_job` for many: one backend call for the jobs themselves."""
    for job in jobs:
        if job.store_result:
            _save_queued(backend, job, queue, ttl_s)
    backend.bulk_enqueue(jobs, queue)


def _save_queued(backend: Backend, job: Job, queue: str, ttl_s: int) -> None:
    record = JobRecord.queued(job, queue)
    now = job.created_time or utc_now()
    results_store(backend, queue).save_record(record, record_ttl_s(record, ttl_s, now))


class RecordKeeper:
    """Keeps the records of the jobs one worker slot runs (or the supervisor ends)."""

    def __init__(
        self,
        backend: Backend,
        queue: str,
        *,
        worker_id: str,
        ttl_s: int,
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self._backend = backend
        self._queue = queue
        self._worker_id = worker_id
        self._ttl_s = ttl_s
        self._clock = clock
        self._logger = logger

    def started(self, job: Job) -> JobRecord | None:
        """Record that ``job`` starts; returns the record to finish, or None if it could
        not be written (the job runs anyway: a record is never worth a job)."""
        try:
            store = results_store(self._backend, self._queue)
            before = None
            if job.retry or job.attempts > 1:  # a retry or a re-delivery: keep the history
                before = store.get_record(job.id)
            record = (before or JobRecord.queued(job, self._queue)).started(
                job, self._worker_id, self._clock()
            )
            store.save_record(record, self._ttl_s)
        except Exception:
            self._logger.exception("Cannot record that %s started", job)
            return None
        return record

    def finished(self, record: JobRecord, outcome: Outcome) -> None:
        now = self._clock()
        try:
            final = record.finished(outcome, now)
            results_store(self._backend, self._queue).save_record(
                final, record_ttl_s(final, self._ttl_s, now)
            )
        except Exception:
            self._logger.exception("Cannot record how job %s ended (%r)", record.id, outcome)

    def ended_elsewhere(self, job: Job, outcome: Outcome) -> None:
        """For the supervisor: ``job`` ended without its worker saying so (timed out)."""
        try:
            store = results_store(self._backend, self._queue)
            record = store.get_record(job.id) or JobRecord.queued(job, self._queue)
        except Exception:
            self._logger.exception("Cannot read the record of %s", job)
            return
        self.finished(record, outcome)
