"""Operations on a whole queue that no worker's hot path needs: deduplicate, startup, status."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import redis

from dlq.backends.redis.connection import as_bytes_list, as_int
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.recovery import (
    Move,
    Redeliver,
    judge_unfinished,
    marker_of,
    move_args,
)
from dlq.backends.redis.scripts import DEDUPLICATE, MOVE, run_script
from dlq.core.protocols import ProgressCallback
from dlq.domain.envelope import Job, decode_job
from dlq.exceptions import PayloadError

__all__ = ["deduplicate", "recover_slot", "slot_jobs", "slot_numbers"]


def deduplicate(
    client: redis.Redis, key: str, *, page_size: int, progress: ProgressCallback | None
) -> tuple[int, int]:
    """Remove waiting jobs identical (``Job.identity()``) to an older waiting one.

    Reads the list in pages of ``page_size`` from the newest end. Workers pop from the
    other end and enqueuers push at this one, so a page start shifts only by pushes (the
    next page then repeats a few jobs: harmless) and by this function's own removals,
    which it counts. Memory holds one payload per distinct job, not the list. Each removal
    is checked by script DEDUPLICATE against the list as it is then: a copy goes only while
    an older twin still waits, so a job whose twin a worker has taken meanwhile stays.
    Returns the list's length before and after.
    """
    original = as_int(client.llen(key))
    oldest: dict[bytes, bytes] = {}  # identity digest -> payload of the oldest copy seen
    offset = scanned = 0
    while scanned <= 2 * (original + page_size):  # a bound, should pushes outpace the pages
        page = as_bytes_list(client.lrange(key, offset, offset + page_size - 1))
        pairs: list[bytes] = []
        for raw in page:  # newest first, so each copy met is older than the last one kept
            try:
                identity = decode_job(raw).identity()
            except PayloadError:
                continue
            digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=16).digest()
            newer = oldest.get(digest)
            if newer is not None:
                pairs += [newer, raw]
            oldest[digest] = raw
        removed = as_int(run_script(client, DEDUPLICATE, [key], pairs)) if pairs else 0
        offset += len(page) - removed
        scanned += len(page)
        if progress is not None:
            progress(min(scanned, original), original)
        if len(page) < page_size:
            break
    return original, as_int(client.llen(key))


def slot_numbers(client: redis.Redis, keys: Keys, queue: str) -> list[int]:
    """Worker numbers of ``queue`` with a processing list or a lease."""
    numbers: set[int] = set()
    for pattern in (keys.processing_pattern(queue), keys.lease_pattern(queue)):
        for key in _scan(client, pattern):
            number = keys.worker_number(key, queue)
            if number is not None:
                numbers.add(number)
    return sorted(numbers)


def _scan(client: redis.Redis, pattern: str) -> Iterator[bytes | str]:
    yield from client.scan_iter(match=pattern, count=1000)


def recover_slot(
    client: redis.Redis,
    keys: Keys,
    queue: str,
    worker_number: int,
    *,
    reliable: bool,
    max_deliveries: int,
    now: datetime,
    logger: logging.Logger,
) -> tuple[int, int]:
    """Return an unleased slot's jobs to the queue's tail, in order, to run next.

    The job its marker says had started is judged (:func:`judge_unfinished`): delivered
    again or buried. The move is one script, which does nothing if the slot became leased
    since it was read, and moves nothing twice if another runner is doing the same.
    Returns (jobs requeued, jobs buried).
    """
    lease, processing = keys.lease(queue, worker_number), keys.processing(queue, worker_number)
    started = keys.started(queue, worker_number)
    pipe = client.pipeline(transaction=False)
    pipe.exists(lease)
    pipe.lrange(processing, 0, -1)
    pipe.get(started)
    leased, items, marker = pipe.execute()
    raws = as_bytes_list(items)[::-1]  # oldest first
    if leased or not raws:
        return 0, 0
    started_at = -1
    if isinstance(marker, bytes):
        started_at = next((i for i, raw in enumerate(raws) if marker_of(raw) == marker), -1)
    moves: list[Move] = []
    buried = 0
    for index in reversed(range(len(raws))):  # newest first: the oldest ends at the tail
        raw = raws[index]
        if index != started_at:
            moves.append(Move(raw, "requeue_next", raw))
            continue
        verdict = judge_unfinished(
            raw,
            reliable=reliable,
            max_deliveries=max_deliveries,
            worker_number=worker_number,
            now=now,
        )
        if isinstance(verdict, Redeliver):
            moves.append(Move(raw, "requeue_next", verdict.raw))
            logger.warning("%s was started by a worker that is gone; queued again", verdict.job)
        else:
            moves.append(Move(raw, "dead", verdict.entry))
            buried += 1
            logger.warning(
                "dead-lettered %s of queue %r: %s", verdict.job_id, queue, verdict.reason
            )
    move_keys = [
        processing,
        keys.queue(queue),
        keys.dead(queue),
        lease,
        started,
        keys.delayed(queue),
    ]
    args = move_args(moves, Counter(), guard=True, drop_marker=True)
    moved = as_int(run_script(client, MOVE, move_keys, args))
    if moved < 0:
        return 0, 0
    return max(0, moved - buried), buried


def slot_jobs(client: redis.Redis, keys: Keys, queue: str, worker_number: int) -> list[Job]:
    """The jobs a slot has taken and not finished, oldest (the one running) first, each as
    it is or would be delivered; undecodable payloads are left out."""
    items = as_bytes_list(client.lrange(keys.processing(queue, worker_number), 0, -1))
    jobs = []
    for raw in reversed(items):
        with contextlib.suppress(PayloadError):
            jobs.append(decode_job(raw, deliver=True))
    return jobs
