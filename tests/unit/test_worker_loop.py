"""The worker loop and its pipe to the supervisor, in-process with the in-memory backend."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

from dlq.backends.memory import InMemoryBackend
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome, Succeeded
from dlq.worker.channel import (
    ChannelReader,
    ChannelWriter,
    JobStarted,
    Message,
    WorkerExiting,
)
from dlq.worker.loop import WorkerLoop
from dlq.worker.stop_flag import StopFlag

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _now() -> datetime:
    return NOW


def _job(number: int, timeout: int | None = None) -> Job:
    return Job.create("tests.testapp.tasks.add", [number], {}, now=NOW, timeout=timeout)


def _succeed(job: Job, queue: str) -> Outcome:
    return Succeeded(None, 0.0)


def test_each_job_is_announced_run_reported_and_acknowledged_in_that_order() -> None:
    backend = InMemoryBackend(_now)
    backend.bulk_enqueue([_job(1), _job(2)], "default")
    events: list[str] = []

    def run(job: Job, queue: str) -> Outcome:
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


def test_a_stop_set_before_the_wait_ends_it_at_once_and_takes_no_job() -> None:
    # The race a signal-raised exception had: the stop lands after the loop's check and
    # before the backend starts waiting. The flag's descriptor stays readable, so the wait
    # that follows returns at once.
    backend = InMemoryBackend(_now)
    flag = StopFlag()
    checked = threading.Event()

    def stop_right_after_the_check() -> bool:
        if not checked.is_set():
            checked.set()
            flag.set()
        return False

    loop = WorkerLoop(backend, "default", 1, _succeed, idle_timeout_s=3600, stop=flag)
    loop.should_stop = stop_right_after_the_check
    done = threading.Event()

    def run() -> None:
        loop.run()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert done.wait(30), "an idle worker must leave at once when stopped"
    thread.join()
    backend.enqueue(_job(1), "default")
    assert loop.jobs_done == 0
    assert backend.length("default") == 1
    flag.close()


def test_a_stop_while_a_job_runs_lets_it_finish_first() -> None:
    backend = InMemoryBackend(_now)
    backend.bulk_enqueue([_job(1), _job(2)], "default")
    flag = StopFlag()

    def run_and_stop(job: Job, queue: str) -> Outcome:
        flag.set()  # as the signal handler does, in the middle of the job
        return _succeed(job, queue)

    loop = WorkerLoop(backend, "default", 1, run_and_stop, idle_timeout_s=3600, stop=flag)

    assert loop.run() == "stopped"
    assert loop.jobs_done == 1
    assert backend.length("default") == 1
    assert backend.in_progress("default") == {}
    flag.close()


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
    messages = reader.read()
    writer.send(JobStarted(legacy, 1.0))
    messages += reader.read()
    assert messages[0] == JobStarted(job, 12.5)
    assert messages[1] == JobStarted(legacy, 1.0)
    assert isinstance(messages[1], JobStarted)
    assert messages[1].job.raw == raw  # the exact bytes the backend handed out
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


def test_only_jobs_with_a_timeout_are_sent_whole() -> None:
    plain = Job.create("a.b", [], {}, now=datetime.now(UTC))
    assert not JobStarted.needed_for(plain)
    assert not JobStarted.needed_for(plain.replace(timeout=0))
    assert JobStarted.needed_for(plain.replace(timeout=5))
    assert not JobStarted.needed_for(plain.replace(sigkill_on_stop=True))
