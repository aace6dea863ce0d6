"""Properties of the job lifecycle, on the in-memory backend and the shared job runner,
driven by a fake clock (no sleeps): a job never starts before its ``run_after``; with
``retries`` R, a task that always raises runs exactly R + 1 times, each retry after its
back-off, and ends as one dead letter."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dlq.backends.memory import InMemoryBackend
from dlq.core.execution import JobRunner
from dlq.core.registry import TaskRegistry
from dlq.core.task import task
from dlq.domain.envelope import Job
from dlq.domain.outcome import GaveUp, Retrying, Succeeded
from dlq.domain.retry import Backoff

START = datetime(2026, 1, 1, tzinfo=UTC)
QUEUE = "props"


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


registry = TaskRegistry()


@task(registry=registry)
def noop(n: int) -> int:
    return n


@settings(max_examples=60, deadline=None)
@given(
    delays=st.lists(st.floats(min_value=0, max_value=3600), min_size=1, max_size=30),
    steps=st.lists(st.floats(min_value=0.001, max_value=900), min_size=1, max_size=50),
)
def test_a_job_never_starts_before_its_run_after(delays: list[float], steps: list[float]) -> None:
    clock = FakeClock()
    backend = InMemoryBackend(clock)
    jobs = [
        Job.create(
            "tests.unit.test_lifecycle_properties.noop",
            [i],
            {},
            now=START,
            run_after=START + timedelta(seconds=delay),
        )
        for i, delay in enumerate(delays)
    ]
    backend.bulk_enqueue(jobs, QUEUE)
    started: dict[str, datetime] = {}
    for step in [0.0, *steps, 3601.0]:  # the last step passes every job's time
        clock.advance(step)
        backend.promote_due(QUEUE)
        while (taken := backend.dequeue(QUEUE, 1, 0)) is not None:
            assert taken.run_after is not None
            assert clock.now >= taken.run_after, "taken before its time"
            started[taken.id] = clock.now
            backend.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
    assert set(started) == {job.id for job in jobs}


@settings(max_examples=60, deadline=None)
@given(
    retries=st.integers(min_value=1, max_value=6),
    base_s=st.floats(min_value=0.01, max_value=100),
    factor=st.floats(min_value=1, max_value=4),
    max_s=st.floats(min_value=100, max_value=10_000),
    jitter=st.floats(min_value=0, max_value=0.999),
)
def test_a_task_that_always_raises_runs_retries_plus_one_times_then_is_one_dead_letter(
    retries: int, base_s: float, factor: float, max_s: float, jitter: float
) -> None:
    local = TaskRegistry()
    backoff = Backoff(base_s=base_s, factor=factor, max_s=max_s, jitter=True)

    @task(registry=local, retries=retries, backoff=backoff)
    def always_raises() -> None:
        raise ConnectionError("down")

    clock = FakeClock()
    backend = InMemoryBackend(clock)
    run = JobRunner(local, [], atomic_by_default=False, clock=clock, jitter=lambda: jitter)
    backend.enqueue(Job.create(always_raises.path, [], {}, now=START), QUEUE)
    starts: list[datetime] = []
    while True:
        due = backend.next_due(QUEUE)
        if due is not None:
            # Just before its time it is not taken; at its time it is.
            clock.now = due - timedelta(microseconds=1)
            assert backend.dequeue(QUEUE, 1, 0) is None
            clock.now = due
        taken = backend.dequeue(QUEUE, 1, 0)
        if taken is None:
            break
        starts.append(clock.now)
        assert taken.retry == len(starts) - 1
        outcome = run.run(taken, QUEUE)
        assert isinstance(outcome, Retrying | GaveUp)
        backend.acknowledge(QUEUE, 1, taken, outcome)
    assert len(starts) == retries + 1
    assert backend.dead_letter_count(QUEUE) == 1
    assert backend.delayed_count(QUEUE) == backend.length(QUEUE) == 0
    for n, (before, after) in enumerate(itertools.pairwise(starts), start=1):
        expected = backoff.delay_s(n, lambda: jitter)
        assert abs((after - before).total_seconds() - expected) < 1e-3
        assert expected <= max_s
