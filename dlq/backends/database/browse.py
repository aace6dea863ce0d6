"""Reading a queue one page at a time (``SupportsBrowse``) and its live leases, for the dashboard.

Each page is read off an index, in that index's order, with ``LIMIT``/``OFFSET``: its cost
grows with ``offset + limit``, never with the number of rows queued.

* Waiting jobs: the claim index ``(queue, worker, is_delayed, priority DESC,
  available_at, id)``, in the order workers claim them (the dialect's ``claim_order``,
  spelt as each planner reads it off that index). Delayed jobs are not waiting yet and
  are left out, as a claim leaves them.
* Dead letters: ``(queue, id)``, newest first.
"""

from __future__ import annotations

from dlq.backends.database.connection import Session
from dlq.backends.database.recovery import as_bytes
from dlq.backends.database.schema import DEAD_TABLE, JOB_TABLE, SLOT_TABLE
from dlq.backends.database.sql import Dialect
from dlq.domain.dead_letter import DeadLetter

__all__ = ["dead_letter_page", "slot_leases", "waiting_page"]


def waiting_page(session: Session, d: Dialect, queue: str, offset: int, limit: int) -> list[bytes]:
    if limit <= 0 or offset < 0:
        return []
    rows = session.execute(
        f"SELECT payload FROM {JOB_TABLE}"
        " WHERE queue = %s AND worker IS NULL AND is_delayed = FALSE"
        f" ORDER BY {d.claim_order} LIMIT %s OFFSET %s",
        [queue, limit, offset],
    ).rows
    return [as_bytes(row[0]) for row in rows]


def dead_letter_page(
    session: Session, d: Dialect, queue: str, offset: int, limit: int
) -> list[DeadLetter]:
    if limit <= 0 or offset < 0:
        return []
    rows = session.execute(
        f"SELECT payload, reason, failed_at, job_id FROM {DEAD_TABLE}"
        " WHERE queue = %s ORDER BY id DESC LIMIT %s OFFSET %s",
        [queue, limit, offset],
    ).rows
    return [
        DeadLetter(queue, as_bytes(payload), str(reason), d.read_time(failed_at), job_id)
        for payload, reason, failed_at, job_id in rows
    ]


def slot_leases(session: Session, d: Dialect, queue: str) -> dict[int, str]:
    """Worker number to owner, for the slots of ``queue`` leased now (by the database's clock)."""
    rows = session.execute(
        f"SELECT number, owner FROM {SLOT_TABLE}"
        f" WHERE queue = %s AND owner IS NOT NULL AND lease_until > {d.now}",
        [queue],
    ).rows
    return {int(number): str(owner) for number, owner in rows}
