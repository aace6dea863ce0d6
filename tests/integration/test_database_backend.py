"""The database backend on real SQLite, PostgreSQL and MariaDB: what the contract does not
cover (transactional enqueue, recovery, limits, delayed rows, waking), in one process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from dlq.backends.database import DatabaseBackend, Tuning
from dlq.backends.database.schema import MAX_PAYLOAD_BYTES
from dlq.domain.envelope import Job
from dlq.domain.outcome import Rejected, Succeeded, TimedOut
from dlq.exceptions import TaskArgumentError
from tests.integration.database_fixtures import TestDatabase, database, database_session

__all__ = ["database", "database_session"]  # the fixtures, for pytest

QUEUE = "dbq"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(number: int, path: str = "tests.testapp.tasks.add") -> Job:
    return Job.create(path, [number], {}, now=NOW)


@pytest.fixture
def backend(database: TestDatabase) -> Iterator[DatabaseBackend]:
    backend = database.backend()
    yield backend
    backend.close()


def other(database: TestDatabase) -> DatabaseBackend:
    """Another process's view, as far as connections go: a backend of its own."""
    return database.backend()


def crash(backend: DatabaseBackend) -> None:
    """What SIGKILL leaves: the worker's connection gone, nothing given back."""
    backend._worker._holder.discard()
    backend._admin.discard()


class Stop:
    """A StopSignal: a pipe that becomes readable once set."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._set = False

    def set(self) -> None:
        self._set = True
        os.write(self._write, b"x")

    def is_set(self) -> bool:
        return self._set

    def fileno(self) -> int:
        return self._read

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


# -- transactional enqueue ------------------------------------------------------------------


def test_a_job_enqueued_in_a_transaction_appears_when_it_commits(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    worker = other(database)
    try:
        with transaction.atomic(using=database.alias):
            backend.enqueue(job(1), QUEUE)
            assert worker.dequeue(QUEUE, 1, 0.05) is None  # not committed yet
        taken = worker.dequeue(QUEUE, 1, 5.0)
        assert taken is not None
        assert taken.args == (1,)
    finally:
        worker.close()


def test_a_job_enqueued_in_a_transaction_that_rolls_back_vanishes(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    def enqueue_then_fail() -> None:
        with transaction.atomic(using=database.alias):
            backend.bulk_enqueue([job(1), job(2)], QUEUE)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    assert backend.length(QUEUE) == 0
    assert backend.dequeue(QUEUE, 1, 0.05) is None


def test_a_payload_too_large_is_refused_and_nothing_is_written(backend: DatabaseBackend) -> None:
    big = Job.create("tests.testapp.tasks.add", ["x" * MAX_PAYLOAD_BYTES], {}, now=NOW)
    with pytest.raises(TaskArgumentError, match="takes at most"):
        backend.bulk_enqueue([job(1), big], QUEUE)
    assert backend.length(QUEUE) == 0


# -- recovery -----------------------------------------------------------------------------------


def test_a_worker_killed_mid_job_gets_it_again_and_the_batch_goes_on(
    database: TestDatabase,
) -> None:
    first = other(database)
    first.bulk_enqueue([job(1), job(2), job(3)], QUEUE)
    one = first.dequeue(QUEUE, 1, 1.0)
    assert one is not None
    first.acknowledge(QUEUE, 1, one, Succeeded(None, 0.0))
    two = first.dequeue(QUEUE, 1, 1.0)
    assert two is not None
    assert (one.args, two.args) == ((1,), (2,))
    crash(first)

    second = other(database)
    try:
        again = second.dequeue(QUEUE, 1, 1.0)
        assert again is not None
        assert (again.id, again.attempts) == (two.id, 2)  # the started one, counted
        second.acknowledge(QUEUE, 1, again, Succeeded(None, 0.0))
        three = second.dequeue(QUEUE, 1, 1.0)
        assert three is not None
        assert (three.args, three.attempts) == ((3,), 1)  # never started: not counted
        second.acknowledge(QUEUE, 1, three, Succeeded(None, 0.0))
        assert second.dequeue(QUEUE, 1, 0.05) is None  # job 1 finished: not run again
        assert second.length(QUEUE) == 0
        assert second.in_progress(QUEUE) == {}
    finally:
        second.close()


def test_a_job_that_keeps_killing_its_worker_ends_as_a_dead_letter(
    database: TestDatabase,
) -> None:
    database.backend().enqueue(job(1), QUEUE)
    deliveries = []
    for _ in range(10):
        backend = other(database)
        taken = backend.dequeue(QUEUE, 1, 0.2)
        if taken is None:
            backend.close()
            break
        deliveries.append(taken.attempts)
        crash(backend)
    assert deliveries == [1, 2, 3]  # MAX_DELIVERIES is 3
    last = other(database)
    try:
        assert last.dequeue(QUEUE, 1, 0.05) is None
        (dead,) = last.dead_letters(QUEUE)
        assert "started 3 times without finishing" in dead.reason
    finally:
        last.close()


def test_startup_settles_slots_no_runner_leases_and_spares_leased_ones(
    database: TestDatabase,
) -> None:
    leased, orphan = other(database), other(database)
    leased.bulk_enqueue([job(1), job(2)], QUEUE)
    assert leased.acquire_slot(QUEUE, 1, "runner-a", 30)
    taken_leased = leased.dequeue(QUEUE, 1, 1.0)
    taken_orphan = orphan.dequeue(QUEUE, 2, 1.0)
    assert taken_leased is not None
    assert taken_orphan is not None
    crash(orphan)

    runner = other(database)
    try:
        runner.startup(QUEUE)
        assert [j.id for j in runner.in_progress(QUEUE)[1]] == [taken_leased.id]
        assert 2 not in runner.in_progress(QUEUE)
        assert runner.length(QUEUE) == 1  # the orphan's job waits again
        again = runner.dequeue(QUEUE, 3, 1.0)
        assert again is not None
        assert (again.id, again.attempts) == (taken_orphan.id, 2)
    finally:
        runner.close()
        leased.close()


def test_the_runner_settles_a_timed_out_job_of_its_killed_worker(database: TestDatabase) -> None:
    worker = other(database)
    worker.bulk_enqueue([job(1), job(2)], QUEUE)
    taken = worker.dequeue(QUEUE, 1, 1.0)
    assert taken is not None
    crash(worker)  # the runner killed it for overrunning

    runner = other(database)
    try:
        runner.acknowledge(QUEUE, 1, taken, TimedOut(1.0))
        assert runner.in_progress(QUEUE) == {}
        assert runner.length(QUEUE) == 2  # queued again, and the unstarted one given back
        # The unstarted one runs first: a timed-out job goes behind the jobs waiting.
        following = runner.dequeue(QUEUE, 1, 1.0)
        assert following is not None
        assert following.args == (2,)
        runner.acknowledge(QUEUE, 1, following, Succeeded(None, 0.0))
        again = runner.dequeue(QUEUE, 1, 1.0)
        assert again is not None
        assert (again.id, again.attempts) == (taken.id, 2)
    finally:
        runner.close()


def test_a_row_edited_into_garbage_is_a_dead_letter_and_the_worker_carries_on(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    backend.bulk_enqueue([job(1), job(2)], QUEUE)
    database.execute(
        "UPDATE dlq_job SET payload = %s WHERE id = (SELECT MIN(id) FROM (SELECT id FROM dlq_job) AS ids)",
        ["{not json"],
    )
    taken = backend.dequeue(QUEUE, 1, 1.0)
    assert taken is not None
    assert taken.args == (2,)
    (dead,) = backend.dead_letters(QUEUE)
    assert dead.raw == b"{not json"
    assert dead.job_id is None
    assert "undecodable payload" in dead.reason


def test_rejected_and_finished_jobs_leave_the_table(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    backend.bulk_enqueue([job(1), job(2, "os.system")], QUEUE)
    ok = backend.dequeue(QUEUE, 1, 1.0)
    assert ok is not None
    backend.acknowledge(QUEUE, 1, ok, Succeeded(None, 0.0))
    bad = backend.dequeue(QUEUE, 1, 1.0)
    assert bad is not None
    backend.acknowledge(QUEUE, 1, bad, Rejected("'os.system' is not a registered task"))
    assert backend.dequeue(QUEUE, 1, 0.05) is None
    assert database.execute("SELECT COUNT(*) FROM dlq_job") == [(0,)]
    assert backend.dead_letter_count(QUEUE) == 1


def test_release_gives_back_the_jobs_a_worker_reserved(database: TestDatabase) -> None:
    worker = other(database)
    worker.bulk_enqueue([job(n) for n in range(5)], QUEUE)
    first = worker.dequeue(QUEUE, 1, 1.0)
    assert first is not None
    worker.acknowledge(QUEUE, 1, first, Succeeded(None, 0.0))
    assert worker.release(QUEUE, 1) >= 0
    worker.close()
    assert database.backend().length(QUEUE) == 4
    assert database.execute("SELECT COUNT(*) FROM dlq_job WHERE worker IS NOT NULL") == [(0,)]


# -- delayed rows and priorities (columns the next issues fill in) ------------------------------


def test_delayed_rows_wait_until_due_and_priorities_go_first(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    backend.bulk_enqueue([job(1), job(2), job(3)], QUEUE)
    rows = [row[0] for row in database.execute("SELECT id FROM dlq_job ORDER BY id")]
    database.execute("UPDATE dlq_job SET priority = 5 WHERE id = %s", [rows[2]])
    future = datetime.now(UTC) + timedelta(days=1)
    past = datetime.now(UTC) - timedelta(seconds=1)
    later = Job.create("tests.testapp.tasks.add", [4], {}, now=NOW)
    due = Job.create("tests.testapp.tasks.add", [5], {}, now=NOW)
    backend.bulk_enqueue([later, due], QUEUE)
    new = [row[0] for row in database.execute("SELECT id FROM dlq_job ORDER BY id")][3:]
    for row, when in zip(new, (future, past), strict=True):
        database.execute(
            "UPDATE dlq_job SET is_delayed = %s, available_at = %s WHERE id = %s",
            [True, when, row],
        )
    order: list[object] = []
    while (taken := backend.dequeue(QUEUE, 1, 0.1)) is not None:
        order.append(taken.args[0])
        backend.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
    assert order[0] == 3  # priority 5
    assert sorted(order, key=str) == [1, 2, 3, 5]  # 4 is not due
    assert (backend.length(QUEUE), backend.delayed_count(QUEUE)) == (0, 1)


# -- waiting ------------------------------------------------------------------------------------


def test_a_stop_ends_a_waiting_dequeue(backend: DatabaseBackend) -> None:
    stop = Stop()
    got: list[Job | None] = []
    waiter = threading.Thread(target=lambda: got.append(backend.dequeue(QUEUE, 1, 600, stop=stop)))
    try:
        waiter.start()
        stop.set()
        waiter.join(60)
        assert not waiter.is_alive()
        assert got == [None]
    finally:
        stop.close()


def test_an_idle_worker_wakes_for_a_committed_job(database: TestDatabase) -> None:
    """On PostgreSQL by NOTIFY (the idle wait alone would outlast the test); elsewhere by
    polling."""
    worker = database.backend(tuning=Tuning(idle_cap_s=600))
    got: list[Job | None] = []
    waiter = threading.Thread(target=lambda: got.append(worker.dequeue(QUEUE, 1, 600)))
    try:
        waiter.start()
        database.backend().enqueue(job(7), QUEUE)
        waiter.join(60)
        assert not waiter.is_alive(), "the waiting worker did not wake"
        assert got[0] is not None
        assert got[0].args == (7,)
    finally:
        worker.close()


def test_resume_wakes_workers_of_a_paused_queue(backend: DatabaseBackend) -> None:
    backend.enqueue(job(1), QUEUE)
    backend.pause(QUEUE, datetime.now(UTC) + timedelta(hours=1))
    assert backend.dequeue(QUEUE, 1, 0.05) is None
    backend.resume(QUEUE)
    assert backend.dequeue(QUEUE, 1, 5.0) is not None


def test_clear_takes_the_jobs_a_worker_reserved_too(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    backend.bulk_enqueue([job(n) for n in range(4)], QUEUE)
    running = backend.dequeue(QUEUE, 1, 1.0)  # the slot reserves the rest of its batch
    assert running is not None
    assert backend.clear(QUEUE) == 3
    backend.acknowledge(QUEUE, 1, running, Succeeded(None, 0.0))
    assert backend.dequeue(QUEUE, 1, 0.2) is None
