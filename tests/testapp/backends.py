"""Backends the process tests configure by path: real backends, tuned to make a point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlq.backends.redis import Tuning
from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.protocols import StopSignal
from dlq.core.settings import QueueSettings
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome

#: Far longer than any test waits for a worker to leave.
PATIENCE_S = 600.0


class PatientRedisBackend(ReliableRedisBackend):
    """Waits up to ten minutes for a job, whatever timeout a worker asks for.

    An idle worker on it leaves its wait early only because it was asked to stop (the
    stop signal its dequeue watches), so a test can tell "exits at once" from "exits when
    its wait runs out" with a generous bound instead of a stopwatch.
    """

    def __init__(self, settings: QueueSettings, **options: Any) -> None:
        options.setdefault("tuning", Tuning(block_cap_s=PATIENCE_S))
        super().__init__(settings, **options)

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        return super().dequeue(queue, worker_number, PATIENCE_S, stop=stop)


class BareBackend:
    """Only what every backend has: no delayed jobs, no results (an upstream-style
    backend, built with no arguments). For the checks that say a queue's backend lacks
    what Django's task API asks of it."""

    def startup(self, queue: str) -> None: ...

    def enqueue(self, job: Job, queue: str) -> None: ...

    def bulk_enqueue(self, jobs: Sequence[Job], queue: str) -> None: ...

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        return None

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None: ...

    def length(self, queue: str) -> int:
        return 0
