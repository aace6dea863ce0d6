"""``queue_clear``."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import Backend
from tests.integration.command_support import *  # noqa: F403  # the commands' fixtures and helpers
from tests.integration.command_support import fill, make_job, run


@pytest.mark.parametrize("flag", ["--yes", "--noinput", "--no-input"])
def test_clear_without_asking(memory: InMemoryBackend, flag: str) -> None:
    fill(memory, "default", make_job(1), make_job(2), make_job(3))
    out = run("queue_clear", "default", flag)
    assert out.stdout == "Cleared queue default: removed 3 job(s).\n"
    assert memory.length("default") == 0


def test_clear_without_asking_from_call_command(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1))
    run("queue_clear", "default", interactive=False)
    assert memory.length("default") == 0


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "yes\n", " YES \n", "y"])
def test_clear_asks_and_goes_ahead_on_yes(memory: InMemoryBackend, answer: str) -> None:
    fill(memory, "default", make_job(1), make_job(2))
    out = run("queue_clear", "default", stdin=answer)
    assert out.stdout == (
        "Clear all 2 job(s) waiting in queue default? [y/N] \n"
        "Cleared queue default: removed 2 job(s).\n"
    )
    assert memory.length("default") == 0


@pytest.mark.parametrize("answer", ["n\n", "\n", "no\n", "yy\n", "ok\n"])
def test_clear_asks_and_stops_on_anything_else(memory: InMemoryBackend, answer: str) -> None:
    fill(memory, "default", make_job(1), make_job(2))
    with pytest.raises(CommandError, match=r"^Aborted: nothing was cleared\.$"):
        run("queue_clear", "default", stdin=answer)
    assert memory.length("default") == 2


def test_clear_with_no_input_refuses_and_says_how(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1))
    with pytest.raises(CommandError) as caught:
        run("queue_clear", "default", stdin="")
    message = str(caught.value)
    assert "no answer (standard input is closed), so nothing was cleared." in message
    assert "Pass --yes (or --noinput)" in message
    assert memory.length("default") == 1


def test_clear_leaves_other_queues_alone(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1))
    fill(memory, "emails", make_job(2))
    run("queue_clear", "default", "--yes")
    assert memory.length("emails") == 1


def test_clear_on_every_backend(any_backend: Backend) -> None:
    fill(any_backend, "default", make_job(1), make_job(2), make_job(3))
    with pytest.raises(CommandError, match="Aborted"):
        run("queue_clear", "default", stdin="n\n")
    assert any_backend.length("default") == 3
    out = run("queue_clear", "default", stdin="y\n")
    assert out.stdout.endswith("Cleared queue default: removed 3 job(s).\n")
    assert any_backend.length("default") == 0
