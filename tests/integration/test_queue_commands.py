"""The queue-management commands, run through ``call_command``.

Main paths run against every backend in ``BACKENDS`` (the in-memory one always, the Redis
ones against a real server); error paths and output details against the in-memory one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from dlq.backends.memory import InMemoryBackend
from dlq.backends.redis.keys import Keys
from dlq.conf import DjangoRuntime
from dlq.core.protocols import Backend
from dlq.domain.durations import DURATION_SYNTAX, UNTIL_SYNTAX
from dlq.domain.envelope import Job, JSONValue
from dlq.domain.outcome import Rejected, Succeeded
from dlq.exceptions import BackendError
from dlq.management.queues import payload_preview, printable
from tests.services import require_redis

ADD = "tests.testapp.tasks.add"
SYNCHRONOUS = "dlq.backends.synchronous.SynchronousBackend"
WORKERS = {"default": 1, "emails": 2}


@dataclass(frozen=True)
class Output:
    stdout: str
    stderr: str


class TTYStringIO(StringIO):
    def isatty(self) -> bool:
        return True


def run(command: str, *args: str, stdin: str | None = None, **options: object) -> Output:
    out, err = StringIO(), StringIO()
    if stdin is not None:
        options["stdin"] = StringIO(stdin)
    call_command(command, *args, stdout=out, stderr=err, **options)
    return Output(out.getvalue(), err.getvalue())


def make_job(*args: JSONValue, path: str = ADD) -> Job:
    return Job.create(path, args, {}, now=datetime.now(UTC))


def fill(backend: Backend, queue: str, *jobs: Job) -> list[Job]:
    backend.bulk_enqueue(jobs, queue)
    return list(jobs)


def bury(backend: Backend, queue: str, reason: str, worker: int = 1) -> Job:
    """Make the next job of ``queue`` a dead letter, the way a worker would."""
    job = backend.dequeue(queue, worker, 0.1)
    assert job is not None
    backend.acknowledge(queue, worker, job, Rejected(reason))
    return job


@pytest.fixture
def memory(memory: InMemoryBackend, runtime: DjangoRuntime) -> Iterator[InMemoryBackend]:
    """conftest's ``memory``, as every command will find it, with queues default and emails.

    The settings override builds a fresh backend, so the one to fill is fetched again.
    """
    with override_settings(LIGHTWEIGHT_QUEUE_WORKERS=WORKERS):
        backend = runtime.backend_for("default")
        assert isinstance(backend, InMemoryBackend)
        yield backend


@pytest.fixture
def synchronous() -> Iterator[None]:
    """A backend with none of the capabilities."""
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND=SYNCHRONOUS, LIGHTWEIGHT_QUEUE_WORKERS=WORKERS
    ):
        yield


# queue_pause / queue_resume


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


# Capabilities a backend lacks


@pytest.mark.parametrize(
    ("args", "capability", "what"),
    [
        (("queue_pause", "default", "--for", "1m"), "SupportsPause", "pause queues"),
        (("queue_resume", "default"), "SupportsPause", "resume queues"),
        (("queue_clear", "default", "--yes"), "SupportsClear", "clear queues"),
        (("queue_deduplicate", "default"), "SupportsDeduplicate", "deduplicate queues"),
        (("queue_dead_letters", "default", "list"), "SupportsDeadLetters", "keep dead letters"),
        (("queue_dead_letters", "default", "requeue"), "SupportsDeadLetters", "keep dead letters"),
        (
            ("queue_dead_letters", "default", "purge", "--yes"),
            "SupportsDeadLetters",
            "keep dead letters",
        ),
    ],
)
def test_a_backend_without_the_capability_is_named(
    synchronous: None, args: tuple[str, ...], capability: str, what: str
) -> None:
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert str(caught.value) == (
        f"the backend {SYNCHRONOUS} cannot {what} (it does not implement {capability})"
    )


# queue_clear


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


# queue_deduplicate


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


# queue_status


def test_status_of_every_configured_queue(memory: InMemoryBackend) -> None:
    fill(memory, "default", make_job(1), make_job(2), make_job(3), make_job(4))
    taken = memory.dequeue("default", 1, 0)
    assert taken is not None
    fill(memory, "emails", make_job(5))
    bury(memory, "emails", "no such task")
    run("queue_pause", "emails", "--until", "2999-01-01T00:00:00Z")

    lines = run("queue_status").stdout.splitlines()

    assert lines[:6] == [
        "Queue default (dlq.backends.memory.InMemoryBackend, 1 worker(s))",
        "  waiting:      3 job(s)",
        "  state:        running",
        "  in progress:  1 job(s)",
        f"    slot 1: {taken.id} {ADD} (attempt 1)",
        "  dead letters: 0",
    ]
    assert lines[6:8] == [
        "Queue emails (dlq.backends.memory.InMemoryBackend, 2 worker(s))",
        "  waiting:      0 job(s)",
    ]
    assert lines[8].startswith("  state:        paused until 2999-01-01 00:00:00+00:00 (")
    assert lines[8].endswith(" left)")
    assert lines[9:] == ["  in progress:  none", "  dead letters: 1"]


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
        "  state:        n/a",
        "  in progress:  n/a",
        "  dead letters: n/a",
    ]
    (queue,) = json.loads(run("queue_status", "default", "--json").stdout)["queues"]
    assert queue["paused"] is None
    assert queue["in_progress"] is None
    assert queue["dead_letters"] is None
    assert queue["unsupported"] == ["SupportsPause", "SupportsInspection", "SupportsDeadLetters"]


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


# queue_dead_letters


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


# The main paths against every backend, the Redis ones on a real server

BACKENDS = {
    "memory": "dlq.backends.memory.InMemoryBackend",
    "redis": "dlq.backends.redis.RedisBackend",
    "reliable_redis": "dlq.backends.reliable_redis.ReliableRedisBackend",
}


@contextmanager
def backend_named(name: str, runtime: DjangoRuntime) -> Iterator[Backend]:
    """Backend ``name`` as the commands will find it; Redis keys under a fresh prefix."""
    path = BACKENDS[name]
    if name == "memory":
        with override_settings(LIGHTWEIGHT_QUEUE_BACKEND=path, LIGHTWEIGHT_QUEUE_WORKERS=WORKERS):
            yield runtime.backend_for("default")
        return
    client = require_redis()
    prefix = f"dlq-test-commands-{uuid.uuid4().hex}"
    try:
        with override_settings(
            LIGHTWEIGHT_QUEUE_BACKEND=path,
            LIGHTWEIGHT_QUEUE_REDIS_PREFIX=prefix,
            LIGHTWEIGHT_QUEUE_WORKERS=WORKERS,
        ):
            backend = runtime.backend_for("default")
            try:
                yield backend
            finally:
                close = getattr(backend, "close", None)
                if callable(close):
                    close()
    finally:
        # Only this test's keys: the server may be shared.
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()


@pytest.fixture(params=sorted(BACKENDS))
def any_backend(request: pytest.FixtureRequest, runtime: DjangoRuntime) -> Iterator[Backend]:
    with backend_named(request.param, runtime) as backend:
        yield backend


@pytest.fixture(params=["redis", "reliable_redis"])
def redis_backend(request: pytest.FixtureRequest, runtime: DjangoRuntime) -> Iterator[Backend]:
    with backend_named(request.param, runtime) as backend:
        yield backend


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


def test_clear_on_every_backend(any_backend: Backend) -> None:
    fill(any_backend, "default", make_job(1), make_job(2), make_job(3))
    with pytest.raises(CommandError, match="Aborted"):
        run("queue_clear", "default", stdin="n\n")
    assert any_backend.length("default") == 3
    out = run("queue_clear", "default", stdin="y\n")
    assert out.stdout.endswith("Cleared queue default: removed 3 job(s).\n")
    assert any_backend.length("default") == 0


def test_deduplicate_on_every_backend(any_backend: Backend) -> None:
    fill(any_backend, "default", make_job(1), make_job(2), make_job(1), make_job(1))
    out = run("queue_deduplicate", "default")
    assert out.stdout == "Deduplication reduced the queue from 4 jobs to 2 job(s)\n"
    assert run("queue_deduplicate", "default").stdout == (
        "No duplicate jobs detected (queue length remains 2)\n"
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
    assert default["backend"] in BACKENDS.values()
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


def test_a_pause_too_short_to_set_is_an_error_not_a_traceback(redis_backend: Backend) -> None:
    with pytest.raises(CommandError, match="the pause ended before it could be set"):
        run("queue_pause", "default", "--for", "0.000001s")
