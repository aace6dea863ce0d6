"""What each queue and cron entry is doing now, gathered as data for ``queue_status`` and the dashboard.

Both show the same numbers, so both read them here: :func:`queue_status` asks a queue's
backend for whatever it can tell (a capability it lacks is left as None and named in
``unsupported``; a backend that cannot be reached is an ``error``, not an exception), and
:func:`cron_rows` lists every cron entry with its next fire time and the minute it last
fired. How each is written out (text, JSON, HTML) is the caller's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from dlq.conf import DjangoRuntime
from dlq.core.protocols import (
    Backend,
    SupportsCronHistory,
    SupportsDeadLetters,
    SupportsDelay,
    SupportsInspection,
    SupportsPause,
)
from dlq.core.scheduler import cron_timezone
from dlq.core.settings import QueueSettings
from dlq.domain.cron.due import next_fire_time
from dlq.domain.cron.entry import CronConfiguration, CronEntry
from dlq.domain.envelope import Job, JSONValue
from dlq.exceptions import DLQError

__all__ = [
    "CronRow",
    "QueueStatus",
    "TakenJob",
    "backend_label",
    "cron_rows",
    "known_queues",
    "queue_status",
    "taken_jobs",
]


def known_queues(settings: QueueSettings) -> list[str]:
    """Every queue the configuration names (in WORKERS or BACKEND_OVERRIDES), sorted."""
    return sorted(set(settings.WORKERS) | set(settings.BACKEND_OVERRIDES))


def backend_label(backend: Backend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True, slots=True)
class TakenJob:
    """A job a worker slot has taken and not yet finished."""

    worker: int
    job_id: str
    path: str
    attempt: int
    #: When it was enqueued (upstream's ``created_time``), if the payload says.
    enqueued_at: datetime | None = None

    def as_json(self) -> dict[str, JSONValue]:
        return {
            "worker": self.worker,
            "job_id": self.job_id,
            "path": self.path,
            "attempt": self.attempt,
        }


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One queue's state. ``None`` in a capability's field means the backend lacks it
    (listed in ``unsupported``), except ``paused_until``, which is also None when running.
    """

    queue: str
    backend: str
    workers: int
    configured: bool
    length: int | None = None
    #: Jobs held back until their time (delayed, or retries), and the earliest time.
    delayed: int | None = None
    next_due: datetime | None = None
    paused_until: datetime | None = None
    in_progress: tuple[TakenJob, ...] | None = None
    dead_letters: int | None = None
    unsupported: tuple[str, ...] = ()
    error: str | None = None

    @property
    def can_pause(self) -> bool:
        return SupportsPause.__name__ not in self.unsupported

    def as_json(self) -> dict[str, JSONValue]:
        return {
            "queue": self.queue,
            "backend": self.backend,
            "workers": self.workers,
            "configured": self.configured,
            "length": self.length,
            "delayed": self.delayed,
            "next_due": None if self.next_due is None else self.next_due.isoformat(),
            "paused": (self.paused_until is not None) if self.can_pause else None,
            "paused_until": None if self.paused_until is None else self.paused_until.isoformat(),
            "in_progress": None
            if self.in_progress is None
            else [job.as_json() for job in self.in_progress],
            "dead_letters": self.dead_letters,
            "unsupported": list(self.unsupported),
            "error": self.error,
        }


def taken_jobs(slots: Mapping[int, Sequence[Job]]) -> tuple[TakenJob, ...]:
    """The jobs each slot holds, by worker number (the running one first in each)."""
    return tuple(
        TakenJob(worker, job.id, job.path, job.attempts, job.created_time)
        for worker in sorted(slots)
        for job in slots[worker]
    )


def queue_status(runtime: DjangoRuntime, queue: str, *, workers: int | None = None) -> QueueStatus:
    """What ``queue``'s backend can tell about it; a capability it lacks is left as None.

    ``workers`` overrides the configured count (the dashboard counts the worker a cron
    queue is given); by default it is ``WORKERS[queue]``, or 0.
    """
    settings = runtime.settings
    status = QueueStatus(
        queue=queue,
        backend=settings.backend_path_for(queue),
        workers=settings.WORKERS.get(queue, 0) if workers is None else workers,
        configured=queue in known_queues(settings),
    )
    try:
        return _read(status, runtime.backend_for(queue))
    except DLQError as exc:
        # One unreachable backend should not hide the queues on the others.
        return replace(status, error=str(exc))


def _read(status: QueueStatus, backend: Backend) -> QueueStatus:
    queue = status.queue
    unsupported = []
    paused_until = None
    if isinstance(backend, SupportsPause):
        paused_until = backend.paused_until(queue)
    else:
        unsupported.append(SupportsPause.__name__)
    in_progress = None
    if isinstance(backend, SupportsInspection):
        in_progress = taken_jobs(backend.in_progress(queue))
    else:
        unsupported.append(SupportsInspection.__name__)
    delayed = next_due = None
    if isinstance(backend, SupportsDelay):
        delayed = backend.delayed_count(queue)
        next_due = backend.next_due(queue) if delayed else None
    else:
        unsupported.append(SupportsDelay.__name__)
    dead_letters = None
    if isinstance(backend, SupportsDeadLetters):
        dead_letters = backend.dead_letter_count(queue)
    else:
        unsupported.append(SupportsDeadLetters.__name__)
    return replace(
        status,
        backend=backend_label(backend),
        length=backend.length(queue),
        delayed=delayed,
        next_due=next_due,
        paused_until=paused_until,
        in_progress=in_progress,
        dead_letters=dead_letters,
        unsupported=tuple(unsupported),
    )


@dataclass(frozen=True, slots=True)
class CronRow:
    """A cron entry, when it fires next (UTC) and the minute it last fired for.

    ``last_fired`` is None when it never fired as far as its backend knows, and also when
    the backend keeps no history (``history`` False) or could not be read (``error``).
    """

    entry: CronEntry
    next_fire: datetime
    last_fired: datetime | None
    history: bool = True
    error: str | None = None


def cron_rows(
    runtime: DjangoRuntime, configuration: CronConfiguration, now: datetime
) -> list[CronRow]:
    """Every entry of ``configuration`` with its next fire time after ``now`` and its history.

    Raises :class:`~dlq.exceptions.ConfigurationError` for a bad ``CRON_TIMEZONE``. A
    backend that fails is asked once: the other entries on it get the same error.
    """
    tz = cron_timezone(runtime.settings)
    failed: dict[int, str] = {}  # id(backend) -> its error
    rows = []
    for entry in configuration.entries:
        upcoming = next_fire_time(entry.spec, tz, now)
        try:
            backend = runtime.backend_for(entry.queue)
        except DLQError as exc:
            rows.append(CronRow(entry, upcoming, None, error=str(exc)))
            continue
        if not isinstance(backend, SupportsCronHistory):
            rows.append(CronRow(entry, upcoming, None, history=False))
            continue
        error = failed.get(id(backend))
        if error is None:
            try:
                fired = backend.last_fired([entry.id]).get(entry.id)
            except DLQError as exc:
                error = failed[id(backend)] = str(exc)
            else:
                rows.append(CronRow(entry, upcoming, fired))
                continue
        rows.append(CronRow(entry, upcoming, None, error=error))
    return rows
