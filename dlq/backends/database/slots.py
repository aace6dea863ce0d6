"""The hot path: claiming batches of jobs for worker slots, handing them out, taking them back.

Statements per job and per batch (see the package docstring for why):

* **claim** (once per batch): PostgreSQL one statement, which also deletes the rows the
  slot finished since its last claim; MySQL/MariaDB and SQLite one transaction. A batch
  is sized so that it lasts about ``fresh_s / 2``: slow jobs are claimed one at a time.
* **hand-out** (per job): one ``UPDATE`` of the slot's row naming the job as started,
  sent before the task runs. On PostgreSQL it is pipelined: the worker does not wait for
  the reply.
* **acknowledge**: nothing for a job that ran (its row goes with the next claim);
  a rejected, timed-out, retried (``Retrying``: the row itself becomes the next attempt,
  delayed) or given-up (``GaveUp``: a dead letter) job's row is settled at once
  (pipelined on PostgreSQL) and before any later job's marker, so recovery never
  mistakes it for a finished one. That statement (one transaction on MySQL and SQLite)
  also deletes the rows the slot finished before it: once the marked row has left the
  slot, recovery could no longer tell those finished rows from never-started ones.
* **idle**: a claim that found nothing reads when the queue's next delayed job is due
  and waits no longer than that (see :mod:`.delayed`).
* **pause and clear**: a buffered job is handed out only within ``fresh_s`` of the
  claim or check that saw it; an older buffer is checked again first. ``pause()`` and
  ``clear()`` wait ``pause_grace_s`` (> ``fresh_s``) before returning.

A lost connection is retried with back-off; what was owed (rejected jobs' burials,
finished rows) is kept in memory and written once the database answers again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from dlq.backends.database.connection import Contended, Session, SessionHolder, SessionLost
from dlq.backends.database.recovery import (
    Bury,
    as_bytes,
    judge_timed_out,
    recover_slot,
)
from dlq.backends.database.schema import notify_channel
from dlq.backends.database.slot_state import NEVER, Held, Owed, Slot, Tuning
from dlq.backends.database.sql import Dialect
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
from dlq.exceptions import PayloadError

__all__ = ["SlotWorker"]


class SlotWorker:
    """Dequeue, acknowledge and release for any number of slots, over one session."""

    def __init__(
        self,
        holder: SessionHolder,
        dialect: Dialect,
        *,
        max_deliveries: int,
        logger: logging.Logger,
        tuning: Tuning,
    ) -> None:
        self._holder = holder
        self._d = dialect
        self._max_deliveries = max_deliveries
        self._log = logger
        self._tuning = tuning
        self._slots: dict[tuple[str, int], Slot] = {}
        self._listening: set[str] = set()
        self._failures = 0
        self._retry_at = 0.0
        holder.on_open.append(self._on_open)

    def _on_open(self, session: Session) -> None:
        for queue in sorted(self._listening):
            session.listen(notify_channel(queue))

    def _slot(self, queue: str, number: int) -> Slot:
        slot = self._slots.get((queue, number))
        if slot is None:
            slot = self._slots[queue, number] = Slot(queue, number)
        return slot

    # -- dequeue ----------------------------------------------------------------------------

    def dequeue(
        self, queue: str, number: int, timeout_s: float, stop: StopSignal | None
    ) -> Job | None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._holder.lock:
            slot = self._slot(queue, number)
            if slot.current is not None:
                self._log.warning(
                    "worker %d of %r asked for a job before acknowledging %s; it counts as"
                    " unfinished",
                    number,
                    queue,
                    slot.current.job,
                )
                slot.current = None
                slot.buffer.clear()
                slot.finished.clear()
                slot.recovered = False  # recovery settles what the slot holds
            while True:
                if stop is not None and stop.is_set():
                    return None
                wait = self._retry_at - time.monotonic()
                if wait > 0:
                    remaining = deadline - time.monotonic()
                    if wait_for_stop(stop, max(0.0, min(wait, remaining))) or wait > remaining:
                        return None
                try:
                    with self._holder.using() as session:
                        job = self._next(session, slot, deadline, stop)
                    self._failures = 0
                    return job
                except SessionLost as exc:
                    self._unhand(slot)
                    self._lost(exc)
                except Contended as exc:
                    self._log.info("the database was busy (%s); trying again", exc)
                    if deadline - time.monotonic() <= 0 or wait_for_stop(stop, 0.01):
                        return None
                except BaseException:  # e.g. a signal's exception: the session is gone
                    self._unhand(slot)
                    self._unsure()
                    raise

    def _unhand(self, slot: Slot) -> None:
        """A job this dequeue took for its caller never reached it: it has not started."""
        if slot.current is not None:
            slot.buffer.appendleft(slot.current)
            slot.current = None

    def _lost(self, exc: Exception) -> None:
        self._unsure()
        self._failures += 1
        delay = min(30.0, 0.1 * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + delay
        level = logging.WARNING if self._failures & (self._failures - 1) == 0 else logging.DEBUG
        self._log.log(level, "%s (%d in a row); retrying in %.2fs", exc, self._failures, delay)

    def _unsure(self) -> None:
        """Statements sent since the last reply may or may not have run: each slot settles
        its rows again before its next job (a job running now is left alone)."""
        for slot in self._slots.values():
            slot.resync = slot.recovered

    def _next(
        self, session: Session, slot: Slot, deadline: float, stop: StopSignal | None
    ) -> Job | None:
        if not slot.recovered:
            self._recover(session, slot)
        if slot.resync:
            self._resync(session, slot)
        self._pay_owed(session, slot)
        while True:
            if slot.buffer:
                if time.monotonic() - slot.checked_at < self._tuning.fresh_s:
                    return self._hand_out(session, slot)
                self._check(session, slot)
                continue
            session.prepare_wait()
            paused_for = self._claim(session, slot)
            if slot.buffer:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0.001 or (stop is not None and stop.is_set()):
                return None
            if paused_for is not None:
                nap = min(remaining, self._tuning.paused_poll_s, max(0.001, paused_for))
                if wait_for_stop(stop, nap):
                    return None
                continue
            session.wait_for_jobs(stop, self._idle_wait(session, slot, remaining))

    def _idle_wait(self, session: Session, slot: Slot, remaining: float) -> float:
        """How long an idle worker waits: no longer than until the queue's next delayed job
        is due (one read of the delayed index, only when a claim came back empty), so it
        starts that job within milliseconds of its time without waiting for the runner's
        promotion and its wake-up."""
        wait = min(remaining, self._tuning.idle_cap_s)
        due, now = session.execute(self._d.next_due_and_now(), [slot.queue]).rows[0]
        if due is None:
            return wait
        due_in = (self._d.read_time(due) - self._d.read_time(now)).total_seconds()
        return min(wait, max(0.001, due_in + 0.001))

    def _recover(self, session: Session, slot: Slot) -> None:
        """This process's first use of the slot: settle what an earlier worker left."""
        if self._d.vendor == "postgresql" and slot.queue not in self._listening:
            session.listen(notify_channel(slot.queue))
            self._listening.add(slot.queue)
        recovered = recover_slot(
            session,
            self._d,
            slot.queue,
            slot.number,
            max_deliveries=self._max_deliveries,
            logger=self._log,
        )
        slot.slot_id = int(session.execute(self._d.slot(), [slot.queue, slot.number]).rows[0][0])
        if recovered:
            self._log.info(
                "worker %d of %r took over its slot: %s", slot.number, slot.queue, recovered
            )
        slot.recovered, slot.resync = True, False

    def _resync(self, session: Session, slot: Slot) -> None:
        """After a lost reply: forget what the slot finished, let go of any row claimed
        by a claim whose reply was lost, and mark nothing started."""
        d, q, n = self._d, slot.queue, slot.number
        keep = {held.row for held in slot.buffer}
        if slot.current is not None:
            keep.add(slot.current.row)
        with session.transaction():
            if slot.finished:
                session.execute(d.delete_held(len(slot.finished)), [q, n, *slot.finished])
            held = [row[0] for row in session.execute(d.held_ids(), [q, n]).rows]
            stray = [row for row in held if row not in keep]
            if stray:
                session.execute(d.release_held(len(stray)), [q, n, *stray])
            if slot.current is None:
                session.execute(d.mark_started(), [None, slot.slot_id])
        present = set(held)
        slot.buffer = deque(h for h in slot.buffer if h.row in present)
        slot.finished, slot.resync = [], False
        slot.checked_at = NEVER

    def _pay_owed(self, session: Session, slot: Slot) -> None:
        while slot.owed:
            self._write(session, slot, slot.owed[0])
            session.read_owed()
            slot.owed.pop(0)

    def _want(self, slot: Slot) -> int:
        tuning = self._tuning
        target = tuning.max_batch if slot.ema_s <= 0 else int(tuning.fresh_s / 2 / slot.ema_s)
        target = max(1, min(tuning.max_batch, target))
        slot.want = 1 if slot.want == 0 else min(target, slot.want * 2)
        return slot.want

    def _claim(self, session: Session, slot: Slot) -> float | None:
        """Claim a batch into the buffer; returns the seconds left of a pause, if paused."""
        d, q, n = self._d, slot.queue, slot.number
        want = self._want(slot)
        finished = slot.finished
        sent_at = time.monotonic()
        if d.vendor == "postgresql":
            session.send(d.promote_due(), [q])
            params: list[object] = [q, n, *finished] if finished else []
            params += [slot.slot_id, q, q, want, n]
            rows = session.execute(d.claim_postgres(len(finished)), params).rows
            slot.finished = []
            if not rows:
                return self._paused_for(session, q)
        else:
            if not finished and not session.execute(d.has_work(), [q, q]).rows:
                return None
            with session.transaction():
                if finished:
                    session.execute(d.delete_held(len(finished)), [q, n, *finished])
                session.execute(d.promote_due(), [q])
                paused = session.execute(d.paused(), [q]).rows
                rows = [] if paused else self._pick(session, slot, want)
            slot.finished = []
            if paused:
                return self._until(paused[0])
        if rows:
            session.found_jobs()
        self._take(session, slot, rows)
        slot.checked_at = sent_at
        return None

    def _pick(self, session: Session, slot: Slot, want: int) -> list[tuple[Any, ...]]:
        d, q, n = self._d, slot.queue, slot.number
        if d.vendor == "sqlite":
            return session.execute(d.claim_sqlite(), [n, q, want]).rows
        rows = session.execute(d.pick(full=True), [q, want]).rows
        if rows:
            ids = [row[0] for row in rows]
            session.execute(d.assign(len(ids)), [n, *ids])
        return rows

    def _paused_for(self, session: Session, queue: str) -> float | None:
        rows = session.execute(self._d.paused(), [queue]).rows
        return self._until(rows[0]) if rows else None

    def _until(self, paused: tuple[Any, ...]) -> float:
        """Seconds left of a pause, from a row of ``Dialect.paused()``."""
        until, now = (self._d.read_time(value) for value in paused)
        return max(0.0, (until - now).total_seconds())

    def _take(self, session: Session, slot: Slot, rows: list[tuple[Any, ...]]) -> None:
        """Buffer claimed rows in claim order; bury those that are not jobs at all."""
        rows.sort(key=lambda row: (-row[2], row[3], row[0]))
        for row_id, payload, _priority, _available in rows:
            raw = as_bytes(payload)
            try:
                job = decode_job(raw, deliver=True)
            except PayloadError as exc:
                self._log.warning(
                    "dead-lettered an undecodable payload of queue %r: %s", slot.queue, exc.reason
                )
                self._write_or_owe(
                    session, slot, ("bury", row_id, None, f"undecodable payload: {exc.reason}")
                )
                continue
            slot.buffer.append(Held(job, row_id))

    def _check(self, session: Session, slot: Slot) -> None:
        """A stale buffer: is the queue paused, and are the buffered rows still there?"""
        d, q, n = self._d, slot.queue, slot.number
        sent_at = time.monotonic()
        paused = session.execute(d.paused(), [q]).rows
        if paused:
            rows = [held.row for held in slot.buffer]
            session.execute(d.release_held(len(rows)), [q, n, *rows])
            slot.buffer.clear()
            slot.checked_at = NEVER
            return
        held = {row[0] for row in session.execute(d.held_ids(), [q, n]).rows}
        slot.buffer = deque(h for h in slot.buffer if h.row in held)
        slot.checked_at = sent_at

    def _hand_out(self, session: Session, slot: Slot) -> Job:
        held = slot.buffer.popleft()
        try:
            session.send(self._d.mark_started(), [held.row, slot.slot_id])
        except BaseException:
            slot.buffer.appendleft(held)
            raise
        now = time.monotonic()
        if slot.handed_at:
            step = min(now - slot.handed_at, 1.0)
            slot.ema_s = step if slot.ema_s <= 0 else 0.8 * slot.ema_s + 0.2 * step
        slot.handed_at = now
        slot.current = held
        return held.job

    # -- acknowledge, release ------------------------------------------------------------------

    def acknowledge(self, queue: str, number: int, job: Job, outcome: Outcome) -> bool:
        """False when ``job`` is not the one this process handed out for the slot."""
        with self._holder.lock:
            slot = self._slots.get((queue, number))
            held = slot.current if slot is not None else None
            if slot is None or held is None or held.job.id != job.id:
                return False
            slot.current = None
            match outcome:
                case Succeeded() | Failed():
                    slot.finished.append(held.row)
                case Rejected(reason=reason):
                    self._log.warning(
                        "dead-lettered %s of queue %r: rejected: %s", job, queue, reason
                    )
                    self._owe(slot, ("bury", held.row, job.id, f"rejected: {reason}"))
                case Retrying(run_after=run_after):
                    payload = job.retried(run_after).encode().decode()
                    self._owe(slot, ("retry", held.row, self._d.time_param(run_after), payload))
                case GaveUp(attempt=attempt):
                    self._log.warning(
                        "dead-lettered %s of queue %r: attempt %d raised", job, queue, attempt
                    )
                    self._owe(slot, ("bury", held.row, job.id, failure_reason(outcome)))
                case TimedOut(timeout_s=timeout_s):
                    verdict = judge_timed_out(job, timeout_s, max_deliveries=self._max_deliveries)
                    if isinstance(verdict, Bury):
                        self._log.warning(
                            "dead-lettered %s of queue %r: %s", job, queue, verdict.reason
                        )
                        self._owe(slot, ("bury", held.row, job.id, verdict.reason))
                    else:
                        self._log.warning("%s timed out after %gs; queued again", job, timeout_s)
                        self._owe(slot, ("requeue", held.row, None, verdict.payload))
            return True

    def _owe(self, slot: Slot, op: Owed) -> None:
        """Write ``op`` now if the database answers; else before the slot's next job."""
        if slot.owed:
            slot.owed.append(op)
            return
        try:
            with self._holder.using() as session:
                self._write_or_owe(session, slot, op)
        except (SessionLost, Contended) as exc:
            slot.owed.append(op)
            if isinstance(exc, SessionLost):
                self._lost(exc)

    def _write_or_owe(self, session: Session, slot: Slot, op: Owed) -> None:
        try:
            self._write(session, slot, op)
        except (SessionLost, Contended):
            raise
        except Exception:
            slot.owed.append(op)
            raise

    def _write(self, session: Session, slot: Slot, op: Owed) -> None:
        """Settle one row now, with the rows finished before it (see the module's
        docstring). ``slot.finished`` stays: deleting those again later is a no-op, and
        if this statement's reply is lost, a resync must still know them."""
        d, q, n = self._d, slot.queue, slot.number
        kind, row, extra, text = op
        done = slot.finished
        forget: list[object] = [q, n, *done] if done else []
        if d.vendor == "postgresql":
            if kind == "retry":
                session.send(d.retry_held(len(done)), [*forget, text, extra, q, n, row])
            elif kind == "bury":
                session.send(d.bury_held_postgres(len(done)), [*forget, q, n, row, extra, text])
            elif not done:  # a job that timed out: after those waiting
                session.send(d.requeue_held(behind_waiting=True), [text, q, n, row])
            if kind != "requeue" or not done:
                return
        with session.transaction():
            if done:
                session.execute(d.delete_held(len(done)), forget)
            if kind == "retry":
                session.execute(d.retry_held(), [text, extra, q, n, row])
            elif kind == "bury":
                session.execute(d.bury_held(), [extra, text, q, n, row])
                session.execute(d.delete_held(1), [q, n, row])
            else:
                session.execute(d.requeue_held(behind_waiting=True), [text, q, n, row])

    def flush(self) -> None:
        """Write what this process owes (finished rows, replies), so that another session
        of this process sees the queue as it is. Skipped if a worker is mid-call."""
        if not self._holder.lock.acquire(blocking=False):
            return
        try:
            session = self._holder.current()
            if session is None:
                return
            for slot in self._slots.values():
                if slot.finished:
                    d = self._d
                    session.execute(
                        d.delete_held(len(slot.finished)), [slot.queue, slot.number, *slot.finished]
                    )
                    slot.finished = []
            session.read_owed()
        except (SessionLost, Contended) as exc:
            self._log.debug("could not flush: %s", exc)
        finally:
            self._holder.lock.release()

    def release(self, queue: str, number: int) -> int:
        """Give back what the slot claimed and did not start; forget what it finished."""
        with self._holder.lock:
            slot = self._slots.get((queue, number))
            if slot is None or not slot.recovered:
                return 0
            for attempt in range(3):
                try:
                    with self._holder.using() as session:
                        return self._release(session, slot)
                except (SessionLost, Contended) as exc:
                    self._log.debug("giving back the jobs of %s.%d: %s", queue, number, exc)
                    time.sleep(0.1 * 2**attempt)
            self._log.warning(
                "could not give back the jobs worker %d of %r reserved; they wait until the"
                " slot runs again or a runner starts",
                number,
                queue,
            )
            return 0

    def _release(self, session: Session, slot: Slot) -> int:
        d, q, n = self._d, slot.queue, slot.number
        self._pay_owed(session, slot)
        with session.transaction():
            if slot.finished:
                session.execute(d.delete_held(len(slot.finished)), [q, n, *slot.finished])
            if slot.current is None:
                count = session.execute(d.release_held(None), [q, n]).rowcount
                session.execute(d.mark_started(), [None, slot.slot_id])
            else:
                rows = [held.row for held in slot.buffer]
                count = (
                    session.execute(d.release_held(len(rows)), [q, n, *rows]).rowcount
                    if rows
                    else 0
                )
        slot.buffer.clear()
        slot.finished = []
        slot.checked_at = NEVER
        return count

    def close(self) -> None:
        with self._holder.lock:
            for queue, number in list(self._slots):
                self.release(queue, number)
            self._slots.clear()
            self._holder.discard()
