"""``manage.py queue_configuration``: what this configuration would run, and how."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import datetime, tzinfo
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dlq.conf import DjangoRuntime
from dlq.core.scheduler import cron_timezone
from dlq.cron_jobs import load_cron_configuration
from dlq.domain.allocation import implied_queues
from dlq.domain.cron.due import next_fire_time
from dlq.domain.cron.entry import CronConfiguration
from dlq.exceptions import ConfigurationError
from dlq.management.options import add_config_argument, configured_runtime


class Command(BaseCommand):
    help = (
        "Print the queues, their worker counts and backends, the middleware, and every"
        " cron entry with its next fire time."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        runtime = configured_runtime(options)
        settings = runtime.settings
        cron = load_cron_configuration()
        write = self.stdout.write
        if runtime.config_file:
            write(f"Settings from Django, overridden by {runtime.config_file}")
        write("Queues:")
        workers = implied_queues(settings.WORKERS, cron.queues)
        queues = sorted(set(workers) | set(settings.BACKEND_OVERRIDES))
        if not queues:
            write("  (none configured)")
        for queue in queues:
            implied = (
                " (implied by cron entries)"
                if queue in cron.queues and queue not in settings.WORKERS
                else ""
            )
            write(
                f"  {queue}: {workers.get(queue, 0)} worker(s){implied},"
                f" backend {settings.backend_path_for(queue)}"
            )
        write(f"Default backend: {settings.BACKEND}")
        write("Middleware:")
        for path in settings.MIDDLEWARE:
            write(f"  {path}")
        self._write_cron(runtime, cron)

    def _write_cron(self, runtime: DjangoRuntime, cron: CronConfiguration) -> None:
        write = self.stdout.write
        settings = runtime.settings
        try:
            tz = cron_timezone(settings)
        except ConfigurationError as exc:
            raise CommandError(f"dlq is misconfigured:\n{exc}") from None
        each = "once per entry" if settings.CRON_COALESCE else "each minute"
        write(
            f"Cron (times in {tz.key}, missed minutes caught up for"
            f" {settings.CRON_CATCH_UP_S}s, {each}):"
        )
        if not cron.entries:
            write("  (no entries)")
        now = runtime.now()
        for entry in cron.entries:
            upcoming = next_fire_time(entry.spec, tz, now)
            in_utc = "" if tz.key == "UTC" else f" ({upcoming:%Y-%m-%d %H:%M} UTC)"
            write(f"  {entry.id} (app {entry.app_label}, cron.py CONFIG[{entry.index}])")
            write(
                f"    command: {entry.command} args={list(entry.command_args)}"
                f" kwargs={dict(entry.command_kwargs)}"
            )
            write(f"    schedule: {entry.schedule}")
            write(
                f"    queue: {entry.queue}, timeout: {entry.timeout},"
                f" sigkill_on_stop: {entry.sigkill_on_stop}"
            )
            write(f"    next: {local_time(upcoming, tz)}{in_utc}")
        for problem in (*cron.problems, *cron.unknown_commands):
            write(f"  problem: {problem}")


def local_time(when: datetime, tz: tzinfo) -> str:
    """``when`` as ``2024-03-31 02:00 BST`` in ``tz``."""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
