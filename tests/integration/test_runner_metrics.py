"""Prometheus metrics of a real runner and its workers, read over HTTP."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.runner_harness import Lab, free_ports, lab_fixture, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


def _get(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the endpoint serves: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(_get(port))
        for sample in family.samples
    }


def _answers(port: int) -> bool:
    try:
        _get(port)
    except OSError:
        return False
    return True


def test_the_runner_and_each_worker_serve_metrics(lab: Lab) -> None:
    base = free_ports(3)
    settings = lab.settings(
        workers={"default": 1, "other": 1},
        ENABLE_PROMETHEUS=True,
        PROMETHEUS_START_PORT=base,
        PROMETHEUS_BIND_ADDRESS="127.0.0.1",
    )
    lab.backend().pause("other", datetime.now(UTC) + timedelta(hours=1))
    for number in range(3):
        lab.enqueue("record", f"waiting-{number}", queue="other")
    lab.enqueue("record", "done")
    lab.enqueue("overrun", "stuck", 60.0, timeout=1)
    runner = lab.start(settings)
    wait_until(lambda: all(_answers(port) for port in (base, base + 1, base + 2)), what="servers")

    config = json.loads(_get(base, "/worker_config"))
    host = socket.gethostname()
    assert config == [
        {
            "targets": [f"{host}:{base + 1}"],
            "labels": {
                "django_lightweight_queue_worker_queue": "default",
                "django_lightweight_queue_worker_num": "1",
            },
        },
        {
            "targets": [f"{host}:{base + 2}"],
            "labels": {
                "django_lightweight_queue_worker_queue": "other",
                "django_lightweight_queue_worker_num": "1",
            },
        },
    ]

    # The overrunning job is killed; the slot's new worker serves the runner's counts.
    runner.wait_for_log(r"Restarted worker default\.1")
    slot = (("queue", "default"), ("worker", "1"))
    wait_until(
        lambda: (
            _answers(base + 1) and _samples(base + 1).get(("dlq_job_timeouts_total", slot)) == 1.0
        ),
        what="the new worker's metrics",
    )
    worker = _samples(base + 1)
    assert worker[("dlq_worker_restarts_total", slot)] == 1.0

    runner_samples = _samples(base)
    assert runner_samples[("dlq_queue_length", (("queue", "other"),))] == 3.0
    assert runner_samples[("dlq_queue_paused", (("queue", "other"),))] == 1.0
    assert runner_samples[("dlq_queue_paused", (("queue", "default"),))] == 0.0
    assert runner_samples[("dlq_job_timeouts_total", slot)] == 1.0
    assert runner_samples[("dlq_worker_restarts_total", slot)] == 1.0
    assert runner_samples[("dlq_workers_running", ())] == 2.0

    # Job metrics are per process: run one more job in the new worker and read them.
    lab.enqueue("record", "counted")
    wait_until(lambda: "counted" in lab.tokens("runs"), what="the job")
    task = "tests.testapp.tasks.record"
    wait_until(
        lambda: (
            _samples(base + 1).get(
                ("dlq_jobs_total", (("outcome", "succeeded"), ("queue", "default"), ("task", task)))
            )
            == 1.0
        ),
        what="the job to be counted",
    )
    worker = _samples(base + 1)
    assert worker[("dlq_job_duration_seconds_count", (("queue", "default"), ("task", task)))] == 1
    # (The runner looks at its workers every tenth of a second: wait for it.)
    wait_until(lambda: _samples(base).get(("dlq_workers_busy", ())) == 0.0, what="idle workers")

    # A job without a timeout still shows as a busy worker: every job start is seen.
    lab.enqueue("record_slowly_killable", "busy", 60.0, sigkill_on_stop=True)
    wait_until(lambda: _samples(base).get(("dlq_workers_busy", ())) == 1.0, what="a busy worker")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
