"""What the queue-management commands share: which queues exist, confirmations, display.

Kept apart from :mod:`dlq.management.options` (which every dlq command uses) because
only the commands that act on queues need it.
"""

from __future__ import annotations

import difflib
import sys
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from django.core.management.base import CommandError, OutputWrapper

from dlq.conf import DjangoRuntime
from dlq.core.protocols import Backend
from dlq.core.settings import PREFIX, QueueSettings
from dlq.domain.durations import format_duration
from dlq.exceptions import DLQError
from dlq.management.options import configured_runtime
from dlq.status import backend_label, known_queues  # shared with the dashboard

__all__ = [
    "add_confirmation_argument",
    "ask",
    "backend_errors",
    "backend_label",
    "configured_queue",
    "confirm",
    "format_remaining",
    "format_time",
    "known_queues",
    "missing_capability",
    "payload_preview",
    "printable",
    "stdin_from",
    "warn_if_unknown",
]


def configured_queue(stderr: OutputWrapper, options: dict[str, Any]) -> tuple[str, DjangoRuntime]:
    """The command's QUEUE and the runtime with ``--config`` applied, warning of a typo."""
    queue: str = options["queue"]
    runtime = configured_runtime(options)
    warn_if_unknown(stderr, runtime.settings, queue)
    return queue, runtime


def warn_if_unknown(stderr: OutputWrapper, settings: QueueSettings, queue: str) -> None:
    """Point out a queue name the configuration does not know: most likely a typo.

    Only a warning, since jobs can be queued on a queue that has no workers configured.
    """
    known = known_queues(settings)
    if queue in known:
        return
    message = (
        f"Note: queue {queue!r} is not in {PREFIX}WORKERS or {PREFIX}BACKEND_OVERRIDES"
        " (see queue_configuration)"
    )
    close = difflib.get_close_matches(queue, known, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    stderr.write(message)


def missing_capability(backend: Backend, capability: type[object], what: str) -> CommandError:
    """The error for ``backend`` lacking ``capability``, naming both.

    Commands narrow with ``isinstance`` themselves and raise this (mypy refuses a Protocol
    class as a ``type[C]`` argument, so a generic ``require()`` cannot be typed).
    """
    return CommandError(
        f"the backend {backend_label(backend)} cannot {what}"
        f" (it does not implement {capability.__name__})"
    )


@contextmanager
def backend_errors(queue: str) -> Iterator[None]:
    """Turn dlq's own errors (a store that cannot be reached, say) into CommandErrors."""
    try:
        yield
    except DLQError as exc:
        raise CommandError(f"queue {queue!r}: {exc}") from exc


def add_confirmation_argument(parser: ArgumentParser, doing: str) -> None:
    """``--yes``, ``--noinput`` and ``--no-input``: do it without asking.

    They set Django's usual ``interactive`` option, so ``call_command(...,
    interactive=False)`` works as it does for ``flush``.
    """
    parser.add_argument(
        "--yes",
        "--noinput",
        "--no-input",
        dest="interactive",
        action="store_false",
        help=f"{doing} without asking for confirmation",
    )


def stdin_from(options: dict[str, Any]) -> TextIO:
    """The stream answers are read from: ``call_command(..., stdin=...)`` or the real one."""
    stream = options.get("stdin")
    return stream if stream is not None else sys.stdin


def confirm(stdout: OutputWrapper, stdin: TextIO, question: str, *, refused: str) -> None:
    """Ask ``question`` and go on only on 'y' or 'yes'; otherwise CommandError.

    ``refused`` says what did not happen (``nothing was cleared``). With no answer at
    all (standard input closed, as under cron), say how to go ahead without asking.
    """
    stdout.write(f"{question} [y/N] ", ending="")
    stdout.flush()
    answer = stdin.readline()
    if not stdin.isatty():
        stdout.write("")  # end the prompt's line, as a terminal's echo of Enter would
    if not answer:
        raise CommandError(
            f"no answer (standard input is closed), so {refused}."
            " Pass --yes (or --noinput) to go ahead without asking."
        )
    if answer.strip().lower() not in {"y", "yes"}:
        raise CommandError(f"Aborted: {refused}.")


def ask(stdout: OutputWrapper, stdin: TextIO, question: str) -> bool:
    """Ask a yes/no ``question`` whose "no" is not an error: True only on 'y' or 'yes'
    (no answer at all, as under cron, is a no)."""
    stdout.write(f"{question} [y/N] ", ending="")
    stdout.flush()
    answer = stdin.readline()
    if not stdin.isatty():
        stdout.write("")
    return answer.strip().lower() in {"y", "yes"}


def format_time(moment: datetime) -> str:
    """``2026-01-01 00:00:00+00:00``, in UTC (the zone the Redis keys use too)."""
    return moment.astimezone(UTC).isoformat(" ")


def format_remaining(delta: timedelta) -> str:
    """``delta`` as ``1h2m3s``: whole seconds once it is a second or more, for reading."""
    if delta >= timedelta(seconds=1):
        delta -= timedelta(microseconds=delta.microseconds)
    return format_duration(max(delta, timedelta(0)))


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe to print on a terminal: control characters escaped, cut at ``limit``.

    Reasons and job ids can quote payload content, which anyone able to enqueue controls.
    """
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def payload_preview(raw: bytes, limit: int = 200) -> str:
    """A ``repr`` of the first bytes of ``raw``: shown, never decoded or executed."""
    if len(raw) <= limit:
        return repr(raw)
    return f"{raw[:limit]!r}… ({len(raw)} bytes)"
