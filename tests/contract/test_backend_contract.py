"""The contract every queueing backend keeps, on every kind in ``tests/backends.py``.

Capability tests run only where the backend declares the capability.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dlq.core.protocols import (
    Backend,
    SupportsClaim,
    SupportsClear,
    SupportsCronHistory,
    SupportsDeadLetters,
    SupportsDeduplicate,
    SupportsInspection,
    SupportsPause,
    SupportsSlotLease,
)
from dlq.domain.envelope import Job
from dlq.domain.outcome import Rejected, Succeeded, TimedOut
from dlq.worker.stop_flag import StopFlag
from tests.backends import MAX_DELIVERIES, BackendKind

NOW = datetime(2026, 1, 1, tzinfo=UTC)
QUEUE = "contract"


def utc_now() -> datetime:
    return datetime.now(UTC)


def job(number: int, path: str = "tests.testapp.tasks.add") -> Job:
    return Job.create(path, [number], {}, now=NOW + timedelta(seconds=number))


def drain(backend: Backend, worker: int = 1) -> list[Job]:
    taken = []
    while (item := backend.dequeue(QUEUE, worker, 0.05)) is not None:
        backend.acknowledge(QUEUE, worker, item, Succeeded(None, 0.0))
        taken.append(item)
    return taken


def test_jobs_come_out_in_the_order_they_went_in(backend: Backend) -> None:
    backend.enqueue(job(1), QUEUE)
    backend.bulk_enqueue([job(2), job(3), job(4)], QUEUE)
    backend.enqueue(job(5), QUEUE)
    assert backend.length(QUEUE) == 5
    assert [j.args[0] for j in drain(backend)] == [1, 2, 3, 4, 5]
    assert backend.length(QUEUE) == 0


def test_first_delivery_is_attempt_one_and_keeps_the_job(backend: Backend) -> None:
    original = job(1)
    backend.enqueue(original, QUEUE)
    (taken,) = drain(backend)
    assert taken.attempts == 1
    assert (taken.id, taken.path, taken.args) == (original.id, original.path, original.args)


def test_dequeue_waits_then_gives_none(backend: Backend) -> None:
    assert backend.dequeue(QUEUE, 1, 0.05) is None


@pytest.fixture
def stop() -> Iterator[StopFlag]:
    flag = StopFlag()
    yield flag
    flag.close()


def dequeue_in_background(
    backend: Backend, stop: StopFlag, results: list[Job | None]
) -> threading.Event:
    """Start ``dequeue(QUEUE, 1, timeout_s=30, stop=stop)`` in a thread; the event is set
    when it has returned (its result appended to ``results``)."""
    returned = threading.Event()

    def dequeue() -> None:
        results.append(backend.dequeue(QUEUE, 1, 30, stop=stop))
        returned.set()

    threading.Thread(target=dequeue, name="contract-dequeue", daemon=True).start()
    return returned


def test_a_set_stop_returns_none_at_once_without_taking_a_job(
    backend: Backend, stop: StopFlag
) -> None:
    backend.enqueue(job(1), QUEUE)
    stop.set()
    results: list[Job | None] = []
    # 5 s: generous for a busy machine, far below the 30 s the dequeue may wait.
    assert dequeue_in_background(backend, stop, results).wait(5), "the stop was not honoured"
    assert results == [None]
    assert [j.args[0] for j in drain(backend)] == [1]


def test_a_stop_set_while_dequeue_waits_ends_the_wait(backend: Backend, stop: StopFlag) -> None:
    results: list[Job | None] = []
    returned = dequeue_in_background(backend, stop, results)
    assert not returned.wait(0.3)  # nothing queued: it waits
    stop.set()  # from this thread, as a signal handler would from the main one
    assert returned.wait(5), "the stop did not end the wait"
    assert results == [None]
    backend.enqueue(job(2), QUEUE)  # and the backend serves the slot as before
    assert [j.args[0] for j in drain(backend)] == [2]


def test_queues_are_separate(backend: Backend) -> None:
    backend.enqueue(job(1), "elsewhere")
    assert backend.length(QUEUE) == 0
    assert backend.length("elsewhere") == 1


def test_rejected_jobs_are_kept_as_dead_letters(backend: Backend) -> None:
    if not isinstance(backend, SupportsDeadLetters):
        pytest.skip("no dead letters")
    backend.enqueue(job(1, "os.system"), QUEUE)
    taken = backend.dequeue(QUEUE, 1, 0.05)
    assert taken is not None
    backend.acknowledge(QUEUE, 1, taken, Rejected("'os.system' is not a registered task"))
    assert backend.length(QUEUE) == 0
    (dead,) = backend.dead_letters(QUEUE)
    assert dead.job_id == taken.id
    assert "not a registered task" in dead.reason
    assert backend.dead_letter_count(QUEUE) == 1
    assert backend.requeue_dead_letters(QUEUE) == 1
    assert backend.length(QUEUE) == 1
    assert backend.dead_letter_count(QUEUE) == 0


def test_a_job_that_keeps_timing_out_ends_as_a_dead_letter(
    backend: Backend, kind: BackendKind
) -> None:
    if not isinstance(backend, SupportsDeadLetters):
        pytest.skip("no dead letters")
    backend.enqueue(job(1), QUEUE)
    deliveries = 0
    while (taken := backend.dequeue(QUEUE, 1, 0.05)) is not None:
        deliveries += 1
        assert taken.attempts == deliveries
        backend.acknowledge(QUEUE, 1, taken, TimedOut(1.0))
        assert deliveries < 20, "a job that always times out must not loop forever"
    expected = 1 if kind.delivery == "at_most_once" else MAX_DELIVERIES
    assert deliveries == expected
    assert backend.dead_letter_count(QUEUE) == 1
    assert "timed out" in backend.dead_letters(QUEUE)[0].reason


def test_a_timed_out_job_runs_again_after_those_waiting_or_never(
    backend: Backend, kind: BackendKind
) -> None:
    # Where a timed-out job goes is part of the contract: at least once, to the back of the
    # queue (it does not jump the jobs that waited while it overran); at most once, to the
    # dead letters at once.
    backend.bulk_enqueue([job(1), job(2), job(3)], QUEUE)
    first = backend.dequeue(QUEUE, 1, 0.05)
    assert first is not None
    assert first.args == (1,)
    backend.acknowledge(QUEUE, 1, first, TimedOut(1.0))
    after = [j.args[0] for j in drain(backend)]
    if kind.delivery == "at_most_once":
        assert after == [2, 3]
        assert isinstance(backend, SupportsDeadLetters)
        assert [d.job_id for d in backend.dead_letters(QUEUE)] == [first.id]
    else:
        assert after == [2, 3, 1]


def test_pause_stops_jobs_until_resumed(backend: Backend) -> None:
    if not isinstance(backend, SupportsPause):
        pytest.skip("no pause")
    backend.enqueue(job(1), QUEUE)
    backend.pause(QUEUE, utc_now() + timedelta(hours=1))
    assert backend.paused_until(QUEUE) is not None
    assert backend.dequeue(QUEUE, 1, 0.05) is None
    backend.resume(QUEUE)
    assert backend.paused_until(QUEUE) is None
    assert [j.args[0] for j in drain(backend)] == [1]


def test_pause_expires_by_itself(backend: Backend) -> None:
    if not isinstance(backend, SupportsPause):
        pytest.skip("no pause")
    backend.enqueue(job(1), QUEUE)
    backend.pause(QUEUE, utc_now() + timedelta(milliseconds=200))
    assert backend.dequeue(QUEUE, 1, 0.01) is None
    taken = None
    for _ in range(100):
        taken = backend.dequeue(QUEUE, 1, 0.05)
        if taken is not None:
            break
    assert taken is not None


def test_clear_empties_the_queue(backend: Backend) -> None:
    if not isinstance(backend, SupportsClear):
        pytest.skip("no clear")
    backend.bulk_enqueue([job(1), job(2)], QUEUE)
    assert backend.clear(QUEUE) == 2
    assert backend.length(QUEUE) == 0


def test_deduplicate_keeps_the_oldest_of_each(backend: Backend) -> None:
    if not isinstance(backend, SupportsDeduplicate):
        pytest.skip("no deduplicate")
    first = Job.create("a.b", [1], {}, now=NOW)
    later_copy = Job.create("a.b", [1], {}, now=NOW + timedelta(hours=1))
    other = Job.create("a.b", [2], {}, now=NOW)
    backend.bulk_enqueue([first, other, later_copy, other.replace(id="copy")], QUEUE)
    seen: list[tuple[int, int]] = []
    assert backend.deduplicate(QUEUE, progress=lambda done, total: seen.append((done, total))) == (
        4,
        2,
    )
    assert [(j.id, j.args) for j in drain(backend)] == [(first.id, (1,)), (other.id, (2,))]


def test_claims_are_granted_once(backend: Backend) -> None:
    if not isinstance(backend, SupportsClaim):
        pytest.skip("no claims")
    assert backend.claim(f"{QUEUE}:minute", 60) is True
    assert backend.claim(f"{QUEUE}:minute", 60) is False
    assert backend.claim(f"{QUEUE}:other", 60) is True


def test_a_slot_is_leased_to_one_owner_at_a_time(backend: Backend) -> None:
    if not isinstance(backend, SupportsSlotLease):
        pytest.skip("no slot leases")
    assert backend.acquire_slot(QUEUE, 1, "runner-a", 30) is True
    assert backend.acquire_slot(QUEUE, 1, "runner-b", 30) is False
    assert backend.renew_slot(QUEUE, 1, "runner-b", 30) is False
    assert backend.renew_slot(QUEUE, 1, "runner-a", 30) is True
    assert backend.acquire_slot(QUEUE, 2, "runner-b", 30) is True
    backend.release_slot(QUEUE, 1, "runner-a")
    assert backend.acquire_slot(QUEUE, 1, "runner-b", 30) is True


def test_an_unrenewed_lease_expires(backend: Backend) -> None:
    if not isinstance(backend, SupportsSlotLease):
        pytest.skip("no slot leases")
    assert backend.acquire_slot(QUEUE, 1, "runner-a", 0.2) is True
    deadline = time.monotonic() + 5
    while not backend.acquire_slot(QUEUE, 1, "runner-b", 30):
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.05)


def test_in_progress_shows_what_each_slot_holds(backend: Backend) -> None:
    if not isinstance(backend, SupportsInspection):
        pytest.skip("no inspection")
    backend.enqueue(job(1), QUEUE)
    taken = backend.dequeue(QUEUE, 3, 0.05)
    assert taken is not None
    assert [j.id for j in backend.in_progress(QUEUE)[3]] == [taken.id]
    backend.acknowledge(QUEUE, 3, taken, Succeeded(None, 0.0))
    assert not backend.in_progress(QUEUE).get(3)


def test_cron_history_keeps_the_latest_minute(backend: Backend) -> None:
    if not isinstance(backend, SupportsCronHistory):
        pytest.skip("no cron history")
    early, late = NOW, NOW + timedelta(minutes=5)
    backend.record_fired(f"{QUEUE}:entry", late)
    backend.record_fired(f"{QUEUE}:entry", early)
    assert backend.last_fired([f"{QUEUE}:entry", f"{QUEUE}:never"]) == {f"{QUEUE}:entry": late}
