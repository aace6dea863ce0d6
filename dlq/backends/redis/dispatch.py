"""The hot path of both Redis backends: handing jobs to worker slots and taking them back.

Why it is fast, and how it keeps its promises:

* **Batches.** A slot takes several jobs in one round trip (script ``FETCH``), from the
  queue's tail into the slot's processing list, as upstream's ``BRPOPLPUSH`` takes one.
  The jobs stay visible in Redis until they are finished: a killed worker hides nothing.
  The batch is sized from the time a job takes, to last about ``fresh_s / 2``, so slow
  jobs are taken one at a time and other workers are not starved.
* **Writes without waiting.** Handing a job out sends ``SET …:started:<n> sha1(payload)``;
  acknowledging it defers ``LREM processing -1 payload``, which leaves with the next
  command (the next job's marker, usually), so a job costs one system call. Replies are
  read with the next round trip (see :class:`~dlq.backends.redis.line.Line`). The
  marker has left the process before the job starts, so after a crash the slot knows which
  job had started: that one is delivered again or buried (:mod:`.recovery`); the
  others never started and simply run. The price of the deferral: a process killed after
  a job's acknowledgement but before its next command loses the acknowledgement, and the
  finished job counts as started and unfinished (run again at least once, dead-lettered
  at most once). A stopping or recycled worker sends it with its hand-back.
* **Pause.** ``FETCH`` checks the pause key in the same atomic step that takes jobs. A
  buffered job is handed out only within ``fresh_s`` of the round trip that last checked
  (timed from when it was sent); an older buffer is checked again first. ``pause()`` waits
  ``pause_grace_s`` (> ``fresh_s``) after setting the key, so no job starts after it
  returns. A job taken by the blocking pop is checked the same way before it is handed out.
* **Idle.** ``BLMOVE`` blocks on the queue, so an idle worker wakes as a job arrives.
* **Stop.** A ``dequeue`` given a stop signal returns None without taking a job once it is
  set: it looks before every wait, and waits for the blocking pop's reply on the socket
  and the signal's descriptor together. A pop cut short that way leaves its reply owed
  on a connection nobody may read again, so the line discards the connection; the pop
  may still have moved a job into the slot's processing list. That job is given back to
  the queue, to run next, when the worker releases its slot (``release`` reads the
  processing list for it); a later ``dequeue`` of the slot takes it instead. The one case
  this misses: the server runs the pop only after the release has read the list (its
  bytes held up in the network past the new connection's). The job then waits in the
  processing list, never started, until the slot runs again or a runner's ``startup``
  returns it (no slot lease): delayed, never lost, never run twice.
* **Retries.** A job whose task raised and may try again (``Retrying``) leaves the
  processing list for the queue's delayed jobs (:mod:`.delayed`) in one run of script
  ``MOVE``, as a buried job leaves for the dead letters: a round trip waited on, redone
  like any other move when its reply was lost, and harmless if it had run.
* **Lost connections** are retried with exponential back-off until the dequeue's timeout
  (which then returns None). Commands whose replies were lost are redone with script
  ``MOVE``, which removes a payload only while more copies of it are in the list than
  should stay, so doing it twice is harmless.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from redis.exceptions import RedisError

from dlq.backends.redis.bookkeeping import Bookkeeping
from dlq.backends.redis.connection import (
    RedisTarget,
    as_bytes,
    as_bytes_list,
    as_int,
    backoff_s,
)
from dlq.backends.redis.delayed import score_of
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.ledger import NEVER, Held, SlotLedger
from dlq.backends.redis.line import STOPPED, LineLost
from dlq.backends.redis.recovery import (
    Bury,
    Move,
    Redeliver,
    bury,
    judge_timed_out,
    judge_unfinished,
    marker_of,
)
from dlq.backends.redis.scripts import FETCH
from dlq.backends.redis.tuning import Tuning
from dlq.core.protocols import StopSignal
from dlq.core.waiting import wait_for_stop
from dlq.domain.envelope import Job, decode_job
from dlq.domain.outcome import (
    Failed,
    GaveUp,
    Outcome,
    Rejected,
    Retrying,
    Succeeded,
    TimedOut,
    failure_reason,
)
from dlq.exceptions import BackendError, PayloadError

__all__ = ["Dispatcher"]


class Dispatcher(Bookkeeping):
    """Hands jobs out to worker slots and takes them back (dequeue, acknowledge, release),
    for any number of slots, over one dedicated connection."""

    def __init__(
        self,
        target: RedisTarget,
        keys: Keys,
        *,
        reliable: bool,
        max_deliveries: int,
        clock: Callable[[], datetime],
        logger: logging.Logger,
        tuning: Tuning,
    ) -> None:
        super().__init__(target, keys, logger=logger, tuning=tuning)
        self._reliable, self._max_deliveries, self._clock = reliable, max_deliveries, clock

    # -- dequeue --------------------------------------------------------------------------

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, stop: StopSignal | None = None
    ) -> Job | None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._line.lock:
            slot = self._slot(queue, worker_number)
            if slot.current is not None:
                self._log.warning(
                    "worker %d of %r asked for a job before acknowledging %s; it counts as"
                    " unfinished",
                    worker_number,
                    queue,
                    slot.current.job,
                )
                slot.current = None
            while True:
                if stop is not None and stop.is_set():
                    return None
                wait = self._retry_at - time.monotonic()
                if wait > 0:
                    remaining = deadline - time.monotonic()
                    if wait_for_stop(stop, max(0.0, min(wait, remaining))) or wait > remaining:
                        return None
                try:
                    if self._dirty:
                        self._redo_unsure()
                    return self._next(slot, deadline, stop)
                except LineLost as exc:
                    self._unhand(slot)
                    self._lost(exc)
                except RedisError as exc:
                    self._fail(exc, f"taking jobs from {queue!r}")
                except BaseException:  # a reply out of step (BackendError), a KeyboardInterrupt
                    self._unhand(slot)
                    self._out_of_step()
                    raise

    def _unhand(self, slot: SlotLedger) -> None:
        """A job this dequeue took for the caller never reached it: it has not started."""
        if slot.current is not None:
            slot.buffer.appendleft(slot.current)
            slot.current = None

    def _next(self, slot: SlotLedger, deadline: float, stop: StopSignal | None) -> Job | None:
        while True:
            if slot.buffer:
                if time.monotonic() - slot.checked_at < self._tuning.fresh_s:
                    return self._hand_out(slot)
                self._fetch(slot, 0)
                continue
            paused_ms, received = self._fetch(slot, self._want(slot))
            if slot.buffer or received:  # (all received may have been dead-lettered)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0.005:
                return None
            if paused_ms is not None:
                nap = self._tuning.paused_poll_s
                if wait_for_stop(
                    stop, min(remaining, nap, paused_ms / 1000 if paused_ms > 0 else nap)
                ):
                    return None
                continue
            moved = self._pop(slot, min(remaining, self._tuning.block_cap_s), stop)
            if moved is STOPPED:
                return None
            if moved is None:
                if time.monotonic() >= deadline:
                    return None
            elif time.monotonic() - slot.checked_at < self._tuning.fresh_s:
                # Within the freshness of the pause check just made (the processing list
                # was empty then): no second round trip before it starts.
                self._take(slot, [as_bytes(moved)], b"")

    def _pop(self, slot: SlotLedger, block_s: float, stop: StopSignal | None) -> object:
        """Block on the queue until a job moves into the slot's processing list: its
        payload, None after ``block_s``, or STOPPED when ``stop`` came first."""
        if stop is not None and stop.is_set():
            return STOPPED
        # Until its reply is read, the pop may have moved a job the buffer does not show.
        slot.pop_interrupted = True
        pop = ("BLMOVE", slot.queue_key, slot.processing, "RIGHT", "LEFT", f"{block_s:.3f}")
        moved = (
            self._line.call(*pop) if stop is None else self._line.call_unless_stopped(stop, *pop)
        )
        # Replies owed before the pop were read before it was sent, even when it was cut short.
        self._confirmed()
        if moved is not STOPPED:
            slot.pop_interrupted = False
        return moved

    def _want(self, slot: SlotLedger) -> int:
        tuning = self._tuning
        target = tuning.max_batch if slot.ema_s <= 0 else int(tuning.fresh_s / 2 / slot.ema_s)
        target = max(1, min(tuning.max_batch, target))
        slot.want = 1 if slot.want == 0 else min(target, slot.want * 2)
        return slot.want

    def _fetch(self, slot: SlotLedger, want: int) -> tuple[int | None, int]:
        """Check the pause and, when ``want``, take jobs. Returns the pause's PTTL (None when
        not paused) and how many payloads the processing list gave."""
        sent_at = time.monotonic()
        reply = self._script(
            FETCH, [slot.queue_key, slot.processing, slot.pause, slot.started], [want]
        )
        if not isinstance(reply, list) or len(reply) < 2:
            # The type only: a reply out of step could hold job payloads (personal data).
            raise BackendError(
                f"unexpected reply from Redis to script fetch: {type(reply).__name__}"
            )
        ttl, marker = as_int(reply[0]), as_bytes(reply[1])
        if ttl != -2:  # paused: the script gave back every job the slot had not started
            slot.buffer.clear()
            slot.checked_at = NEVER
            slot.pop_interrupted = False
            return ttl, 0
        if want == 0:
            if as_int(reply[2]) == len(slot.buffer):
                slot.checked_at = sent_at
            else:  # e.g. clear() took reserved jobs: read the processing list again
                slot.buffer.clear()
            return None, 0
        # The whole processing list (the buffer was empty): the ledger is whole again.
        raws = as_bytes_list(reply[2:])
        slot.pop_interrupted = False
        self._take(slot, raws[::-1], marker)
        slot.checked_at = sent_at
        return None, len(raws)

    def _take(self, slot: SlotLedger, raws: list[bytes], marker: bytes) -> None:
        """Buffer the processing list's jobs (oldest first). The one its marker says had
        started is delivered again or buried; undecodable payloads are buried."""
        started = -1
        if marker and marker != slot.acked_marker:
            started = next((i for i, raw in enumerate(raws) if marker_of(raw) == marker), -1)
        now = self._clock()
        held: list[Held] = []
        moves: list[Move] = []
        stay: Counter[bytes] = Counter()
        for index, raw in enumerate(raws):
            if index == started:
                verdict = judge_unfinished(
                    raw,
                    reliable=self._reliable,
                    max_deliveries=self._max_deliveries,
                    worker_number=slot.worker_number,
                    now=now,
                )
                if isinstance(verdict, Redeliver):
                    moves.append(Move(raw, "hold_next", verdict.raw))
                    held.append(Held(verdict.job, verdict.raw, marker_of(verdict.raw)))
                    self._log.warning(
                        "%s was started by worker %d of %r, which stopped before finishing it;"
                        " delivering it again (delivery %d)",
                        verdict.job,
                        slot.worker_number,
                        slot.queue,
                        verdict.job.attempts,
                    )
                else:
                    moves.append(self._bury(slot, raw, verdict))
                continue
            try:
                job = decode_job(raw, deliver=True)
            except PayloadError as exc:
                moves.append(
                    self._bury(
                        slot, raw, bury(raw, f"undecodable payload: {exc.reason}", now, None)
                    )
                )
                continue
            held.append(Held(job, raw, marker_of(raw)))
            stay[raw] += 1
        if moves:
            self._move(slot, moves, stay, drop_marker=started >= 0)
        slot.buffer.extend(held)

    def _bury(self, slot: SlotLedger, raw: bytes, verdict: Bury) -> Move:
        self._log.warning(
            "dead-lettered %s of queue %r: %s",
            verdict.job_id or "an undecodable payload",
            slot.queue,
            verdict.reason,
        )
        return Move(raw, "dead", verdict.entry)

    def _hand_out(self, slot: SlotLedger) -> Job:
        held = slot.current = slot.buffer.popleft()
        self._line.send("SET", slot.started, held.marker)
        now = time.monotonic()
        if slot.handed_at:
            step = min(now - slot.handed_at, 1.0)
            slot.ema_s = step if slot.ema_s <= 0 else 0.8 * slot.ema_s + 0.2 * step
        slot.handed_at = now
        return held.job

    # -- acknowledge, release ---------------------------------------------------------------

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        with self._line.lock:
            slot = self._slot(queue, worker_number)
            held = slot.current
            if held is not None and held.job.id == job.id:
                slot.current = None
            elif job.raw is not None:
                held = Held(job, job.raw, marker_of(job.raw))
            else:
                self._log.error("cannot acknowledge %s: it was not dequeued here", job)
                return
            slot.acked_marker = held.marker
            move = self._finish(slot, held, outcome)
            if self._dirty:
                slot.redo.append(move)
                return
            try:
                if move.to != "drop":
                    self._move(slot, [move], slot.holding())
                else:
                    self._line.defer("LREM", slot.processing, -1, held.raw)
                    self._sent.append((slot, held.raw))
            except LineLost as exc:
                slot.redo.append(move)
                self._lost(exc)
            except RedisError as exc:
                self._fail(exc, f"acknowledging {job}")
            except BaseException:
                slot.redo.append(move)
                self._out_of_step()
                raise

    def _finish(self, slot: SlotLedger, held: Held, outcome: Outcome) -> Move:
        match outcome:
            case Succeeded() | Failed():
                return Move(held.raw)
            case Retrying(run_after=run_after):
                # Out of the processing list and into the delayed jobs in one script run:
                # no moment when the job is in both places or neither. Due already (no
                # back-off): straight to the queue's head, as an enqueue would.
                retried = held.job.retried(run_after).encode()
                if run_after <= self._clock():
                    return Move(held.raw, "requeue_last", retried)
                return Move(held.raw, "delay", retried, score_of(run_after))
            case GaveUp():
                verdict = bury(held.raw, failure_reason(outcome), self._clock(), held.job.id)
                return self._bury(slot, held.raw, verdict)
            case Rejected(reason=reason):
                verdict = bury(held.raw, f"rejected: {reason}", self._clock(), held.job.id)
                return self._bury(slot, held.raw, verdict)
            case TimedOut(timeout_s=timeout_s):
                now = self._clock()
                if not self._reliable:
                    reason = (
                        f"timed out after {timeout_s:g}s; at-most-once delivery does not run"
                        " it again"
                    )
                    return self._bury(slot, held.raw, bury(held.raw, reason, now, held.job.id))
                judged = judge_timed_out(
                    held.job, held.raw, timeout_s, max_deliveries=self._max_deliveries, now=now
                )
                if isinstance(judged, Bury):
                    return self._bury(slot, held.raw, judged)
                self._log.warning("%s timed out after %gs; queued again", held.job, timeout_s)
                return Move(held.raw, "requeue_last", judged.raw)

    def release(self, queue: str, worker_number: int) -> int:
        with self._line.lock:
            slot = self._slots.get((queue, worker_number))
            if slot is None:
                return 0
            stay: Counter[bytes] = Counter()
            if slot.current is not None:
                stay[slot.current.raw] += 1
            for attempt in range(3):
                try:
                    if self._dirty:
                        self._redo_unsure()
                    moves = self._giving_back(slot, stay)
                    moved = self._move(slot, moves, stay, drop_marker=slot.current is None)
                except LineLost as exc:
                    self._lost(exc)
                    time.sleep(backoff_s(attempt + 1))
                    continue
                except RedisError as exc:
                    self._fail(exc, f"giving back the jobs of worker {worker_number} of {queue!r}")
                except BaseException:
                    self._out_of_step()
                    raise
                slot.buffer.clear()
                slot.checked_at = NEVER
                slot.pop_interrupted = False
                return moved
            self._log.warning(
                "could not give back %d jobs of worker %d of %r; they stay in its processing"
                " list until the slot runs again or a runner's startup returns them",
                len(slot.buffer),
                worker_number,
                queue,
            )
            return 0

    def _giving_back(self, slot: SlotLedger, stay: Counter[bytes]) -> list[Move]:
        """Moves that return the jobs the slot holds and has not started to the queue's
        tail, to run next in the order they had."""
        if not slot.pop_interrupted:
            return [Move(item.raw, "requeue_next", item.raw) for item in reversed(slot.buffer)]
        # A pop cut short may have moved in a job the buffer does not show: give back what
        # the processing list holds (newest first, as the buffer reversed), less what stays.
        keep = stay.copy()
        moves = []
        for raw in as_bytes_list(self._call("LRANGE", slot.processing, 0, -1)):
            if keep[raw] > 0:
                keep[raw] -= 1
            else:
                moves.append(Move(raw, "requeue_next", raw))
        return moves

    def close(self) -> None:
        with self._line.lock:
            for queue, worker_number in list(self._slots):
                self.release(queue, worker_number)
            self._slots.clear()
            self._line.close()
