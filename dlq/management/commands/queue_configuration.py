"""``manage.py queue_configuration``: what this configuration would run, and how."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from dlq.management.options import add_config_argument, configured_runtime


class Command(BaseCommand):
    help = "Print the queues, their worker counts and backends, the middleware and settings."

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        runtime = configured_runtime(options)
        settings = runtime.settings
        write = self.stdout.write
        if runtime.config_file:
            write(f"Settings from Django, overridden by {runtime.config_file}")
        write("Queues:")
        queues = sorted(set(settings.WORKERS) | set(settings.BACKEND_OVERRIDES))
        if not queues:
            write("  (none configured)")
        for queue in queues:
            write(
                f"  {queue}: {settings.WORKERS.get(queue, 0)} worker(s),"
                f" backend {settings.backend_path_for(queue)}"
            )
        write(f"Default backend: {settings.BACKEND}")
        write("Middleware:")
        for path in settings.MIDDLEWARE:
            write(f"  {path}")
