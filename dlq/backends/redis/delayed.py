"""Delayed jobs on Redis: a sorted set per queue beside its list, and moving due ones over.

A job enqueued with a ``run_after`` still ahead, and a retry held back after its task
raised, wait in ``…:{<queue>}:delayed`` (:mod:`.keys`): member the payload, score its
``run_after`` as epoch seconds. A double (Redis's score) tells microseconds apart until
2106 (2**32 s, where its step passes 1 µs) and orders times a few microseconds apart
for centuries more; the payload keeps the exact time anyway. Workers never look at the set:
their ``FETCH`` and ``BLMOVE`` read the list only, so a held job cannot start early and a
plain job pays nothing for delayed ones.

Due jobs move to the list by script ``PROMOTE``, which the runner calls for each queue
several times a second (:mod:`dlq.worker.delayed`): each run moves up to one batch,
earliest first, to the list's head, where new jobs go, so a job that fell due waits
behind the jobs already queued, as a job enqueued at that moment would. The push wakes an
idle worker's ``BLMOVE``. A run is atomic, so runners promoting the same queue at once
move each job once; a call repeats while its batch was full, up to a bound, so that one
call never holds the supervisor for long and a backlog drains over a few calls.

Whose clock: "due" is decided by the clock of the process that asks, as a job's
``is_due`` is (the enqueuer's for an enqueue, the runner's for a promotion), not by the
server's ``TIME``. Clocks apart by ``d`` make a job start up to ``d`` late, or up to
``d`` early by the enqueuer's clock; never early by the runner's.

The set is a set: one payload is held once, so an enqueue whose reply was lost and which
was sent again holds its job once (a job queued twice to the list runs twice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from dlq.backends.redis.connection import as_int
from dlq.backends.redis.scripts import PROMOTE, Arg, LuaScript
from dlq.domain.envelope import Job

__all__ = ["HeldJobs", "due_time", "promote", "score_of", "split_held"]

#: Jobs moved per run of script PROMOTE, and runs per call at most.
PROMOTE_BATCH = 1000
PROMOTE_RUNS = 10

#: Run a script: (script, keys, args) -> reply.
RunScript = Callable[[LuaScript, Sequence[str], Sequence[Arg]], object]
#: ZADD's arguments: score, member, score, member, ...
HeldJobs = list[Arg]


def score_of(when: datetime) -> str:
    """``when`` as a sorted-set score: epoch seconds, to the microsecond."""
    return f"{when.timestamp():.6f}"


def due_time(score: float) -> datetime:
    return datetime.fromtimestamp(score, UTC)


def split_held(
    jobs: Sequence[Job], payloads: list[bytes], now: datetime
) -> tuple[list[bytes], HeldJobs]:
    """The payloads due ``now`` (for the list, in order), and ZADD's arguments for the rest."""
    due: list[bytes] = []
    held: HeldJobs = []
    for job, payload in zip(jobs, payloads, strict=True):
        if job.run_after is None or job.run_after <= now:
            due.append(payload)
        else:
            held += [score_of(job.run_after), payload]
    return due, held


def promote(
    run: RunScript,
    delayed_key: str,
    queue_key: str,
    now: datetime,
    *,
    batch: int = PROMOTE_BATCH,
    runs: int = PROMOTE_RUNS,
) -> int:
    """Move the jobs due ``now`` to the queue, a batch per script run, while a run filled
    its batch, ``runs`` at most; returns how many moved."""
    moved = 0
    for _ in range(runs):
        count = as_int(run(PROMOTE, [delayed_key, queue_key], [score_of(now), batch]))
        moved += count
        if count < batch:
            break
    return moved
