"""``manage.py queue_clear QUEUE [--yes]``: drop every waiting job of a queue."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from dlq.core.protocols import SupportsClear
from dlq.management.options import add_config_argument
from dlq.management.queues import (
    add_confirmation_argument,
    backend_errors,
    configured_queue,
    confirm,
    missing_capability,
    stdin_from,
)


class Command(BaseCommand):
    help = "Remove every job waiting in QUEUE, after asking. Jobs already running are not affected."
    # call_command(..., stdin=StringIO("y\n")) answers the question, as for createsuperuser.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="the queue to clear")
        add_confirmation_argument(parser, "clear")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue, runtime = configured_queue(self.stderr, options)
        with backend_errors(queue):
            backend = runtime.backend_for(queue)
            if not isinstance(backend, SupportsClear):
                raise missing_capability(backend, SupportsClear, "clear queues")
            if options["interactive"]:
                waiting = backend.length(queue)
                confirm(
                    self.stdout,
                    stdin_from(options),
                    f"Clear all {waiting} job(s) waiting in queue {queue}?",
                    refused="nothing was cleared",
                )
            removed = backend.clear(queue)
        self.stdout.write(f"Cleared queue {queue}: removed {removed} job(s).")
