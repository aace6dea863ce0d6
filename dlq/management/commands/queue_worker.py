"""``manage.py queue_worker QUEUE NUMBER``: run one worker slot in this process."""

from __future__ import annotations

import signal
import types
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome, Succeeded
from dlq.management.options import add_config_argument, configured_runtime
from dlq.worker.loop import WorkerLoop


class Command(BaseCommand):
    help = "Run one worker for QUEUE as worker slot NUMBER until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="the queue to take jobs from")
        parser.add_argument("number", type=int, help="this worker's slot number, from 1")
        parser.add_argument(
            "--touchfile", help="a file touched after each successful job ('%%s': the queue)"
        )
        parser.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue: str = options["queue"]
        number: int = options["number"]
        if number < 1:
            raise CommandError(f"NUMBER must be 1 or more, not {number}")
        runtime = configured_runtime(options)
        backend = runtime.backend_for(queue)
        touchfile = options["touchfile"]
        stopping = False

        def stop(signum: int, frame: types.FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        def after_job(job: Job, outcome: Outcome) -> None:
            close_old_connections()
            if touchfile and isinstance(outcome, Succeeded):
                Path(touchfile.replace("%s", queue)).touch()

        runtime.discover_tasks()
        backend.startup(queue)
        loop = WorkerLoop(
            backend,
            queue,
            number,
            runtime.run_job,
            logger=runtime.logger("dlq.worker"),
            max_jobs=options["max_jobs"],
            should_stop=lambda: stopping,
            after_job=after_job,
        )
        loop.run()
