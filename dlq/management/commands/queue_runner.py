"""``manage.py queue_runner``: this machine's share of the worker pool, supervised.

Django is set up once, here; each worker slot then runs in a process forked from this
one (see :mod:`dlq.worker.supervisor` for what the runner guarantees).
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dlq.checks import CRON_TAG
from dlq.conf import DjangoRuntime
from dlq.cron_jobs import build_cron_runtime
from dlq.domain.allocation import (
    AllocationError,
    WorkerSlot,
    exact_slots,
    implied_queues,
    slots_for_machine,
)
from dlq.exceptions import ConfigurationError, DLQError
from dlq.management.options import add_config_argument, configured_runtime
from dlq.management.workers import (
    WORKER_CHECKS,
    add_touchfile_argument,
    freeze_loaded_objects,
    metrics_options,
    worker_environment,
    worker_options,
)
from dlq.worker.config import Scheduler, SupervisorOptions
from dlq.worker.process import daemonize, pid_in, remove_pidfile
from dlq.worker.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Run this machine's worker processes (machine N of a pool of M, or an exact"
        " configuration) until SIGTERM or SIGINT, then stop them gracefully."
    )
    requires_system_checks = [*WORKER_CHECKS, CRON_TAG]

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--pidfile", metavar="FILE", help="run as a daemon and write its pid to FILE"
        )
        add_touchfile_argument(parser)
        parser.add_argument(
            "--machine",
            dest="machine_number",
            metavar="N",
            help="this machine's number in the pool, from 1 (default 1)",
        )
        parser.add_argument(
            "--of",
            dest="machine_count",
            metavar="M",
            help="how many machines the pool has (default 1)",
        )
        parser.add_argument(
            "--only-queue", metavar="QUEUE", help="run only this queue's share of workers"
        )
        parser.add_argument(
            "--exact-configuration",
            action="store_true",
            help="run exactly the workers of the --config file on this machine, and no cron;"
            " not with --machine, --of or --only-queue",
        )
        add_config_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        exact: bool = options["exact_configuration"]
        if exact:
            if not options.get("config"):
                raise CommandError(
                    "--exact-configuration needs --config (or --extra-settings): the file"
                    " whose LIGHTWEIGHT_QUEUE_WORKERS this machine runs exactly"
                )
            given = [
                flag
                for flag, key in (
                    ("--machine", "machine_number"),
                    ("--of", "machine_count"),
                    ("--only-queue", "only_queue"),
                )
                if options.get(key) is not None
            ]
            if given:
                raise CommandError(
                    f"--exact-configuration cannot be combined with {', '.join(given)}:"
                    " an exact configuration is not part of a pool"
                )
        machine = _whole_number(options.get("machine_number"), "--machine")
        of = _whole_number(options.get("machine_count"), "--of")
        runtime = configured_runtime(options)
        only_queue: str | None = options.get("only_queue")

        # Cron: the queues its entries name join the pool's worker counts on every pooled
        # machine, and the runner that schedules (machine 1 of a pool by default, never an
        # exact configuration) runs the scheduler in a supervised process of its own.
        try:
            cron = build_cron_runtime(
                runtime, machine=machine or 1, exact_configuration=exact, only_queue=only_queue
            )
        except ConfigurationError as exc:
            raise CommandError(f"the cron configuration is wrong:\n{exc}") from None
        cron_queues: Sequence[str] = cron.queues
        scheduler: Scheduler | None = cron.scheduler_loop

        slots = self.slots(runtime, exact, machine, of, only_queue, cron_queues)
        env = worker_environment(runtime)
        freeze_loaded_objects()
        supervisor_options = SupervisorOptions(
            slots=slots,
            worker=worker_options(runtime, options),
            shutdown_deadline_s=runtime.settings.SHUTDOWN_DEADLINE_S,
            metrics=metrics_options(runtime),
            scheduler=scheduler,
        )
        logger = runtime.logger("dlq.runner")
        logger.info(
            "Starting queue runner: %s%s",
            ", ".join(str(slot) for slot in slots) or "no workers",
            " and the cron scheduler" if scheduler is not None else "",
        )
        if not slots and scheduler is None:
            logger.warning("This runner has no worker slots; it waits to be stopped")
        pidfile: str | None = options.get("pidfile")
        if pidfile:
            running = pid_in(pidfile)
            if running is not None:
                raise CommandError(
                    f"the pidfile {pidfile} names process {running}, which is running:"
                    " is a runner already started with it?"
                )
            daemonize(pidfile)
        try:
            status = Supervisor(supervisor_options, env).run()
        except DLQError as exc:  # a backend that cannot start up, say
            raise CommandError(f"the queue runner stopped: {exc}") from exc
        finally:
            if pidfile:
                remove_pidfile(pidfile)
        if status:
            sys.exit(status)

    def slots(
        self,
        runtime: DjangoRuntime,
        exact: bool,
        machine: int,
        of: int,
        only_queue: str | None,
        cron_queues: Sequence[str],
    ) -> tuple[WorkerSlot, ...]:
        workers = runtime.settings.WORKERS
        try:
            if exact:
                return exact_slots(workers)
            return slots_for_machine(
                implied_queues(workers, cron_queues), machine, of, only_queue=only_queue
            )
        except AllocationError as exc:
            raise CommandError(str(exc)) from None
        except DLQError as exc:  # pragma: no cover - settings were validated already
            raise CommandError(f"dlq is misconfigured:\n{exc}") from None


def _whole_number(value: str | None, flag: str) -> int:
    if value is None:
        return 1
    text = str(value).strip()
    if not text.isdigit() or not text.isascii():
        raise CommandError(f"{flag} must be a whole number from 1, not {value!r}")
    number = int(text)
    if number < 1:
        raise CommandError(f"{flag} {number} is invalid: machines are numbered from 1")
    return number
