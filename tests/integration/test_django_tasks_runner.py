"""Django-API tasks enqueued here and run by a real ``queue_runner``, on Redis and on each
database: the task code (tests/testapp/api_tasks.py) imports nothing of dlq.

This process enqueues through ``task.enqueue()`` with dlq's backend pointed at the lab's
store; the runner, another process, runs the jobs beside a ``@dlq.task`` job. What ran,
and Django's task signals in the worker, are noted in the lab's records.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from dlq.core.protocols import SupportsDeadLetters, SupportsResults
from dlq.domain.envelope import Job
from tests.integration.database_fixtures import session_database
from tests.integration.database_runner_harness import DbLab
from tests.integration.runner_harness import BACKENDS, Lab, ProcessLab, wait_until
from tests.services import REDIS_URL
from tests.testapp import api_tasks, backport_tasks

pytestmark = [pytest.mark.slow]

PLACES = [pytest.param("redis", marks=pytest.mark.redis), "sqlite", "postgresql", "mysql"]


@dataclass
class Place:
    """A lab, and the settings that make this process enqueue where its runners take."""

    lab: ProcessLab
    queue_settings: dict[str, Any] = field(default_factory=dict)

    def runner_settings(self, max_deliveries: int = 5) -> str:
        workers = {"default": 1, "other": 1}
        if isinstance(self.lab, Lab):
            return self.lab.settings(workers=workers, MAX_DELIVERIES=max_deliveries)
        if isinstance(self.lab, DbLab):
            return self.lab.settings(workers=workers, MAX_DELIVERIES=max_deliveries)
        raise TypeError(self.lab)

    @contextmanager
    def enqueueing(self, *, store_results: bool, **options: object) -> Iterator[None]:
        tasks = {
            "default": {
                "BACKEND": "dlq.django_tasks.DlqBackend",
                "QUEUES": ["default", "other"],
                "OPTIONS": {"STORE_RESULTS": store_results, **options},
            }
        }
        with override_settings(TASKS=tasks, **self.queue_settings):
            yield


@pytest.fixture(params=PLACES)
def place(
    request: pytest.FixtureRequest, tmp_path: Path, django_db_blocker: Any
) -> Iterator[Place]:
    lab: ProcessLab
    if request.param == "redis":
        lab = Lab(tmp_path)
        values: dict[str, Any] = {
            "LIGHTWEIGHT_QUEUE_BACKEND": BACKENDS["reliable"],
            "LIGHTWEIGHT_QUEUE_REDIS_URL": REDIS_URL,
            "LIGHTWEIGHT_QUEUE_REDIS_PREFIX": lab.prefix,
        }
    else:
        with django_db_blocker.unblock():
            database = session_database(request, request.param)
        lab = DbLab(tmp_path, database=database)
        values = {
            "LIGHTWEIGHT_QUEUE_BACKEND": "dlq.backends.database.DatabaseBackend",
            "LIGHTWEIGHT_QUEUE_DATABASE_ALIAS": database.alias,
        }
    try:
        with django_db_blocker.unblock():
            yield Place(lab, values)
    finally:
        lab.close()


def _finished(lab: ProcessLab) -> dict[str, dict[str, Any]]:
    return {note["id"]: note for note in lab.records("django_api") if note["kind"] == "finished"}


def test_django_api_tasks_run_in_the_runner_beside_dlq_jobs(place: Place) -> None:
    lab = place.lab
    settings = place.runner_settings()
    with place.enqueueing(store_results=False):
        results: dict[str, Any] = {
            "add": api_tasks.add.enqueue(2, b=3),
            "echo": api_tasks.echo.enqueue([1, (2, 3)], k={"a": None}),
            "fails": api_tasks.fails.enqueue("boom"),
            "context": api_tasks.with_context.enqueue("c"),
            "async": api_tasks.add_async.enqueue(4, 5),
            "backport": backport_tasks.multiply.enqueue(6, 7),
        }
    lab.enqueue("record", "a dlq job")
    # A payload naming a plain function beside the tasks: never run.
    refused = Job.create("tests.testapp.api_tasks.note", ["x"], {}, now=datetime.now(UTC))
    lab.backend().enqueue(refused, "default")
    runner = lab.start(settings)

    ids = {result.id for name, result in results.items() if name != "backport"}
    wait_until(lambda: ids <= set(_finished(lab)), what="every Django-API task to finish")
    wait_until(
        lambda: [n for n in lab.records("django_api") if n["kind"] == "multiply"],
        what="the backport task to run",
    )
    wait_until(lambda: lab.tokens("runs") == ["a dlq job"], what="the dlq job to run")
    backend = lab.backend()
    assert isinstance(backend, SupportsDeadLetters)
    wait_until(lambda: backend.dead_letter_count("default") == 1, what="the refused payload")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0, runner.log()

    notes = lab.records("django_api")
    finished = _finished(lab)
    status = {
        name: finished[result.id]["status"] for name, result in results.items() if result.id in ids
    }
    assert status == {
        "add": "SUCCESSFUL",
        "echo": "SUCCESSFUL",
        "fails": "FAILED",
        "context": "SUCCESSFUL",
        "async": "SUCCESSFUL",
    }
    assert finished[results["fails"].id]["errors"] == ["builtins.ValueError"]
    # Signals: enqueued here, started and finished in a worker, with dlq's backend as sender.
    started = {note["id"]: note for note in notes if note["kind"] == "started"}
    for result_id in ids:
        assert started[result_id]["pid"] == finished[result_id]["pid"] != os.getpid()
        assert started[result_id]["sender"] == finished[result_id]["sender"] == "DlqBackend"
    [context] = [note for note in notes if note["kind"] == "with_context"]
    assert (context["id"], context["attempt"]) == (results["context"].id, 1)
    [echo] = [note for note in notes if note["kind"] == "echo"]
    assert echo["args"] == [[1, [2, 3]]]
    assert [note["kind"] for note in notes if note["kind"] == "note"] == []
    [letter] = backend.dead_letters("default")
    assert "tests.testapp.api_tasks.note" in letter.reason


def test_results_are_read_back_through_djangos_api(place: Place) -> None:
    lab = place.lab
    backend = lab.backend()
    if not isinstance(backend, SupportsResults):
        pytest.skip(f"{type(backend).__name__} keeps no job records yet")
    settings = place.runner_settings()
    with place.enqueueing(store_results=True):
        added = api_tasks.add.enqueue(20, 22)
        failed = api_tasks.fails.enqueue("boom")
        assert added.status == failed.status == "READY"
        runner = lab.start(settings)

        def finished() -> bool:
            added.refresh()
            failed.refresh()
            return bool(added.is_finished and failed.is_finished)

        wait_until(finished, what="both results to be finished")
        fetched = api_tasks.add.get_result(added.id)
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0, runner.log()

    assert (added.status, added.return_value, added.attempts) == ("SUCCESSFUL", 42, 1)
    assert fetched.return_value == 42
    [add_note] = [note for note in lab.records("django_api") if note["kind"] == "add"]
    assert added.worker_ids[0].split(":")[1] == str(add_note["pid"])  # host:pid:slot
    assert failed.status == "FAILED"
    [error] = failed.errors
    assert error.exception_class is ValueError
    assert "ValueError: boom" in error.traceback
    assert added.started_at is not None
    assert added.finished_at is not None
    assert added.finished_at >= added.started_at


def test_the_timeout_option_kills_a_task_that_overruns_it(place: Place) -> None:
    lab = place.lab
    settings = place.runner_settings(max_deliveries=1)
    with place.enqueueing(store_results=False, TIMEOUT=1):
        api_tasks.sleeps.enqueue("slow", 60.0)
    backend = lab.backend()
    assert isinstance(backend, SupportsDeadLetters)
    runner = lab.start(settings)

    wait_until(lambda: backend.dead_letter_count("default") == 1, what="the task to be buried")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0, runner.log()

    [letter] = backend.dead_letters("default")
    assert "tests.testapp.api_tasks.sleeps" in letter.raw.decode()
    assert letter.reason.startswith("timed out after 1s;"), letter.reason
    assert [note["token"] for note in lab.records("django_api") if note["kind"] == "sleeps"] == [
        "slow"
    ]
