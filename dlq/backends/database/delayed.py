"""Delayed jobs (``SupportsDelay``): rows with ``is_delayed`` set, due at ``available_at``.

A delayed row (enqueued with a ``run_after``, or a job acknowledged ``Retrying``) stays
out of the part of the claim index claims read, so a claim costs the same with a million
of them (``bench/db_measure.py``). Promotion clears the flag, earliest first and at
most :data:`~.sql.PROMOTE_BATCH` rows per statement, through the delayed index
``(queue, available_at) WHERE is_delayed`` (full on MySQL). Every claim promotes first.
An idle worker (its claim found nothing) reads the next due time off that index and
waits no longer than that, so it starts a due job within milliseconds of its time.
The runner promotes too, for each of its queues every 0.25 s, and then, on PostgreSQL,
NOTIFYs the queue's channel (SQLite workers see its commit in ``PRAGMA data_version``,
MySQL ones poll every 250 ms at most): a safety net that keeps due jobs moving on a queue
whose workers are all busy or not the ones idle.

A promoted row keeps ``available_at`` = its due time, so among waiting jobs of a
priority the claim order is the time each became due (the enqueue time for others).
``length``, ``clear``, ``deduplicate`` and the dashboard's waiting page see promoted rows
only; a due row the next promotion has not reached yet counts as delayed.
"""

from __future__ import annotations

from datetime import datetime

from dlq.backends.database.admin import notify
from dlq.backends.database.connection import Session
from dlq.backends.database.sql import Dialect

__all__ = ["clear_delayed", "delayed_count", "next_due", "promote_due"]


def delayed_count(session: Session, d: Dialect, queue: str) -> int:
    return int(session.execute(d.delayed_rows("COUNT(*)"), [queue]).rows[0][0])


def next_due(session: Session, d: Dialect, queue: str) -> datetime | None:
    value = session.execute(d.delayed_rows("MIN(available_at)"), [queue]).rows[0][0]
    return None if value is None else d.read_time(value)


def clear_delayed(session: Session, d: Dialect, queue: str) -> int:
    return session.execute(d.clear_delayed(), [queue]).rowcount


def promote_due(session: Session, d: Dialect, queue: str) -> int:
    """One batch of due rows made claimable; idle workers woken if any were."""
    promoted = session.execute(d.promote_due(), [queue]).rowcount
    if promoted:
        notify(session, d, queue)
    return promoted
