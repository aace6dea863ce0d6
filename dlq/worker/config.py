"""What a runner is told from outside: its slots, limits, and the Django-side callbacks.

``dlq.worker`` imports no Django. The management commands build a
:class:`WorkerEnvironment` from Django's runtime (how to get a backend, how to run a
job, how to close database connections) and pass it in; tests can build one from an
in-memory backend.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dlq.core.protocols import Backend
from dlq.domain.allocation import WorkerSlot
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome
from dlq.worker.backend_calls import CALL_DEADLINE_S
from dlq.worker.leases import SlotLease

__all__ = [
    "MetricsOptions",
    "Scheduler",
    "SupervisorOptions",
    "WorkerEnvironment",
    "WorkerOptions",
]

#: A cron scheduler: runs until the event is set. dlq runs it in a supervised process.
Scheduler = Callable[[threading.Event], None]


def _nothing() -> None:
    pass


def _nothing_after(job: Job, outcome: Outcome) -> None:
    pass


@dataclass(frozen=True)
class WorkerEnvironment:
    """The callbacks through which worker processes reach the outer (Django) layer."""

    backend_for: Callable[[str], Backend]
    #: The shared execution path; built before forking so that every worker shares it.
    run_job: Callable[[Job, str], Outcome]
    logger: Callable[[str], logging.Logger] = logging.getLogger
    #: Seconds a finished job's record is kept (jobs that keep their result).
    result_ttl_s: int = 86400
    #: In a worker, after each job (Django: close the database connections).
    after_job: Callable[[Job, Outcome], None] = _nothing_after
    #: In the runner, before each fork (Django: close database connections, so that no
    #: socket is shared with the child).
    before_fork: Callable[[], None] = _nothing
    #: In the child, first thing after the fork (Django: forget the backends built in the
    #: runner, so the child opens connections of its own).
    after_fork: Callable[[], None] = _nothing


@dataclass(frozen=True)
class MetricsOptions:
    """Prometheus: the runner listens on ``start_port``, the worker at index i on
    ``start_port + i`` (i from 1, in the runner's slot order), as upstream."""

    bind_address: str = "127.0.0.1"
    start_port: int = 9300


@dataclass(frozen=True)
class WorkerOptions:
    #: A file touched after each successful job; ``%s`` becomes the queue's name.
    touchfile: str | None = None
    #: Recycle the process after this many jobs (None: never).
    jobs_per_worker: int | None = 1000
    #: Recycle the process when its resident memory is above this after a job.
    memory_limit_mb: float | None = None
    #: How long one dequeue waits for a job. A stop interrupts the wait, so this only
    #: bounds how often an idle worker looks up (for a vanished runner, say).
    idle_timeout_s: float = 5.0
    metrics: MetricsOptions | None = None


@dataclass(frozen=True)
class SupervisorOptions:
    """What one runner serves and how it treats its processes."""

    slots: Sequence[WorkerSlot]
    worker: WorkerOptions = field(default_factory=WorkerOptions)
    #: After SIGTERM, SIGKILL what still runs after this long (None: wait for every job).
    shutdown_deadline_s: float | None = None
    #: How long a slot lease lives unrenewed; it is renewed every fifth of that, and given
    #: up (its worker killed) when not confirmed for half of it (:mod:`dlq.worker.leases`).
    #: A runner killed with SIGKILL frees its slots for another runner after at most this
    #: long.
    lease_ttl_s: float = 10.0
    #: How often a runner asks again for a slot another runner holds.
    lease_retry_s: float = 1.0
    #: Serve the runner's own metrics and /worker_config (workers serve theirs).
    metrics: MetricsOptions | None = None
    #: Run this cron scheduler in a supervised process of its own (None: no cron here).
    scheduler: Scheduler | None = None
    #: Longest sleep of the supervising loop; timeouts are enforced to within about this.
    tick_s: float = 0.1

    def __post_init__(self) -> None:
        if self.lease_ttl_s <= 0 or self.lease_retry_s <= 0 or self.tick_s <= 0:
            raise ValueError("lease_ttl_s, lease_retry_s and tick_s must be positive")
        # Between giving a lease up and its lapse, one backend call may still be under way:
        # up to 4 x its deadline when a slow server answers every step just in time.
        if self.lease_ttl_s * (1 - SlotLease.GIVE_UP_AFTER) <= 4 * CALL_DEADLINE_S + self.tick_s:
            raise ValueError(
                f"lease_ttl_s {self.lease_ttl_s} leaves too little time between giving a lease"
                f" up and its lapse for a backend call ({CALL_DEADLINE_S}s deadline)"
            )
