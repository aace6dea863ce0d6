"""The worker loop and its pipe to the supervisor, in-process with the in-memory backend."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import StopSignal
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome, Succeeded, TimedOut
from dlq.worker.channel import (
    ChannelReader,
    ChannelWriter,
    JobFinished,
    JobStarted,
    Message,
    WorkerExiting,
)
from dlq.worker.loop import StopWorker, WorkerLoop

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _now() -> datetime:
    return NOW


def _job(number: int, timeout: int | None = None) -> Job:
    return Job.create("tests.testapp.tasks.add", [number], {}, now=NOW, timeout=timeout)


def _succeed(job: Job) -> Outcome:
    return Succeeded(None, 0.0)


def test_each_job_is_announced_run_reported_and_acknowledged_in_that_order() -> None:
    backend = InMemoryBackend(_now)
    backend.bulk_enqueue([_job(1), _job(2)], "default")
    events: list[str] = []

    def run(job: Job) -> Outcome:
        events.append(f"run {job.args[0]}")
        return Succeeded(None, 0.0)

    loop = WorkerLoop(
        backend,
        "default",
        1,
        run,
        max_jobs=2,
        idle_timeout_s=0,
        on_start=lambda job: events.append(f"start {job.args[0]}"),
        # The supervisor hears a job is over before the backend does (so a timeout kill
        # cannot race the acknowledgement): the job is still in progress here.
        on_finish=lambda job, outcome: events.append(
            f"finish {job.args[0]} held={bool(backend.in_progress('default'))}"
        ),
        after_job=lambda job, outcome: events.append(f"after {job.args[0]}"),
    )

    assert loop.run() == "max_jobs"
    assert events == [
        "start 1",
        "run 1",
        "finish 1 held=True",
        "after 1",
        "start 2",
        "run 2",
        "finish 2 held=True",
        "after 2",
    ]
    assert backend.in_progress("default") == {}


def test_it_stops_between_jobs_when_asked() -> None:
    backend = InMemoryBackend(_now)
    backend.bulk_enqueue([_job(1), _job(2)], "default")
    loop = WorkerLoop(backend, "default", 1, _succeed, idle_timeout_s=0)
    loop.should_stop = lambda: loop.jobs_done == 1

    assert loop.run() == "stopped"
    assert backend.length("default") == 1


def test_a_stop_interrupts_the_wait_for_a_job() -> None:
    class Interrupted(InMemoryBackend):
        def dequeue(
            self,
            queue: str,
            worker_number: int,
            timeout_s: float,
            *,
            stop: StopSignal | None = None,
        ) -> Job | None:
            assert loop.waiting
            raise StopWorker

    loop = WorkerLoop(Interrupted(_now), "default", 1, _succeed)

    assert loop.run() == "stopped"
    assert not loop.waiting


def test_it_recycles_above_the_memory_limit_but_never_before_a_job() -> None:
    backend = InMemoryBackend(_now)
    backend.bulk_enqueue([_job(1), _job(2)], "default")
    loop = WorkerLoop(
        backend, "default", 1, _succeed, memory_limit_mb=100, rss_mb=lambda: 500.0, idle_timeout_s=0
    )

    assert loop.run() == "memory"
    assert loop.jobs_done == 1


def test_messages_cross_the_pipe_intact() -> None:
    read_fd, write_fd = os.pipe()
    writer, reader = ChannelWriter(write_fd), ChannelReader(read_fd)
    job = _job(1, timeout=5).next_delivery()
    big = Job.create("tests.testapp.tasks.add", ["x" * 200_000], {}, now=NOW)
    raw = b'{"path":"legacy"}'
    legacy = Job(id="legacy-1", path="tests.testapp.tasks.add", args=(), kwargs={}, raw=raw)

    writer.send(JobStarted(job, 12.5))
    writer.send(JobFinished("Succeeded"))
    messages = reader.read()
    writer.send(JobStarted(legacy, 1.0))
    messages += reader.read()
    assert messages[0] == JobStarted(job, 12.5)
    assert messages[1] == JobFinished("Succeeded")
    assert messages[2] == JobStarted(legacy, 1.0)
    assert isinstance(messages[2], JobStarted)
    assert messages[2].job.raw == raw  # the exact bytes the backend handed out
    assert isinstance(messages[0], JobStarted)
    assert messages[0].job.attempts == 1

    # A payload bigger than the pipe arrives whole, read as it is written.
    collected: list[Message] = []

    def write_and_close() -> None:
        writer.send(JobStarted(big, 2.0))
        writer.close()

    thread = threading.Thread(target=write_and_close)
    thread.start()
    while not reader.eof:
        collected += reader.read()
        time.sleep(0.001)
    thread.join()
    assert collected == [JobStarted(big, 2.0)]
    reader.close()


def test_a_worker_leaving_says_why_and_how_many_jobs_it_ran() -> None:
    read_fd, write_fd = os.pipe()
    writer, reader = ChannelWriter(write_fd), ChannelReader(read_fd)
    writer.send(WorkerExiting("max_jobs", 1000))
    assert reader.read() == [WorkerExiting("max_jobs", 1000)]
    writer.close()
    reader.close()


def test_only_jobs_the_supervisor_may_kill_are_reported() -> None:
    plain = Job.create("a.b", [], {}, now=datetime.now(UTC))
    assert not JobStarted.worth_reporting(plain)
    assert JobStarted.worth_reporting(plain.replace(timeout=5))
    assert JobStarted.worth_reporting(plain.replace(sigkill_on_stop=True))


@pytest.mark.parametrize("outcome", [Succeeded(1, 0.5), TimedOut(3.0)])
def test_finished_names_the_outcome(outcome: Outcome) -> None:
    read_fd, write_fd = os.pipe()
    writer, reader = ChannelWriter(write_fd), ChannelReader(read_fd)
    writer.send(JobFinished(type(outcome).__name__))
    assert reader.read() == [JobFinished(type(outcome).__name__)]
    writer.close()
    reader.close()
