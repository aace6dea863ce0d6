"""``queue_dead_letters list``, ``requeue`` and ``purge``."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from dlq.backends.memory import InMemoryBackend
from dlq.backends.redis.keys import Keys
from dlq.conf import DjangoRuntime
from dlq.core.protocols import Backend
from dlq.domain.outcome import Succeeded
from dlq.management.queues import payload_preview, printable
from tests.integration.command_support import *  # noqa: F403  # the commands' fixtures and helpers
from tests.integration.command_support import bury, fill, make_job, run
from tests.services import require_redis


def test_dead_letters_list(memory: InMemoryBackend) -> None:
    first, second = fill(memory, "default", make_job(1), make_job(2))
    bury(memory, "default", "no task named 'x'")
    bury(memory, "default", "bad arguments")

    out = run("queue_dead_letters", "default", "list")

    lines = out.stdout.splitlines()
    assert lines[0] == "Queue default has 2 dead letter(s):"
    letters = memory.dead_letters("default")
    for index, (letter, job, reason) in enumerate(
        zip(letters, (first, second), ("no task named 'x'", "bad arguments"), strict=True)
    ):
        assert lines[1 + 2 * index] == (f"{letter.failed_at.isoformat(' ')}  {job.id}  {reason}")
        assert lines[2 + 2 * index] == f"    payload: {letter.raw!r}"


def test_dead_letters_list_respects_the_limit(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(2), make_job(3))
    for _ in range(3):
        bury(memory, "default", "refused")
    out = run("queue_dead_letters", "default", "list", "--limit", "1")
    lines = out.stdout.splitlines()
    assert lines[0] == "Queue default has 3 dead letter(s), showing 1 (--limit N for more):"
    assert len(lines) == 3


def test_dead_letters_list_when_there_are_none(memory: InMemoryBackend) -> None:
    assert run("queue_dead_letters", "default", "list").stdout == (
        "Queue default has no dead letters.\n"
    )


def test_dead_letters_are_shown_not_decoded(memory: InMemoryBackend) -> None:
    # A payload that is not JSON (a pickle, say) and a reason carrying terminal escapes:
    # shown as escaped text, never unpickled or passed raw to the terminal.
    pickled = b"\x80\x04\x95cos\nsystem\n" + b"x" * 500
    memory._bury("default", pickled, "malformed \x1b[2Jpayload", None)  # as dequeue would

    out = run("queue_dead_letters", "default", "list")

    lines = out.stdout.splitlines()
    assert lines[1].endswith("  -  malformed \\x1b[2Jpayload")
    assert "\x1b" not in out.stdout
    assert lines[2] == f"    payload: {pickled[:200]!r}… ({len(pickled)} bytes)"


def test_payload_preview_and_printable() -> None:
    assert payload_preview(b"abc") == "b'abc'"
    assert payload_preview(b"abcdef", limit=3) == "b'abc'… (6 bytes)"
    assert printable("a\tb\x07c") == "a\\tb\\x07c"
    assert printable("x" * 10, limit=5) == "xxxx…"


def test_dead_letters_requeue_all(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(2))
    bury(memory, "default", "refused")
    bury(memory, "default", "refused")
    out = run("queue_dead_letters", "default", "requeue")
    assert out.stdout == "Requeued 2 dead letter(s) on queue default.\n"
    assert memory.dead_letter_count("default") == 0
    assert memory.length("default") == 2


def test_dead_letters_requeue_by_id(memory: InMemoryBackend) -> None:
    first, _ = fill(memory, "default", make_job(1), make_job(2))
    bury(memory, "default", "refused")
    bury(memory, "default", "refused")
    out = run("queue_dead_letters", "default", "requeue", "--id", first.id, "--id", "nope")
    assert out.stdout == "Requeued 1 dead letter(s) on queue default.\n"
    assert "1 of the 2 job id(s) given are not dead letters of queue default" in out.stderr
    assert memory.dead_letter_count("default") == 1
    requeued = memory.dequeue("default", 1, 0)
    assert requeued is not None
    assert requeued.id == first.id


def test_dead_letters_requeue_of_unknown_ids_fails(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1))
    bury(memory, "default", "refused")
    with pytest.raises(CommandError, match="1 of the 1 job id"):
        run("queue_dead_letters", "default", "requeue", job_ids=["nope"])
    assert memory.dead_letter_count("default") == 1


def test_dead_letters_purge_without_asking(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1))
    bury(memory, "default", "refused")
    out = run("queue_dead_letters", "default", "purge", "--yes")
    assert out.stdout == "Deleted 1 dead letter(s) of queue default.\n"
    assert memory.dead_letter_count("default") == 0


def test_dead_letters_purge_asks(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1))
    bury(memory, "default", "refused")
    with pytest.raises(CommandError, match=r"^Aborted: nothing was deleted\.$"):
        run("queue_dead_letters", "default", "purge", stdin="n\n")
    with pytest.raises(CommandError, match="standard input is closed"):
        run("queue_dead_letters", "default", "purge", stdin="")
    assert memory.dead_letter_count("default") == 1
    out = run("queue_dead_letters", "default", "purge", stdin="y\n")
    assert out.stdout == (
        "Delete all 1 dead letter(s) of queue default? [y/N] \n"
        "Deleted 1 dead letter(s) of queue default.\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--limit", "0"), "--limit must be 1 or more, not 0"),
        (("purge", "--limit", "5"), "--limit applies to 'list', not to 'purge'"),
        (("list", "--id", "x"), "--id applies to 'requeue', not to 'list'"),
        (("list", "--limit", "many"), "invalid int value: 'many'"),
        (("bury",), "invalid choice: 'bury'"),
    ],
)
def test_dead_letters_usage_errors(
    memory: InMemoryBackend, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run("queue_dead_letters", "default", *args)


def test_dead_letters_on_every_backend(any_backend: Backend) -> None:
    (job,) = fill(any_backend, "default", make_job(7))
    bury(any_backend, "default", "'x' is not a registered task")

    lines = run("queue_dead_letters", "default", "list").stdout.splitlines()
    assert lines[0] == "Queue default has 1 dead letter(s):"
    assert f"  {job.id}  " in lines[1]
    assert lines[1].endswith("'x' is not a registered task")  # Redis says "rejected: " first
    assert lines[2].startswith("    payload: b'{")

    out = run("queue_dead_letters", "default", "requeue", "--id", job.id)
    assert out.stdout == "Requeued 1 dead letter(s) on queue default.\n"
    assert any_backend.length("default") == 1
    bury(any_backend, "default", "refused again")

    out = run("queue_dead_letters", "default", "purge", "--yes")
    assert out.stdout == "Deleted 1 dead letter(s) of queue default.\n"
    assert "dead letters: 0" in run("queue_status", "default").stdout


def test_dead_letters_that_cannot_be_decoded_are_listed_and_stay(
    redis_backend: Backend, runtime: DjangoRuntime
) -> None:
    client = require_redis()
    raw = b"\x80\x04\x95 not json \x1b[2J"
    client.lpush(Keys(runtime.settings.REDIS_PREFIX).queue("default"), raw)
    (good,) = fill(redis_backend, "default", make_job(1))
    # The undecodable payload comes out first and is dead-lettered on sight.
    taken = redis_backend.dequeue("default", 1, 1.0)
    assert taken is not None
    assert taken.id == good.id
    redis_backend.acknowledge("default", 1, taken, Succeeded(None, 0.0))

    out = run("queue_dead_letters", "default", "list")
    lines = out.stdout.splitlines()
    assert lines[0] == "Queue default has 1 dead letter(s):"
    assert "  -  " in lines[1]
    assert lines[2] == f"    payload: {raw!r}"
    assert "\x1b" not in out.stdout

    out = run("queue_dead_letters", "default", "requeue")
    assert out.stdout == "Requeued 0 dead letter(s) on queue default.\n"
    assert out.stderr == "1 dead letter(s) remain (see: queue_dead_letters default list)\n"
