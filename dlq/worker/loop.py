"""The loop of one worker slot: take a job, run it, acknowledge it, repeat.

It knows nothing of Django or of processes: the backend, the job runner and the hooks
around each job are passed in (:mod:`dlq.worker.child` wires them up in a worker
process; a test can drive it in-process). It returns why it stopped, so the process
can tell its supervisor whether it is being recycled or was asked to stop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from dlq.core.protocols import Backend, StopSignal
from dlq.core.records import RecordKeeper
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome

__all__ = ["StopReason", "WorkerLoop"]

#: Why :meth:`WorkerLoop.run` returned.
StopReason: TypeAlias = Literal["stopped", "max_jobs", "memory"]


def _never() -> bool:
    return False


def _no_job_hook(job: Job) -> None:
    pass


def _no_outcome_hook(job: Job, outcome: Outcome) -> None:
    pass


def _no_memory() -> float | None:
    return None


@dataclass
class WorkerLoop:
    backend: Backend
    queue: str
    worker_number: int
    run_job: Callable[[Job, str], Outcome]
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("dlq.worker"))
    #: Return after this many jobs, so the process can be recycled (None: never).
    max_jobs: int | None = None
    #: Return after a job when ``rss_mb()`` is above this (None: never).
    memory_limit_mb: float | None = None
    rss_mb: Callable[[], float | None] = _no_memory
    #: How long one ``dequeue`` waits; between waits ``should_stop`` is asked again.
    idle_timeout_s: float = 5.0
    #: Set (by a signal handler, say) to stop: an idle worker's wait ends at once, a busy
    #: one finishes its job first. Nothing is ever raised into the loop or the backend.
    stop: StopSignal | None = None
    #: Asked between jobs too, for reasons to stop that set no signal (a vanished runner).
    should_stop: Callable[[], bool] = _never
    #: Called with nothing to do, before each wait for a job.
    on_idle: Callable[[], None] = lambda: None
    #: Called just before the job is handed to its task.
    on_start: Callable[[Job], None] = _no_job_hook
    #: Called when the task has returned, before the backend hears of it: the supervisor
    #: must know the job is over before an acknowledgement it could race with.
    on_finish: Callable[[Job, Outcome], None] = _no_outcome_hook
    #: Called after the job was acknowledged (metrics, the touch file, Django's clean-up).
    after_job: Callable[[Job, Outcome], None] = _no_outcome_hook
    #: Writes the records of jobs that keep their result (None: nobody asks for them).
    records: RecordKeeper | None = None
    jobs_done: int = field(default=0, init=False)

    def run(self) -> StopReason:
        """Runs jobs until told to stop or due for recycling; says which."""
        while True:
            if (self.stop is not None and self.stop.is_set()) or self.should_stop():
                return "stopped"
            if self.max_jobs is not None and self.jobs_done >= self.max_jobs:
                self.logger.info(
                    "Worker %s.%s recycles after %d jobs",
                    self.queue,
                    self.worker_number,
                    self.jobs_done,
                )
                return "max_jobs"
            if self._over_memory():
                return "memory"
            self.on_idle()
            job = self.backend.dequeue(
                self.queue, self.worker_number, self.idle_timeout_s, stop=self.stop
            )
            if job is None:
                continue
            self.on_start(job)
            record = None
            if job.store_result and self.records is not None:
                record = self.records.started(job)
            outcome = self.run_job(job, self.queue)
            self.on_finish(job, outcome)
            self.backend.acknowledge(self.queue, self.worker_number, job, outcome)
            if record is not None and self.records is not None:
                self.records.finished(record, outcome)
            self.jobs_done += 1
            self.after_job(job, outcome)

    def _over_memory(self) -> bool:
        if self.memory_limit_mb is None or self.jobs_done == 0:
            # A fresh process is never recycled for memory: it would only be replaced by
            # an identical one, in a loop.
            return False
        rss = self.rss_mb()
        if rss is None or rss <= self.memory_limit_mb:
            return False
        self.logger.info(
            "Worker %s.%s recycles: %.0f MB resident, above the limit of %s MB",
            self.queue,
            self.worker_number,
            rss,
            self.memory_limit_mb,
        )
        return True
