"""What ``queue_runner`` and ``queue_worker`` share: the Django side of running workers.

:mod:`dlq.worker` knows no Django; here its callbacks are built from Django's runtime.
Everything a worker needs (tasks, middleware, models) is imported before the runner
forks, so each worker starts with it already in (shared, copy-on-write) memory.
"""

from __future__ import annotations

import gc
from argparse import ArgumentParser
from typing import Any

from django.apps import apps
from django.core.checks import Tags
from django.core.management.base import CommandError
from django.db import connections

from dlq.checks import SETTINGS_TAG
from dlq.conf import DjangoRuntime
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome
from dlq.management.connections import JobConnections
from dlq.worker.config import MetricsOptions, WorkerEnvironment, WorkerOptions

__all__ = [
    "WORKER_CHECKS",
    "add_touchfile_argument",
    "freeze_loaded_objects",
    "metrics_options",
    "worker_environment",
    "worker_options",
]


#: The system checks ``queue_worker`` runs before it starts (``queue_runner`` adds cron's):
#: dlq's own, and Django's for what a job uses (models, caches). Not the URLconf's, the
#: security or static-files ones: a worker serves no request, and checking the URLconf
#: imports every view, a tenth of a second or more of start-up for nothing. ``manage.py
#: check`` (which a deploy runs) still runs every check.
WORKER_CHECKS: list[str] = [SETTINGS_TAG, Tags.models, Tags.caches]


def add_touchfile_argument(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--touchfile",
        "--touch-file",
        dest="touchfile",
        metavar="FILE",
        help="touch FILE after each successful job; a %%s in it becomes the queue's name",
    )


def worker_environment(runtime: DjangoRuntime) -> WorkerEnvironment:
    """Callbacks for :mod:`dlq.worker`, with tasks, middleware and models loaded now."""
    job_runner = runtime.job_runner()  # imports every tasks.py, builds the middleware
    apps.get_models()
    # Each database's backend module is imported when its connection is first asked for
    # (psycopg and Django's PostgreSQL backend: ~100 ms; SQLite's: ~16 ms). Asked for
    # here, every forked worker has it, rather than importing it at its first job, again
    # in every worker process (one per JOBS_PER_WORKER jobs). Nothing connects.
    for alias in connections:
        connections[alias]
    # Kept between jobs as CONN_MAX_AGE allows, checked before and after each job.
    database = JobConnections(runtime.logger("dlq.worker"))

    def run_job(job: Job, queue: str) -> Outcome:
        database.before_job()
        return job_runner.run(job, queue)

    def after_job(job: Job, outcome: Outcome) -> None:
        database.after_job(job)

    def before_fork() -> None:
        # Nothing that talks over a socket may be shared with a child: close whatever
        # holds one here (the runner builds new backends when it next needs them;
        # building one opens no connection until it is used).
        connections.close_all()
        runtime.drop_backends()

    return WorkerEnvironment(
        backend_for=runtime.backend_for,
        # The runner built above, not runtime.run_job: drop_backends() forgets the runtime's.
        run_job=run_job,
        logger=runtime.logger,
        result_ttl_s=runtime.settings.RESULT_TTL_S,
        after_job=after_job,
        before_fork=before_fork,
        after_fork=runtime.drop_backends,
    )


def freeze_loaded_objects() -> None:
    """Move everything loaded so far (Django, the tasks, the settings) out of the
    collector's sight, for good: it lives as long as the runner anyway.

    Called once the worker environment is built and before any backend exists. The
    supervisor collects garbage before each fork (so no dropped backend's socket reaches
    a child) and a full collection over a loaded Django process costs ~50 ms of start-up
    (44-52 ms measured, with nothing found: start-up leaves no garbage cycles); after this
    it scans only what came later. Forked workers keep these pages shared, as
    :func:`gc.freeze` is meant for.
    """
    gc.freeze()


def metrics_options(runtime: DjangoRuntime) -> MetricsOptions | None:
    settings = runtime.settings
    if not settings.ENABLE_PROMETHEUS:
        return None
    try:
        import prometheus_client  # noqa: F401 -- only checking that the extra is installed
    except ImportError:
        raise CommandError(
            "LIGHTWEIGHT_QUEUE_ENABLE_PROMETHEUS is on but prometheus-client is not"
            ' installed: pip install "dlq[prometheus]"'
        ) from None
    return MetricsOptions(
        bind_address=settings.PROMETHEUS_BIND_ADDRESS, start_port=settings.PROMETHEUS_START_PORT
    )


def worker_options(
    runtime: DjangoRuntime, options: dict[str, Any], *, max_jobs: int | None = None
) -> WorkerOptions:
    settings = runtime.settings
    return WorkerOptions(
        touchfile=options.get("touchfile"),
        jobs_per_worker=max_jobs if max_jobs is not None else settings.JOBS_PER_WORKER,
        memory_limit_mb=settings.WORKER_MEMORY_LIMIT_MB,
        metrics=metrics_options(runtime),
    )
