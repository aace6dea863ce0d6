"""``manage.py queue_dead_letters QUEUE list|requeue|purge``: what a backend gave up on.

Payloads are shown as a truncated ``repr`` of their bytes: never decoded into a job,
unpickled, imported or run, since a dead letter is by definition something that could
not be trusted to run.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError

from dlq.core.protocols import SupportsDeadLetters
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.queues import (
    add_confirmation_argument,
    backend_errors,
    confirm,
    format_time,
    missing_capability,
    payload_preview,
    printable,
    stdin_from,
    warn_if_unknown,
)

DEFAULT_LIMIT = 20
ACTIONS = ("list", "requeue", "purge")


class Command(BaseCommand):
    help = (
        "Dead letters of QUEUE (jobs that were refused, or failed on every delivery):"
        " 'list' them, 'requeue' them (all, or --id JOB_ID ...) or 'purge' them."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        # One flat parser rather than sub-commands, so that --config and the other
        # options may come anywhere on the line.
        parser.add_argument("queue", help="the queue whose dead letters to act on")
        parser.add_argument("action", choices=ACTIONS, help="what to do")
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            metavar="N",
            help=f"list: show at most N (default {DEFAULT_LIMIT})",
        )
        parser.add_argument(
            "--id",
            dest="job_ids",
            action="append",
            default=None,
            metavar="JOB_ID",
            help="requeue: only the dead letter with this job id (repeatable; default all)",
        )
        add_confirmation_argument(parser, "purge")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue: str = options["queue"]
        action: str = options["action"]
        if action not in ACTIONS:
            raise CommandError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
        limit: int | None = options["limit"]
        job_ids: list[str] | None = options["job_ids"]
        if limit is not None and action != "list":
            raise CommandError(f"--limit applies to 'list', not to {action!r}")
        if job_ids is not None and action != "requeue":
            raise CommandError(f"--id applies to 'requeue', not to {action!r}")
        if limit is not None and limit < 1:
            raise CommandError(f"--limit must be 1 or more, not {limit}")
        runtime = configured_runtime(options)
        warn_if_unknown(self.stderr, runtime.settings, queue)
        with backend_errors(queue):
            backend = runtime.backend_for(queue)
            if not isinstance(backend, SupportsDeadLetters):
                raise missing_capability(backend, SupportsDeadLetters, "keep dead letters")
            if action == "list":
                self.list_letters(backend, queue, DEFAULT_LIMIT if limit is None else limit)
            elif action == "requeue":
                self.requeue_letters(backend, queue, job_ids)
            else:
                ask = stdin_from(options) if options["interactive"] else None
                self.purge_letters(backend, queue, ask)

    def list_letters(self, backend: SupportsDeadLetters, queue: str, limit: int) -> None:
        total = backend.dead_letter_count(queue)
        letters = backend.dead_letters(queue, limit)
        if not letters:
            self.stdout.write(f"Queue {queue} has no dead letters.")
            return
        shown = "" if len(letters) >= total else f", showing {len(letters)} (--limit N for more)"
        self.stdout.write(f"Queue {queue} has {total} dead letter(s){shown}:")
        for letter in letters:
            job_id = "-" if letter.job_id is None else printable(letter.job_id, 64)
            self.stdout.write(
                f"{format_time(letter.failed_at)}  {job_id}  {printable(letter.reason, 300)}"
            )
            self.stdout.write(f"    payload: {payload_preview(letter.raw)}")

    def requeue_letters(
        self, backend: SupportsDeadLetters, queue: str, job_ids: list[str] | None
    ) -> None:
        wanted = None if job_ids is None else set(job_ids)
        count = backend.requeue_dead_letters(queue, wanted)
        self.stdout.write(f"Requeued {count} dead letter(s) on queue {queue}.")
        if wanted is None:
            # A backend may keep what it could not requeue (a payload it cannot decode).
            remaining = backend.dead_letter_count(queue)
            if remaining:
                self.stderr.write(
                    f"{remaining} dead letter(s) remain (see: queue_dead_letters {queue} list)"
                )
        elif count < len(wanted):
            missing = len(wanted) - count
            message = (
                f"{missing} of the {len(wanted)} job id(s) given are not dead letters of queue"
                f" {queue} (see: queue_dead_letters {queue} list)"
            )
            if count == 0:
                raise CommandError(message)
            self.stderr.write(message)

    def purge_letters(self, backend: SupportsDeadLetters, queue: str, ask: TextIO | None) -> None:
        """Purge, after reading a yes from ``ask`` unless it is None."""
        if ask is not None:
            confirm(
                self.stdout,
                ask,
                f"Delete all {backend.dead_letter_count(queue)} dead letter(s) of queue {queue}?",
                refused="nothing was deleted",
            )
        count = backend.purge_dead_letters(queue)
        self.stdout.write(f"Deleted {count} dead letter(s) of queue {queue}.")
