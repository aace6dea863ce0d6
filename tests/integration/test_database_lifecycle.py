"""Issue 11 on the database backend, beyond the lifecycle contract: delayed rows and the
claim index, retries and dead letters settled with the rest of a slot's batch, job
records in the caller's transaction and their pruning. Real SQLite, PostgreSQL, MariaDB.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction

from dlq.backends.database import DatabaseBackend, Tuning
from dlq.backends.database.sql import PROMOTE_BATCH, dialect_for
from dlq.core.records import enqueue_job
from dlq.domain.envelope import decode_job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import GaveUp, Outcome, Retrying, Succeeded
from tests.contract.test_lifecycle_contract import job, now, raised
from tests.integration.database_fixtures import TestDatabase, database, database_session
from tests.integration.test_database_backend import Stop, crash, other

__all__ = ["database", "database_session"]  # the fixtures, for pytest

QUEUE = "dblife"
DAY = timedelta(days=1)


@pytest.fixture
def backend(database: TestDatabase) -> Iterator[DatabaseBackend]:
    backend = database.backend()
    yield backend
    backend.close()


# -- delayed rows and the claim index ------------------------------------------------------


def plan(database: TestDatabase, sql: str, params: list[Any]) -> str:
    """The planner's plan for ``sql``, as text (EXPLAIN does not run it)."""
    explain = "EXPLAIN QUERY PLAN " if database.vendor == "sqlite" else "EXPLAIN "
    return "\n".join(" ".join(map(str, row)) for row in database.execute(explain + sql, params))


def full_scan(database: TestDatabase, text: str) -> bool:
    if database.vendor == "postgresql":
        return "Seq Scan on dlq_job" in text
    if database.vendor == "sqlite":
        return "SCAN dlq_job" in text and "USING" not in text
    return any(" ALL " in f" {line} " for line in text.splitlines() if "dlq_job" in line)


def test_a_claim_reads_past_many_delayed_rows_along_its_index(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    held = 10_000
    backend.bulk_enqueue([job(n, run_after=now() + DAY) for n in range(held)], QUEUE)
    backend.enqueue(job(-1), QUEUE)
    if database.vendor == "postgresql":
        database.execute("ANALYZE dlq_job")
    elif database.vendor == "mysql":
        database.execute("ANALYZE TABLE dlq_job")
    d = dialect_for(database.vendor)
    claim = plan(database, d.pick(), [QUEUE, 10])
    assert "dlq_job_claim" in claim, claim
    assert not full_scan(database, claim), claim
    promote = plan(database, d.promote_due(), [QUEUE])
    assert "dlq_job_delayed" in promote, promote
    assert not full_scan(database, promote), promote
    taken = backend.dequeue(QUEUE, 1, 1.0)
    assert taken is not None
    assert taken.args == (-1,)
    backend.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
    assert backend.dequeue(QUEUE, 1, 0.05) is None
    assert (backend.length(QUEUE), backend.delayed_count(QUEUE)) == (0, held)


def test_promotion_moves_at_most_a_batch_per_statement_earliest_first(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    past = now() - timedelta(minutes=1)
    jobs = [job(n, run_after=past + timedelta(microseconds=n)) for n in range(PROMOTE_BATCH + 5)]
    backend.bulk_enqueue(list(reversed(jobs)), QUEUE)
    assert backend.promote_due(QUEUE) == PROMOTE_BATCH
    assert backend.delayed_count(QUEUE) == 5
    next_due = backend.next_due(QUEUE)
    assert next_due is not None
    assert jobs[PROMOTE_BATCH].run_after == next_due
    assert backend.promote_due(QUEUE) == 5
    first = backend.dequeue(QUEUE, 1, 1.0)
    assert first is not None
    assert first.args == (0,)
    backend.acknowledge(QUEUE, 1, first, Succeeded(None, 0.0))


def test_clear_and_deduplicate_leave_delayed_jobs_alone(backend: DatabaseBackend) -> None:
    later = now() + DAY
    backend.bulk_enqueue([job(1), job(1), job(2, run_after=later), job(2, run_after=later)], QUEUE)
    assert backend.deduplicate(QUEUE) == (2, 1)
    assert backend.clear(QUEUE) == 1
    assert backend.delayed_count(QUEUE) == 2
    assert backend.clear_delayed(QUEUE) == 2


def test_a_delayed_job_outlives_the_backend_that_queued_it(database: TestDatabase) -> None:
    first = other(database)
    first.enqueue(job(7, run_after=now() + timedelta(seconds=0.3)), QUEUE)
    crash(first)
    second = other(database)
    try:
        assert second.delayed_count(QUEUE) == 1
        assert second.dequeue(QUEUE, 1, 0.05) is None
        deadline = now() + timedelta(seconds=10)
        taken = None
        while taken is None and now() < deadline:
            second.promote_due(QUEUE)
            taken = second.dequeue(QUEUE, 1, 0.05)
        assert taken is not None
        assert taken.args == (7,)
        second.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
    finally:
        second.close()


def test_an_idle_worker_takes_a_delayed_job_once_due_with_no_runner_promoting(
    database: TestDatabase,
) -> None:
    """Nothing NOTIFYs, commits or promotes meanwhile: the idle wait itself must end when
    the job is due. (Else it would last until, 20 s later, the job is cleared and the
    worker stopped, and the dequeue would return nothing; MySQL workers poll anyway.)"""
    backend = database.backend(Tuning(idle_cap_s=60.0))
    clearer = other(database)
    stop = Stop()

    def give_up() -> None:
        clearer.clear_delayed(QUEUE)
        stop.set()

    timer = threading.Timer(20.0, give_up)
    try:
        assert backend.dequeue(QUEUE, 1, 0.05) is None  # the slot recovered, the worker idle
        run_after = now() + timedelta(seconds=0.3)
        clearer.enqueue(job(1, run_after=run_after), QUEUE)
        timer.start()
        taken = backend.dequeue(QUEUE, 1, 60.0, stop=stop)
        assert taken is not None
        assert now() >= run_after
        backend.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
    finally:
        timer.cancel()
        timer.join()
        stop.close()
        clearer.close()
        backend.close()


# -- retries and dead letters within a batch -------------------------------------------------


@pytest.mark.parametrize("ending", ["retrying", "gave_up"])
def test_a_retry_or_a_dead_letter_mid_batch_settles_the_finished_rows_with_it(
    database: TestDatabase, ending: str
) -> None:
    """Slot 1 claims [1], then [2, 3]: 2 finishes, 3 raises; then the worker is killed.
    Had 3's row left the slot alone, recovery would take the finished 2 for never
    started and run it again."""
    first = other(database)
    first.bulk_enqueue([job(n) for n in range(1, 7)], QUEUE)
    for _ in (1, 2):
        done = first.dequeue(QUEUE, 1, 1.0)
        assert done is not None
        first.acknowledge(QUEUE, 1, done, Succeeded(None, 0.0))
    three = first.dequeue(QUEUE, 1, 1.0)
    assert three is not None
    assert three.args == (3,)
    outcome: Outcome = (
        Retrying(raised(TimeoutError("slow")), 0.1, now() + DAY)
        if ending == "retrying"
        else GaveUp(raised(ValueError("no")), 0.1, 3)
    )
    first.acknowledge(QUEUE, 1, three, outcome)
    session = first._dispatcher._holder.current()
    assert session is not None
    session.read_owed()  # what SIGKILL would not stop: statements already sent
    crash(first)

    second = other(database)
    try:
        order = []
        while (taken := second.dequeue(QUEUE, 1, 0.1)) is not None:
            order.append((taken.args[0], taken.attempts))
            second.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
        assert order == [(4, 1), (5, 1), (6, 1)]
        if ending == "retrying":
            assert second.delayed_count(QUEUE) == 1
            (payload,) = database.execute(
                "SELECT payload FROM dlq_job WHERE is_delayed = %s", [True]
            )
            retried = decode_job(str(payload[0]).encode())
            assert (retried.id, retried.retry, retried.attempts) == (three.id, 1, 0)
        else:
            (dead,) = second.dead_letters(QUEUE)
            assert dead.job_id == three.id
            assert "builtins.ValueError: no" in dead.reason
            assert second.delayed_count(QUEUE) == 0
    finally:
        second.close()


# -- job records ---------------------------------------------------------------------------


def test_a_queued_record_rolls_back_with_its_job(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    kept = job(1, store_result=True)

    def enqueue_then_fail() -> None:
        with transaction.atomic(using=database.alias):
            enqueue_job(backend, kept, QUEUE, 60)
            assert backend.get_record(kept.id) is not None  # the transaction's own write
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    assert backend.get_record(kept.id) is None
    assert backend.length(QUEUE) == 0
    enqueue_job(backend, kept, QUEUE, 60)
    record = backend.get_record(kept.id)
    assert record == JobRecord.queued(kept, QUEUE)


def test_pruning_deletes_expired_records_only_in_bounded_batches(
    database: TestDatabase, backend: DatabaseBackend
) -> None:
    expired = [JobRecord.queued(job(n, store_result=True), QUEUE) for n in range(PROMOTE_BATCH + 3)]
    live = JobRecord.queued(job(-1, store_result=True), QUEUE)
    for record in [*expired, live]:
        backend.save_record(record, 3600)
    d = dialect_for(database.vendor)
    database.execute(
        "UPDATE dlq_job_record SET expires_at = %s WHERE job_id <> %s",
        [d.time_param(now() - timedelta(seconds=1)), live.id],
    )
    assert backend.get_record(expired[0].id) is None  # expired: not read, though still there
    assert backend.prune_records() == PROMOTE_BATCH + 3
    assert backend.prune_records() == 0
    assert database.execute("SELECT job_id FROM dlq_job_record") == [(live.id,)]
    assert backend.get_record(live.id) == live
