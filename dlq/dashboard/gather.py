"""What the dashboard's pages show, read from the queues' backends as data.

The numbers are :mod:`dlq.status`'s, the ones ``queue_status`` prints; this module adds
what only the dashboard shows (the running workers, pages of waiting jobs and dead
letters, one job) and its rules for failures:

* A backend that fails (Redis stopped, a database unreachable) makes its queues' rows
  say so; it is asked once per page, so a page over ten queues on a stopped Redis waits
  for one connection attempt, not ten. Failures dlq raises on purpose
  (:class:`~dlq.exceptions.DLQError`) are shown as they are; anything else a backend
  raises (a backend class of another project, say) is logged with its traceback and
  shown by its type only, since its message might hold a secret.
* A capability a backend lacks is None in the data, and "not available for this
  backend" on the page.
* Every read is one page (:data:`PAGE_SIZE`), never a whole list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Literal, TypeVar

from dlq.conf import DjangoRuntime
from dlq.core.protocols import (
    Backend,
    SupportsBrowse,
    SupportsDeadLetters,
    SupportsInspection,
    SupportsLeaseInspection,
    SupportsResults,
)
from dlq.cron_jobs import cron_configuration
from dlq.dashboard.results import StoredResult, stored_result
from dlq.domain.allocation import implied_queues
from dlq.domain.dead_letter import DeadLetter
from dlq.domain.envelope import Job, decode_job
from dlq.exceptions import DLQError, PayloadError
from dlq.status import QueueStatus, TakenJob, backend_label, known_queues, queue_status

__all__ = [
    "FIND_LIMIT",
    "PAGE_SIZE",
    "DeadRow",
    "JobFinding",
    "Overview",
    "QueueDetail",
    "QueueRow",
    "WaitingRow",
    "dashboard_queues",
    "find_job",
    "overview",
    "queue_detail",
    "running_jobs",
]

T = TypeVar("T")

#: Waiting jobs and dead letters shown per page.
PAGE_SIZE = 50
#: How far the job page looks for a job among the waiting jobs and the dead letters.
FIND_LIMIT = 1000

_log = logging.getLogger("dlq.dashboard")


class _Unavailable(Exception):
    """A backend failed; ``message`` says how, fit to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _call(doing: str, read: Callable[[], T]) -> T:
    """``read()``, any failure of the backend behind it raised as :class:`_Unavailable`."""
    try:
        return read()
    except DLQError as exc:
        raise _Unavailable(str(exc)) from exc
    except Exception as exc:  # a backend of any origin must not take the page down
        _log.exception("The dashboard failed while %s", doing)
        raise _Unavailable(
            f"{type(exc).__name__} while {doing} (the details are in the server's log)"
        ) from exc


def dashboard_queues(runtime: DjangoRuntime) -> dict[str, int]:
    """Every queue the configuration names, cron's included, with its worker count: the
    queues the dashboard shows and acts on (any other name is refused)."""
    settings = runtime.settings
    workers = implied_queues(settings.WORKERS, cron_configuration(runtime).queues)
    return {
        queue: workers.get(queue, 0)
        for queue in sorted(set(workers) | set(settings.BACKEND_OVERRIDES))
    }


def running_jobs(status: QueueStatus) -> list[TakenJob]:
    """The job each worker slot runs (or is about to): the first one it holds."""
    seen: set[int] = set()
    first = []
    for job in status.in_progress or ():
        if job.worker not in seen:
            seen.add(job.worker)
            first.append(job)
    return first


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue's status and what the dashboard adds to it.

    ``leases`` (worker number to runner) is None when the backend cannot tell or failed;
    ``started`` maps running jobs' ids to when they started, where stored results say.
    """

    status: QueueStatus
    leases: Mapping[int, str] | None = None
    started: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        return self.status.queue

    @property
    def workers_running(self) -> int | None:
        return None if self.leases is None else len(self.leases)


@dataclass(frozen=True, slots=True)
class Overview:
    now: datetime
    rows: tuple[QueueRow, ...]


class _Reading:
    """The reads of one page: remembers which backends failed, to ask them nothing more."""

    def __init__(self, runtime: DjangoRuntime) -> None:
        self.runtime = runtime
        self.failed: dict[int, str] = {}  # id(backend) -> how it failed

    def row(self, queue: str, workers: int) -> tuple[QueueRow, Backend | None]:
        """The queue's row, and its backend unless that failed."""
        settings = self.runtime.settings
        status = QueueStatus(
            queue=queue,
            backend=settings.backend_path_for(queue),
            workers=workers,
            configured=queue in known_queues(settings),
        )
        try:
            backend = _call(
                f"building the backend of {queue!r}", lambda: self.runtime.backend_for(queue)
            )
        except _Unavailable as exc:
            return QueueRow(replace(status, error=exc.message)), None
        status = replace(status, backend=backend_label(backend))
        if id(backend) in self.failed:
            return QueueRow(replace(status, error=self.failed[id(backend)])), None
        try:
            status = _call(
                f"reading the status of {queue!r}",
                lambda: queue_status(self.runtime, queue, workers=workers),
            )
            if status.error is not None:
                raise _Unavailable(status.error)
            leases = None
            if isinstance(backend, SupportsLeaseInspection):
                leases = _call(
                    f"reading the leases of {queue!r}", lambda: backend.slot_leases(queue)
                )
            started = {}
            for job in running_jobs(status):
                result = _call("reading a result", partial(stored_result, backend, job.job_id))
                if result is not None and result.started_at is not None:
                    started[job.job_id] = result.started_at
        except _Unavailable as exc:
            self.failed[id(backend)] = exc.message
            return QueueRow(replace(status, error=exc.message)), None
        return QueueRow(status, leases, started), backend


def overview(runtime: DjangoRuntime) -> Overview:
    """Every queue's row, for the queues page and its JSON."""
    reading = _Reading(runtime)
    rows = tuple(
        reading.row(queue, workers)[0] for queue, workers in dashboard_queues(runtime).items()
    )
    return Overview(runtime.now(), rows)


@dataclass(frozen=True, slots=True)
class WaitingRow:
    """A waiting payload at ``position`` (1 runs next); ``job`` None if it cannot be
    decoded, ``problem`` saying why."""

    position: int
    raw: bytes
    job: Job | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class DeadRow:
    letter: DeadLetter
    job: Job | None


@dataclass(frozen=True, slots=True)
class QueueDetail:
    """One queue's page: a page of waiting jobs and one of dead letters.

    ``waiting`` and ``dead`` are None when the backend lacks the capability (or ``error``
    says how reading failed). Without ``SupportsBrowse``, dead letters are only the
    newest :data:`PAGE_SIZE` (``dead_paged`` False).
    """

    now: datetime
    row: QueueRow
    waiting_offset: int
    dead_offset: int
    waiting: tuple[WaitingRow, ...] | None = None
    dead: tuple[DeadRow, ...] | None = None
    dead_paged: bool = False
    error: str | None = None


def _decoded(raw: bytes) -> tuple[Job | None, str | None]:
    try:
        return decode_job(raw), None
    except PayloadError as exc:
        return None, exc.reason


def queue_detail(
    runtime: DjangoRuntime, queue: str, workers: int, *, waiting_offset: int, dead_offset: int
) -> QueueDetail:
    row, backend = _Reading(runtime).row(queue, workers)
    detail = QueueDetail(runtime.now(), row, waiting_offset, dead_offset, error=row.status.error)
    if backend is None:
        return detail
    try:
        waiting = None
        if isinstance(backend, SupportsBrowse):
            payloads = _call(
                f"reading waiting jobs of {queue!r}",
                lambda: backend.waiting_page(queue, waiting_offset, PAGE_SIZE),
            )
            waiting = tuple(
                WaitingRow(waiting_offset + index, raw, *_decoded(raw))
                for index, raw in enumerate(payloads, start=1)
            )
        dead = None
        if isinstance(backend, SupportsDeadLetters):
            if isinstance(backend, SupportsBrowse):
                letters = _call(
                    f"reading dead letters of {queue!r}",
                    lambda: backend.dead_letter_page(queue, dead_offset, PAGE_SIZE),
                )
            else:
                letters = _call(
                    f"reading dead letters of {queue!r}",
                    lambda: backend.dead_letters(queue, PAGE_SIZE),
                )
            dead = tuple(DeadRow(letter, _decoded(letter.raw)[0]) for letter in letters)
    except _Unavailable as exc:
        return replace(detail, error=exc.message)
    return replace(
        detail, waiting=waiting, dead=dead, dead_paged=isinstance(backend, SupportsBrowse)
    )


@dataclass(frozen=True, slots=True)
class JobFinding:
    """Where the job page found a job, and what it knows of it.

    ``where`` is None when it was not found among what was searched (``searched`` says
    what); ``result`` is the stored result, if the backend keeps results.
    """

    queue: str
    job_id: str
    now: datetime
    where: Literal["in progress", "waiting", "dead letter"] | None = None
    worker: int | None = None
    position: int | None = None
    job: Job | None = None
    dead_letter: DeadLetter | None = None
    result: StoredResult | None = None
    #: Whether the backend keeps results at all (a job without one kept none).
    keeps_results: bool = False
    searched: tuple[str, ...] = ()
    error: str | None = None


def find_job(runtime: DjangoRuntime, queue: str, job_id: str) -> JobFinding:
    """Look for ``job_id`` in ``queue``: its stored result, then the jobs worker slots
    hold, the next :data:`FIND_LIMIT` waiting and the newest :data:`FIND_LIMIT` dead
    letters, as far as the backend can show each."""
    finding = JobFinding(queue, job_id, runtime.now())
    try:
        backend = _call(f"building the backend of {queue!r}", lambda: runtime.backend_for(queue))
        result = _call("reading a result", partial(stored_result, backend, job_id))
        finding = replace(
            finding, result=result, keeps_results=isinstance(backend, SupportsResults)
        )
        return _search(backend, finding)
    except _Unavailable as exc:
        return replace(finding, error=exc.message)


def _search(backend: Backend, finding: JobFinding) -> JobFinding:
    queue, job_id = finding.queue, finding.job_id
    searched = []
    if isinstance(backend, SupportsInspection):
        searched.append("the jobs worker slots hold")
        slots = _call("inspecting the worker slots", lambda: backend.in_progress(queue))
        for worker in sorted(slots):
            for held in slots[worker]:
                if held.id == job_id:
                    return replace(finding, where="in progress", worker=worker, job=held)
    if isinstance(backend, SupportsBrowse):
        searched.append(f"the next {FIND_LIMIT:,} waiting jobs")
        payloads = _call("reading waiting jobs", lambda: backend.waiting_page(queue, 0, FIND_LIMIT))
        for position, raw in enumerate(payloads, start=1):
            waiting, _problem = _decoded(raw)
            if waiting is not None and waiting.id == job_id:
                return replace(finding, where="waiting", position=position, job=waiting)
    letters: list[DeadLetter] = []
    if isinstance(backend, SupportsBrowse) and isinstance(backend, SupportsDeadLetters):
        searched.append(f"the newest {FIND_LIMIT:,} dead letters")
        letters = list(
            _call("reading dead letters", lambda: backend.dead_letter_page(queue, 0, FIND_LIMIT))
        )
    elif isinstance(backend, SupportsDeadLetters):
        searched.append(f"the newest {FIND_LIMIT:,} dead letters")
        letters = list(
            _call("reading dead letters", lambda: backend.dead_letters(queue, FIND_LIMIT))
        )
    for letter in letters:
        if letter.job_id == job_id:
            return replace(
                finding, where="dead letter", dead_letter=letter, job=_decoded(letter.raw)[0]
            )
    return replace(finding, searched=tuple(searched))
