"""Which slots a runner serves: the pool split, exact configurations, and slot leases."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlq.domain.allocation import slots_for_machine
from tests.integration.runner_harness import Lab, RunnerProcess, lab_fixture, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

WORKERS = {"default": 3, "other": 2}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


def _started(runner: RunnerProcess) -> set[str]:
    return set(re.findall(r"Started worker (\S+) \(pid", runner.log()))


def _stop(*runners: RunnerProcess) -> None:
    for runner in runners:
        runner.send(signal.SIGTERM)
    for runner in runners:
        assert runner.wait() == 0


def test_two_machines_of_a_pool_serve_disjoint_slots_that_cover_the_pool(lab: Lab) -> None:
    settings = lab.settings(workers=WORKERS)
    first = lab.start(settings, "--machine", "1", "--of", "2")
    second = lab.start(settings, "--machine", "2", "--of", "2")
    expected = [
        {str(slot) for slot in slots_for_machine(WORKERS, machine, 2)} for machine in (1, 2)
    ]
    wait_until(lambda: _started(first) == expected[0], what="machine 1's workers")
    wait_until(lambda: _started(second) == expected[1], what="machine 2's workers")

    assert not _started(first) & _started(second)
    assert _started(first) | _started(second) == {
        "default.1",
        "default.2",
        "default.3",
        "other.1",
        "other.2",
    }
    for number in range(20):
        lab.enqueue("record", f"job-{number}", queue="default" if number % 2 else "other")
    wait_until(lambda: len(lab.tokens("runs")) == 20, what="the pool to run every job")
    _stop(first, second)


def test_a_second_runner_for_the_same_slots_waits_for_them(lab: Lab) -> None:
    settings = lab.settings(workers=WORKERS)
    first = lab.start(settings, "--machine", "1", "--of", "2")
    mine = {str(slot) for slot in slots_for_machine(WORKERS, 1, 2)}
    wait_until(lambda: _started(first) == mine, what="the first runner's workers")

    second = lab.start(settings, "--machine", "1", "--of", "2")
    for slot in sorted(mine):
        second.wait_for_log(rf"Worker slot {re.escape(slot)} is served by another runner")
    assert _started(second) == set()
    lab.enqueue("record_slowly", "in-flight", 1.5, queue="other")
    wait_until(lambda: lab.records("started"), what="the job to start")

    first.send(signal.SIGTERM)

    assert first.wait() == 0
    wait_until(lambda: _started(second) == mine, what="the second runner to take over")
    # The first runner's worker finished its job before the second took the slot.
    assert lab.tokens("runs") == ["in-flight"]
    assert "this runner serves it now" in second.log()
    _stop(second)


def test_an_exact_configuration_runs_its_workers_on_this_machine(lab: Lab) -> None:
    settings = lab.settings(workers={"default": 3})
    special = lab.tmp_path / "special.py"
    special.write_text("LIGHTWEIGHT_QUEUE_WORKERS = {'default': 2}\n")
    runner = lab.start(settings, "--exact-configuration", "--config", str(special))

    wait_until(lambda: _started(runner) == {"default.1", "default.2"}, what="two workers")
    _stop(runner)


def test_touchfile_and_pidfile(lab: Lab) -> None:
    settings = lab.settings(workers={"default": 1})
    touch = lab.tmp_path / "touched-%s"
    pidfile = lab.tmp_path / "runner.pid"
    launcher = lab.start(settings, "--pidfile", str(pidfile), "--touchfile", str(touch))

    # The launching process exits once the daemon has written its pid.
    assert launcher.wait() == 0
    daemon = int(pidfile.read_text())
    assert daemon in lab.lab_pids()
    lab.enqueue("record", "one")
    wait_until(lambda: (lab.tmp_path / "touched-default").exists(), what="the touch file")

    os.kill(daemon, signal.SIGTERM)
    wait_until(lambda: not pidfile.exists(), what="the pidfile to go")
    wait_until(lambda: lab.lab_pids() == [], what="the daemon and its worker to exit")


def test_queue_worker_runs_one_supervised_slot(lab: Lab) -> None:
    settings = lab.settings(workers={"default": 3})
    lab.enqueue("overrun", "stuck", 60.0, timeout=1)
    lab.enqueue("record", "next")
    worker = lab.start(settings, "default", "2", command="queue_worker")

    worker.wait_for_log(r"Started worker default\.2 \(pid")
    worker.wait_for_log(r"timed out after 1s \(it ran [\d.]+s\); killing its process")
    wait_until(lambda: lab.tokens("runs") == ["next"], what="the next job")
    assert "default.1" not in worker.log()
    _stop(worker)


def test_a_runner_that_loses_its_lease_stops_its_worker(lab: Lab) -> None:
    settings = lab.settings(workers={"default": 1})
    lab.enqueue("record_slowly", "interrupted", 60.0)
    runner = lab.start(settings)
    started = wait_until(lambda: lab.records("started"), what="the job to start")[0]

    # As if the lease had expired and another runner had taken the slot.
    lease = f"{lab.prefix}:django_lightweight_queue:{{default}}:lease:1"
    assert lab.client.exists(lease)
    lab.client.set(lease, "another-runner", px=60_000)

    runner.wait_for_log(r"Lost the lease on worker slot default\.1")
    wait_until(lambda: started["pid"] not in lab.lab_pids(), what="the worker to be killed")
    runner.wait_for_log(r"Worker slot default\.1 is served by another runner")
    assert "Restarted worker" not in runner.log()
    _stop(runner)
