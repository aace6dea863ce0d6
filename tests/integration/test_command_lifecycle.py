"""The commands' part in the job lifecycle: ``queue_status`` (delayed jobs),
``queue_clear`` (delayed jobs asked about separately), ``queue_job`` and
``queue_prune_results``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management.base import CommandError

import dlq.testing
from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import Backend, SupportsDelay
from dlq.domain.envelope import Job
from tests.integration.command_support import *  # noqa: F403  # the commands' fixtures and helpers
from tests.integration.command_support import ADD, fill, make_job, run
from tests.testapp import lifecycle_tasks as lt

pytestmark = pytest.mark.django_db(transaction=True)

LATER = datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)


def held(*args: int, at: datetime = LATER) -> Job:
    return Job.create(ADD, args, {}, now=datetime.now(UTC), run_after=at)


def test_status_shows_the_delayed_count_and_the_next_due_time(any_backend: Backend) -> None:
    if not isinstance(any_backend, SupportsDelay):
        pytest.skip(f"{type(any_backend).__name__} holds no delayed jobs")
    fill(any_backend, "default", make_job(1), held(2), held(3, at=LATER + timedelta(days=1)))
    out = run("queue_status", "default")
    assert "  waiting:      1 job(s)\n" in out.stdout
    assert "  delayed:      2 job(s), next due 2099-01-02 03:04:05+00:00 (in " in out.stdout
    (queue,) = json.loads(run("queue_status", "default", "--json").stdout)["queues"]
    assert (queue["length"], queue["delayed"]) == (1, 2)
    assert queue["next_due"] == "2099-01-02T03:04:05+00:00"


def test_status_of_a_backend_that_holds_nothing_says_so(synchronous: None) -> None:
    assert "  delayed:      n/a\n" in run("queue_status", "default").stdout


def test_clear_asks_about_delayed_jobs_separately(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), held(2), held(3))
    out = run("queue_clear", "default", stdin="y\nn\n")
    assert out.stdout == (
        "Clear all 1 job(s) waiting in queue default? [y/N] \n"
        "Cleared queue default: removed 1 job(s).\n"
        "Also remove the 2 delayed job(s) of queue default (held until a later time,"
        " pending retries included)? [y/N] \n"
        "Kept 2 delayed job(s) of queue default (--delayed removes them).\n"
    )
    assert memory.delayed_count("default") == 2
    out = run("queue_clear", "default", stdin="y\nyes\n")
    assert out.stdout.endswith("Removed 2 delayed job(s) of queue default.\n")
    assert memory.delayed_count("default") == 0


def test_clear_without_asking_keeps_delayed_jobs_unless_told(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), held(2))
    assert run("queue_clear", "default", "--yes").stdout.endswith(
        "Kept 1 delayed job(s) of queue default (--delayed removes them).\n"
    )
    assert run("queue_clear", "default", "--yes", "--delayed").stdout == (
        "Cleared queue default: removed 0 job(s).\nRemoved 1 delayed job(s) of queue default.\n"
    )


def test_clear_delayed_on_a_backend_without_them_is_refused(synchronous: None) -> None:
    with pytest.raises(CommandError, match="hold delayed jobs"):
        run("queue_clear", "default", "--yes", "--delayed")


def test_queue_job_prints_a_record_with_its_errors(memory: InMemoryBackend) -> None:
    handle = lt.always_fails.enqueue("card declined")
    dlq.testing.run_queued("default", delayed=True)
    out = run("queue_job", handle.id).stdout
    assert f"Job {handle.id}\n" in out
    assert "  task:        tests.testapp.lifecycle_tasks.always_fails\n" in out
    assert "  status:      dead\n  attempt:     2\n" in out
    assert "  error 1:     builtins.ValueError: card declined\n" in out
    assert "  error 2:     builtins.ValueError: card declined\n" in out
    assert "  last traceback:\n    Traceback (most recent call last):" in out
    data = json.loads(run("queue_job", handle.id, "--json", "--queue", "default").stdout)
    assert (data["status"], data["attempt"], data["args"]) == ("dead", 2, ["card declined"])


def test_queue_job_prints_the_return_value(memory: InMemoryBackend) -> None:
    handle = lt.receipt.enqueue([])
    dlq.testing.run_queued("default")
    out = run("queue_job", handle.id).stdout
    assert "  status:      succeeded\n" in out
    assert '  returned:    {"total": "0", "items": 0}\n' in out


def test_queue_job_without_a_record_says_which_jobs_have_one(memory: InMemoryBackend) -> None:
    with pytest.raises(CommandError, match="store_result=True"):
        run("queue_job", "no-such-job")


def test_prune_results_reports_per_backend(memory: InMemoryBackend) -> None:
    handle = lt.receipt.enqueue([])
    dlq.testing.run_queued("default")
    out = run("queue_prune_results").stdout
    assert (
        out == "dlq.backends.memory.InMemoryBackend (queue default): removed 0 expired record(s)\n"
    )
    assert dlq.get_job(handle.id) is not None
