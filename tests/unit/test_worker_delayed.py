"""The runner's promotion of due delayed jobs (dlq.worker.delayed), with a counting
in-memory backend and the supervisor's own bounded calls."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from dlq.backends.memory import InMemoryBackend
from dlq.domain.envelope import Job
from dlq.worker.backend_calls import BackendCalls
from dlq.worker.delayed import DelayedPromoter

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Counting(InMemoryBackend):
    def __init__(self) -> None:
        self.now = NOW
        super().__init__(lambda: self.now)
        self.calls = 0

    def promote_due(self, queue: str) -> int:
        self.calls += 1
        return super().promote_due(queue)


def promoter(backend: Counting) -> DelayedPromoter:
    calls = BackendCalls(lambda queue: backend, logger=logging.getLogger("test"))
    calls.begin_pass()
    return DelayedPromoter(
        ["q"], calls, logger=logging.getLogger("test"), after_call=lambda: None, every_s=0.25
    )


def test_each_queue_is_promoted_once_a_period_while_nothing_moves() -> None:
    backend = Counting()
    keeper = promoter(backend)
    for now in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        keeper.tick(now)
    assert backend.calls == 2  # at 0.0 and 0.3


def test_while_jobs_move_the_next_call_comes_on_the_next_pass() -> None:
    backend = Counting()
    backend.enqueue(Job.create("a.b", [], {}, now=NOW, run_after=NOW + timedelta(1)), "q")
    backend.now += timedelta(2)  # its time has come
    keeper = promoter(backend)
    keeper.tick(0.0)  # moves it
    keeper.tick(0.1)  # so looks again at once, moving nothing
    keeper.tick(0.2)  # and then waits out the period
    assert backend.calls == 2
    assert backend.length("q") == 1
