"""``manage.py queue_pause QUEUE (--for 1h2m3s | --until 2026-01-01T00:00:00+0000)``."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError

from dlq.core.protocols import SupportsPause
from dlq.domain.durations import (
    DURATION_SYNTAX,
    UNTIL_SYNTAX,
    DurationError,
    format_duration,
    parse_duration,
    parse_until,
    pause_target,
)
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.queues import (
    backend_errors,
    format_remaining,
    format_time,
    missing_capability,
    warn_if_unknown,
)

T = TypeVar("T")


class Command(BaseCommand):
    help = (
        "Pause QUEUE: no job of it starts from when this returns until the pause ends"
        " (jobs already running carry on; new jobs can still be queued)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="the queue to pause")
        # Not a required argparse group: both-or-neither is checked in handle(), so that
        # call_command(..., duration=...) gets the same checks and messages.
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--for",
            dest="duration",
            metavar="DURATION",
            help=f"how long to pause for: {DURATION_SYNTAX}".replace("%", "%%"),
        )
        group.add_argument(
            "--until",
            metavar="TIME",
            help=f"when the pause ends: {UNTIL_SYNTAX}".replace("%", "%%"),
        )
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue: str = options["queue"]
        duration = _option(options["duration"], "--for", timedelta, parse_duration)
        until = _option(options["until"], "--until", datetime, parse_until)
        if (duration is None) == (until is None):
            raise CommandError(
                "give exactly one of --for DURATION and --until TIME"
                f" ({'both were' if duration is not None else 'neither was'} given)"
            )
        runtime = configured_runtime(options)
        now = runtime.now()
        try:
            target = pause_target(now, duration=duration, until=until)
        except DurationError as exc:
            raise CommandError(f"{'--for' if duration is not None else '--until'}: {exc}") from None
        warn_if_unknown(self.stderr, runtime.settings, queue)
        with backend_errors(queue):
            backend = runtime.backend_for(queue)
            if not isinstance(backend, SupportsPause):
                raise missing_capability(backend, SupportsPause, "pause queues")
            try:
                backend.pause(queue, target)
            except ValueError as exc:
                # A pause of a millisecond or so can end before it reaches the store; the
                # Redis backends then refuse it. Not DLQError, so said here.
                raise CommandError(
                    f"the pause ended before it could be set ({exc}); give a longer duration"
                ) from exc
        length = (
            format_duration(duration) if duration is not None else format_remaining(target - now)
        )
        self.stdout.write(f"Paused queue {queue} until {format_time(target)} (for {length}).")


def _option(value: object, flag: str, kind: type[T], parse: Callable[[str], T]) -> T | None:
    """``value`` as given on the command line (a string), or already parsed by a caller."""
    if value is None or isinstance(value, kind):
        return value
    if not isinstance(value, str):
        raise CommandError(f"{flag}: expected a string, not {value!r}")
    try:
        return parse(value)
    except DurationError as exc:
        raise CommandError(f"{flag}: {exc}") from None
