"""``manage.py queue_status [QUEUE ...] [--json]``: what each queue is doing now.

The report is gathered as data by :mod:`dlq.status` (which the dashboard reads too) and
then written as text or JSON, so a new section (cron, say) is one more key in
:meth:`Command.report` and one more block in :meth:`Command.write_text`.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dlq.cron_jobs import last_fired
from dlq.domain.cron.entry import CronEntry
from dlq.domain.envelope import JSONValue
from dlq.exceptions import ConfigurationError
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.queues import format_remaining, format_time, printable
from dlq.status import QueueStatus, known_queues, queue_status

NOT_AVAILABLE = "n/a"


def status_lines(status: QueueStatus, now: datetime) -> list[str]:
    """``status`` as the text report's lines."""
    note = "" if status.configured else "; not in the configuration"
    lines = [f"Queue {status.queue} ({status.backend}, {status.workers} worker(s){note})"]
    if status.error is not None:
        return [*lines, f"  error:        {status.error}"]
    lines.append(f"  waiting:      {status.length} job(s)")
    if status.delayed is None:
        lines.append(f"  delayed:      {NOT_AVAILABLE}")
    elif status.next_due is None:
        lines.append(f"  delayed:      {status.delayed} job(s)")
    else:
        left = format_remaining(max(status.next_due - now, timedelta(0)))
        lines.append(
            f"  delayed:      {status.delayed} job(s), next due {format_time(status.next_due)}"
            f" (in {left})"
        )
    if not status.can_pause:
        state = NOT_AVAILABLE
    elif status.paused_until is None:
        state = "running"
    else:
        left = format_remaining(status.paused_until - now)
        state = f"paused until {format_time(status.paused_until)} ({left} left)"
    lines.append(f"  state:        {state}")
    if status.in_progress is None:
        lines.append(f"  in progress:  {NOT_AVAILABLE}")
    elif not status.in_progress:
        lines.append("  in progress:  none")
    else:
        lines.append(f"  in progress:  {len(status.in_progress)} job(s)")
        lines.extend(
            f"    slot {job.worker}: {printable(job.job_id, 64)}"
            f" {printable(job.path, 120)} (attempt {job.attempt})"
            for job in status.in_progress
        )
    dead = NOT_AVAILABLE if status.dead_letters is None else str(status.dead_letters)
    lines.append(f"  dead letters: {dead}")
    return lines


class Command(BaseCommand):
    help = (
        "Show, for each QUEUE (default: every configured queue), the jobs waiting, the jobs"
        " delayed and when the next is due, whether it is paused, the jobs each worker slot is running and the dead-letter count."
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
            for line in status_lines(status, now):
                self.stdout.write(line)
