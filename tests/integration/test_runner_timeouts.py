"""Timeouts held by the supervisor: even a job that blocks every signal is killed."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.runner_harness import Delivery, Lab, lab_fixture, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

# The promise: killed within the timeout plus two seconds.
TIMEOUT_S = 1
PROMISED_S = TIMEOUT_S + 2


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in {"Z", "X"}


@pytest.mark.parametrize("delivery", ["at-most-once", "reliable"])
def test_a_job_that_blocks_signals_is_killed_and_the_slot_goes_on(
    lab: Lab, delivery: Delivery
) -> None:
    settings = lab.settings(delivery=delivery)
    lab.enqueue("overrun", "stuck", 60.0, timeout=TIMEOUT_S)
    lab.enqueue("record", "next")
    runner = lab.start(settings)

    started = wait_until(lambda: lab.records("started"), what="the job to start")[0]
    pid = int(started["pid"])
    wait_until(lambda: _gone(pid), what="the worker to be killed")

    # How long the job had run when the runner killed it, as the runner measured it (the
    # worker's start time on the job board, the runner's clock at the kill): no stopwatch
    # in the test, whose own scheduling on a loaded machine says nothing of the runner's.
    killed = runner.wait_for_log(r"timed out after 1s \(it ran ([\d.]+)s\); killing its process")
    assert TIMEOUT_S <= float(killed.group(1)) <= PROMISED_S
    wait_until(lambda: lab.tokens("runs") == ["next"], what="the slot to run the next job")
    if delivery == "reliable":
        # The kill counted as a delivery that did not finish; the job runs again.
        wait_until(lambda: len(lab.records("started")) >= 2, what="a second delivery")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
    assert "stuck" not in lab.tokens("runs")


def test_a_job_that_always_overruns_ends_as_a_dead_letter(lab: Lab) -> None:
    settings = lab.settings(delivery="reliable", MAX_DELIVERIES=2)
    lab.enqueue("overrun", "stuck", 60.0, timeout=TIMEOUT_S)
    runner = lab.start(settings)
    backend = lab.backend(max_deliveries=2)

    wait_until(lambda: backend.dead_letter_count("default") == 1, what="a dead letter")

    assert lab.tokens("started") == ["stuck", "stuck"]
    assert backend.length("default") == 0
    (letter,) = backend.dead_letters("default")
    assert "timed out" in letter.reason
    assert len(re.findall(r"timed out after 1s \(it ran [\d.]+s\); killing", runner.log())) == 2
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0


def test_the_worker_killed_for_a_timeout_is_not_left_behind(lab: Lab) -> None:
    settings = lab.settings(delivery="at-most-once")
    lab.enqueue("overrun", "stuck", 60.0, timeout=TIMEOUT_S)
    runner = lab.start(settings)
    started = wait_until(lambda: lab.records("started"), what="the job to start")[0]
    first = int(started["pid"])

    runner.wait_for_log(r"Restarted worker default\.1")

    assert first not in lab.lab_pids()
    assert len(lab.lab_pids()) == 2  # the runner and the new worker
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
    assert lab.lab_pids() == []
