"""Jobs through a real queue_runner: each runs once (at most once) or at least once."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.runner_harness import Delivery, Lab, lab_fixture, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


@pytest.mark.parametrize("delivery", ["at-most-once", "reliable"])
def test_every_job_runs_exactly_once(lab: Lab, delivery: Delivery) -> None:
    count = 200
    settings = lab.settings(delivery=delivery, workers={"default": 2, "other": 1})
    for number in range(count):
        lab.enqueue("record", f"job-{number}", queue="default" if number % 4 else "other")
    runner = lab.start(settings)

    wait_until(lambda: len(lab.tokens("runs")) >= count, what=f"{count} jobs to run")
    runner.send(signal.SIGTERM)

    assert runner.wait() == 0
    assert Counter(lab.tokens("runs")) == Counter(f"job-{number}" for number in range(count))
    assert lab.lab_pids() == []


def test_a_job_whose_worker_is_killed_runs_again_with_the_reliable_backend(lab: Lab) -> None:
    settings = lab.settings(delivery="reliable")
    lab.enqueue("record_slowly", "victim", 2.0)
    lab.enqueue("record", "after")
    runner = lab.start(settings)
    started = wait_until(lambda: lab.records("started"), what="the job to start")
    worker_pid = int(started[0]["pid"])

    os.kill(worker_pid, signal.SIGKILL)

    runner.wait_for_log(r"Worker default\.1 died \(killed by SIGKILL\)")
    wait_until(lambda: "victim" in lab.tokens("runs"), what="the job to run again")
    wait_until(lambda: "after" in lab.tokens("runs"), what="the next job")
    assert lab.tokens("started") == ["victim", "victim"]
    assert lab.tokens("runs").count("victim") == 1
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0


def test_workers_are_recycled_after_their_share_of_jobs_without_a_back_off(lab: Lab) -> None:
    settings = lab.settings(delivery="at-most-once", JOBS_PER_WORKER=2)
    for number in range(6):
        lab.enqueue("record", f"job-{number}")
    runner = lab.start(settings)

    wait_until(lambda: len(lab.tokens("runs")) == 6, what="every job")
    runner.wait_for_log(r"Restarted worker default\.1")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0

    pids = {record["pid"] for record in lab.records("runs")}
    assert len(pids) == 3  # two jobs per process
    assert "died" not in runner.log()
    assert "restarting it in" not in runner.log()


def test_a_crashing_worker_is_restarted_at_once_then_with_a_growing_back_off(lab: Lab) -> None:
    settings = lab.settings(delivery="at-most-once")
    for number in range(3):
        lab.enqueue("crash", f"crash-{number}")
    lab.enqueue("record", "survivor")
    runner = lab.start(settings)

    wait_until(lambda: lab.tokens("runs") == ["survivor"], what="the job after the crashes")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0

    # Every job start reaches the runner, so it says which job each crash happened in.
    pattern = r"died \(exit code 3\) while running tests\.testapp\.tasks\.crash \[\w+\];"
    pattern += r" restarting it (at once|in \S+)"
    assert re.findall(pattern, runner.log()) == ["at once", "in 0.1s", "in 0.2s"]


def test_process_titles_show_the_slot_state_and_task_but_never_arguments(lab: Lab) -> None:
    pytest.importorskip("setproctitle")
    settings = lab.settings(delivery="at-most-once")
    lab.enqueue("record_slowly_killable", "secret-argument", 30.0, sigkill_on_stop=True)
    runner = lab.start(settings)
    started = wait_until(lambda: lab.records("started"), what="the job to start")[0]

    def title(pid: object) -> str:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()

    running = title(started["pid"])
    assert running == "dlq worker default/1 running tests.testapp.tasks.record_slowly_killable"
    assert "secret" not in running
    assert title(runner.pid).startswith("dlq runner")
    runner.send(signal.SIGINT)
    assert runner.wait() == 0
