"""``queue_pause`` and ``queue_resume``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management.base import CommandError

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import Backend
from dlq.domain.durations import DURATION_SYNTAX, UNTIL_SYNTAX
from tests.integration.command_support import *  # noqa: F403  # the commands' fixtures and helpers
from tests.integration.command_support import run


def test_pause_for_a_duration_says_when_it_ends(memory: InMemoryBackend) -> None:
    before = datetime.now(UTC)
    out = run("queue_pause", "default", "--for", "1h2m3s")
    until = memory.paused_until("default")
    assert until is not None
    assert before + timedelta(hours=1, minutes=2, seconds=3) <= until
    assert until <= datetime.now(UTC) + timedelta(hours=1, minutes=2, seconds=3)
    assert out.stdout == (f"Paused queue default until {until.isoformat(' ')} (for 1h2m3s).\n")
    assert out.stderr == ""


def paused_until_printed(stdout: str) -> datetime:
    prefix = "Paused queue default until "
    assert stdout.startswith(prefix)
    return datetime.fromisoformat(stdout[len(prefix) :].partition(" (for ")[0])


def test_pause_accepts_a_sub_second_duration(memory: InMemoryBackend) -> None:
    before = datetime.now(UTC)
    out = run("queue_pause", "default", "--for", "0.5s")
    until = paused_until_printed(out.stdout)
    assert before + timedelta(seconds=0.5) <= until <= datetime.now(UTC) + timedelta(seconds=0.5)
    assert out.stdout.endswith(" (for 0.5s).\n")


def test_pause_until_a_time(memory: InMemoryBackend) -> None:
    out = run("queue_pause", "default", "--until", "2999-01-01T00:00:00+0000")
    assert memory.paused_until("default") == datetime(2999, 1, 1, tzinfo=UTC)
    assert out.stdout.startswith("Paused queue default until 2999-01-01 00:00:00+00:00 (for ")


def test_pause_until_converts_the_offset_to_utc(memory: InMemoryBackend) -> None:
    run("queue_pause", "default", "--until", "2999-01-01T02:00:00+02:00")
    assert memory.paused_until("default") == datetime(2999, 1, 1, tzinfo=UTC)


def test_pause_takes_options_from_call_command_keywords(memory: InMemoryBackend) -> None:
    run("queue_pause", "default", duration="10m")
    assert memory.paused_until("default") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), r"^give exactly one of --for DURATION and --until TIME \(neither was given\)$"),
        (
            ("--for", "1h", "--until", "2999-01-01T00:00:00Z"),
            "not allowed with argument",  # argparse's own mutually exclusive group
        ),
    ],
)
def test_pause_needs_exactly_one_of_for_and_until(
    memory: InMemoryBackend, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run("queue_pause", "default", *args)
    assert memory.paused_until("default") is None


def test_pause_with_both_given_as_keywords_is_refused(memory: InMemoryBackend) -> None:
    with pytest.raises(CommandError, match=r"exactly one .* \(both were given\)"):
        run("queue_pause", "default", duration="1h", until="2999-01-01T00:00:00Z")


@pytest.mark.parametrize("text", ["1x", "1m2h", "soon", "-5s", "1.5m"])
def test_pause_rejects_a_bad_duration_quoting_it_and_the_syntax(
    memory: InMemoryBackend, text: str
) -> None:
    with pytest.raises(CommandError) as caught:
        run("queue_pause", "default", f"--for={text}")
    message = str(caught.value)
    assert message.startswith(f"--for: invalid duration {text!r}")
    assert DURATION_SYNTAX in message
    assert memory.paused_until("default") is None


def test_pause_rejects_a_zero_duration(memory: InMemoryBackend) -> None:
    with pytest.raises(CommandError, match=r"--for: duration '0s' is zero"):
        run("queue_pause", "default", "--for", "0s")


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01T00:00:00Z", "2026-01-01"])
def test_pause_rejects_a_bad_time_quoting_it_and_the_syntax(
    memory: InMemoryBackend, text: str
) -> None:
    with pytest.raises(CommandError) as caught:
        run("queue_pause", "default", "--until", text)
    message = str(caught.value)
    assert message.startswith(f"--until: invalid time {text!r}")
    if "13" not in text:
        assert UNTIL_SYNTAX in message


def test_pause_rejects_a_time_without_an_offset(memory: InMemoryBackend) -> None:
    with pytest.raises(CommandError, match="has no UTC offset"):
        run("queue_pause", "default", "--until", "2999-01-01T00:00:00")


def test_pause_refuses_a_time_in_the_past(memory: InMemoryBackend) -> None:
    with pytest.raises(
        CommandError,
        match=r"--until: refusing to pause until 2000-01-01T00:00:00\+00:00, which is not after now",
    ):
        run("queue_pause", "default", "--until", "2000-01-01T00:00:00+0000")
    assert memory.paused_until("default") is None


def test_pause_warns_about_a_queue_the_configuration_does_not_name(
    memory: InMemoryBackend,
) -> None:
    out = run("queue_pause", "email", "--for", "1m")
    assert "queue 'email' is not in LIGHTWEIGHT_QUEUE_WORKERS" in out.stderr
    assert "did you mean 'emails'?" in out.stderr
    assert memory.paused_until("email") is not None


def test_resume_ends_a_pause(memory: InMemoryBackend) -> None:
    run("queue_pause", "default", "--until", "2999-01-01T00:00:00Z")
    out = run("queue_resume", "default")
    assert memory.paused_until("default") is None
    assert out.stdout == (
        "Resumed queue default (it was paused until 2999-01-01 00:00:00+00:00).\n"
    )


def test_resume_of_a_running_queue_says_so(memory: InMemoryBackend) -> None:
    assert run("queue_resume", "default").stdout == "Queue default was not paused; it is running.\n"


def test_pause_status_resume_on_every_backend(any_backend: Backend) -> None:
    before = datetime.now(UTC)
    out = run("queue_pause", "default", "--for", "0.5s")
    assert paused_until_printed(out.stdout) >= before + timedelta(seconds=0.5)
    assert out.stdout.endswith(" (for 0.5s).\n")

    run("queue_pause", "default", "--until", "2999-01-01T00:00:00+0000")
    (queue,) = json.loads(run("queue_status", "default", "--json").stdout)["queues"]
    assert queue["paused"] is True
    assert queue["paused_until"] == "2999-01-01T00:00:00+00:00"

    out = run("queue_resume", "default")
    assert out.stdout == "Resumed queue default (it was paused until 2999-01-01 00:00:00+00:00).\n"
    assert "  state:        running" in run("queue_status", "default").stdout


def test_a_pause_too_short_to_set_is_an_error_not_a_traceback(redis_backend: Backend) -> None:
    with pytest.raises(CommandError, match="the pause ended before it could be set"):
        run("queue_pause", "default", "--for", "0.000001s")
