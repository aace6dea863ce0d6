"""Operations on a whole queue that no worker's hot path needs: length, pause, clear,
deduplicate, dead letters, claims, cron history, leases, inspection and start-up.

Each takes an open :class:`~.connection.Session` and the vendor's
:class:`~.sql.Dialect`; the backend decides which session and when.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from dlq.backends.database.connection import Session
from dlq.backends.database.recovery import Recovered, as_bytes, recover_slot
from dlq.backends.database.schema import (
    CRON_TABLE,
    DEAD_TABLE,
    JOB_TABLE,
    QUEUE_TABLE,
    SLOT_TABLE,
    key_digest,
    notify_channel,
)
from dlq.backends.database.sql import CLAIM_ORDER, Dialect, placeholders
from dlq.core.protocols import ProgressCallback
from dlq.domain.dead_letter import DeadLetter
from dlq.domain.envelope import Job, decode_job, encode_job
from dlq.exceptions import PayloadError

__all__ = [
    "acquire_slot",
    "claim",
    "clear",
    "dead_letter_count",
    "dead_letters",
    "deduplicate",
    "in_progress",
    "last_fired",
    "length",
    "notify",
    "pause",
    "paused_until",
    "purge_dead_letters",
    "record_fired",
    "release_slot",
    "renew_slot",
    "requeue_dead_letters",
    "resume",
    "startup",
]


def notify(session: Session, d: Dialect, queue: str) -> None:
    """Wake idle workers of ``queue`` (PostgreSQL; the others poll)."""
    if d.vendor == "postgresql":
        session.execute("SELECT pg_notify(%s, '')", [notify_channel(queue)])


def length(session: Session, d: Dialect, queue: str) -> int:
    """The jobs waiting to be claimed: delayed rows, due or not, count once promoted."""
    sql = (
        f"SELECT COUNT(*) FROM {JOB_TABLE}"
        " WHERE queue = %s AND worker IS NULL AND is_delayed = FALSE"
    )
    return int(session.execute(sql, [queue]).rows[0][0])


# -- pause --------------------------------------------------------------------------------


def pause(session: Session, d: Dialect, queue: str, until: datetime) -> bool:
    """Pause until ``until``; False (nothing written) if that is not after the database's now."""
    with session.transaction():
        now = d.read_time(session.execute(d.clock()).rows[0][0])
        if until <= now:
            return False
        session.execute(d.set_pause(), [queue, d.time_param(until)])
    return True


def resume(session: Session, d: Dialect, queue: str) -> None:
    session.execute(f"UPDATE {QUEUE_TABLE} SET paused_until = NULL WHERE queue = %s", [queue])
    notify(session, d, queue)


def paused_until(session: Session, d: Dialect, queue: str) -> datetime | None:
    rows = session.execute(d.paused(), [queue]).rows
    return d.read_time(rows[0][0]) if rows else None


# -- clear, deduplicate ------------------------------------------------------------------


def clear(session: Session, d: Dialect, queue: str) -> int:
    """Delete the waiting jobs and those worker slots reserved but have not started;
    delayed jobs stay (``clear_delayed`` removes those)."""
    with session.transaction():
        count = session.execute(
            f"DELETE FROM {JOB_TABLE} WHERE queue = %s AND worker IS NULL AND is_delayed = FALSE",
            [queue],
        ).rowcount
        for number, jobs in _held(session, d, queue).items():
            reserved = [row for row, _payload, running in jobs if not running]
            if reserved:
                count += session.execute(
                    d.delete_held(len(reserved)), [queue, number, *reserved]
                ).rowcount
    return count


def deduplicate(
    session: Session,
    d: Dialect,
    queue: str,
    *,
    page_size: int,
    progress: ProgressCallback | None,
) -> tuple[int, int]:
    """Delete waiting jobs identical (``Job.identity()``) to one that comes earlier in
    claim order; returns the queue's length before and after.

    Two passes over the waiting rows, in pages, holding one digest per distinct job: the
    first finds the copy of each job to keep, the second the others. They are deleted in
    chunks, each in a transaction that first locks the copies to keep, so that a copy goes
    only while the one kept still waits (a worker claiming it skips it meanwhile).
    """
    before = length(session, d, queue)
    keep: dict[bytes, tuple[tuple[Any, ...], int]] = {}  # digest -> (claim order, row id)
    for done, (row_id, digest, order) in enumerate(_waiting(session, queue, page_size), 1):
        if digest not in keep or order < keep[digest][0]:
            keep[digest] = (order, row_id)
        if progress is not None:
            progress(min(done, before), before)
    pairs = [
        (row_id, keep[digest][1])
        for row_id, digest, _order in _waiting(session, queue, page_size)
        if digest in keep and keep[digest][1] != row_id
    ]
    for start in range(0, len(pairs), page_size):
        chunk = pairs[start : start + page_size]
        kept = sorted({kept for _dup, kept in chunk})
        with session.transaction():
            waiting = {
                row[0]
                for row in session.execute(
                    f"SELECT id FROM {JOB_TABLE} WHERE worker IS NULL"
                    f" AND id IN ({placeholders(len(kept))}){d.for_update}",
                    kept,
                ).rows
            }
            doomed = [dup for dup, kept_row in chunk if kept_row in waiting]
            if doomed:
                session.execute(
                    f"DELETE FROM {JOB_TABLE} WHERE worker IS NULL"
                    f" AND id IN ({placeholders(len(doomed))})",
                    doomed,
                )
    return before, length(session, d, queue)


def _waiting(
    session: Session, queue: str, page_size: int
) -> Iterator[tuple[int, bytes, tuple[Any, ...]]]:
    """(row id, digest of the job's identity, claim order) of each decodable waiting job."""
    last_id = 0
    while True:
        rows = session.execute(
            f"SELECT id, payload, priority, available_at FROM {JOB_TABLE}"
            " WHERE queue = %s AND worker IS NULL AND is_delayed = FALSE AND id > %s"
            " ORDER BY id LIMIT %s",
            [queue, last_id, page_size],
        ).rows
        for row_id, payload, priority, available_at in rows:
            try:
                identity = decode_job(as_bytes(payload)).identity()
            except PayloadError:
                continue
            digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=16).digest()
            yield row_id, digest, (-priority, available_at, row_id)
        if len(rows) < page_size:
            return
        last_id = rows[-1][0]


# -- dead letters ------------------------------------------------------------------------


def dead_letters(session: Session, d: Dialect, queue: str, limit: int) -> list[DeadLetter]:
    rows = session.execute(
        f"SELECT payload, reason, failed_at, job_id FROM {DEAD_TABLE}"
        " WHERE queue = %s ORDER BY id DESC LIMIT %s",
        [queue, limit],
    ).rows
    return [
        DeadLetter(queue, as_bytes(payload), str(reason), d.read_time(failed_at), job_id)
        for payload, reason, failed_at, job_id in rows
    ]


def dead_letter_count(session: Session, d: Dialect, queue: str) -> int:
    sql = f"SELECT COUNT(*) FROM {DEAD_TABLE} WHERE queue = %s"
    return int(session.execute(sql, [queue]).rows[0][0])


def requeue_dead_letters(
    session: Session,
    d: Dialect,
    queue: str,
    job_ids: Collection[str] | None,
    *,
    page_size: int,
) -> int:
    """Dead letters with a decodable payload (all, or those with ``job_ids``) go back to
    the queue, ``attempts`` reset; undecodable ones stay, oldest first."""
    wanted = None if job_ids is None else set(job_ids)
    moved, after = 0, 0
    while True:
        with session.transaction():
            rows = session.execute(
                f"SELECT id, payload, job_id FROM {DEAD_TABLE} WHERE queue = %s AND id > %s"
                f" ORDER BY id LIMIT %s{d.for_update}",
                [queue, after, page_size],
            ).rows
            taken: list[int] = []
            for row_id, payload, job_id in rows:
                if wanted is not None and job_id not in wanted:
                    continue
                try:
                    job = decode_job(as_bytes(payload))
                except PayloadError:
                    continue
                session.execute(
                    f"INSERT INTO {JOB_TABLE} (queue, payload, priority, available_at, is_delayed)"
                    f" VALUES (%s, %s, 0, {d.now}, FALSE)",
                    [queue, encode_job(job.replace(attempts=0)).decode()],
                )
                taken.append(row_id)
            if taken:
                session.execute(
                    f"DELETE FROM {DEAD_TABLE} WHERE id IN ({placeholders(len(taken))})", taken
                )
        moved += len(taken)
        if len(rows) < page_size:
            break
        after = rows[-1][0]
    if moved:
        notify(session, d, queue)
    return moved


def purge_dead_letters(session: Session, d: Dialect, queue: str) -> int:
    return session.execute(f"DELETE FROM {DEAD_TABLE} WHERE queue = %s", [queue]).rowcount


# -- claims and cron history ---------------------------------------------------------------


def claim(session: Session, d: Dialect, key: str, ttl_s: int) -> bool:
    digest = key_digest(key)
    sql, param = d.insert_claim(ttl_s)
    result = session.execute(sql, [digest, param])
    if d.vendor != "mysql":
        granted = bool(result.rows)
    elif result.rowcount:
        granted = True
    else:  # the row exists: take it only if it has expired
        sql, param = d.take_expired_claim(ttl_s)
        granted = session.execute(sql, [param, digest]).rowcount == 1
    if granted:
        session.execute(d.forget_expired_claims())
    return granted


def record_fired(session: Session, d: Dialect, entry_id: str, when: datetime) -> None:
    session.execute(d.record_fired(), [key_digest(entry_id), entry_id, d.time_param(when)])


def last_fired(session: Session, d: Dialect, entry_ids: Collection[str]) -> Mapping[str, datetime]:
    ids = list(entry_ids)
    if not ids:
        return {}
    rows = session.execute(
        f"SELECT entry_id, fired_at FROM {CRON_TABLE}"
        f" WHERE entry_hash IN ({placeholders(len(ids))})",
        [key_digest(entry_id) for entry_id in ids],
    ).rows
    return {str(entry_id): d.read_time(fired_at) for entry_id, fired_at in rows}


# -- worker slots -------------------------------------------------------------------------


def acquire_slot(
    session: Session, d: Dialect, queue: str, number: int, owner: str, ttl_s: float
) -> bool:
    session.execute(d.ensure_slot(), [queue, number])
    sql, until = d.acquire_lease(ttl_s)
    return session.execute(sql, [owner, until, queue, number, owner]).rowcount == 1


def renew_slot(
    session: Session, d: Dialect, queue: str, number: int, owner: str, ttl_s: float
) -> bool:
    sql, until = d.renew_lease(ttl_s)
    return session.execute(sql, [until, queue, number, owner]).rowcount == 1


def release_slot(session: Session, d: Dialect, queue: str, number: int, owner: str) -> None:
    session.execute(d.release_lease(), [queue, number, owner])


def _held(session: Session, d: Dialect, queue: str) -> dict[int, list[tuple[int, Any, bool]]]:
    """Per worker number, the rows its slot holds and has not finished, in claim order:
    (row id, payload, whether it is the one running)."""
    started = dict(
        session.execute(f"SELECT number, started FROM {SLOT_TABLE} WHERE queue = %s", [queue]).rows
    )
    rows = session.execute(
        f"SELECT worker, id, payload FROM {JOB_TABLE} WHERE queue = %s AND worker IS NOT NULL"
        f" ORDER BY worker, {CLAIM_ORDER}",
        [queue],
    ).rows
    by_worker: dict[int, list[tuple[int, Any]]] = {}
    for worker, row_id, payload in rows:
        by_worker.setdefault(int(worker), []).append((row_id, payload))
    held: dict[int, list[tuple[int, Any, bool]]] = {}
    for number, jobs in by_worker.items():
        ids = [row_id for row_id, _ in jobs]
        marker = started.get(number)
        first = ids.index(marker) if marker in ids else -1
        held[number] = [
            (row_id, payload, index == first)
            for index, (row_id, payload) in enumerate(jobs)
            if index >= first
        ]
    return held


def in_progress(session: Session, d: Dialect, queue: str) -> Mapping[int, Sequence[Job]]:
    """Per worker number: the job running first (if one is), then those reserved."""
    result: dict[int, list[Job]] = {}
    for number, jobs in _held(session, d, queue).items():
        decoded = []
        for _row, payload, _running in jobs:
            try:
                decoded.append(decode_job(as_bytes(payload), deliver=True))
            except PayloadError:
                continue
        if decoded:
            result[number] = decoded
    return result


def startup(
    session: Session, d: Dialect, queue: str, *, max_deliveries: int, logger: logging.Logger
) -> Recovered:
    """Settle the slots of ``queue`` that no live runner leases (see :mod:`.recovery`)."""
    numbers = {int(row[0]) for row in session.execute(d.slots(), [queue]).rows if not row[1]}
    numbers |= {int(row[0]) for row in session.execute(d.holding_workers(), [queue]).rows}
    total = Recovered()
    for number in sorted(numbers):
        done = recover_slot(
            session,
            d,
            queue,
            number,
            max_deliveries=max_deliveries,
            logger=logger,
            only_if_unleased=True,
        )
        if done:
            total = Recovered(
                total.finished + done.finished,
                total.requeued + done.requeued,
                total.buried + done.buried,
                total.released + done.released,
            )
    return total
