"""The loop of one worker slot: take a job, run it, acknowledge it, repeat.

It knows nothing of Django: the backend, the job runner and what to do after each job
are passed in. It stops when ``should_stop()`` says so between jobs, or after
``max_jobs`` jobs so that the process can be recycled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from dlq.core.protocols import Backend
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome

__all__ = ["WorkerLoop"]


def _never() -> bool:
    return False


def _nothing(job: Job, outcome: Outcome) -> None:
    pass


@dataclass
class WorkerLoop:
    backend: Backend
    queue: str
    worker_number: int
    run_job: Callable[[Job], Outcome]
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("dlq.worker"))
    max_jobs: int | None = None
    idle_timeout_s: float = 1.0
    should_stop: Callable[[], bool] = _never
    before_job: Callable[[Job], None] = lambda job: None
    after_job: Callable[[Job, Outcome], None] = _nothing

    def run(self) -> int:
        """Runs jobs until told to stop; returns how many it ran."""
        done = 0
        while not self.should_stop() and (self.max_jobs is None or done < self.max_jobs):
            job = self.backend.dequeue(self.queue, self.worker_number, self.idle_timeout_s)
            if job is None:
                continue
            self.before_job(job)
            outcome = self.run_job(job)
            self.backend.acknowledge(self.queue, self.worker_number, job, outcome)
            self.after_job(job, outcome)
            done += 1
        return done
