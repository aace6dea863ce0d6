"""Runs each job inline when it is enqueued: the default, for development and tests.

Delays are not waited for (a delayed job runs at once, as do its retries, one after
another): this backend is for running code, not for timing it. Records of jobs that keep
their result live in the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from dlq.backends.claims import ClaimTable
from dlq.backends.record_table import RecordTable
from dlq.core.protocols import BackendContext, Clock, StopSignal
from dlq.core.records import RecordKeeper
from dlq.core.waiting import wait_for_stop
from dlq.domain.envelope import Job, decode_job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import Outcome, Retrying

__all__ = ["SynchronousBackend"]


class SynchronousBackend:
    """Enqueueing runs the job at once, through the same path a worker uses.

    The job goes through its JSON form first, so a task sees exactly what a worker
    would give it.
    """

    def __init__(
        self,
        run_job: Callable[[Job, str], Outcome],
        clock: Clock,
        result_ttl_s: int = 86400,
        logger: logging.Logger | None = None,
    ) -> None:
        self._run_job = run_job
        self._clock = clock
        self._claims = ClaimTable(clock)
        self._records = RecordTable(clock)
        self._result_ttl_s = result_ttl_s
        self._logger = logger or logging.getLogger("dlq.backend")

    @classmethod
    def from_context(cls, context: BackendContext) -> SynchronousBackend:
        return cls(context.run_job, context.clock, context.settings.RESULT_TTL_S, context.logger)

    def startup(self, queue: str) -> None:
        pass

    def enqueue(self, job: Job, queue: str) -> None:
        keeper = RecordKeeper(
            self,
            queue,
            worker_id="synchronous",
            ttl_s=self._result_ttl_s,
            clock=self._clock,
            logger=self._logger,
        )
        while True:
            delivered = decode_job(job.encode()).next_delivery()
            record = keeper.started(delivered) if delivered.store_result else None
            outcome = self._run_job(delivered, queue)
            if record is not None:
                keeper.finished(record, outcome)
            if not isinstance(outcome, Retrying):
                return
            job = delivered.retried(outcome.run_after)

    def save_record(self, record: JobRecord, ttl_s: int) -> None:
        self._records.save_record(record, ttl_s)

    def get_record(self, job_id: str) -> JobRecord | None:
        return self._records.get_record(job_id)

    def prune_records(self) -> int:
        return self._records.prune_records()

    def bulk_enqueue(self, jobs: Sequence[Job], queue: str) -> None:
        for job in jobs:
            self.enqueue(job, queue)

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        # Nothing ever waits here; a worker pointed at this backend just idles.
        wait_for_stop(stop, timeout_s)
        return None

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        pass

    def length(self, queue: str) -> int:
        return 0

    def claim(self, key: str, ttl_s: int) -> bool:
        """In-process claims, so cron in one process fires each minute once."""
        return self._claims.claim(key, ttl_s)
