"""``manage.py queue_prune_results``: remove job records past their retention time.

Redis forgets them by itself (the keys expire); the database backend keeps rows until
they are pruned, which its workers do as they go and this command does at once (from
cron, say, when no runner runs).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from dlq.core.protocols import Backend, SupportsResults
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.queues import backend_errors
from dlq.status import backend_label, known_queues


class Command(BaseCommand):
    help = "Remove the job records (results) kept past LIGHTWEIGHT_QUEUE_RESULT_TTL_S."

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        runtime = configured_runtime(options)
        backends: dict[int, tuple[str, Backend]] = {}
        for queue in ["default", *known_queues(runtime.settings)]:
            with backend_errors(queue):
                backend = runtime.backend_for(queue)
            backends.setdefault(id(backend), (queue, backend))
        for queue, backend in backends.values():
            label = backend_label(backend)
            if not isinstance(backend, SupportsResults):
                self.stdout.write(f"{label} (queue {queue}): keeps no job records")
                continue
            with backend_errors(queue):
                removed = backend.prune_records()
            self.stdout.write(f"{label} (queue {queue}): removed {removed} expired record(s)")
