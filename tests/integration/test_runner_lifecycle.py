"""Delayed jobs and retries through a real queue_runner on Redis (issue 11).

Times are checked one way only: a job never starts before its ``run_after`` (the worker
notes ``time.time()`` as it starts, on the same host). How soon after it starts is
bench/delayed.py's business, not a test's: a loaded machine may be slow.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.domain.envelope import Job
from tests.integration.runner_harness import Delivery, Lab, lab_fixture, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


@pytest.fixture
def backend(lab: Lab) -> Iterator[ReliableRedisBackend]:
    backend = lab.backend()
    yield backend
    backend.close()


def record_job(token: str, run_after: datetime | None = None) -> Job:
    return Job.create(
        "tests.testapp.tasks.record", [token], {}, now=datetime.now(UTC), run_after=run_after
    )


@pytest.mark.parametrize("delivery", ["at-most-once", "reliable"])
def test_a_task_that_fails_twice_then_succeeds_runs_three_times(
    lab: Lab, backend: ReliableRedisBackend, delivery: Delivery
) -> None:
    runner = lab.start(lab.settings(delivery=delivery))
    job = Job.create(
        "tests.testapp.tasks.fail_twice_then_succeed", ["flaky"], {}, now=datetime.now(UTC)
    )
    backend.enqueue(job, "default")
    backend.enqueue(record_job("after"), "default")

    wait_until(lambda: len(lab.records("attempts")) >= 3, what="the third attempt")
    wait_until(lambda: "after" in lab.tokens("runs"), what="the job queued behind it")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0

    assert [record["values"] for record in lab.records("attempts")] == [
        ["flaky", 1],
        ["flaky", 2],
        ["flaky", 3],
    ]
    assert backend.delayed_count("default") == 0
    assert backend.dead_letter_count("default") == 0
    assert backend.length("default") == 0


def test_a_delayed_job_starts_not_before_its_time(lab: Lab, backend: ReliableRedisBackend) -> None:
    runner = lab.start(lab.settings())
    backend.enqueue(record_job("warm-up"), "default")
    wait_until(lambda: "warm-up" in lab.tokens("runs"), what="the runner to run a job")

    run_after = datetime.now(UTC) + timedelta(seconds=1)
    backend.enqueue(record_job("delayed", run_after), "default")
    assert backend.delayed_count("default") == 1
    ran = wait_until(
        lambda: [r for r in lab.records("runs") if r["values"] == ["delayed"]],
        what="the delayed job to run",
    )
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0

    assert len(ran) == 1
    assert ran[0]["at"] >= run_after.timestamp()
    assert backend.delayed_count("default") == 0


def test_a_held_job_survives_runner_restarts(lab: Lab, backend: ReliableRedisBackend) -> None:
    settings = lab.settings()
    later = record_job("in-an-hour", datetime.now(UTC) + timedelta(hours=1))
    backend.enqueue(later, "default")

    first = lab.start(settings)
    backend.enqueue(record_job("first"), "default")
    wait_until(lambda: "first" in lab.tokens("runs"), what="the first runner to run a job")
    first.send(signal.SIGTERM)
    assert first.wait() == 0
    assert backend.delayed_count("default") == 1

    # Held while no runner runs, due soon: the next runner's startup must keep it, and run it.
    soon = datetime.now(UTC) + timedelta(seconds=1)
    backend.enqueue(record_job("soon", soon), "default")
    second = lab.start(settings)
    ran = wait_until(
        lambda: [r for r in lab.records("runs") if r["values"] == ["soon"]],
        what="the second runner to run the job held since before it started",
    )
    second.send(signal.SIGTERM)
    assert second.wait() == 0

    assert lab.tokens("runs") == ["first", "soon"]
    assert ran[0]["at"] >= soon.timestamp()
    assert backend.delayed_count("default") == 1
    due = backend.next_due("default")
    assert later.run_after is not None
    assert due is not None
    assert abs(due - later.run_after) < timedelta(milliseconds=1)
