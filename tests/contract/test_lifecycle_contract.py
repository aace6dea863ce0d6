"""The job lifecycle every queueing backend keeps: delayed jobs, retries, dead letters for
jobs that used up their retries, and job records (issue 11).

Run on every kind in ``tests/backends.py`` that declares the capability. Backends keep
time by their own clocks (the real one), so "not before its time" is checked with times
far off (an hour) or already past, and "once due, it is taken" by polling with a bound.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from dlq.core.protocols import (
    Backend,
    SupportsDeadLetters,
    SupportsDelay,
    SupportsInspection,
    SupportsPause,
    SupportsResults,
)
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobError, JobRecord, JobStatus
from dlq.domain.outcome import GaveUp, Retrying, Succeeded

QUEUE = "lifecycle"
HOUR = timedelta(hours=1)


def now() -> datetime:
    return datetime.now(UTC)


def job(number: int, run_after: datetime | None = None, store_result: bool = False) -> Job:
    return Job.create(
        "tests.testapp.tasks.add",
        [number],
        {},
        now=now(),
        run_after=run_after,
        store_result=store_result,
    )


def delaying(backend: Backend) -> SupportsDelay:
    if not isinstance(backend, SupportsDelay):
        pytest.skip(f"{type(backend).__name__} holds no delayed jobs")
    return backend


def take(backend: Backend, within_s: float = 10.0) -> Job | None:
    """The next job, promoting due ones as a runner does; None if none came in time."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if isinstance(backend, SupportsDelay):
            backend.promote_due(QUEUE)
        taken = backend.dequeue(QUEUE, 1, 0.05)
        if taken is not None:
            return taken
    return None


def raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_a_job_held_back_is_not_taken_before_its_time(backend: Backend) -> None:
    delayed = delaying(backend)
    later = now() + HOUR
    backend.enqueue(job(1, run_after=later), QUEUE)
    assert delayed.promote_due(QUEUE) == 0
    assert backend.dequeue(QUEUE, 1, 0.1) is None
    assert backend.length(QUEUE) == 0
    assert delayed.delayed_count(QUEUE) == 1
    due = delayed.next_due(QUEUE)
    assert due is not None
    assert abs((due - later).total_seconds()) < 0.002


def test_a_held_job_is_taken_once_due_and_never_before(backend: Backend) -> None:
    delayed = delaying(backend)
    run_after = now() + timedelta(seconds=0.5)
    original = job(1, run_after=run_after)
    backend.enqueue(original, QUEUE)
    taken = take(backend)
    taken_at = now()
    assert taken is not None, "a due job was not taken within 10 s"
    assert taken_at >= run_after
    assert (taken.id, taken.args, taken.attempts, taken.retry) == (original.id, (1,), 1, 0)
    assert taken.run_after is not None
    assert abs((taken.run_after - run_after).total_seconds()) < 0.002
    assert delayed.delayed_count(QUEUE) == 0
    backend.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))


def test_bulk_enqueue_holds_only_the_delayed_jobs(backend: Backend) -> None:
    delayed = delaying(backend)
    backend.bulk_enqueue([job(1), job(2, run_after=now() + HOUR), job(3)], QUEUE)
    assert backend.length(QUEUE) == 2
    assert delayed.delayed_count(QUEUE) == 1
    assert delayed.clear_delayed(QUEUE) == 1
    assert delayed.delayed_count(QUEUE) == 0
    assert delayed.next_due(QUEUE) is None


def test_a_paused_queue_holds_its_due_jobs_too(backend: Backend) -> None:
    delaying(backend)
    if not isinstance(backend, SupportsPause):
        pytest.skip("no pause")
    backend.pause(QUEUE, now() + HOUR)
    backend.enqueue(job(1, run_after=now() - timedelta(seconds=1)), QUEUE)
    assert take(backend, within_s=0.5) is None
    backend.resume(QUEUE)
    assert take(backend) is not None


def test_retrying_holds_the_job_back_with_one_more_retry(backend: Backend) -> None:
    delayed = delaying(backend)
    backend.enqueue(job(1), QUEUE)
    first = take(backend)
    assert first is not None
    backend.acknowledge(QUEUE, 1, first, Retrying(raised(TimeoutError("slow")), 0.1, now() + HOUR))
    assert backend.length(QUEUE) == 0
    assert delayed.delayed_count(QUEUE) == 1
    if isinstance(backend, SupportsInspection):
        assert backend.in_progress(QUEUE).get(1, []) == []
    # Due at once this time: taken again, as the next attempt.
    delayed.clear_delayed(QUEUE)
    backend.enqueue(job(2), QUEUE)
    second = take(backend)
    assert second is not None
    backend.acknowledge(QUEUE, 1, second, Retrying(raised(TimeoutError("slow")), 0.1, now()))
    again = take(backend)
    assert again is not None
    assert (again.id, again.retry, again.attempts) == (second.id, 1, 1)
    backend.acknowledge(QUEUE, 1, again, Succeeded(None, 0.0))
    assert take(backend, within_s=0.3) is None


def test_a_job_that_used_up_its_retries_is_a_dead_letter_with_its_traceback(
    backend: Backend,
) -> None:
    delaying(backend)
    if not isinstance(backend, SupportsDeadLetters):
        pytest.skip("no dead letters")
    backend.enqueue(job(1), QUEUE)
    taken = take(backend)
    assert taken is not None
    backend.acknowledge(QUEUE, 1, taken, GaveUp(raised(ValueError("card declined")), 0.1, 4))
    (dead,) = backend.dead_letters(QUEUE)
    assert dead.job_id == taken.id
    assert "attempt 4" in dead.reason
    assert "builtins.ValueError: card declined" in dead.reason
    assert "Traceback (most recent call last)" in dead.reason
    assert backend.length(QUEUE) == 0
    assert backend.requeue_dead_letters(QUEUE) == 1
    assert take(backend) is not None


def records(backend: Backend) -> SupportsResults:
    if not isinstance(backend, SupportsResults):
        pytest.skip(f"{type(backend).__name__} keeps no job records")
    return backend


def test_a_record_reads_back_as_written(backend: Backend) -> None:
    store = records(backend)
    queued = JobRecord.queued(job(1, store_result=True), QUEUE)
    store.save_record(queued, 60)
    assert store.get_record(queued.id) == queued
    ran = queued.started(job(1), "host:1:lifecycle/1", now())
    error = JobError("builtins.ValueError", "no", "Traceback ...")
    ended = ran.replace(
        status=JobStatus.SUCCEEDED,
        finished_at=now(),
        return_value={"a": [1, 2.5, None]},
        errors=(error,),
    )
    store.save_record(ended, 60)
    assert store.get_record(queued.id) == ended
    assert store.get_record("no-such-job") is None


def test_a_record_is_forgotten_after_its_time(backend: Backend) -> None:
    store = records(backend)
    record = JobRecord.queued(job(1, store_result=True), QUEUE)
    store.save_record(record, 1)
    assert store.get_record(record.id) == record
    deadline = time.monotonic() + 10
    while store.get_record(record.id) is not None:
        assert time.monotonic() < deadline, "a record outlived its time by 9 s"
        time.sleep(0.2)
    store.prune_records()
    assert store.get_record(record.id) is None
