"""``queue_deduplicate``."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import Backend
from tests.integration.command_support import *  # noqa: F403  # the commands' fixtures and helpers
from tests.integration.command_support import TTYStringIO, fill, make_job, run


def test_deduplicate_reports_in_upstream_words(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(2), make_job(1), make_job(1))
    out = run("queue_deduplicate", "default")
    assert out.stdout == "Deduplication reduced the queue from 4 jobs to 2 job(s)\n"
    assert memory.length("default") == 2


def test_deduplicate_without_duplicates(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(2))
    out = run("queue_deduplicate", "default")
    assert out.stdout == "No duplicate jobs detected (queue length remains 2)\n"


def test_deduplicate_draws_a_progress_bar_on_a_terminal(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(1), make_job(2))
    err = TTYStringIO()
    call_command("queue_deduplicate", "default", stdout=StringIO(), stderr=err)
    drawn = err.getvalue()
    assert "Deduplicating default" in drawn
    assert "3/3" in drawn


def test_deduplicate_draws_no_bar_when_not_on_a_terminal(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(1))
    assert run("queue_deduplicate", "default").stderr == ""


def test_deduplicate_on_every_backend(any_backend: Backend) -> None:
    fill(any_backend, "default", make_job(1), make_job(2), make_job(1), make_job(1))
    out = run("queue_deduplicate", "default")
    assert out.stdout == "Deduplication reduced the queue from 4 jobs to 2 job(s)\n"
    assert run("queue_deduplicate", "default").stdout == (
        "No duplicate jobs detected (queue length remains 2)\n"
    )
