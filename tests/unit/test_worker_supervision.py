"""The supervisor's pure decisions: what an exit means, when a job overruns, discovery JSON."""

from __future__ import annotations

import pytest

from dlq.domain.allocation import WorkerSlot
from dlq.worker.board import RunningJob
from dlq.worker.children import Child, ExitStatus, KillReason
from dlq.worker.metrics import worker_config
from dlq.worker.slots import Verdict, job_deadline, judge_exit

CLEAN, CRASHED, KILLED = ExitStatus(0, None), ExitStatus(70, None), ExitStatus(None, 9)


@pytest.mark.parametrize(
    ("kill_reason", "stopping", "status", "running_job", "jobs_done", "verdict"),
    [
        ("timeout", False, KILLED, True, 0, "timed_out"),
        ("timeout", True, KILLED, True, 3, "timed_out"),  # still acknowledged when stopping
        ("lease", False, KILLED, True, 0, "lease_lost"),
        ("stop", True, KILLED, True, 0, "stopped"),
        (None, True, CLEAN, False, 0, "stopped"),
        (None, False, CLEAN, False, 1000, "recycled"),
        (None, False, CLEAN, False, 0, "crashed"),  # nothing to recycle for: not a recycle
        (None, False, CLEAN, True, 5, "crashed"),  # os._exit(0) inside a job
        (None, False, CRASHED, False, 5, "crashed"),
        (None, False, KILLED, True, 5, "crashed"),  # the OOM killer, say
    ],
)
def test_what_an_exit_means(
    kill_reason: KillReason | None,
    stopping: bool,
    status: ExitStatus,
    running_job: bool,
    jobs_done: int,
    verdict: Verdict,
) -> None:
    assert (
        judge_exit(
            kill_reason=kill_reason,
            stopping=stopping,
            status=status,
            running_job=running_job,
            jobs_done=jobs_done,
        )
        == verdict
    )


@pytest.mark.parametrize(("timeout", "deadline"), [(None, None), (0, None), (5, 105.0)])
def test_a_job_overruns_its_timeout_after_it_started(
    timeout: int | None, deadline: float | None
) -> None:
    job = RunningJob("0f", "a.b", started_at=100.0, timeout_s=timeout, sigkill_on_stop=False)
    child = Child(pid=1, reader=None, started_at=0.0, job=job)

    assert job_deadline(child) == deadline
    assert job_deadline(Child(pid=1, reader=None, started_at=0.0)) is None
    assert job_deadline(None) is None


def test_exit_statuses_read_as_people_say_them() -> None:
    assert str(KILLED) == "killed by SIGKILL"
    assert str(CRASHED) == "exit code 70"
    assert CLEAN.clean
    assert not KILLED.clean


def test_worker_config_is_upstreams_service_discovery_answer() -> None:
    slots = [WorkerSlot("a", 1), WorkerSlot("a", 2), WorkerSlot("b", 1)]

    assert worker_config(slots, 9300, "host") == [
        {
            "targets": ["host:9301"],
            "labels": {
                "django_lightweight_queue_worker_queue": "a",
                "django_lightweight_queue_worker_num": "1",
            },
        },
        {
            "targets": ["host:9302"],
            "labels": {
                "django_lightweight_queue_worker_queue": "a",
                "django_lightweight_queue_worker_num": "2",
            },
        },
        {
            "targets": ["host:9303"],
            "labels": {
                "django_lightweight_queue_worker_queue": "b",
                "django_lightweight_queue_worker_num": "1",
            },
        },
    ]
