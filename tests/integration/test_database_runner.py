"""The database backend through real queue_runner processes, on each database."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dlq.core.records import enqueue_job
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobRecord, JobStatus
from tests.integration.database_fixtures import TestDatabase, database, database_session
from tests.integration.database_runner_harness import DbLab, db_lab
from tests.integration.runner_harness import wait_until

__all__ = ["database", "database_session"]  # the fixtures, for pytest

pytestmark = [pytest.mark.slow]


@pytest.fixture
def lab(tmp_path: Path, database: TestDatabase) -> Iterator[DbLab]:
    yield from db_lab(tmp_path, database)


def test_every_job_runs_exactly_once(lab: DbLab) -> None:
    count = 120
    settings = lab.settings(workers={"default": 2, "other": 1})
    for number in range(count):
        lab.enqueue("record", f"job-{number}", queue="default" if number % 4 else "other")
    runner = lab.start(settings)

    wait_until(lambda: len(lab.tokens("runs")) >= count, what=f"{count} jobs to run")
    runner.send(signal.SIGTERM)

    assert runner.wait() == 0, runner.log()
    assert Counter(lab.tokens("runs")) == Counter(f"job-{number}" for number in range(count))
    assert lab.lab_pids() == []
    assert lab.backend().length("default") == 0


def test_a_job_whose_worker_is_killed_runs_again(lab: DbLab) -> None:
    settings = lab.settings()
    lab.enqueue("record_slowly", "victim", 2.0)
    lab.enqueue("record", "after")
    runner = lab.start(settings)
    started = wait_until(lambda: lab.records("started"), what="the job to start")

    os.kill(int(started[0]["pid"]), signal.SIGKILL)

    runner.wait_for_log(r"Worker default\.1 died \(killed by SIGKILL\)")
    wait_until(lambda: "victim" in lab.tokens("runs"), what="the job to run again")
    wait_until(lambda: "after" in lab.tokens("runs"), what="the next job")
    assert lab.tokens("started") == ["victim", "victim"]
    assert lab.tokens("runs").count("victim") == 1
    assert "delivery 2" in runner.log()
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0


def test_a_killed_runners_slot_is_served_again_only_once_its_lease_lapses(lab: DbLab) -> None:
    settings = lab.settings()
    lab.enqueue("record_slowly", "long", 3.0)
    for number in range(3):
        lab.enqueue("record", f"after-{number}")
    first = lab.start(settings)
    wait_until(lambda: lab.records("started"), what="the job to start")
    first_workers = set(first.worker_pids().values())

    first.send(signal.SIGKILL)
    first.wait()
    second = lab.start(settings)

    second.wait_for_log(r"Worker slot default\.1 is served by another runner")
    wait_until(lambda: not set(lab.lab_pids()) & first_workers, what="the old worker to die")
    second.wait_for_log(r"Worker slot default\.1 is free after")
    wait_until(lambda: len(lab.tokens("runs")) == 4, what="every job to run")
    assert lab.tokens("started") == ["long", "long"]
    assert Counter(lab.tokens("runs")) == Counter(["long", "after-0", "after-1", "after-2"])
    # No two processes ever ran the slot's jobs at once: the second run started after the
    # first runner's worker was dead, which the lease waited for.
    first_run, second_run = lab.records("started")
    assert first_run["pid"] in first_workers
    assert second_run["pid"] not in first_workers
    second.send(signal.SIGTERM)
    assert second.wait() == 0


def test_a_job_that_always_overruns_ends_as_a_dead_letter(lab: DbLab) -> None:
    settings = lab.settings(MAX_DELIVERIES=2)
    lab.enqueue("overrun", "slow", 30.0, timeout=1)
    lab.enqueue("record", "next")
    runner = lab.start(settings)

    wait_until(lambda: lab.backend().dead_letter_count("default") == 1, what="a dead letter")
    wait_until(lambda: "next" in lab.tokens("runs"), what="the next job")
    (dead,) = lab.backend().dead_letters("default")
    assert "timed out after 1s" in dead.reason
    assert lab.tokens("started") == ["slow", "slow"]
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_never_reports_a_locked_database_to_tasks_or_callers(lab: DbLab) -> None:
    """Four workers whose tasks enqueue, and two enqueuing processes, on one file."""
    settings = lab.settings(workers={"default": 4}, JOBS_PER_WORKER=50)
    runner = lab.start(settings)
    enqueuers = [
        lab.spawn(settings, "shell", "-c", _ENQUEUE.format(tag=tag, count=150))
        for tag in ("a", "b")
    ]
    for process in enqueuers:
        assert process.wait() == 0, process.log()
    expected = Counter(f"{tag}-{n}{plus}" for tag in "ab" for n in range(150) for plus in ("", "+"))
    wait_until(lambda: len(lab.tokens("runs")) >= len(expected), what="every job and follow-up")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
    assert Counter(lab.tokens("runs")) == expected
    logs = runner.log() + "".join(process.log() for process in enqueuers)
    assert not re.search("locked|busy", logs, re.IGNORECASE), logs


_ENQUEUE = """
from tests.testapp.tasks import enqueue_follow_up
for n in range({count}):
    if n % 3:
        enqueue_follow_up("{tag}-%d" % n)
    else:
        with enqueue_follow_up.bulk_enqueue(batch_size=10) as enqueue:
            enqueue("{tag}-%d" % n)
"""


# -- lifecycle ---------------------------------------------------------------------------------


def test_a_task_with_retries_runs_until_it_succeeds(lab: DbLab) -> None:
    """Two failures, each retried after 0.2 s (then 0.4 s), then a success: three runs."""
    settings = lab.settings()
    lab.enqueue("fail_twice", "flaky")
    runner = lab.start(settings)
    wait_until(lambda: lab.tokens("runs") == ["flaky"], what="the third attempt to succeed")
    assert [record["values"][1] for record in lab.records("attempts")] == [1, 2, 3]
    backend = lab.backend()
    assert (backend.length("default"), backend.delayed_count("default")) == (0, 0)
    assert backend.dead_letter_count("default") == 0
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0


def test_a_delayed_job_waits_through_a_restart_and_runs_once_due(lab: DbLab) -> None:
    settings = lab.settings()
    run_after = datetime.now(UTC) + timedelta(seconds=3)
    job = Job.create(
        "tests.testapp.tasks.record", ["later"], {}, now=datetime.now(UTC), run_after=run_after
    )
    lab.backend().enqueue(job, "default")
    first = lab.start(settings)
    first.wait_for_log(r"Started worker default\.1")
    first.send(signal.SIGTERM)
    assert first.wait() == 0
    assert lab.tokens("runs") == []
    assert lab.backend().delayed_count("default") == 1

    second = lab.start(settings)
    (ran,) = wait_until(lambda: lab.records("runs"), what="the delayed job to run")
    assert ran["values"] == ["later"]
    assert ran["at"] >= run_after.timestamp()
    second.send(signal.SIGTERM)
    assert second.wait() == 0
    assert lab.tokens("runs") == ["later"]


def test_a_kept_result_is_written_by_the_worker_through_each_step(lab: DbLab) -> None:
    """QUEUED by the enqueue, then RUNNING and SUCCEEDED by the runner's worker, in the
    same table, whose rows a reader of another process sees."""
    settings = lab.settings()
    backend = lab.backend()
    job = Job.create(
        "tests.testapp.tasks.add", [2, 3], {}, now=datetime.now(UTC), store_result=True
    )
    enqueue_job(backend, job, "default", 3600)
    queued = backend.get_record(job.id)
    assert queued is not None
    assert queued.status is JobStatus.QUEUED
    runner = lab.start(settings)

    def finished() -> JobRecord | None:
        record = backend.get_record(job.id)
        return record if record is not None and record.status.finished else None

    record = wait_until(finished, what="the job's record to say it finished")
    assert (record.status, record.return_value, record.attempt) == (JobStatus.SUCCEEDED, 5, 1)
    assert record.started_at is not None
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
