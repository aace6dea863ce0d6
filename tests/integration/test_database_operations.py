"""The database backend behind dlq's commands, cron and BACKEND_OVERRIDES, on each database."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from dlq.backends.database import DatabaseBackend
from dlq.backends.memory import InMemoryBackend
from dlq.conf import DjangoRuntime
from dlq.core.scheduler import CronScheduler
from dlq.domain.cron.due import Firing, due_firings
from dlq.domain.cron.entry import CronEntry, parse_cron_config
from dlq.domain.envelope import Job
from dlq.domain.outcome import Rejected
from tests.integration.database_fixtures import TestDatabase, database, database_session
from tests.testapp import tasks

__all__ = ["database", "database_session"]  # the fixtures, for pytest

START = datetime(2024, 1, 1, 10, 0, 7, tzinfo=UTC)


@pytest.fixture
def configured(database: TestDatabase, runtime: DjangoRuntime) -> Iterator[DatabaseBackend]:
    """The database backend as the project's backend, for the queues 'default' and 'other'."""
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND="dlq.backends.database.DatabaseBackend",
        LIGHTWEIGHT_QUEUE_DATABASE_ALIAS=database.alias,
        LIGHTWEIGHT_QUEUE_WORKERS={"default": 1, "other": 1},
    ):
        backend = runtime.backend_for("default")
        assert isinstance(backend, DatabaseBackend)
        yield backend
        runtime.reset()


def command(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out, **options)
    return out.getvalue()


def test_queue_commands_manage_a_database_queue(configured: DatabaseBackend) -> None:
    tasks.add(1)
    tasks.add(2)
    tasks.add(2)
    tasks.add(3)
    taken = configured.dequeue("default", 1, 1.0)
    assert taken is not None
    configured.acknowledge("default", 1, taken, Rejected("testing dead letters"))

    (queue,) = json.loads(command("queue_status", "default", "--json"))["queues"]
    assert queue["length"] == 3
    assert queue["dead_letters"] == 1
    assert command("queue_deduplicate", "default")
    assert configured.length("default") == 2
    assert "testing dead letters" in command("queue_dead_letters", "default", "list")
    command("queue_dead_letters", "default", "requeue")
    assert configured.length("default") == 3
    command("queue_pause", "default", "--for", "1h")
    assert configured.paused_until("default") is not None
    assert configured.dequeue("default", 1, 0.05) is None
    command("queue_resume", "default")
    command("queue_clear", "default", "--yes")
    assert configured.length("default") == 0


def test_backend_overrides_mix_the_database_with_another_backend(
    database: TestDatabase, runtime: DjangoRuntime
) -> None:
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND="dlq.backends.memory.InMemoryBackend",
        LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES={"other": "dlq.backends.database.DatabaseBackend"},
        LIGHTWEIGHT_QUEUE_DATABASE_ALIAS=database.alias,
    ):
        try:
            tasks.add(1)  # queue "default": memory
            tasks.untyped(1)  # queue "other": the database
            memory, db = runtime.backend_for("default"), runtime.backend_for("other")
            assert isinstance(memory, InMemoryBackend)
            assert isinstance(db, DatabaseBackend)
            assert (memory.length("default"), memory.length("other")) == (1, 0)
            assert (db.length("default"), db.length("other")) == (0, 1)
        finally:
            runtime.reset()


def _entries() -> tuple[CronEntry, ...]:
    raw = [
        {"command": "every", "minutes": "*", "hours": "*"},
        {"command": "even", "minutes": "*/2", "hours": "*"},
    ]
    return parse_cron_config(raw, app_label="app", where="app.cron.CONFIG").entries


def test_two_schedulers_sharing_a_database_enqueue_each_minute_once(
    database: TestDatabase,
) -> None:
    lock = threading.Lock()
    fired: list[Firing] = []

    def enqueue(firing: Firing) -> None:
        with lock:
            fired.append(firing)

    backends = [database.backend(), database.backend()]
    ticks = [[START + timedelta(seconds=offset + 17 * n) for n in range(30)] for offset in (0, 5)]
    barrier = threading.Barrier(2)

    def drive(scheduler: CronScheduler, times: list[datetime]) -> None:
        barrier.wait()
        for now in times:
            scheduler.tick(now)

    try:
        threads = [
            threading.Thread(
                target=drive,
                args=(
                    CronScheduler(
                        _entries(),
                        tz=UTC,
                        catch_up_s=300,
                        coalesce=False,  # every minute, to check each is enqueued once
                        claims_for=lambda queue, backend=backend: backend,  # type: ignore[misc]  # bound per scheduler
                        enqueue=enqueue,
                        history_for=lambda queue, backend=backend: backend,  # type: ignore[misc]  # as above
                    ),
                    times,
                ),
            )
            for backend, times in zip(backends, ticks, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
        last = backends[0].last_fired([entry.id for entry in _entries()])
    finally:
        for backend in backends:
            backend.close()
    counts = Counter((firing.entry.id, firing.minute) for firing in fired)
    assert set(counts.values()) == {1}
    expected = due_firings(_entries(), UTC, START - timedelta(seconds=300), ticks[1][-1])
    assert sorted(counts) == sorted((firing.entry.id, firing.minute) for firing in expected)
    assert set(last) == {entry.id for entry in _entries()}


def test_a_job_for_the_database_is_a_plain_job(database: TestDatabase) -> None:
    backend = database.backend()
    try:
        job = Job.create("tests.testapp.tasks.add", [1], {"b": 2}, now=START)
        backend.enqueue(job, "q")
        taken = backend.dequeue("q", 1, 1.0)
        assert taken is not None
        assert (taken.id, taken.args, dict(taken.kwargs), taken.attempts) == (
            job.id,
            (1,),
            {"b": 2},
            1,
        )
    finally:
        backend.close()
