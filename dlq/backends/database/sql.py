"""The SQL of the database backend, with what differs per vendor in one place.

Statements use ``%s`` placeholders and ``%%`` for a literal ``%`` on every vendor (each
session translates them, as Django does). What differs:

=================  =====================  =====================  ========================
                   PostgreSQL             MySQL / MariaDB        SQLite
=================  =====================  =====================  ========================
now                ``clock_timestamp()``  ``UTC_TIMESTAMP(6)``   ``strftime(...,'now')``
times are          ``timestamptz``        ``datetime(6)``, UTC   text, UTC, sorted as text
claim              one ``UPDATE ...       ``SELECT ... FOR       ``BEGIN IMMEDIATE``, one
                   RETURNING`` over a     UPDATE SKIP LOCKED``   ``UPDATE ... RETURNING``
                   ``SKIP LOCKED`` pick   then ``UPDATE``
upsert             ``ON CONFLICT``        ``INSERT IGNORE``      ``ON CONFLICT``
=================  =====================  =====================  ========================

``clock_timestamp()`` rather than ``now()``: ``now()`` is when the transaction began,
and a job committed by a transaction that began after the claim's would look as if it
came from the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from dlq.backends.database.connection import Vendor
from dlq.backends.database.schema import (
    CLAIM_TABLE,
    CRON_TABLE,
    DEAD_TABLE,
    JOB_TABLE,
    QUEUE_TABLE,
    RECORD_TABLE,
    SLOT_TABLE,
)

__all__ = ["CLAIM_ORDER", "PROMOTE_BATCH", "Dialect", "dialect_for", "placeholders"]

#: The order jobs are claimed and handed out in; recovery relies on it being the same.
CLAIM_ORDER: Final = "priority DESC, available_at, id"
#: The most delayed jobs one statement promotes, and the most expired records one prunes:
#: each statement's work stays bounded however many are due at once.
PROMOTE_BATCH: Final = 1000
_SQLITE_NOW = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


@dataclass(frozen=True)
class Dialect:
    vendor: Vendor
    now: str
    #: :data:`CLAIM_ORDER` as each planner reads it off the claim index (checked with
    #: EXPLAIN on 100,000 rows). Among waiting rows ``worker`` and ``is_delayed`` are
    #: constant; PostgreSQL does not infer it from ``worker IS NULL`` and sorts every
    #: waiting row unless told, MariaDB sorts if told.
    claim_order: str
    #: "delayed" as each planner matches it with the delayed-jobs index (SQLite's
    #: partial index needs its own ``WHERE`` term; MariaDB needs an equality).
    delayed: str
    #: Appended to a SELECT that locks the rows it reads (empty on SQLite, where the
    #: transaction holds the one write lock anyway).
    for_update: str
    skip_locked: str

    # -- times --------------------------------------------------------------------------

    def later(self, seconds: float) -> tuple[str, float | str]:
        """SQL for the database's now plus ``seconds``, and its parameter."""
        if self.vendor == "postgresql":
            return "clock_timestamp() + %s * interval '1 second'", float(seconds)
        if self.vendor == "mysql":
            return "UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND", round(seconds * 1_000_000)
        return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %s)", f"{seconds:+.3f} seconds"

    def time_param(self, when: datetime) -> datetime | str:
        """``when`` as a parameter compared with stored times."""
        utc = when.astimezone(UTC)
        if self.vendor == "postgresql":
            return utc
        if self.vendor == "mysql":
            return utc.replace(tzinfo=None)
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f")

    def read_time(self, value: object) -> datetime:
        """A stored time as an aware datetime in UTC."""
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, str | bytes):
            text = value.decode() if isinstance(value, bytes) else value
            parsed = datetime.fromisoformat(text)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        raise TypeError(f"not a stored time: {value!r}")

    # -- the job table -----------------------------------------------------------------

    def insert_jobs(self, count: int, *, notify: bool, delayed: bool = False) -> str:
        """For Django's cursor: insert ``count`` jobs; parameters: queue, payload (and,
        ``delayed``, the time it is due) per job, then (PostgreSQL, with ``notify``) the
        channel. A delayed row waits outside the claim index until promoted."""
        now = {
            "postgresql": "statement_timestamp()",
            "mysql": "UTC_TIMESTAMP(6)",
            "sqlite": _SQLITE_NOW,
        }[self.vendor]
        row = "(%s, %s, 0, %s, TRUE)" if delayed else f"(%s, %s, 0, {now}, FALSE)"
        insert = (
            f"INSERT INTO {JOB_TABLE} (queue, payload, priority, available_at, is_delayed)"
            f" VALUES {', '.join([row] * count)}"
        )
        if self.vendor == "postgresql" and notify:
            return f"WITH inserted AS ({insert} RETURNING 1) SELECT pg_notify(%s, '')"
        return insert

    def promote_due(self) -> str:
        """Up to :data:`PROMOTE_BATCH` delayed jobs whose time has come join the claimable
        ones, earliest first. Parameter: queue.

        PostgreSQL compares with ``statement_timestamp()``: ``clock_timestamp()`` changes
        while the statement runs, so it cannot bound an index scan. It skips rows another
        promotion holds (a claim's and the runner's may run at once)."""
        if self.vendor == "mysql":
            return (
                f"UPDATE {JOB_TABLE} SET is_delayed = FALSE"
                f" WHERE queue = %s AND {self.delayed} AND available_at <= {self.now}"
                f" ORDER BY available_at LIMIT {PROMOTE_BATCH}"
            )
        now = "statement_timestamp()" if self.vendor == "postgresql" else self.now
        return (
            f"UPDATE {JOB_TABLE} SET is_delayed = FALSE WHERE id IN (SELECT id FROM {JOB_TABLE}"
            f" WHERE queue = %s AND {self.delayed} AND available_at <= {now}"
            f" ORDER BY available_at LIMIT {PROMOTE_BATCH}{self.skip_locked})"
        )

    def delayed_rows(self, what: str) -> str:
        """``SELECT what`` over the delayed rows of a queue (the delayed index). Parameter:
        queue."""
        return f"SELECT {what} FROM {JOB_TABLE} WHERE queue = %s AND {self.delayed}"

    def next_due_and_now(self) -> str:
        """The earliest due time among a queue's delayed rows (NULL if none), and now.
        Parameter: queue."""
        return self.delayed_rows(f"MIN(available_at), {self.now}")

    def clear_delayed(self) -> str:
        return f"DELETE FROM {JOB_TABLE} WHERE queue = %s AND {self.delayed}"

    def paused(self) -> str:
        """One row while ``queue`` is paused: its end, and now. Parameter: queue."""
        return (
            f"SELECT paused_until, {self.now} FROM {QUEUE_TABLE}"
            f" WHERE queue = %s AND paused_until > {self.now}"
        )

    def pick(self, *, full: bool = False) -> str:
        """The next jobs to claim (their ids, or whole rows). Parameters: queue, limit."""
        columns = "id, payload, priority, available_at" if full else "id"
        return (
            f"SELECT {columns} FROM {JOB_TABLE}"
            " WHERE queue = %s AND worker IS NULL AND is_delayed = FALSE"
            f" ORDER BY {self.claim_order} LIMIT %s{self.skip_locked}"
        )

    def claim_postgres(self, finished: int) -> str:
        """PostgreSQL's claim, one statement: forget ``finished`` rows of the slot and its
        marker, then take up to ``limit`` waiting jobs unless the queue is paused.

        Parameters: queue, worker, the finished ids, slot id, queue (pause), queue,
        limit, worker.
        """
        done = (
            f"finished AS (DELETE FROM {JOB_TABLE} WHERE queue = %s AND worker = %s"
            f" AND id IN ({placeholders(finished)})), "
            if finished
            else ""
        )
        return (
            f"WITH {done}"
            f"cleared AS (UPDATE {SLOT_TABLE} SET started = NULL WHERE id = %s), "
            f"picked AS (SELECT id FROM {JOB_TABLE}"
            " WHERE queue = %s AND worker IS NULL AND is_delayed = FALSE"
            f" AND NOT EXISTS ({self.paused()})"
            f" ORDER BY {self.claim_order} LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {JOB_TABLE} AS j SET worker = %s FROM picked WHERE j.id = picked.id"
            " RETURNING j.id, j.payload, j.priority, j.available_at"
        )

    def assign(self, count: int) -> str:
        """Parameters: worker, ``count`` ids."""
        return f"UPDATE {JOB_TABLE} SET worker = %s WHERE id IN ({placeholders(count)})"

    def claim_sqlite(self) -> str:
        """Parameters: worker, queue, limit."""
        return (
            f"UPDATE {JOB_TABLE} SET worker = %s WHERE id IN ({self.pick()})"
            " RETURNING id, payload, priority, available_at"
        )

    def has_work(self) -> str:
        """A cheap read before a claim that would have to lock: parameters queue, queue."""
        return (
            f"SELECT 1 FROM {JOB_TABLE}"
            " WHERE queue = %s AND worker IS NULL AND is_delayed = FALSE"
            f" UNION ALL SELECT 1 FROM {JOB_TABLE}"
            f" WHERE queue = %s AND {self.delayed} AND available_at <= {self.now}"
            " LIMIT 1"
        )

    def held(self) -> str:
        """The rows a slot holds, in claim order. Parameters: queue, worker."""
        return (
            f"SELECT id, payload, priority, available_at FROM {JOB_TABLE}"
            f" WHERE queue = %s AND worker = %s ORDER BY {CLAIM_ORDER}"
        )

    def held_ids(self) -> str:
        return f"SELECT id FROM {JOB_TABLE} WHERE queue = %s AND worker = %s"

    def delete_held(self, count: int) -> str:
        """Parameters: queue, worker, ``count`` ids."""
        return (
            f"DELETE FROM {JOB_TABLE} WHERE queue = %s AND worker = %s"
            f" AND id IN ({placeholders(count)})"
        )

    def release_held(self, count: int | None) -> str:
        """Back to waiting: ``count`` ids, or (None) everything the slot holds.
        Parameters: queue, worker, then the ids."""
        ids = "" if count is None else f" AND id IN ({placeholders(count)})"
        return f"UPDATE {JOB_TABLE} SET worker = NULL WHERE queue = %s AND worker = %s{ids}"

    def requeue_held(self, *, behind_waiting: bool = False) -> str:
        """A job to run again, with its new payload. Parameters: payload, queue, worker, id.

        ``behind_waiting``: after the jobs waiting now (a job that timed out does not jump
        those that waited while it overran); otherwise it keeps its place, at the front.
        """
        behind = f", available_at = {self.now}" if behind_waiting else ""
        return (
            f"UPDATE {JOB_TABLE} SET worker = NULL, payload = %s{behind}"
            " WHERE queue = %s AND worker = %s AND id = %s"
        )

    def retry_held(self, finished: int = 0) -> str:
        """A held job queued again as its next retry: the same row, unheld and delayed
        until its time, with its new payload; and (``finished``) the rows the slot finished
        before it, in the same statement on PostgreSQL (the others run both in one
        transaction, see :meth:`delete_held`). Parameters: [queue, worker, ``finished``
        ids,] payload, due time, queue, worker, id."""
        retry = (
            f"UPDATE {JOB_TABLE} SET worker = NULL, payload = %s, available_at = %s,"
            " is_delayed = TRUE WHERE queue = %s AND worker = %s AND id = %s"
        )
        if finished and self.vendor == "postgresql":
            return f"WITH {self._finished(finished)} {retry}"
        return retry

    def _finished(self, count: int) -> str:
        return (
            f"finished AS (DELETE FROM {JOB_TABLE} WHERE queue = %s AND worker = %s"
            f" AND id IN ({placeholders(count)}))"
        )

    def bury_held(self) -> str:
        """Copy a held row to the dead letters (then delete it with :meth:`delete_held`).
        Parameters: job id, reason, queue, worker, row id."""
        return (
            f"INSERT INTO {DEAD_TABLE} (queue, job_id, payload, reason, failed_at)"
            f" SELECT queue, %s, payload, %s, {self.now} FROM {JOB_TABLE}"
            " WHERE queue = %s AND worker = %s AND id = %s"
        )

    def bury_held_postgres(self, finished: int = 0) -> str:
        """Move a held row to the dead letters in one statement (it may be sent without
        waiting), forgetting first the ``finished`` rows the slot ran before it.
        Parameters: [queue, worker, ``finished`` ids,] queue, worker, row id, job id,
        reason."""
        done = f"{self._finished(finished)}, " if finished else ""
        return (
            f"WITH {done}gone AS (DELETE FROM {JOB_TABLE} WHERE queue = %s AND worker = %s"
            " AND id = %s RETURNING queue, payload)"
            f" INSERT INTO {DEAD_TABLE} (queue, job_id, payload, reason, failed_at)"
            f" SELECT queue, %s, payload, %s, {self.now} FROM gone"
        )

    # -- job records -------------------------------------------------------------------------

    def save_record(self, ttl_s: int) -> tuple[str, float | str]:
        """Insert or replace a record. Parameters: job id, record, the returned one."""
        until, param = self.later(ttl_s)
        insert = f"INSERT INTO {RECORD_TABLE} (job_id, record, expires_at) VALUES (%s, %s, {until})"
        if self.vendor == "mysql":
            return (
                f"{insert} ON DUPLICATE KEY UPDATE record = VALUES(record),"
                " expires_at = VALUES(expires_at)",
                param,
            )
        return (
            f"{insert} ON CONFLICT (job_id) DO UPDATE SET record = excluded.record,"
            " expires_at = excluded.expires_at",
            param,
        )

    def get_record(self) -> str:
        """Parameter: job id."""
        return f"SELECT record FROM {RECORD_TABLE} WHERE job_id = %s AND expires_at > {self.now}"

    def prune_records(self) -> str:
        """Delete up to :data:`PROMOTE_BATCH` expired records (through their index)."""
        if self.vendor == "mysql":
            return (
                f"DELETE FROM {RECORD_TABLE} WHERE expires_at <= {self.now} LIMIT {PROMOTE_BATCH}"
            )
        return (
            f"DELETE FROM {RECORD_TABLE} WHERE job_id IN (SELECT job_id FROM {RECORD_TABLE}"
            f" WHERE expires_at <= {self.now} LIMIT {PROMOTE_BATCH})"
        )

    # -- worker slots ----------------------------------------------------------------------

    def ensure_slot(self) -> str:
        """Parameters: queue, number."""
        if self.vendor == "mysql":
            return f"INSERT IGNORE INTO {SLOT_TABLE} (queue, number) VALUES (%s, %s)"
        return (
            f"INSERT INTO {SLOT_TABLE} (queue, number) VALUES (%s, %s)"
            " ON CONFLICT (queue, number) DO NOTHING"
        )

    def slot(self, *, lock: bool = False) -> str:
        """id, whether its lease is live, started. Parameters: queue, number."""
        return (
            "SELECT id, CASE WHEN owner IS NOT NULL AND lease_until > "
            f"{self.now} THEN 1 ELSE 0 END, started FROM {SLOT_TABLE}"
            " WHERE queue = %s AND number = %s" + (self.for_update if lock else "")
        )

    def slots(self) -> str:
        """number, whether its lease is live: every slot of a queue. Parameter: queue."""
        return (
            "SELECT number, CASE WHEN owner IS NOT NULL AND lease_until > "
            f"{self.now} THEN 1 ELSE 0 END, started FROM {SLOT_TABLE} WHERE queue = %s"
        )

    def holding_workers(self) -> str:
        return f"SELECT DISTINCT worker FROM {JOB_TABLE} WHERE queue = %s AND worker IS NOT NULL"

    def mark_started(self) -> str:
        """Parameters: row id (or None), slot id."""
        return f"UPDATE {SLOT_TABLE} SET started = %s WHERE id = %s"

    def acquire_lease(self, ttl_s: float) -> tuple[str, object]:
        """Parameters: owner, the returned one, queue, number, owner."""
        until, param = self.later(ttl_s)
        return (
            f"UPDATE {SLOT_TABLE} SET owner = %s, lease_until = {until}"
            " WHERE queue = %s AND number = %s"
            f" AND (owner IS NULL OR owner = %s OR lease_until <= {self.now})",
            param,
        )

    def renew_lease(self, ttl_s: float) -> tuple[str, object]:
        """Parameters: the returned one, queue, number, owner."""
        until, param = self.later(ttl_s)
        return (
            f"UPDATE {SLOT_TABLE} SET lease_until = {until}"
            f" WHERE queue = %s AND number = %s AND owner = %s AND lease_until > {self.now}",
            param,
        )

    def release_lease(self) -> str:
        return (
            f"UPDATE {SLOT_TABLE} SET owner = NULL, lease_until = NULL"
            " WHERE queue = %s AND number = %s AND owner = %s"
        )

    # -- queues, claims, cron -----------------------------------------------------------------

    def set_pause(self) -> str:
        """Parameters: queue, until."""
        if self.vendor == "mysql":
            return (
                f"INSERT INTO {QUEUE_TABLE} (queue, paused_until) VALUES (%s, %s)"
                " ON DUPLICATE KEY UPDATE paused_until = VALUES(paused_until)"
            )
        return (
            f"INSERT INTO {QUEUE_TABLE} (queue, paused_until) VALUES (%s, %s)"
            " ON CONFLICT (queue) DO UPDATE SET paused_until = excluded.paused_until"
        )

    def clock(self) -> str:
        return f"SELECT {self.now}"

    def insert_claim(self, ttl_s: float) -> tuple[str, object]:
        """Parameters: key hash, the returned one. A row comes back (PostgreSQL, SQLite)
        or one row is affected (MySQL) only when the claim is granted, unless MySQL's
        row existed: then :meth:`take_expired_claim` decides."""
        until, param = self.later(ttl_s)
        if self.vendor == "mysql":
            return (
                f"INSERT IGNORE INTO {CLAIM_TABLE} (key_hash, expires_at) VALUES (%s, {until})",
                param,
            )
        return (
            f"INSERT INTO {CLAIM_TABLE} (key_hash, expires_at) VALUES (%s, {until})"
            " ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at"
            f" WHERE {CLAIM_TABLE}.expires_at <= {self.now} RETURNING 1",
            param,
        )

    def take_expired_claim(self, ttl_s: float) -> tuple[str, object]:
        """MySQL: parameters the returned one, key hash."""
        until, param = self.later(ttl_s)
        return (
            f"UPDATE {CLAIM_TABLE} SET expires_at = {until}"
            f" WHERE key_hash = %s AND expires_at <= {self.now}",
            param,
        )

    def forget_expired_claims(self) -> str:
        return f"DELETE FROM {CLAIM_TABLE} WHERE expires_at < {self.now}"

    def record_fired(self) -> str:
        """Parameters: entry hash, entry id, fired at."""
        if self.vendor == "mysql":
            return (
                f"INSERT INTO {CRON_TABLE} (entry_hash, entry_id, fired_at) VALUES (%s, %s, %s)"
                " ON DUPLICATE KEY UPDATE fired_at = GREATEST(fired_at, VALUES(fired_at))"
            )
        greatest = "GREATEST" if self.vendor == "postgresql" else "MAX"
        return (
            f"INSERT INTO {CRON_TABLE} (entry_hash, entry_id, fired_at) VALUES (%s, %s, %s)"
            f" ON CONFLICT (entry_hash) DO UPDATE SET fired_at ="
            f" {greatest}({CRON_TABLE}.fired_at, excluded.fired_at)"
        )


_DIALECTS: Final[dict[Vendor, Dialect]] = {
    "postgresql": Dialect(
        "postgresql",
        "clock_timestamp()",
        f"worker, is_delayed, {CLAIM_ORDER}",
        "is_delayed",
        " FOR UPDATE",
        " FOR UPDATE SKIP LOCKED",
    ),
    "mysql": Dialect(
        "mysql",
        "UTC_TIMESTAMP(6)",
        CLAIM_ORDER,
        "is_delayed = TRUE",
        " FOR UPDATE",
        " FOR UPDATE SKIP LOCKED",
    ),
    "sqlite": Dialect("sqlite", _SQLITE_NOW, CLAIM_ORDER, "is_delayed", "", ""),
}


def dialect_for(vendor: Vendor) -> Dialect:
    return _DIALECTS[vendor]
