"""``queue_status``, as text and as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import Backend
from dlq.exceptions import BackendError
from tests.backends import KINDS
from tests.integration.command_support import *  # noqa: F403  # the commands' fixtures and helpers
from tests.integration.command_support import ADD, SYNCHRONOUS, bury, fill, make_job, run


def test_status_of_every_configured_queue(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(2), make_job(3), make_job(4))
    taken = memory.dequeue("default", 1, 0)
    assert taken is not None
    fill(memory, "emails", make_job(5))
    bury(memory, "emails", "no such task")
    run("queue_pause", "emails", "--until", "2999-01-01T00:00:00Z")

    lines = run("queue_status").stdout.splitlines()

    assert lines[:7] == [
        "Queue default (dlq.backends.memory.InMemoryBackend, 1 worker(s))",
        "  waiting:      3 job(s)",
        "  delayed:      0 job(s)",
        "  state:        running",
        "  in progress:  1 job(s)",
        f"    slot 1: {taken.id} {ADD} (attempt 1)",
        "  dead letters: 0",
    ]
    assert lines[7:10] == [
        "Queue emails (dlq.backends.memory.InMemoryBackend, 2 worker(s))",
        "  waiting:      0 job(s)",
        "  delayed:      0 job(s)",
    ]
    assert lines[10].startswith("  state:        paused until 2999-01-01 00:00:00+00:00 (")
    assert lines[10].endswith(" left)")
    assert lines[11:] == ["  in progress:  none", "  dead letters: 1"]


def test_status_of_named_queues_only(memory: InMemoryBackend) -> None:
    out = run("queue_status", "emails", "adhoc", "emails")
    headings = [line for line in out.stdout.splitlines() if line.startswith("Queue ")]
    assert headings == [
        "Queue emails (dlq.backends.memory.InMemoryBackend, 2 worker(s))",
        "Queue adhoc (dlq.backends.memory.InMemoryBackend, 0 worker(s); not in the configuration)",
    ]


def test_status_with_no_queues_configured() -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_WORKERS={}):
        out = run("queue_status")
        assert out.stdout.startswith("No queues configured")
        assert json.loads(run("queue_status", "--json").stdout)["queues"] == []


def test_status_as_json(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(2))
    taken = memory.dequeue("default", 1, 0)
    assert taken is not None
    run("queue_pause", "default", "--until", "2999-01-01T00:00:00Z")

    report = json.loads(run("queue_status", "--json").stdout)

    assert datetime.fromisoformat(report["now"]) <= datetime.now(UTC)
    assert report["queues"][0] == {
        "queue": "default",
        "backend": "dlq.backends.memory.InMemoryBackend",
        "workers": 1,
        "configured": True,
        "length": 1,
        "delayed": 0,
        "next_due": None,
        "paused": True,
        "paused_until": "2999-01-01T00:00:00+00:00",
        "in_progress": [{"worker": 1, "job_id": taken.id, "path": ADD, "attempt": 1}],
        "dead_letters": 0,
        "unsupported": [],
        "error": None,
    }
    assert report["queues"][1]["queue"] == "emails"
    assert report["queues"][1]["paused"] is False


def test_status_shows_what_a_backend_cannot_tell_as_not_available(synchronous: None) -> None:
    lines = run("queue_status", "default").stdout.splitlines()
    assert lines == [
        f"Queue default ({SYNCHRONOUS}, 1 worker(s))",
        "  waiting:      0 job(s)",
        "  delayed:      n/a",
        "  state:        n/a",
        "  in progress:  n/a",
        "  dead letters: n/a",
    ]
    (queue,) = json.loads(run("queue_status", "default", "--json").stdout)["queues"]
    assert queue["paused"] is None
    assert queue["in_progress"] is None
    assert queue["dead_letters"] is None
    assert queue["unsupported"] == [
        "SupportsPause",
        "SupportsInspection",
        "SupportsDelay",
        "SupportsDeadLetters",
    ]


class UnreachableBackend(InMemoryBackend):
    """A backend whose store does not answer."""

    def length(self, queue: str) -> int:
        raise BackendError("cannot reach the store at example:1")


def test_status_shows_the_other_queues_when_one_backend_fails(memory: InMemoryBackend) -> None:
    out = StringIO()
    with (
        override_settings(
            LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES={"emails": f"{__name__}.UnreachableBackend"}
        ),
        pytest.raises(CommandError, match="could not read the status of: emails"),
    ):
        call_command("queue_status", stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Queue default (")
    assert lines[-2:] == [
        f"Queue emails ({__name__}.UnreachableBackend, 2 worker(s))",
        "  error:        cannot reach the store at example:1",
    ]


def test_status_reads_the_config_file(memory: InMemoryBackend, tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("LIGHTWEIGHT_QUEUE_WORKERS = {'fromfile': 3}\n")
    out = run("queue_status", "--config", str(special))
    assert out.stdout.splitlines()[0] == (
        "Queue fromfile (dlq.backends.memory.InMemoryBackend, 3 worker(s))"
    )


def test_status_on_every_backend(any_backend: Backend) -> None:
    fill(any_backend, "emails", make_job(1))
    bury(any_backend, "emails", "no such task")
    (running,) = fill(any_backend, "default", make_job(2))
    taken = any_backend.dequeue("default", 2, 1.0)
    assert taken is not None
    assert taken.id == running.id

    report = json.loads(run("queue_status", "--json").stdout)

    default, emails = report["queues"]
    assert default["backend"] == f"{type(any_backend).__module__}.{type(any_backend).__name__}"
    assert default["backend"] in {kind.path for kind in KINDS.values()}
    assert default["length"] == 0
    assert default["paused"] is False
    assert default["in_progress"] == [
        {"worker": 2, "job_id": running.id, "path": ADD, "attempt": 1}
    ]
    assert default["dead_letters"] == 0
    assert default["unsupported"] == []
    assert (emails["queue"], emails["dead_letters"], emails["length"]) == ("emails", 1, 0)
    text = run("queue_status", "default").stdout
    assert f"    slot 2: {running.id} {ADD} (attempt 1)\n" in text
