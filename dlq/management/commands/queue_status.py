"""``manage.py queue_status [QUEUE ...] [--json]``: what each queue is doing now.

The report is built as data first (:class:`QueueStatus`) and then written as text or
JSON, so a new section (cron, say) is one more key in :meth:`Command.report` and one
more block in :meth:`Command.write_text`.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dlq.conf import DjangoRuntime
from dlq.core.protocols import (
    Backend,
    SupportsDeadLetters,
    SupportsInspection,
    SupportsPause,
)
from dlq.cron_jobs import last_fired
from dlq.domain.cron.entry import CronEntry
from dlq.domain.envelope import Job, JSONValue
from dlq.exceptions import ConfigurationError, DLQError
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.queues import (
    backend_label,
    format_remaining,
    format_time,
    known_queues,
    printable,
)

NOT_AVAILABLE = "n/a"


@dataclass(frozen=True, slots=True)
class TakenJob:
    """A job a worker slot has taken and not yet finished."""

    worker: int
    job_id: str
    path: str
    attempt: int

    def as_json(self) -> dict[str, JSONValue]:
        return {
            "worker": self.worker,
            "job_id": self.job_id,
            "path": self.path,
            "attempt": self.attempt,
        }


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One queue's state. ``None`` in a capability's field means the backend lacks it
    (listed in ``unsupported``), except ``paused_until``, which is also None when running.
    """

    queue: str
    backend: str
    workers: int
    configured: bool
    length: int | None = None
    paused_until: datetime | None = None
    in_progress: tuple[TakenJob, ...] | None = None
    dead_letters: int | None = None
    unsupported: tuple[str, ...] = ()
    error: str | None = None

    @property
    def can_pause(self) -> bool:
        return SupportsPause.__name__ not in self.unsupported

    def as_json(self) -> dict[str, JSONValue]:
        return {
            "queue": self.queue,
            "backend": self.backend,
            "workers": self.workers,
            "configured": self.configured,
            "length": self.length,
            "paused": (self.paused_until is not None) if self.can_pause else None,
            "paused_until": None if self.paused_until is None else self.paused_until.isoformat(),
            "in_progress": None
            if self.in_progress is None
            else [job.as_json() for job in self.in_progress],
            "dead_letters": self.dead_letters,
            "unsupported": list(self.unsupported),
            "error": self.error,
        }

    def lines(self, now: datetime) -> list[str]:
        note = "" if self.configured else "; not in the configuration"
        lines = [f"Queue {self.queue} ({self.backend}, {self.workers} worker(s){note})"]
        if self.error is not None:
            return [*lines, f"  error:        {self.error}"]
        lines.append(f"  waiting:      {self.length} job(s)")
        if not self.can_pause:
            state = NOT_AVAILABLE
        elif self.paused_until is None:
            state = "running"
        else:
            left = format_remaining(self.paused_until - now)
            state = f"paused until {format_time(self.paused_until)} ({left} left)"
        lines.append(f"  state:        {state}")
        if self.in_progress is None:
            lines.append(f"  in progress:  {NOT_AVAILABLE}")
        elif not self.in_progress:
            lines.append("  in progress:  none")
        else:
            lines.append(f"  in progress:  {len(self.in_progress)} job(s)")
            lines.extend(
                f"    slot {job.worker}: {printable(job.job_id, 64)}"
                f" {printable(job.path, 120)} (attempt {job.attempt})"
                for job in self.in_progress
            )
        dead = NOT_AVAILABLE if self.dead_letters is None else str(self.dead_letters)
        lines.append(f"  dead letters: {dead}")
        return lines


def taken_jobs(slots: Mapping[int, Sequence[Job]]) -> tuple[TakenJob, ...]:
    """The jobs each slot holds, by worker number (the running one first in each)."""
    return tuple(
        TakenJob(worker, job.id, job.path, job.attempts)
        for worker in sorted(slots)
        for job in slots[worker]
    )


def queue_status(runtime: DjangoRuntime, queue: str) -> QueueStatus:
    """What ``queue``'s backend can tell about it; a capability it lacks is left as None."""
    settings = runtime.settings
    status = QueueStatus(
        queue=queue,
        backend=settings.backend_path_for(queue),
        workers=settings.WORKERS.get(queue, 0),
        configured=queue in known_queues(settings),
    )
    try:
        return _read(status, runtime.backend_for(queue))
    except DLQError as exc:
        # One unreachable backend should not hide the queues on the others.
        return replace(status, error=str(exc))


def _read(status: QueueStatus, backend: Backend) -> QueueStatus:
    queue = status.queue
    unsupported = []
    paused_until = None
    if isinstance(backend, SupportsPause):
        paused_until = backend.paused_until(queue)
    else:
        unsupported.append(SupportsPause.__name__)
    in_progress = None
    if isinstance(backend, SupportsInspection):
        in_progress = taken_jobs(backend.in_progress(queue))
    else:
        unsupported.append(SupportsInspection.__name__)
    dead_letters = None
    if isinstance(backend, SupportsDeadLetters):
        dead_letters = backend.dead_letter_count(queue)
    else:
        unsupported.append(SupportsDeadLetters.__name__)
    return replace(
        status,
        backend=backend_label(backend),
        length=backend.length(queue),
        paused_until=paused_until,
        in_progress=in_progress,
        dead_letters=dead_letters,
        unsupported=tuple(unsupported),
    )


class Command(BaseCommand):
    help = (
        "Show, for each QUEUE (default: every configured queue), the jobs waiting, whether it"
        " is paused, the jobs each worker slot is running and the dead-letter count."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "queues", nargs="*", metavar="QUEUE", help="queues to show (default: all configured)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        runtime = configured_runtime(options)
        # dict.fromkeys: the order given, without repeats.
        queues = list(dict.fromkeys(options["queues"])) or known_queues(runtime.settings)
        now = runtime.now()
        statuses = [queue_status(runtime, queue) for queue in queues]
        try:
            cron = last_fired(runtime)
        except ConfigurationError as exc:
            raise CommandError(f"the cron configuration is wrong:\n{exc}") from None
        if options["json"]:
            report = self.report(now, statuses)
            report["cron"] = [
                {
                    "entry": entry.id,
                    "command": entry.command,
                    "queue": entry.queue,
                    "last_fired": None if when is None else when.isoformat(),
                }
                for entry, when in cron
            ]
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.write_text(now, statuses)
            self.write_cron(cron)
        failed = [status.queue for status in statuses if status.error is not None]
        if failed:
            raise CommandError(f"could not read the status of: {', '.join(failed)}")

    def report(self, now: datetime, statuses: Sequence[QueueStatus]) -> dict[str, JSONValue]:
        return {"now": now.isoformat(), "queues": [status.as_json() for status in statuses]}

    def write_cron(self, cron: Sequence[tuple[CronEntry, datetime | None]]) -> None:
        if not cron:
            return
        self.stdout.write("cron entries:")
        for entry, when in cron:
            fired = "never seen" if when is None else format_time(when)
            self.stdout.write(
                f"  {printable(entry.id, 120)} ({printable(entry.command, 80)},"
                f" queue {entry.queue}): last fired {fired}"
            )

    def write_text(self, now: datetime, statuses: Sequence[QueueStatus]) -> None:
        if not statuses:
            self.stdout.write(
                "No queues configured (LIGHTWEIGHT_QUEUE_WORKERS and _BACKEND_OVERRIDES are"
                " empty); name the queues to show: queue_status QUEUE ..."
            )
        for status in statuses:
            for line in status.lines(now):
                self.stdout.write(line)
