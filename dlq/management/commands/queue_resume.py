"""``manage.py queue_resume QUEUE``: end a pause now."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from dlq.core.protocols import SupportsPause
from dlq.management.options import add_config_argument
from dlq.management.queues import backend_errors, configured_queue, format_time, missing_capability


class Command(BaseCommand):
    help = "Resume QUEUE now, ending a pause (idle workers notice within their poll interval)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="the queue to resume")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue, runtime = configured_queue(self.stderr, options)
        with backend_errors(queue):
            backend = runtime.backend_for(queue)
            if not isinstance(backend, SupportsPause):
                raise missing_capability(backend, SupportsPause, "resume queues")
            was_paused_until = backend.paused_until(queue)
            backend.resume(queue)
        if was_paused_until is None:
            self.stdout.write(f"Queue {queue} was not paused; it is running.")
        else:
            self.stdout.write(
                f"Resumed queue {queue} (it was paused until {format_time(was_paused_until)})."
            )
