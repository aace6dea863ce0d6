"""What becomes of a job that did not finish normally: the decisions, without the I/O.

A payload's ``attempts`` counts its deliveries that started and did not finish (the
worker died, or the job timed out); a job is handed to its task with ``attempts`` set to
the number of that delivery, one more. The at-least-once backend delivers a job again
until a delivery would be number ``MAX_DELIVERIES + 1``, then buries it in the dead
letters; the at-most-once backend buries a job that may have started instead of running
it again. Either way the payload is kept, with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from dlq.backends.redis.dead_letters import encode_entry
from dlq.backends.redis.scripts import Arg
from dlq.domain.envelope import Job, decode_job, encode_job
from dlq.exceptions import PayloadError

__all__ = [
    "Bury",
    "Destination",
    "Move",
    "Redeliver",
    "bury",
    "judge_timed_out",
    "judge_unfinished",
    "marker_of",
    "move_args",
]

#: Where script MOVE puts a payload it takes out of a processing list: nowhere (an
#: acknowledged job), back on the queue to run after every waiting job, or next, into the
#: dead letters, back into the processing list to be handed out next by its slot, or
#: among the queue's delayed jobs (a retry held back).
Destination: TypeAlias = Literal[
    "drop", "requeue_last", "requeue_next", "dead", "hold_next", "delay"
]


@dataclass(frozen=True, slots=True)
class Move:
    """One group of script MOVE: take ``raw`` out of a processing list and put ``value``
    ``to`` its destination; ``score`` is when a ``delay`` is due (epoch seconds, see
    :func:`dlq.backends.redis.delayed.score_of`)."""

    raw: bytes
    to: Destination = "drop"
    value: bytes = b""
    score: str = ""


def move_args(
    moves: Sequence[Move], stay: Counter[bytes], *, guard: bool, drop_marker: bool
) -> list[Arg]:
    """ARGV for script MOVE; ``stay`` counts the payloads the list should keep after."""
    left = Counter(move.raw for move in moves)
    args: list[Arg] = ["1" if guard else "0", "1" if drop_marker else "0"]
    for move in moves:
        left[move.raw] -= 1
        args += [move.raw, stay[move.raw] + left[move.raw], move.to, move.value, move.score]
    return args


def marker_of(raw: bytes) -> bytes:
    """What a slot's ``started`` key holds while the job with payload ``raw`` runs."""
    return hashlib.sha1(raw).hexdigest().encode("ascii")


@dataclass(frozen=True, slots=True)
class Redeliver:
    """Run it again: ``raw`` is the payload to keep (counting one more unfinished delivery),
    ``job`` what its next delivery hands out."""

    job: Job
    raw: bytes


@dataclass(frozen=True, slots=True)
class Bury:
    """Give up on it: ``entry`` is the dead letter to keep."""

    entry: bytes
    reason: str
    job_id: str | None


def bury(raw: bytes, reason: str, now: datetime, job_id: str | None) -> Bury:
    return Bury(encode_entry(raw, reason, now, job_id), reason, job_id)


def _again(job: Job, unfinished: int) -> Redeliver:
    raw = encode_job(job.replace(attempts=unfinished))
    return Redeliver(dataclasses.replace(job, attempts=unfinished + 1, raw=raw), raw)


def judge_unfinished(
    raw: bytes, *, reliable: bool, max_deliveries: int, worker_number: int, now: datetime
) -> Redeliver | Bury:
    """The job in ``raw`` was started by worker ``worker_number``, which never acknowledged it."""
    try:
        job = decode_job(raw)
    except PayloadError as exc:
        return bury(raw, f"undecodable payload: {exc.reason}", now, None)
    if not reliable:
        return bury(
            raw,
            f"worker {worker_number} started it and stopped before finishing it;"
            " at-most-once delivery does not run a job twice",
            now,
            job.id,
        )
    unfinished = job.attempts + 1
    if unfinished >= max_deliveries:
        return bury(
            raw,
            f"started {unfinished} times without finishing (MAX_DELIVERIES is"
            f" {max_deliveries}); last by worker {worker_number}",
            now,
            job.id,
        )
    return _again(job, unfinished)


def judge_timed_out(
    job: Job, raw: bytes, timeout_s: float, *, max_deliveries: int, now: datetime
) -> Redeliver | Bury:
    """``job`` (as delivered) was killed after ``timeout_s``: a failed delivery."""
    if job.attempts >= max_deliveries:
        return bury(
            raw,
            f"timed out after {timeout_s:g}s; started {job.attempts} times without"
            f" finishing (MAX_DELIVERIES is {max_deliveries})",
            now,
            job.id,
        )
    return _again(job, job.attempts)
