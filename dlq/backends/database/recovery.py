"""What becomes of the jobs a worker slot held when its worker stopped without saying.

A slot hands out the jobs it claimed in claim order, and marks each one started (the
slot row's ``started``) before its task runs. So, for the rows a slot still holds:

* those before the marked one have finished (a finished row is deleted with the slot's
  next claim, so a crash can leave some behind): they are deleted;
* the marked one started and did not finish: it is delivered again, its payload's
  ``attempts`` one higher, or, once it has started ``MAX_DELIVERIES`` times without
  finishing, buried in the dead letters with the reason;
* those after it never started: they go back to waiting, where they were.

This runs when a worker process first serves a slot, when a runner starts (for slots
no live runner leases), and when a runner reports a timed-out job. It runs in one
transaction holding the slot row's lock, which lease changes need too.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from dlq.backends.database.connection import Session
from dlq.backends.database.sql import Dialect
from dlq.domain.envelope import Job, decode_job, encode_job
from dlq.exceptions import PayloadError

__all__ = [
    "Bury",
    "Recovered",
    "Redeliver",
    "as_bytes",
    "judge_timed_out",
    "judge_unfinished",
    "recover_slot",
]


@dataclass(frozen=True, slots=True)
class Redeliver:
    """Run it again: ``payload`` counts one more unfinished delivery."""

    job: Job
    payload: str


@dataclass(frozen=True, slots=True)
class Bury:
    reason: str
    job_id: str | None


def as_bytes(value: object) -> bytes:
    """A payload column's value (text, or bytes where a driver or a hand edit left them)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def _again(job: Job, unfinished: int) -> Redeliver:
    payload = encode_job(job.replace(attempts=unfinished))
    return Redeliver(
        dataclasses.replace(job, attempts=unfinished + 1, raw=payload), payload.decode()
    )


def judge_unfinished(raw: bytes, *, max_deliveries: int, worker_number: int) -> Redeliver | Bury:
    """The job in ``raw`` was started by worker ``worker_number``, which never finished it."""
    try:
        job = decode_job(raw)
    except PayloadError as exc:
        return Bury(f"undecodable payload: {exc.reason}", None)
    unfinished = job.attempts + 1
    if unfinished >= max_deliveries:
        return Bury(
            f"started {unfinished} times without finishing (MAX_DELIVERIES is"
            f" {max_deliveries}); last by worker {worker_number}",
            job.id,
        )
    return _again(job, unfinished)


def judge_timed_out(job: Job, timeout_s: float, *, max_deliveries: int) -> Redeliver | Bury:
    """``job`` (as delivered: ``attempts`` is its delivery) was killed after ``timeout_s``."""
    if job.attempts >= max_deliveries:
        return Bury(
            f"timed out after {timeout_s:g}s; started {job.attempts} times without"
            f" finishing (MAX_DELIVERIES is {max_deliveries})",
            job.id,
        )
    return _again(job, job.attempts)


@dataclass(frozen=True, slots=True)
class Recovered:
    finished: int = 0
    requeued: int = 0
    buried: int = 0
    released: int = 0

    def __bool__(self) -> bool:
        return bool(self.finished or self.requeued or self.buried or self.released)


def recover_slot(
    session: Session,
    dialect: Dialect,
    queue: str,
    number: int,
    *,
    max_deliveries: int,
    logger: logging.Logger,
    only_if_unleased: bool = False,
    timed_out: tuple[Job, float] | None = None,
) -> Recovered | None:
    """Settle what slot ``queue``.``number`` holds (see the module doc); None when
    ``only_if_unleased`` and a runner's lease on it is live.

    ``timed_out``: the job the slot's runner killed for running past ``timeout_s``,
    which the marker names; it is judged as a time-out rather than as unfinished.
    """
    d = dialect
    with session.transaction():
        session.execute(d.ensure_slot(), [queue, number])
        slot_id, live, started = session.execute(d.slot(lock=True), [queue, number]).rows[0]
        if only_if_unleased and live:
            return None
        # Unlocked: only the slot's own worker (not running now) and clear() touch these
        # rows, and a MySQL locking read on a small table scans it all, waiting for rows
        # other transactions are inserting.
        held = session.execute(d.held(), [queue, number]).rows
        ids = [row[0] for row in held]
        index = ids.index(started) if started is not None and started in ids else -1
        finished, later = (ids[:index], ids[index + 1 :]) if index >= 0 else ([], ids)
        requeued = buried = 0
        if finished:
            session.execute(d.delete_held(len(finished)), [queue, number, *finished])
        if index >= 0:
            raw = as_bytes(held[index][1])
            verdict = _judge(raw, number, max_deliveries, timed_out, logger)
            row = ids[index]
            if isinstance(verdict, Redeliver):
                session.execute(
                    d.requeue_held(behind_waiting=timed_out is not None),
                    [verdict.payload, queue, number, row],
                )
                requeued = 1
                logger.warning(
                    "%s was started by worker %d of %r, which stopped before finishing it;"
                    " it runs again (delivery %d)",
                    verdict.job,
                    number,
                    queue,
                    verdict.job.attempts,
                )
            else:
                session.execute(d.bury_held(), [verdict.job_id, verdict.reason, queue, number, row])
                session.execute(d.delete_held(1), [queue, number, row])
                buried = 1
                logger.warning(
                    "dead-lettered %s of queue %r: %s",
                    verdict.job_id or "an undecodable payload",
                    queue,
                    verdict.reason,
                )
        elif timed_out is not None:
            logger.error(
                "%s timed out on worker %d of %r, but the slot holds no job it started;"
                " nothing to settle",
                timed_out[0],
                number,
                queue,
            )
        if later:
            session.execute(d.release_held(len(later)), [queue, number, *later])
        if started is not None:
            session.execute(d.mark_started(), [None, slot_id])
    return Recovered(len(finished), requeued, buried, len(later))


def _judge(
    raw: bytes,
    number: int,
    max_deliveries: int,
    timed_out: tuple[Job, float] | None,
    logger: logging.Logger,
) -> Redeliver | Bury:
    if timed_out is not None:
        job, timeout_s = timed_out
        try:
            stored = decode_job(raw)
        except PayloadError:
            stored = None
        if stored is not None and stored.id == job.id:
            return judge_timed_out(
                stored.with_attempts(stored.attempts + 1, raw),
                timeout_s,
                max_deliveries=max_deliveries,
            )
        logger.error(
            "%s timed out on worker %d, but the slot's started job is another one;"
            " settling that one as unfinished",
            job,
            number,
        )
    return judge_unfinished(raw, max_deliveries=max_deliveries, worker_number=number)
