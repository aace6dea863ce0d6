"""``manage.py queue_clear QUEUE [--delayed] [--yes]``: drop the waiting jobs of a queue.

Delayed jobs (held until their time, retries among them) are a separate question: asked
after the waiting jobs are cleared, or removed without asking with ``--delayed --yes``.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from dlq.core.protocols import SupportsClear, SupportsDelay
from dlq.management.options import add_config_argument
from dlq.management.queues import (
    add_confirmation_argument,
    ask,
    backend_errors,
    configured_queue,
    confirm,
    missing_capability,
    stdin_from,
)


class Command(BaseCommand):
    help = (
        "Remove every job waiting in QUEUE, after asking; then, asked separately (or with"
        " --delayed), the jobs held until a later time. Jobs already running are not affected."
    )
    # call_command(..., stdin=StringIO("y\n")) answers the question, as for createsuperuser.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="the queue to clear")
        parser.add_argument(
            "--delayed",
            action="store_true",
            help="remove the delayed jobs (and pending retries) too, without a second question",
        )
        add_confirmation_argument(parser, "clear")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue, runtime = configured_queue(self.stderr, options)
        interactive = options["interactive"]
        with backend_errors(queue):
            backend = runtime.backend_for(queue)
            if options["delayed"] and not isinstance(backend, SupportsDelay):
                raise missing_capability(backend, SupportsDelay, "hold delayed jobs")
            if not isinstance(backend, SupportsClear):
                raise missing_capability(backend, SupportsClear, "clear queues")
            if interactive:
                waiting = backend.length(queue)
                confirm(
                    self.stdout,
                    stdin_from(options),
                    f"Clear all {waiting} job(s) waiting in queue {queue}?",
                    refused="nothing was cleared",
                )
            removed = backend.clear(queue)
            self.stdout.write(f"Cleared queue {queue}: removed {removed} job(s).")
            if not isinstance(backend, SupportsDelay):
                return
            held = backend.delayed_count(queue)
            if not held:
                return
            wanted = options["delayed"] or (
                interactive
                and ask(
                    self.stdout,
                    stdin_from(options),
                    f"Also remove the {held} delayed job(s) of queue {queue} (held until a"
                    " later time, pending retries included)?",
                )
            )
            if wanted:
                dropped = backend.clear_delayed(queue)
                self.stdout.write(f"Removed {dropped} delayed job(s) of queue {queue}.")
            else:
                self.stdout.write(
                    f"Kept {held} delayed job(s) of queue {queue} (--delayed removes them)."
                )
