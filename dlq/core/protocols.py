"""Every Protocol dlq's parts meet through, in one place.

A backend implements :class:`Backend` and whichever small capability Protocols it can;
management commands check for a capability with ``isinstance`` (they are
``runtime_checkable``) and say which backend lacks which capability otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, runtime_checkable

from dlq.core.settings import QueueSettings
from dlq.domain.dead_letter import DeadLetter
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import Outcome

__all__ = [
    "Backend",
    "BackendContext",
    "Clock",
    "Middleware",
    "ProgressCallback",
    "Runtime",
    "StopSignal",
    "SupportsBrowse",
    "SupportsCallDeadline",
    "SupportsClaim",
    "SupportsClear",
    "SupportsCronHistory",
    "SupportsDeadLetters",
    "SupportsDeduplicate",
    "SupportsDelay",
    "SupportsInspection",
    "SupportsLeaseInspection",
    "SupportsPause",
    "SupportsRelease",
    "SupportsResults",
    "SupportsSlotLease",
]

#: Returns the current time, timezone-aware. Only adapters call one; pure code takes ``now``.
Clock = Callable[[], datetime]

#: Called as ``progress(done, total)`` by long operations.
ProgressCallback = Callable[[int, int], None]


@runtime_checkable
class StopSignal(Protocol):
    """A worker's request to stop, which a backend's blocking wait must honour.

    It is set from a signal handler, so it is never an exception: a backend checks
    :meth:`is_set` before it starts a wait, and waits on :meth:`fileno` (readable once the
    signal is set, and readable from then on) beside whatever else it waits on (a socket,
    a timer), returning ``None`` from ``dequeue`` as soon as it becomes readable.
    ``dlq.worker.wakeup.StopFlag`` is the implementation workers use.
    """

    def is_set(self) -> bool: ...

    def fileno(self) -> int: ...


@dataclass(frozen=True)
class BackendContext:
    """What a backend is built from: ``Backend.from_context(context)``.

    ``run_job`` is the shared execution path, for backends that run jobs inline.
    """

    settings: QueueSettings
    clock: Clock
    logger: logging.Logger
    run_job: Callable[[Job, str], Outcome]


@runtime_checkable
class Backend(Protocol):
    """Where jobs wait. Queue names are plain strings; worker numbers start at 1."""

    def startup(self, queue: str) -> None:
        """Called once by a runner before its workers for ``queue`` start."""

    def enqueue(self, job: Job, queue: str) -> None: ...

    def bulk_enqueue(self, jobs: Sequence[Job], queue: str) -> None:
        """Enqueue ``jobs`` in order, in as few round trips as the store allows."""

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        """The next job for this worker slot, waiting up to ``timeout_s``; None if none came.

        Returns None at once, without taking a job, when ``stop`` is set or becomes set
        while it waits (see :class:`StopSignal`).
        """

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        """``job`` (as dequeued) has finished with ``outcome``; forget it or keep it as dead.

        ``Retrying``: queue ``job.retried(outcome.run_after)`` in its place, held back
        until then (in one step with forgetting ``job`` where the backend promises at
        least once). ``GaveUp``: keep it as a dead letter with ``failure_reason(outcome)``.
        """

    def length(self, queue: str) -> int: ...


@runtime_checkable
class SupportsPause(Protocol):
    def pause(self, queue: str, until: datetime) -> None:
        """No job of ``queue`` starts from when this returns until ``until``."""

    def resume(self, queue: str) -> None: ...

    def paused_until(self, queue: str) -> datetime | None: ...


@runtime_checkable
class SupportsDelay(Protocol):
    """Jobs held back until their ``run_after``: enqueued with one, or retried.

    A held job is kept by the backend (never in a worker's memory), is not taken by
    ``dequeue`` before its time, and does not count in ``length``.
    """

    def delayed_count(self, queue: str) -> int: ...

    def next_due(self, queue: str) -> datetime | None:
        """The earliest ``run_after`` among ``queue``'s held jobs; None when there are none."""

    def clear_delayed(self, queue: str) -> int:
        """Remove every held job of ``queue``; returns how many there were."""

    def promote_due(self, queue: str) -> int:
        """Make the held jobs whose time has come takeable, in batches; returns how many.

        A runner calls it for its queues several times a second, so a backend whose
        ``dequeue`` reads due times itself may do nothing here.
        """


@runtime_checkable
class SupportsResults(Protocol):
    """Keeping :class:`~dlq.domain.job_record.JobRecord` s, by job id.

    ``ttl_s``: the record may be forgotten that many seconds after this write (a store
    that cannot expire keys prunes them in :meth:`prune_records`).
    """

    def save_record(self, record: JobRecord, ttl_s: int) -> None: ...

    def get_record(self, job_id: str) -> JobRecord | None: ...

    def prune_records(self) -> int:
        """Remove the records past their time; returns how many (0 where they expire)."""


@runtime_checkable
class SupportsClear(Protocol):
    def clear(self, queue: str) -> int:
        """Remove every waiting job of ``queue``; returns how many there were."""


@runtime_checkable
class SupportsDeduplicate(Protocol):
    def deduplicate(
        self, queue: str, *, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        """Drop waiting jobs identical but for id and created time, keeping the oldest.

        Returns the queue's length before and after.
        """


@runtime_checkable
class SupportsDeadLetters(Protocol):
    def dead_letters(self, queue: str, limit: int = 100) -> Sequence[DeadLetter]: ...

    def dead_letter_count(self, queue: str) -> int: ...

    def requeue_dead_letters(self, queue: str, job_ids: Collection[str] | None = None) -> int:
        """Put dead letters (all, or those with these job ids) back on the queue."""

    def purge_dead_letters(self, queue: str) -> int: ...


@runtime_checkable
class SupportsClaim(Protocol):
    def claim(self, key: str, ttl_s: int) -> bool:
        """True for exactly one caller per ``key`` while its claim lives (``ttl_s``)."""


@runtime_checkable
class SupportsCronHistory(Protocol):
    """When each cron entry last fired, kept by the backend of the entry's queue."""

    def record_fired(self, entry_id: str, when: datetime) -> None:
        """``entry_id`` was enqueued for the minute starting at ``when`` (UTC)."""

    def last_fired(self, entry_ids: Collection[str]) -> Mapping[str, datetime]:
        """The latest recorded minute of each of ``entry_ids`` that has fired."""


@runtime_checkable
class SupportsSlotLease(Protocol):
    """Leases on worker slots, so that two runners never serve one slot at once.

    ``owner`` identifies the runner (host and pid, say). A lease lives ``ttl_s`` seconds
    unless renewed; a runner that dies stops renewing and its slots free themselves.
    """

    def acquire_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool: ...

    def renew_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool:
        """False when the lease is no longer ``owner``'s: stop serving the slot."""

    def release_slot(self, queue: str, worker_number: int, owner: str) -> None: ...


@runtime_checkable
class SupportsCallDeadline(Protocol):
    """Backends that can bound how long each call waits on their store.

    A runner's supervising loop keeps slot leases and job timeouts only as well as its
    backend calls let it: it makes every call through :meth:`with_call_deadline`, and
    warns about a backend that talks to another process without this capability.
    """

    def with_call_deadline(self, deadline_s: float) -> Backend:
        """The same store, through calls that each return or raise within ``deadline_s``
        when the store does not answer, and are never retried behind the caller's back."""


@runtime_checkable
class SupportsRelease(Protocol):
    """For backends that hand jobs out of a prefetched batch.

    A worker calls :meth:`release` for its slot when its loop returns (stopped, or due for
    recycling), so that the jobs it took but never started run next elsewhere rather than
    waiting for the slot to run again or for a runner's ``startup``.
    """

    def release(self, queue: str, worker_number: int) -> int:
        """Give back, to the front of the queue (they run next) and in order, the jobs this process took for
        the slot but has not started; returns how many."""

    def close(self) -> None:
        """Release every slot, then close connections. The backend reconnects if used again."""


@runtime_checkable
class SupportsInspection(Protocol):
    def in_progress(self, queue: str) -> Mapping[int, Sequence[Job]]:
        """The jobs each worker slot of ``queue`` has taken and not yet acknowledged."""


@runtime_checkable
class SupportsBrowse(Protocol):
    """Reading a queue one page at a time, as the dashboard does: never a whole list.

    Each call costs about ``offset + limit`` items, whatever the queue's length, so the
    first pages of a queue of millions answer as fast as those of an empty one.
    """

    def waiting_page(self, queue: str, offset: int, limit: int) -> Sequence[bytes]:
        """Up to ``limit`` payloads waiting in ``queue``, exactly as queued, in the order
        workers will take them, skipping the first ``offset`` (0: the next job to run)."""

    def dead_letter_page(self, queue: str, offset: int, limit: int) -> Sequence[DeadLetter]:
        """Up to ``limit`` dead letters of ``queue``, newest first, skipping ``offset``;
        empty for a backend that keeps none."""


@runtime_checkable
class SupportsLeaseInspection(Protocol):
    def slot_leases(self, queue: str) -> Mapping[int, str]:
        """Worker number to owner, for each slot of ``queue`` a runner leases now (see
        :class:`SupportsSlotLease`): the workers that are running."""


@runtime_checkable
class Middleware(Protocol):
    """Hooks around every job run; subclass :class:`dlq.core.middleware.BaseMiddleware`.

    Middleware written for django-lightweight-queue may define only some of these; dlq
    calls the ones present.
    """

    def process_job(self, job: Job) -> None: ...

    def process_result(self, job: Job, result: object, duration_s: float) -> None: ...

    def process_exception(
        self,
        job: Job,
        duration_s: float,
        exc_type: type[BaseException],
        exc_value: BaseException,
        exc_tb: TracebackType | None,
    ) -> None: ...


class Runtime(Protocol):
    """What a task needs at call time; the Django layer provides it."""

    @property
    def settings(self) -> QueueSettings: ...

    def backend_for(self, queue: str) -> Backend: ...

    def now(self) -> datetime: ...

    def on_commit(self, callback: Callable[[], None], alias: str) -> None:
        """Call ``callback`` when the current transaction on database ``alias`` commits
        (at once outside one); never if it rolls back."""
