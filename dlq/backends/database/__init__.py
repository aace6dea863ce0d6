"""The database backend: jobs in the project's own database (PostgreSQL, MySQL 8/MariaDB
10.6+, SQLite), with the promises of ``ReliableRedisBackend``.

At least once: a job's row leaves the table only after the job has run. A worker killed
mid-job gets its job back when its slot restarts (a runner's ``startup`` does it for
slots no live runner leases); every delivery that starts and does not finish is
counted in the payload, and a job started ``MAX_DELIVERIES`` times goes to the dead
letters with the reason, as does a row that is not a job or names no registered task.

How it keeps that promise cheaply (the choice, and the one it was weighed against):

* **Batches, and a marker per job.** A slot claims a batch of jobs in one statement (one
  transaction on MySQL and SQLite) and hands them out in claim order. Before each job
  starts, one ``UPDATE`` writes its row id into the slot's row (``dlq_slot.started``);
  on PostgreSQL that statement is pipelined, so the worker does not wait for its reply,
  though it has left the process before the task runs. Since a slot runs its batch in
  order, "started X" means every earlier job of the batch finished and every later one
  never started: a finished job needs no statement of its own, and its row is deleted
  with the slot's next claim (one ``DELETE`` per batch, inside PostgreSQL's claim
  statement). After a crash, :mod:`.recovery` reads the marker: before X finished, X
  unfinished (one delivery more), after X never started.
* The alternative, an acknowledgement and a marker per job in one pipelined round trip,
  keeps the per-job state in the job rows but costs two writes per job (a ``DELETE`` of
  a row in the claim index, and the marker), where the marker alone is one write to a
  small row that no index covers (a HOT update on PostgreSQL). Measured on PostgreSQL
  15 (20,000 pipelined jobs, two runs, a shared 2-core machine): the server got through
  33,000-34,000 jobs/s of markers alone, 22,000-28,000 of acknowledgement and marker;
  the server's share is what limits a second worker. The price of the marker is the
  same as the Redis backends' deferred acknowledgement: a worker killed after a job
  finished and before its next claim leaves that job looking unfinished (it runs again
  at least once, and is dead-lettered at most once).
* The marker statement is prepared once per connection (PostgreSQL): with it, a worker
  draining 20,000 no-op jobs (profiled, in one process) spent 0.33-0.36 s waiting for
  the server to catch up with its markers instead of 0.6-0.7 s.
* **Rejected and timed-out jobs** are settled at once (pipelined on PostgreSQL), and
  always before the next job's marker, so recovery never takes them for finished.
* **Claims that scale.** PostgreSQL and MySQL claim with ``FOR UPDATE SKIP LOCKED``, so
  workers never wait for each other's rows; SQLite serialises writers anyway and claims
  with one ``UPDATE ... RETURNING`` in a ``BEGIN IMMEDIATE`` transaction. The claim
  index is ``(queue, worker, is_delayed, priority DESC, available_at, id)``: a claim reads
  its batch off the front of the index, whatever the number of rows queued, held by
  workers or delayed (delayed rows sit under ``is_delayed = TRUE`` until promoted, through
  an index of their own, by a claim or the runner, see :mod:`.delayed`); dead letters
  have a table of their own and finished rows are deleted.
* **Idle workers** wait on PostgreSQL for a NOTIFY on the queue's channel (sent by the
  enqueue in the same transaction as its INSERT, so it arrives when that commits), on
  SQLite for ``PRAGMA data_version`` to change (read every 2 ms, in memory), and on
  MySQL poll with a back-off from 5 ms to 250 ms. No wait outlasts the time the
  queue's next delayed job is due, and each is cut short by the worker's stop signal.
* **The database's clock** decides leases, claims and pauses, so machines whose clocks
  disagree still agree.

Connections: enqueue uses Django's connection of ``LIGHTWEIGHT_QUEUE_DATABASE_ALIAS``
(so it joins the caller's transaction, see :mod:`.enqueue`); workers and commands use
connections of the backend's own (:mod:`.connection`); job records, Django's
connection, as enqueue. Modules: :mod:`.schema` (tables), :mod:`.sql` (statements per vendor),
:mod:`.dispatch` (claims and hand-out), :mod:`.recovery`, :mod:`.delayed` (delayed jobs and
their promotion), :mod:`.records`, :mod:`.admin` (everything else), :mod:`.browse` (the
dashboard's paged reads), :mod:`.postgres`, :mod:`.mysql`, :mod:`.sqlite` (sessions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from dlq.backends.database import admin, browse, delayed, records
from dlq.backends.database.connection import (
    Contended,
    DatabaseTarget,
    Session,
    SessionHolder,
    SessionLost,
    check_name,
)
from dlq.backends.database.dispatch import Dispatcher
from dlq.backends.database.enqueue import Enqueuer
from dlq.backends.database.ledger import Tuning
from dlq.backends.database.recovery import recover_slot
from dlq.backends.database.schema import MAX_NAME_LENGTH
from dlq.backends.database.sql import dialect_for
from dlq.core.protocols import BackendContext, ProgressCallback, StopSignal
from dlq.core.settings import PREFIX, QueueSettings
from dlq.domain.dead_letter import DeadLetter
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import Outcome, TimedOut
from dlq.exceptions import BackendError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["DatabaseBackend", "Tuning"]

T = TypeVar("T")

#: How often, and how long for in all, a runner's start-up tries to reach the database.
_STARTUP_ATTEMPTS = 5


class DatabaseBackend:
    """At-least-once delivery from the database of ``LIGHTWEIGHT_QUEUE_DATABASE_ALIAS``.

    Built from the validated settings; nothing connects until first used. ``tuning`` is
    for tests and benchmarks.
    """

    def __init__(
        self,
        settings: QueueSettings,
        *,
        logger: logging.Logger | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        self._settings = settings
        self._log = logger or logging.getLogger(f"{__name__}.DatabaseBackend")
        self._tuning = tuning or Tuning()
        self._target = DatabaseTarget.from_alias(settings.DATABASE_ALIAS, f"{PREFIX}DATABASE_ALIAS")
        self._d = dialect_for(self._target.vendor)
        self._enqueuer = Enqueuer(self._target, self._d)
        self._records = records.RecordStore(self._target, self._d)
        self._admin = SessionHolder(self._target, "admin", self._log)
        self._dispatcher = Dispatcher(
            SessionHolder(self._target, "worker", self._log),
            self._d,
            max_deliveries=settings.MAX_DELIVERIES,
            logger=self._log,
            tuning=self._tuning,
        )

    @classmethod
    def from_context(cls, context: BackendContext) -> Self:
        return cls(context.settings, logger=context.logger)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._target.label}>"

    @property
    def target(self) -> DatabaseTarget:
        return self._target

    def _run(self, doing: str, operation: Callable[[Session], T]) -> T:
        """``operation`` on the admin session, its failures as :class:`BackendError`.

        A lost connection is tried once more on a new one: a session idle for long
        (a runner between lease renewals) may have been closed by the server.
        """
        for attempt in (1, 2):
            try:
                with self._admin.using() as session:
                    return operation(session)
            except SessionLost as exc:
                if attempt == 2:
                    raise BackendError(f"{doing}: {exc}") from exc
            except Contended as exc:
                raise BackendError(f"{doing}: {exc}") from exc
            except BackendError as exc:
                raise BackendError(f"{doing}: {exc}") from exc
        raise AssertionError("unreachable")

    @contextmanager
    def _flushed(self) -> Iterator[None]:
        """For reads from this process: first write what its workers owe."""
        self._dispatcher.flush()
        yield

    # -- Backend ---------------------------------------------------------------------------

    def enqueue(self, job: Job, queue: str) -> None:
        self._enqueuer.enqueue([job], queue)

    def bulk_enqueue(self, jobs: Sequence[Job], queue: str) -> None:
        """One INSERT per 1,000 jobs (400 on SQLite), through Django's connection. Nothing
        is written if any job is too large; a failure midway leaves earlier chunks queued
        unless the caller's transaction rolls them back."""
        if jobs:
            self._enqueuer.enqueue(jobs, queue)

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        check_name("queue name", queue, MAX_NAME_LENGTH)
        return self._dispatcher.dequeue(queue, worker_number, timeout_s, stop)

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        if self._dispatcher.acknowledge(queue, worker_number, job, outcome):
            return
        if not isinstance(outcome, TimedOut):
            self._log.error("cannot acknowledge %s: it was not dequeued here", job)
            return
        # The runner reporting a job it killed: the worker is gone, the marker names it.
        self._run(
            f"settling {job}, which timed out on worker {worker_number} of {queue!r}",
            lambda session: recover_slot(
                session,
                self._d,
                queue,
                worker_number,
                max_deliveries=self._settings.MAX_DELIVERIES,
                logger=self._log,
                timed_out=(job, outcome.timeout_s),
            ),
        )

    def release(self, queue: str, worker_number: int) -> int:
        return self._dispatcher.release(queue, worker_number)

    def close(self) -> None:
        self._dispatcher.close()
        self._admin.discard()

    def length(self, queue: str) -> int:
        with self._flushed():
            return self._run(
                f"counting the jobs of {queue!r}", lambda s: admin.length(s, self._d, queue)
            )

    def startup(self, queue: str) -> None:
        """Settle the jobs of slots no live runner leases. A database that does not answer
        is tried a few times over a few seconds; then the runner starts anyway, and those
        jobs wait for the next runner's start (its own slots settle theirs as they start)."""
        for attempt in range(1, _STARTUP_ATTEMPTS + 1):
            try:
                done = self._run(
                    f"returning jobs of stopped workers of {queue!r}",
                    lambda s: admin.startup(
                        s,
                        self._d,
                        queue,
                        max_deliveries=self._settings.MAX_DELIVERIES,
                        logger=self._log,
                    ),
                )
            except BackendError as exc:
                if attempt == _STARTUP_ATTEMPTS:
                    self._log.error("startup of %r gave up: %s", queue, exc)
                    return
                self._log.warning("startup of %r: %s; trying again", queue, exc)
                time.sleep(0.25 * 2**attempt)
                continue
            if done:
                self._log.info("startup of %r: jobs of stopped workers settled (%s)", queue, done)
            return

    # -- SupportsPause, SupportsClear, SupportsDeduplicate ------------------------------------

    def pause(self, queue: str, until: datetime) -> None:
        """No job of ``queue`` starts from when this returns until ``until`` (by the
        database's clock). Waits ``pause_grace_s`` (70 ms) before returning."""
        if until.tzinfo is None:
            raise ValueError(f"pause until {until}: a time zone is required")
        check_name("queue name", queue, MAX_NAME_LENGTH)
        if not self._run(f"pausing {queue!r}", lambda s: admin.pause(s, self._d, queue, until)):
            raise ValueError(f"pause until {until}: that is not in the future")
        time.sleep(self._tuning.pause_grace_s)

    def resume(self, queue: str) -> None:
        self._run(f"resuming {queue!r}", lambda s: admin.resume(s, self._d, queue))

    def paused_until(self, queue: str) -> datetime | None:
        return self._run(
            f"reading the pause of {queue!r}", lambda s: admin.paused_until(s, self._d, queue)
        )

    def clear(self, queue: str) -> int:
        """Delete the waiting jobs and those workers reserved but have not started; returns
        how many. Like ``pause``, waits ``pause_grace_s`` before returning."""
        with self._flushed():
            count = self._run(f"clearing {queue!r}", lambda s: admin.clear(s, self._d, queue))
        time.sleep(self._tuning.pause_grace_s)
        return count

    def deduplicate(
        self, queue: str, *, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        return self._run(
            f"deduplicating {queue!r}",
            lambda s: admin.deduplicate(
                s, self._d, queue, page_size=self._tuning.page_size, progress=progress
            ),
        )

    # -- SupportsDelay (see .delayed), SupportsResults (see .records) -------------------------

    def delayed_count(self, queue: str) -> int:
        with self._flushed():  # a retry this process acknowledged counts at once
            return self._run(
                f"counting the delayed jobs of {queue!r}",
                lambda s: delayed.delayed_count(s, self._d, queue),
            )

    def next_due(self, queue: str) -> datetime | None:
        with self._flushed():
            return self._run(
                f"reading when the next delayed job of {queue!r} is due",
                lambda s: delayed.next_due(s, self._d, queue),
            )

    def clear_delayed(self, queue: str) -> int:
        with self._flushed():
            return self._run(
                f"clearing the delayed jobs of {queue!r}",
                lambda s: delayed.clear_delayed(s, self._d, queue),
            )

    def promote_due(self, queue: str) -> int:
        """One batch of ``queue``'s due delayed jobs made claimable (claims promote too),
        waking idle workers; and, at most once a minute, one batch of expired records
        pruned, since a runner calls this several times a second."""
        check_name("queue name", queue, MAX_NAME_LENGTH)
        promoted = self._run(
            f"promoting the due delayed jobs of {queue!r}",
            lambda s: delayed.promote_due(s, self._d, queue),
        )
        if self._records.due_to_prune():
            self._run("pruning expired job records", lambda s: records.prune_batch(s, self._d))
        return promoted

    def save_record(self, record: JobRecord, ttl_s: int) -> None:
        """Inside a transaction on the jobs' alias (an enqueue in ``transaction.atomic()``),
        through Django's connection, so the record commits or rolls back with its job;
        otherwise (a worker's RUNNING and final records) through this backend's own
        session, kept open across jobs, where Django's connection is closed after each
        job (``CONN_MAX_AGE = 0``) and would be opened again for every record."""
        if self._records.in_callers_transaction():
            self._records.save(record, ttl_s)
            return
        self._run(
            f"saving the record of job {record.id}",
            lambda s: self._records.save_in(s, record, ttl_s),
        )

    def get_record(self, job_id: str) -> JobRecord | None:
        return self._records.get(job_id)

    def prune_records(self) -> int:
        return self._run("pruning expired job records", lambda s: records.prune_all(s, self._d))

    # -- SupportsDeadLetters -------------------------------------------------------------------

    def dead_letters(self, queue: str, limit: int = 100) -> Sequence[DeadLetter]:
        """The newest ``limit`` dead letters of ``queue``, newest first (those this
        process's workers buried included: their pipelined statements are read first)."""
        with self._flushed():
            return self._run(
                f"listing dead letters of {queue!r}",
                lambda s: admin.dead_letters(s, self._d, queue, limit),
            )

    def dead_letter_count(self, queue: str) -> int:
        with self._flushed():
            return self._run(
                f"counting dead letters of {queue!r}",
                lambda s: admin.dead_letter_count(s, self._d, queue),
            )

    def requeue_dead_letters(self, queue: str, job_ids: Collection[str] | None = None) -> int:
        return self._run(
            f"requeueing dead letters of {queue!r}",
            lambda s: admin.requeue_dead_letters(
                s, self._d, queue, job_ids, page_size=self._tuning.page_size
            ),
        )

    def purge_dead_letters(self, queue: str) -> int:
        return self._run(
            f"purging dead letters of {queue!r}",
            lambda s: admin.purge_dead_letters(s, self._d, queue),
        )

    # -- SupportsClaim, SupportsCronHistory, SupportsSlotLease, SupportsInspection -------------

    def claim(self, key: str, ttl_s: int) -> bool:
        if ttl_s < 1:
            raise ValueError(f"claim {key!r}: ttl_s must be at least 1, not {ttl_s}")
        return self._run(f"claiming {key!r}", lambda s: admin.claim(s, self._d, key, ttl_s))

    def record_fired(self, entry_id: str, when: datetime) -> None:
        self._run(
            f"recording that cron entry {entry_id!r} fired",
            lambda s: admin.record_fired(s, self._d, entry_id, when),
        )

    def last_fired(self, entry_ids: Collection[str]) -> Mapping[str, datetime]:
        return self._run(
            "reading when cron entries last fired",
            lambda s: admin.last_fired(s, self._d, entry_ids),
        )

    def acquire_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool:
        _positive(ttl_s)
        check_name("lease owner", owner, MAX_NAME_LENGTH)
        return self._run(
            f"leasing worker {worker_number} of {queue!r}",
            lambda s: admin.acquire_slot(s, self._d, queue, worker_number, owner, ttl_s),
        )

    def renew_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool:
        _positive(ttl_s)
        return self._run(
            f"renewing the lease on worker {worker_number} of {queue!r}",
            lambda s: admin.renew_slot(s, self._d, queue, worker_number, owner, ttl_s),
        )

    def release_slot(self, queue: str, worker_number: int, owner: str) -> None:
        self._run(
            f"releasing the lease on worker {worker_number} of {queue!r}",
            lambda s: admin.release_slot(s, self._d, queue, worker_number, owner),
        )

    def in_progress(self, queue: str) -> Mapping[int, Sequence[Job]]:
        """Per worker number, the jobs its slot has taken and not finished: the running
        one first, then those reserved in its batch."""
        with self._flushed():
            return self._run(
                f"inspecting the workers of {queue!r}",
                lambda s: admin.in_progress(s, self._d, queue),
            )

    # -- SupportsBrowse, SupportsLeaseInspection (the dashboard's reads; see .browse) ---------

    def waiting_page(self, queue: str, offset: int, limit: int) -> Sequence[bytes]:
        return self._run(
            f"reading waiting jobs of {queue!r}",
            lambda s: browse.waiting_page(s, self._d, queue, offset, limit),
        )

    def dead_letter_page(self, queue: str, offset: int, limit: int) -> Sequence[DeadLetter]:
        return self._run(
            f"reading dead letters of {queue!r}",
            lambda s: browse.dead_letter_page(s, self._d, queue, offset, limit),
        )

    def slot_leases(self, queue: str) -> Mapping[int, str]:
        return self._run(
            f"reading the worker leases of {queue!r}",
            lambda s: browse.slot_leases(s, self._d, queue),
        )


def _positive(ttl_s: float) -> None:
    if ttl_s <= 0:
        raise ValueError(f"a lease needs a positive ttl_s, not {ttl_s}")
