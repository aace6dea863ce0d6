"""An in-memory backend with every capability: for your tests, and the reference fake.

Jobs are kept as their JSON payloads, exactly as a Redis backend keeps them, so a test
that passes here exercises the same encoding. State lives in the instance (one per
process through dlq's runtime); it is thread-safe and never shared between processes.

In a test (see :mod:`dlq.testing` for the pytest fixture and assertions)::

    with dlq.testing.in_memory_queues():
        my_task(1, 2)
        dlq.testing.assert_enqueued(my_task, 1, 2)
        outcomes = dlq.testing.run_queued("default")
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta

from dlq.backends.claims import ClaimTable
from dlq.backends.record_table import RecordTable
from dlq.core.protocols import BackendContext, Clock, ProgressCallback, StopSignal
from dlq.core.records import RecordKeeper
from dlq.domain.dead_letter import DeadLetter
from dlq.domain.envelope import Job, decode_job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import GaveUp, Outcome, Rejected, Retrying, TimedOut, failure_reason
from dlq.exceptions import PayloadError

__all__ = ["InMemoryBackend"]

#: How often a waiting dequeue looks at its stop signal.
_STOP_CHECK_S = 0.02


class InMemoryBackend:
    def __init__(
        self,
        clock: Clock,
        run_job: Callable[[Job, str], Outcome] | None = None,
        max_deliveries: int = 5,
        result_ttl_s: int = 86400,
    ) -> None:
        self._clock = clock
        self.run_job = run_job
        self._max_deliveries = max_deliveries
        self._result_ttl_s = result_ttl_s
        self._queues: defaultdict[str, deque[bytes]] = defaultdict(deque)
        # Per queue, a heap of (run_after, sequence, payload): held until run_after.
        self._delayed: defaultdict[str, list[tuple[datetime, int, bytes]]] = defaultdict(list)
        self._sequence = itertools.count()
        self._records = RecordTable(clock)
        self._in_progress: dict[tuple[str, int], Job] = {}
        self._paused: dict[str, datetime] = {}
        self._dead: defaultdict[str, list[DeadLetter]] = defaultdict(list)
        self._claims = ClaimTable(clock)
        self._leases: dict[tuple[str, int], tuple[str, datetime]] = {}
        self._cron_fired: dict[str, datetime] = {}
        self._changed = threading.Condition()

    @classmethod
    def from_context(cls, context: BackendContext) -> InMemoryBackend:
        return cls(
            context.clock,
            context.run_job,
            context.settings.MAX_DELIVERIES,
            context.settings.RESULT_TTL_S,
        )

    # Backend

    def startup(self, queue: str) -> None:
        with self._changed:
            for (name, number), job in list(self._in_progress.items()):
                if name == queue:
                    del self._in_progress[name, number]
                    self._queues[queue].appendleft(job.encode())

    def enqueue(self, job: Job, queue: str) -> None:
        self.bulk_enqueue([job], queue)

    def bulk_enqueue(self, jobs: Sequence[Job], queue: str) -> None:
        with self._changed:
            now = self._clock()
            for job in jobs:
                self._put(queue, job, now)
            self._changed.notify_all()

    def _put(self, queue: str, job: Job, now: datetime) -> None:
        if job.is_due(now):
            self._queues[queue].append(job.encode())
        else:
            assert job.run_after is not None
            item = (job.run_after, next(self._sequence), job.encode())
            heapq.heappush(self._delayed[queue], item)

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._changed:
            # In slices: a stop comes from a signal handler, which may not notify a
            # condition (it could be waiting for the lock its own thread holds).
            while not self._ready(queue) and not (stop is not None and stop.is_set()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, _STOP_CHECK_S))
            if stop is not None and stop.is_set():
                return None
            while self._ready(queue):
                raw = self._queues[queue].popleft()
                try:
                    job = decode_job(raw).next_delivery()
                except PayloadError as exc:
                    self._bury(queue, raw, exc.reason, None)
                    continue
                self._in_progress[queue, worker_number] = job
                return job
            return None

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        with self._changed:
            self._in_progress.pop((queue, worker_number), None)
            if isinstance(outcome, Rejected):
                self._bury(queue, job.encode(), outcome.reason, job.id)
            elif isinstance(outcome, Retrying):
                self._put(queue, job.retried(outcome.run_after), self._clock())
                self._changed.notify_all()
            elif isinstance(outcome, GaveUp):
                self._bury(queue, job.encode(), failure_reason(outcome), job.id)
            elif isinstance(outcome, TimedOut):
                if job.attempts >= self._max_deliveries:
                    reason = f"timed out after {outcome.timeout_s}s on {job.attempts} deliveries"
                    self._bury(queue, job.encode(), reason, job.id)
                else:  # behind the jobs that waited while it overran, as everywhere
                    self._queues[queue].append(job.encode())
                    self._changed.notify_all()

    def length(self, queue: str) -> int:
        with self._changed:
            return len(self._queues[queue])

    # Capabilities

    def pause(self, queue: str, until: datetime) -> None:
        with self._changed:
            self._paused[queue] = until

    def resume(self, queue: str) -> None:
        with self._changed:
            self._paused.pop(queue, None)
            self._changed.notify_all()

    def paused_until(self, queue: str) -> datetime | None:
        until = self._paused.get(queue)
        return until if until is not None and until > self._clock() else None

    def delayed_count(self, queue: str) -> int:
        with self._changed:
            return len(self._delayed[queue])

    def next_due(self, queue: str) -> datetime | None:
        with self._changed:
            held = self._delayed[queue]
            return held[0][0] if held else None

    def clear_delayed(self, queue: str) -> int:
        with self._changed:
            count = len(self._delayed[queue])
            self._delayed[queue].clear()
            return count

    def promote_due(self, queue: str) -> int:
        """Moves the due held jobs to the back of the queue, earliest first (``dequeue``
        does this too, so a runner's calls only make it sooner)."""
        with self._changed:
            moved = self._promote(queue)
            if moved:
                self._changed.notify_all()
            return moved

    def _promote(self, queue: str) -> int:
        held, now, moved = self._delayed[queue], self._clock(), 0
        while held and held[0][0] <= now:
            self._queues[queue].append(heapq.heappop(held)[2])
            moved += 1
        return moved

    def save_record(self, record: JobRecord, ttl_s: int) -> None:
        self._records.save_record(record, ttl_s)

    def get_record(self, job_id: str) -> JobRecord | None:
        return self._records.get_record(job_id)

    def prune_records(self) -> int:
        return self._records.prune_records()

    def clear(self, queue: str) -> int:
        with self._changed:
            count = len(self._queues[queue])
            self._queues[queue].clear()
            return count

    def deduplicate(
        self, queue: str, *, progress: ProgressCallback | None = None
    ) -> tuple[int, int]:
        with self._changed:
            before = len(self._queues[queue])
            seen: set[str] = set()
            kept: deque[bytes] = deque()
            for done, raw in enumerate(self._queues[queue], start=1):
                try:
                    identity = decode_job(raw).identity()
                except PayloadError:
                    identity = raw.decode("utf-8", "replace")
                if identity not in seen:
                    seen.add(identity)
                    kept.append(raw)
                if progress is not None:
                    progress(done, before)
            self._queues[queue] = kept
            return before, len(kept)

    def dead_letters(self, queue: str, limit: int = 100) -> Sequence[DeadLetter]:
        with self._changed:
            return list(self._dead[queue][:limit])

    def dead_letter_count(self, queue: str) -> int:
        with self._changed:
            return len(self._dead[queue])

    def requeue_dead_letters(self, queue: str, job_ids: Collection[str] | None = None) -> int:
        with self._changed:
            chosen = [d for d in self._dead[queue] if job_ids is None or d.job_id in job_ids]
            self._dead[queue] = [d for d in self._dead[queue] if d not in chosen]
            self._queues[queue].extend(d.raw for d in chosen)
            self._changed.notify_all()
            return len(chosen)

    def purge_dead_letters(self, queue: str) -> int:
        with self._changed:
            count = len(self._dead[queue])
            self._dead[queue].clear()
            return count

    def claim(self, key: str, ttl_s: int) -> bool:
        return self._claims.claim(key, ttl_s)

    def record_fired(self, entry_id: str, when: datetime) -> None:
        """``SupportsCronHistory``: keep the latest minute ``entry_id`` fired for."""
        with self._changed:
            previous = self._cron_fired.get(entry_id)
            if previous is None or when > previous:
                self._cron_fired[entry_id] = when

    def last_fired(self, entry_ids: Collection[str]) -> Mapping[str, datetime]:
        with self._changed:
            return {i: self._cron_fired[i] for i in entry_ids if i in self._cron_fired}

    def with_call_deadline(self, deadline_s: float) -> InMemoryBackend:
        """Itself: none of its calls waits on another process."""
        return self

    def acquire_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool:
        with self._changed:
            holder = self._leases.get((queue, worker_number))
            if holder is not None and holder[0] != owner and holder[1] > self._clock():
                return False
            self._leases[queue, worker_number] = (owner, self._clock() + timedelta(seconds=ttl_s))
            return True

    def renew_slot(self, queue: str, worker_number: int, owner: str, ttl_s: float) -> bool:
        with self._changed:
            holder = self._leases.get((queue, worker_number))
            if holder is None or holder[0] != owner:
                return False
            self._leases[queue, worker_number] = (owner, self._clock() + timedelta(seconds=ttl_s))
            return True

    def release_slot(self, queue: str, worker_number: int, owner: str) -> None:
        with self._changed:
            holder = self._leases.get((queue, worker_number))
            if holder is not None and holder[0] == owner:
                del self._leases[queue, worker_number]

    def in_progress(self, queue: str) -> Mapping[int, Sequence[Job]]:
        with self._changed:
            return {n: [job] for (name, n), job in self._in_progress.items() if name == queue}

    def slot_leases(self, queue: str) -> Mapping[int, str]:
        with self._changed:
            now = self._clock()
            return {
                number: owner
                for (name, number), (owner, until) in self._leases.items()
                if name == queue and until > now
            }

    def waiting_page(self, queue: str, offset: int, limit: int) -> Sequence[bytes]:
        """``SupportsBrowse``: the head of the deque is the next job."""
        with self._changed:
            return list(itertools.islice(self._queues[queue], offset, offset + max(0, limit)))

    def dead_letter_page(self, queue: str, offset: int, limit: int) -> Sequence[DeadLetter]:
        with self._changed:
            newest_first = reversed(self._dead[queue])
            return list(itertools.islice(newest_first, offset, offset + max(0, limit)))

    # For tests (see dlq.testing)

    def queues(self) -> list[str]:
        """The names of the queues that have jobs waiting, in order."""
        with self._changed:
            return sorted(name for name, waiting in self._queues.items() if waiting)

    def waiting(self, queue: str) -> list[Job]:
        """The jobs waiting in ``queue``, oldest first (undecodable payloads left out)."""
        with self._changed:
            raws = list(self._queues[queue])
        jobs = []
        for raw in raws:
            try:
                jobs.append(decode_job(raw))
            except PayloadError:
                continue
        return jobs

    def held_queues(self) -> list[str]:
        """The names of the queues that hold delayed jobs, in order."""
        with self._changed:
            return sorted(name for name, held in self._delayed.items() if held)

    def hurry(self, queue: str) -> int:
        """Make every held job of ``queue`` takeable now, earliest first; returns how many."""
        with self._changed:
            held = self._delayed[queue]
            moved = len(held)
            while held:
                self._queues[queue].append(heapq.heappop(held)[2])
            self._changed.notify_all()
            return moved

    def run_queued(self, queue: str) -> list[Outcome]:
        """Run every job waiting in ``queue`` now, in order, through the shared path."""
        if self.run_job is None:
            raise RuntimeError("this InMemoryBackend was built without a job runner")
        keeper = RecordKeeper(
            self,
            queue,
            worker_id="run_queued",
            ttl_s=self._result_ttl_s,
            clock=self._clock,
            logger=logging.getLogger("dlq.testing"),
        )
        outcomes = []
        while (job := self.dequeue(queue, 0, 0)) is not None:
            record = keeper.started(job) if job.store_result else None
            outcome = self.run_job(job, queue)
            self.acknowledge(queue, 0, job, outcome)
            if record is not None:
                keeper.finished(record, outcome)
            outcomes.append(outcome)
        return outcomes

    def _ready(self, queue: str) -> bool:
        if self.paused_until(queue) is not None:
            return False
        if self._delayed[queue]:
            self._promote(queue)
        return bool(self._queues[queue])

    def _bury(self, queue: str, raw: bytes, reason: str, job_id: str | None) -> None:
        self._dead[queue].append(DeadLetter(queue, raw, reason, self._clock(), job_id))
