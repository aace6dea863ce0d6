"""Runs each job inline when it is enqueued: the default, for development and tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dlq.backends.claims import ClaimTable
from dlq.core.protocols import BackendContext, Clock, StopSignal
from dlq.core.waiting import wait_for_stop
from dlq.domain.envelope import Job, decode_job
from dlq.domain.outcome import Outcome

__all__ = ["SynchronousBackend"]


class SynchronousBackend:
    """Enqueueing runs the job at once, through the same path a worker uses.

    The job goes through its JSON form first, so a task sees exactly what a worker
    would give it.
    """

    def __init__(self, run_job: Callable[[Job], Outcome], clock: Clock) -> None:
        self._run_job = run_job
        self._clock = clock
        self._claims = ClaimTable(clock)

    @classmethod
    def from_context(cls, context: BackendContext) -> SynchronousBackend:
        return cls(context.run_job, context.clock)

    def startup(self, queue: str) -> None:
        pass

    def enqueue(self, job: Job, queue: str) -> None:
        self._run_job(decode_job(job.encode()).next_delivery())

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
