"""Stopping a runner: gracefully on SIGTERM/SIGINT, and never leaving a worker behind."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.runner_harness import Lab, lab_fixture, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_busy_worker_finishes_its_job_and_a_sigkill_on_stop_job_is_killed(
    lab: Lab, signum: int
) -> None:
    settings = lab.settings(workers={"default": 1, "other": 1, "idle": 1})
    lab.enqueue("record_slowly", "long", 2.0)
    lab.enqueue("record_slowly_killable", "killable", 60.0, queue="other", sigkill_on_stop=True)
    runner = lab.start(settings)
    wait_until(lambda: len(lab.records("started")) == 2, what="both jobs to start")

    runner.send(signum)

    assert runner.wait() == 0
    assert lab.tokens("runs") == ["long"]
    assert lab.lab_pids() == []
    log = runner.log()
    assert "Killing tests.testapp.tasks.record_slowly_killable" in log
    assert "All worker processes have exited" in log


def test_idle_workers_exit_at_once(lab: Lab) -> None:
    # On a backend whose wait for a job lasts ten minutes, an idle worker can only leave
    # within the bound below because the stop ended its wait.
    settings = lab.settings(
        workers={"default": 3}, BACKEND="tests.testapp.backends.PatientRedisBackend"
    )
    runner = lab.start(settings)
    runner.wait_for_log(r"Started worker default\.3")
    time.sleep(0.5)  # most likely every worker is in its blocking pop now (none must be)

    runner.send(signal.SIGTERM)

    assert runner.wait(timeout_s=60) == 0  # far below the workers' 600 s wait
    assert lab.lab_pids() == []


def test_the_shutdown_deadline_kills_what_still_runs(lab: Lab) -> None:
    settings = lab.settings(SHUTDOWN_DEADLINE_S=1)
    lab.enqueue("record_slowly", "long", 60.0)
    runner = lab.start(settings)
    wait_until(lambda: lab.records("started"), what="the job to start")

    runner.send(signal.SIGTERM)

    assert runner.wait() == 0
    assert "Shutdown deadline of 1s passed: killing worker default.1" in runner.log()
    assert lab.tokens("runs") == []
    assert lab.lab_pids() == []


def test_sigkill_of_the_runner_leaves_no_worker_alive(lab: Lab) -> None:
    settings = lab.settings(workers={"default": 2})
    lab.enqueue("record_slowly", "long", 60.0)
    runner = lab.start(settings)
    wait_until(lambda: lab.records("started"), what="the job to start")
    runner.wait_for_log(r"Started worker default\.2")
    workers = set(runner.worker_pids().values())
    assert set(lab.lab_pids()) == {runner.pid, *workers}, runner.log()

    runner.send(signal.SIGKILL)
    runner.wait()

    wait_until(
        lambda: not lab.lab_pids(), timeout_s=5, what=f"the workers {sorted(workers)} to die"
    )
    assert lab.tokens("runs") == []
