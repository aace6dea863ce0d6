"""Job records (``SupportsResults``) in the ``dlq_job_record`` table, one row per job id.

Writes and reads go through Django's connection of ``LIGHTWEIGHT_QUEUE_DATABASE_ALIAS``,
as enqueue does: a QUEUED record written inside ``transaction.atomic()`` commits or
rolls back with its job, and a read sees the caller's own uncommitted writes. A row
carries ``expires_at`` (the database's clock plus the record's ``ttl_s``): a read
ignores an expired row at once, and pruning deletes such rows through the
``expires_at`` index, :data:`~.sql.PROMOTE_BATCH` per statement, so neither depends on
how many records are kept.
"""

from __future__ import annotations

import time

from django.db import DatabaseError, connections

from dlq.backends.database.connection import DatabaseTarget, Session, check_name
from dlq.backends.database.recovery import as_bytes
from dlq.backends.database.schema import MAX_NAME_LENGTH
from dlq.backends.database.sql import PROMOTE_BATCH, Dialect
from dlq.domain.job_record import JobRecord, decode_record
from dlq.exceptions import BackendError

__all__ = ["PRUNE_EVERY_S", "RecordStore", "prune_all", "prune_batch"]

#: How often a runner's promotions also prune one batch of expired records.
PRUNE_EVERY_S = 60.0


class RecordStore:
    def __init__(self, target: DatabaseTarget, dialect: Dialect) -> None:
        self._target = target
        self._d = dialect
        self._pruned_at = float("-inf")

    def save(self, record: JobRecord, ttl_s: int) -> None:
        check_name("job id", record.id, MAX_NAME_LENGTH)
        sql, until = self._d.save_record(max(1, ttl_s))
        try:
            with connections[self._target.alias].cursor() as cursor:
                cursor.execute(sql, [record.id, record.encode().decode(), until])
        except DatabaseError as exc:
            raise BackendError(
                f"saving the record of job {record.id} in the {self._target.label}: {exc}"
            ) from exc

    def in_callers_transaction(self) -> bool:
        """Whether the calling code is inside ``transaction.atomic()`` on the jobs' alias."""
        return connections[self._target.alias].in_atomic_block

    def save_in(self, session: Session, record: JobRecord, ttl_s: int) -> None:
        """:meth:`save`, through ``session`` rather than Django's connection.

        On PostgreSQL the write's commit does not wait for the WAL to reach the disk
        (``synchronous_commit`` off for that transaction alone: one round trip, pipelined,
        instead of a flush per record, twice per job). A server crash may then lose the
        last fraction of a second of records, never the jobs, whose own statements keep
        the server's setting: a record is what was seen of a job, not the job.
        """
        check_name("job id", record.id, MAX_NAME_LENGTH)
        sql, until = self._d.save_record(max(1, ttl_s))
        params = [record.id, record.encode().decode(), until]
        if self._d.vendor != "postgresql":
            session.execute(sql, params)
            return
        with session.transaction():
            session.send("SET LOCAL synchronous_commit TO OFF")
            session.send(sql, params)

    def get(self, job_id: str) -> JobRecord | None:
        try:
            with connections[self._target.alias].cursor() as cursor:
                cursor.execute(self._d.get_record(), [job_id])
                row = cursor.fetchone()
        except DatabaseError as exc:
            raise BackendError(
                f"reading the record of job {job_id} in the {self._target.label}: {exc}"
            ) from exc
        return None if row is None else decode_record(as_bytes(row[0]))

    def due_to_prune(self) -> bool:
        """True at most once per :data:`PRUNE_EVERY_S` (per backend instance)."""
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return False
        self._pruned_at = now
        return True


def prune_batch(session: Session, d: Dialect) -> int:
    """Delete up to :data:`~.sql.PROMOTE_BATCH` expired records; returns how many."""
    return session.execute(d.prune_records()).rowcount


def prune_all(session: Session, d: Dialect) -> int:
    """Delete every expired record, one bounded statement at a time."""
    total = 0
    while True:
        deleted = prune_batch(session, d)
        total += deleted
        if deleted < PROMOTE_BATCH:
            return total
