"""``manage.py queue_worker QUEUE NUMBER``: run one worker slot, supervised.

The slot runs exactly as under ``queue_runner`` (a forked worker process under a
supervisor), so timeouts are enforced, the slot is leased, and the worker is restarted
if it dies; only the pool split and cron are left out.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dlq.domain.allocation import WorkerSlot
from dlq.exceptions import DLQError
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.workers import (
    WORKER_CHECKS,
    add_touchfile_argument,
    freeze_loaded_objects,
    worker_environment,
    worker_options,
)
from dlq.worker.config import SupervisorOptions
from dlq.worker.supervisor import Supervisor


class Command(BaseCommand):
    help = "Run worker NUMBER of QUEUE until SIGTERM or SIGINT (then finish the job in hand)."
    requires_system_checks = WORKER_CHECKS

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="the queue to take jobs from")
        parser.add_argument("number", type=int, help="this worker's slot number, from 1")
        add_touchfile_argument(parser)
        parser.add_argument(
            "--max-jobs",
            type=int,
            default=None,
            help="recycle the worker process after this many jobs"
            " (default: LIGHTWEIGHT_QUEUE_JOBS_PER_WORKER)",
        )
        parser.add_argument(
            "--prometheus-port",
            type=int,
            default=None,
            help="serve this worker's metrics on this port (when ENABLE_PROMETHEUS is on;"
            " default: PROMETHEUS_START_PORT + 1)",
        )
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        queue: str = options["queue"]
        number: int = options["number"]
        if number < 1:
            raise CommandError(f"NUMBER must be 1 or more, not {number}")
        max_jobs: int | None = options["max_jobs"]
        if max_jobs is not None and max_jobs < 1:
            raise CommandError(f"--max-jobs must be 1 or more, not {max_jobs}")
        runtime = configured_runtime(options)
        worker = worker_options(runtime, options, max_jobs=max_jobs)
        port: int | None = options["prometheus_port"]
        if worker.metrics is not None and port is not None:
            # The one worker has index 1: its port is start + 1.
            worker = replace(worker, metrics=replace(worker.metrics, start_port=port - 1))
        supervisor_options = SupervisorOptions(
            slots=[WorkerSlot(queue, number)],
            worker=worker,
            shutdown_deadline_s=runtime.settings.SHUTDOWN_DEADLINE_S,
        )
        env = worker_environment(runtime)
        freeze_loaded_objects()
        try:
            status = Supervisor(supervisor_options, env).run()
        except DLQError as exc:  # a backend that cannot start up, say
            raise CommandError(f"the worker stopped: {exc}") from exc
        if status:
            sys.exit(status)
