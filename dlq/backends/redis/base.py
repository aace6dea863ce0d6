"""What both Redis backends share; they differ only in what happens to unfinished jobs.

See :mod:`.keys` for the key layout (and what it means for Redis Cluster),
:mod:`.dispatch` for how jobs reach workers, :mod:`.connection` for connections and
retries, :mod:`.line` for the pipelined connection of workers and enqueuers,
:mod:`.sentinel` for following a Sentinel failover, :mod:`.bounded` for the runner's
calls, which give up within a deadline.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from dlq.backends.redis import admin, browse, job_records
from dlq.backends.redis import dead_letters as dead
from dlq.backends.redis.bounded import ConfirmingDispatcher
from dlq.backends.redis.connection import RedisTarget, as_int, backend_error
from dlq.backends.redis.delayed import HeldJobs, due_time, promote, score_of, split_held
from dlq.backends.redis.dispatch import Dispatcher
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.line import Line, LineLost
from dlq.backends.redis.scripts import (
    ACQUIRE,
    CLEAR,
    CLEAR_DELAYED,
    RECORD_FIRED,
    RELEASE,
    RENEW,
    Arg,
    LuaScript,
    run_script,
)
from dlq.backends.redis.tuning import Tuning
from dlq.core.clock import utc_now
from dlq.core.protocols import BackendContext, Clock, ProgressCallback, StopSignal
from dlq.core.settings import QueueSettings
from dlq.domain.dead_letter import DeadLetter
from dlq.domain.envelope import Job, encode_job, encode_jobs
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import Outcome
from dlq.exceptions import BackendError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["RedisBackendBase"]

_ENQUEUE_CHUNK = 1000
#: Enqueueing retries a lost connection 5 times, backing off from 0.1 s to 1 s (~2.5 s in all).
_ENQUEUE_RETRY = (ExponentialBackoff(cap=1.0, base=0.05), 5)


class RedisBackendBase:
    """The shared implementation; use :class:`~dlq.backends.redis.RedisBackend` or
    :class:`~dlq.backends.reliable_redis.ReliableRedisBackend`.

    Construct it from the validated settings (no connection is made until first use);
    ``clock`` returns an aware now, ``tuning`` is for tests and benchmarks.
    ``call_deadline_s`` makes the bounded view :meth:`with_call_deadline` returns.
    """

    reliable: ClassVar[bool]

    def __init__(
        self,
        settings: QueueSettings,
        *,
        clock: Clock = utc_now,
        logger: logging.Logger | None = None,
        tuning: Tuning | None = None,
        call_deadline_s: float | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._log = logger or logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")
        self._tuning = tuning or Tuning()
        target = RedisTarget.from_settings(settings)
        self._call_deadline_s = call_deadline_s
        if call_deadline_s is not None:
            target = target.bounded(call_deadline_s)
        self._target = target
        self._bounded: dict[float, RedisBackendBase] = {}
        self._keys = Keys(settings.REDIS_PREFIX)
        self._client = self._target.client()
        self._producer = Line(self._target)
        self._producer_retry = Retry(*_ENQUEUE_RETRY, supported_errors=(LineLost,))
        dispatcher = Dispatcher if call_deadline_s is None else ConfirmingDispatcher
        self._dispatcher = dispatcher(
            self._target,
            self._keys,
            reliable=self.reliable,
            max_deliveries=settings.MAX_DELIVERIES,
            clock=clock,
            logger=self._log,
            tuning=self._tuning,
        )

    @classmethod
    def from_context(cls, context: BackendContext) -> Self:
        return cls(context.settings, clock=context.clock, logger=context.logger)

    def __repr__(self) -> str:
        bounded = "" if self._call_deadline_s is None else f" (calls {self._call_deadline_s:g}s)"
        return f"<{type(self).__name__} {self._target.location}{bounded}>"

    # -- SupportsCallDeadline ---------------------------------------------------------------

    def with_call_deadline(self, deadline_s: float) -> RedisBackendBase:
        """The same store, through calls that each end within ``deadline_s`` when the network
        answers nothing, never retried; made once per deadline and closed with this backend.
        :mod:`dlq.backends.redis.bounded` has the arithmetic."""
        if deadline_s == self._call_deadline_s:
            return self
        view = self._bounded.get(deadline_s)
        if view is None:
            view = self._bounded[deadline_s] = type(self)(
                self._settings,
                clock=self._clock,
                logger=self._log,
                tuning=self._tuning,
                call_deadline_s=deadline_s,
            )
        return view

    @contextmanager
    def _talking(self, doing: str) -> Iterator[None]:
        """Re-raise Redis errors as :class:`BackendError`, without secrets."""
        try:
            yield
        except RedisError as exc:
            error = backend_error(exc, self._target, doing)
            raise error from error.__cause__

    # -- Backend ----------------------------------------------------------------------------

    def enqueue(self, job: Job, queue: str) -> None:
        if job.run_after is not None and not job.is_due(self._clock()):
            held: HeldJobs = [score_of(job.run_after), encode_job(job)]
            self._hold(queue, [], held, lambda: f"enqueueing {job} on {queue!r}")
            return
        self._push(
            self._keys.queue(queue), [encode_job(job)], lambda: f"enqueueing {job} on {queue!r}"
        )

    def bulk_enqueue(self, jobs: Sequence[Job], queue: str) -> None:
        """One variadic LPUSH per 1,000 jobs (with a ZADD for those of them held back, in
        the same round trip). A chunk whose reply was lost with the connection is sent
        again, so its jobs may then be queued twice (never lost)."""
        payloads = encode_jobs(jobs)
        if any(job.run_after is not None for job in jobs):
            due, held = split_held(jobs, payloads, self._clock())
            if held:
                self._hold(queue, due, held, lambda: f"enqueueing {len(jobs)} jobs on {queue!r}")
                return
        self._push(
            self._keys.queue(queue), payloads, lambda: f"enqueueing {len(jobs)} jobs on {queue!r}"
        )

    def _push(self, key: str, payloads: list[bytes], doing: Callable[[], str]) -> None:
        """LPUSH ``payloads``; ``doing()`` describes the enqueue in an error (a function, so
        that nothing is formatted for the calls that succeed)."""
        line = self._producer
        with line.lock:
            for start in range(0, len(payloads), _ENQUEUE_CHUNK):
                chunk = payloads[start : start + _ENQUEUE_CHUNK]
                try:
                    try:
                        line.call("LPUSH", key, *chunk)
                    except LineLost:  # the common path above stays free of retry machinery
                        self._producer_retry.call_with_retry(
                            partial(line.call, "LPUSH", key, *chunk), lambda _error: None
                        )
                except LineLost as exc:
                    error = backend_error(exc.cause, self._target, doing())
                    raise error from error.__cause__
                except RedisError as exc:
                    error = backend_error(exc, self._target, doing())
                    raise error from error.__cause__

    def _hold(self, queue: str, due: list[bytes], held: HeldJobs, doing: Callable[[], str]) -> None:
        """LPUSH ``due`` and ZADD ``held`` (score, payload, ...), a round trip per 1,000
        jobs of each: the ZADD deferred to leave with the LPUSH."""
        rounds: list[list[tuple[Arg, ...]]] = []
        key, delayed = self._keys.queue(queue), self._keys.delayed(queue)
        for start in range(0, max(len(due), len(held) // 2), _ENQUEUE_CHUNK):
            commands: list[tuple[Arg, ...]] = []
            pairs = held[2 * start : 2 * (start + _ENQUEUE_CHUNK)]
            if pairs:
                commands.append(("ZADD", delayed, *pairs))
            chunk = due[start : start + _ENQUEUE_CHUNK]
            if chunk:
                commands.append(("LPUSH", key, *chunk))
            rounds.append(commands)
        line = self._producer
        with line.lock:
            for commands in rounds:
                try:
                    self._producer_retry.call_with_retry(
                        partial(self._send_round, commands), lambda _error: None
                    )
                except LineLost as exc:
                    error = backend_error(exc.cause, self._target, doing())
                    raise error from error.__cause__
                except RedisError as exc:
                    error = backend_error(exc, self._target, doing())
                    raise error from error.__cause__

    def _send_round(self, commands: list[tuple[Arg, ...]]) -> None:
        """Every command but the last deferred, the last waited on: one round trip. A
        deferred command's error reply is kept by the line: raised here."""
        line = self._producer
        line.errors.clear()
        for command in commands[:-1]:
            line.defer(*command)
        line.call(*commands[-1])
        if line.errors:
            error = line.errors[0]
            line.errors.clear()
            raise error

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        return self._dispatcher.dequeue(queue, worker_number, timeout_s, stop)

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        self._dispatcher.acknowledge(queue, worker_number, job, outcome)

    def release(self, queue: str, worker_number: int) -> int:
        return self._dispatcher.release(queue, worker_number)

    def close(self) -> None:
        self._dispatcher.close()
        self._producer.close()
        self._client.close()
        for view in self._bounded.values():
            view.close()
        self._bounded.clear()

    def length(self, queue: str) -> int:
        with self._talking("reading a length"):
            return as_int(self._client.llen(self._keys.queue(queue)))

    def startup(self, queue: str) -> None:
        """Return jobs held by slots nobody leases to the queue's tail (they run next).

        A slot whose runner holds a live lease (:meth:`acquire_slot`) is left alone. Slots
        of upstream runners hold no lease: during a rolling upgrade, do not run this while
        upstream workers of the same queue are busy, or the job each is running is queued
        again (upstream's own startup spares only the slots its configuration has)."""
        self._dispatcher.flush()
        requeued = buried = 0
        with self._talking(f"returning jobs of stopped workers of {queue!r}"):
            for number in admin.slot_numbers(self._client, self._keys, queue):
                done = admin.recover_slot(
                    self._client,
                    self._keys,
                    queue,
                    number,
                    reliable=self.reliable,
                    max_deliveries=self._settings.MAX_DELIVERIES,
                    now=self._clock(),
                    logger=self._log,
                )
                requeued, buried = requeued + done[0], buried + done[1]
        if requeued or buried:
            self._log.info(
                "startup of %r: %d jobs of stopped workers queued again, %d dead-lettered",
                queue,
                requeued,
                buried,
            )

    # -- SupportsPause ----------------------------------------------------------------------

    def pause(self, queue: str, until: datetime) -> None:
        """Pause until ``until`` (aware; any positive duration). Waits ``pause_grace_s`` (70 ms
        by default) before returning, so that no job starts once it has returned. The key
        is upstream's (value ``until.isoformat(' ')``), expiring to the millisecond."""
        if until.tzinfo is None:
            raise ValueError(f"pause until {until}: a time zone is required")
        delay_ms = math.ceil((until - self._clock()) / timedelta(milliseconds=1))
        if delay_ms <= 0:
            raise ValueError(f"pause until {until}: that is not in the future")
        with self._talking(f"pausing {queue!r}"):
            self._client.set(self._keys.pause(queue), until.isoformat(" "), px=delay_ms)
        time.sleep(self._tuning.pause_grace_s)

    def resume(self, queue: str) -> None:
        with self._talking(f"resuming {queue!r}"):
            self._client.delete(self._keys.pause(queue))

    def paused_until(self, queue: str) -> datetime | None:
        key = self._keys.pause(queue)
        with self._talking(f"reading the pause of {queue!r}"):
            pipe = self._client.pipeline(transaction=False)
            pipe.get(key)
            pipe.pttl(key)
            value, ttl_ms = pipe.execute()
        if not isinstance(value, bytes) or not isinstance(ttl_ms, int) or ttl_ms == -2:
            return None
        try:
            until = datetime.fromisoformat(value.decode("utf-8"))
        except ValueError:
            until = None
        if until is not None and until.tzinfo is not None:
            return until
        if ttl_ms < 0:
            return datetime.max.replace(tzinfo=UTC)
        return self._clock() + timedelta(milliseconds=ttl_ms)

    # -- SupportsDelay (see .delayed) ---------------------------------------------------------

    def delayed_count(self, queue: str) -> int:
        with self._talking(f"counting delayed jobs of {queue!r}"):
            return as_int(self._client.zcard(self._keys.delayed(queue)))

    def next_due(self, queue: str) -> datetime | None:
        with self._talking(f"reading when the next delayed job of {queue!r} is due"):
            first: object = self._client.zrange(self._keys.delayed(queue), 0, 0, withscores=True)
        if not isinstance(first, list) or not first:
            return None
        pair: object = first[0]  # (member, score)
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise BackendError(f"unexpected reply from Redis to ZRANGE: {type(pair).__name__}")
        return due_time(float(pair[1]))

    def clear_delayed(self, queue: str) -> int:
        with self._talking(f"clearing delayed jobs of {queue!r}"):
            return as_int(run_script(self._client, CLEAR_DELAYED, [self._keys.delayed(queue)], []))

    def promote_due(self, queue: str) -> int:
        """Move the due delayed jobs of ``queue`` to its head (where new jobs go), earliest
        first, up to 10,000 a call; returns how many."""
        with self._talking(f"moving due delayed jobs of {queue!r} to the queue"):
            return promote(
                partial(run_script, self._client),
                self._keys.delayed(queue),
                self._keys.queue(queue),
                self._clock(),
            )

    # -- SupportsResults (see .job_records) ----------------------------------------------------

    def save_record(self, record: JobRecord, ttl_s: int) -> None:
        with self._talking(f"saving the record of job {record.id}"):
            job_records.save_record(self._client, self._keys, record, ttl_s)

    def get_record(self, job_id: str) -> JobRecord | None:
        with self._talking(f"reading the record of job {job_id}"):
            return job_records.get_record(self._client, self._keys, job_id, self._log)

    def prune_records(self) -> int:
        """Nothing to do: Redis expires each record by itself."""
        return 0

    # -- SupportsClear, SupportsDeduplicate ---------------------------------------------------

    def clear(self, queue: str) -> int:
        """Remove the waiting jobs and those workers reserved but have not started; returns
        how many. Like ``pause``, waits ``pause_grace_s`` before returning. Delayed jobs
        stay (:meth:`clear_delayed` removes them)."""
        self._dispatcher.flush()
        with self._talking(f"clearing {queue!r}"):
            keys = [self._keys.queue(queue)]
            for number in admin.slot_numbers(self._client, self._keys, queue):
                keys += [self._keys.processing(queue, number), self._keys.started(queue, number)]
            count = as_int(run_script(self._client, CLEAR, keys, []))
        time.sleep(self._tuning.pause_grace_s)
        return count

    def deduplicate(
        self, queue: str, *, progress: ProgressCallback | None = None, page_size: int | None = None
    ) -> tuple[int, int]:
        with self._talking(f"deduplicating {queue!r}"):
            return admin.deduplicate(
                self._client,
                self._keys.queue(queue),
                page_size=page_size or self._tuning.page_size,
                progress=progress,
            )

    # -- SupportsDeadLetters ------------------------------------------------------------------

    def dead_letters(self, queue: str, limit: int = 100) -> Sequence[DeadLetter]:
        """The newest ``limit`` dead letters of ``queue``, newest first."""
        with self._talking(f"listing dead letters of {queue!r}"):
            return dead.list_dead_letters(self._client, self._keys.dead(queue), queue, limit)

    def dead_letter_count(self, queue: str) -> int:
        with self._talking(f"counting dead letters of {queue!r}"):
            return as_int(self._client.llen(self._keys.dead(queue)))

    def requeue_dead_letters(self, queue: str, job_ids: Collection[str] | None = None) -> int:
        """Dead letters with a decodable payload (all, or those with ``job_ids``) go back to
        the queue's head with ``attempts`` reset; undecodable ones stay."""
        with self._talking(f"requeueing dead letters of {queue!r}"):
            return dead.requeue_dead_letters(
                self._client,
                self._keys.dead(queue),
                self._keys.queue(queue),
                queue,
                job_ids,
                page_size=self._tuning.page_size,
            )

    def purge_dead_letters(self, queue: str) -> int:
        with self._talking(f"purging dead letters of {queue!r}"):
            return dead.purge_dead_letters(self._client, self._keys.dead(queue))

    # -- SupportsClaim, SupportsSlotLeases, SupportsInspection --------------------------------

    def claim(self, key: str, ttl_s: int) -> bool:
        if ttl_s < 1:
            raise ValueError(f"claim {key!r}: ttl_s must be at least 1, not {ttl_s}")
        with self._talking(f"claiming {key!r}"):
            return bool(self._client.set(self._keys.claim(key), "1", nx=True, ex=ttl_s))

    def record_fired(self, entry_id: str, when: datetime) -> None:
        with self._talking(f"recording that cron entry {entry_id!r} fired"):
            stamp = when.astimezone(UTC).isoformat()
            run_script(self._client, RECORD_FIRED, [self._keys.cron_history], [entry_id, stamp])

    def last_fired(self, entry_ids: Collection[str]) -> Mapping[str, datetime]:
        ids = list(entry_ids)
        if not ids:
            return {}
        with self._talking("reading when cron entries last fired"):
            stamps = self._client.hmget(self._keys.cron_history, ids)
        return {
            entry_id: datetime.fromisoformat(stamp.decode() if isinstance(stamp, bytes) else stamp)
            for entry_id, stamp in zip(ids, stamps, strict=True)
            if stamp is not None
        }

    def _lease(self, script: LuaScript, queue: str, number: int, args: list[Arg]) -> bool:
        with self._talking(f"leasing worker {number} of {queue!r}"):
            key = [self._keys.lease(queue, number)]
            return as_int(run_script(self._client, script, key, args)) == 1

    def acquire_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool:
        return self._lease(ACQUIRE, queue, worker_number, [owner, _ms(ttl_s)])

    def renew_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool:
        return self._lease(RENEW, queue, worker_number, [owner, _ms(ttl_s)])

    def release_slot(self, queue: str, worker_number: int, owner: str) -> None:
        self._lease(RELEASE, queue, worker_number, [owner])

    def in_progress(self, queue: str) -> Mapping[int, Sequence[Job]]:
        """Per worker number, the jobs the slot has taken and not finished: the running one
        first, then those it reserved in its batch."""
        self._dispatcher.flush()
        with self._talking(f"inspecting the workers of {queue!r}"):
            slots = {
                number: admin.slot_jobs(self._client, self._keys, queue, number)
                for number in admin.slot_numbers(self._client, self._keys, queue)
            }
        return {number: jobs for number, jobs in slots.items() if jobs}

    # -- SupportsBrowse, SupportsLeaseInspection (the dashboard's reads; see .browse) -------

    def waiting_page(self, queue: str, offset: int, limit: int) -> Sequence[bytes]:
        with self._talking(f"reading waiting jobs of {queue!r}"):
            return browse.waiting_page(self._client, self._keys, queue, offset, limit)

    def dead_letter_page(self, queue: str, offset: int, limit: int) -> Sequence[DeadLetter]:
        with self._talking(f"reading dead letters of {queue!r}"):
            return browse.dead_letter_page(self._client, self._keys, queue, offset, limit)

    def slot_leases(self, queue: str) -> Mapping[int, str]:
        with self._talking(f"reading the worker leases of {queue!r}"):
            return browse.slot_leases(self._client, self._keys, queue)


def _ms(seconds: float) -> int:
    if seconds <= 0:
        raise ValueError(f"a lease needs a positive ttl_s, not {seconds}")
    return max(1, math.ceil(seconds * 1000))
