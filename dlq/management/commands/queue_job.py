"""``manage.py queue_job JOB_ID [--queue QUEUE] [--json]``: one job's record.

Only jobs whose task keeps its result (``store_result=True``, or
``LIGHTWEIGHT_QUEUE_STORE_RESULTS``) have one, for ``RESULT_TTL_S`` after they finish.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dlq.core.results import get_job
from dlq.domain.job_record import JobRecord
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.queues import backend_errors, format_time, printable


def record_lines(record: JobRecord) -> list[str]:
    """``record`` as the text report's lines: the latest error in full, earlier ones short."""

    def when(name: str) -> str:
        moment = getattr(record, name)
        return "-" if moment is None else format_time(moment)

    lines = [
        f"Job {printable(record.id, 64)}",
        f"  task:        {printable(record.path, 120)}",
        f"  queue:       {record.queue}",
        f"  status:      {record.status}",
        f"  attempt:     {record.attempt}",
        f"  enqueued:    {when('enqueued_at')}",
        f"  run after:   {when('run_after')}",
        f"  started:     {when('started_at')}",
        f"  finished:    {when('finished_at')}",
        f"  workers:     {', '.join(record.worker_ids) or '-'}",
        f"  arguments:   {printable(json.dumps([record.args, record.kwargs]), 400)}",
    ]
    if record.status == "succeeded":
        lines.append(f"  returned:    {printable(json.dumps(record.return_value), 2000)}")
    for number, error in enumerate(record.errors, start=1):
        lines.append(
            f"  error {number}:     {error.exception_class}: {printable(error.message, 400)}"
        )
    if record.errors and record.errors[-1].traceback:
        lines.append("  last traceback:")
        lines.extend(f"    {line}" for line in record.errors[-1].traceback.splitlines())
    return lines


class Command(BaseCommand):
    help = (
        "Show the record of job JOB_ID: status, attempts, times, return value or errors."
        " Kept only for tasks with store_result=True (or LIGHTWEIGHT_QUEUE_STORE_RESULTS),"
        " for LIGHTWEIGHT_QUEUE_RESULT_TTL_S seconds."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("job_id", metavar="JOB_ID", help="the job's id (JobHandle.id)")
        parser.add_argument(
            "--queue", help="ask only this queue's backend (default: every configured backend)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        configured_runtime(options)
        job_id: str = options["job_id"]
        queue: str | None = options["queue"]
        with backend_errors(queue or "(every configured queue)"):
            record = get_job(job_id, queue)
        if record is None:
            raise CommandError(
                f"no record of job {job_id!r}: records are kept only for tasks with"
                " store_result=True (or LIGHTWEIGHT_QUEUE_STORE_RESULTS = True), until"
                " LIGHTWEIGHT_QUEUE_RESULT_TTL_S seconds after they finish"
            )
        if options["json"]:
            self.stdout.write(json.dumps(json.loads(record.encode()), indent=2))
        else:
            for line in record_lines(record):
                self.stdout.write(line)
