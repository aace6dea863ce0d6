"""Enqueueing through Django's connection, so that a job joins the caller's transaction.

Inside ``transaction.atomic()`` a job becomes visible to workers when the transaction
commits, and vanishes if it rolls back. On PostgreSQL the same statement NOTIFYs the
queue's channel, and PostgreSQL delivers a notification only when its transaction
commits: idle workers wake for committed jobs only.

A job with a ``run_after`` is inserted delayed (``is_delayed``, due at ``available_at``),
even when that time has passed: the next promotion (a claim's, or the runner's every
0.25 s) makes it claimable. So plain jobs keep their statement unchanged, and a bulk
enqueue writes its plain jobs first, then its delayed ones; among due jobs the claim
order is ``available_at``, i.e. when each became due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from django.db import DatabaseError, connections

from dlq.backends.database.connection import DatabaseTarget, check_name
from dlq.backends.database.schema import MAX_NAME_LENGTH, MAX_PAYLOAD_BYTES, notify_channel
from dlq.backends.database.sql import Dialect
from dlq.domain.envelope import Job, encode_jobs
from dlq.exceptions import BackendError, TaskArgumentError

__all__ = ["Enqueuer"]

#: Rows per INSERT, and bytes of payload per INSERT (under MariaDB's default 16 MiB
#: ``max_allowed_packet``, with room for the rest of the statement).
CHUNK_ROWS = {"postgresql": 1000, "mysql": 1000, "sqlite": 400}
CHUNK_BYTES = 4 * 1024 * 1024


class Enqueuer:
    def __init__(self, target: DatabaseTarget, dialect: Dialect) -> None:
        self._target = target
        self._d = dialect
        self._notify = dialect.vendor == "postgresql"
        self._sql = cache(lambda count: dialect.insert_jobs(count, notify=self._notify))
        self._delayed_sql = cache(
            lambda count: dialect.insert_jobs(count, notify=False, delayed=True)
        )

    def enqueue(self, jobs: Sequence[Job], queue: str) -> None:
        """Insert ``jobs`` in order; nothing is written if any of them is too large."""
        check_name("queue name", queue, MAX_NAME_LENGTH)
        payloads = [payload.decode("utf-8") for payload in encode_jobs(jobs)]
        for job, payload in zip(jobs, payloads, strict=True):
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise TaskArgumentError(
                    f"{job}: its arguments make a payload of {len(payload):,} bytes; the"
                    f" database backend takes at most {MAX_PAYLOAD_BYTES:,} per job. Pass"
                    " the id of a row that holds the data instead"
                )
        limit = CHUNK_ROWS[self._d.vendor]
        channel: list[str | datetime] = [notify_channel(queue)] if self._notify else []
        plain = [p for job, p in zip(jobs, payloads, strict=True) if job.run_after is None]
        delayed = [
            (p, self._d.time_param(job.run_after))
            for job, p in zip(jobs, payloads, strict=True)
            if job.run_after is not None
        ]
        try:
            with connections[self._target.alias].cursor() as cursor:
                for chunk in _chunks(plain, limit):
                    params: list[str | datetime] = []
                    for payload in chunk:
                        params += [queue, payload]
                    cursor.execute(self._sql(len(chunk)), params + channel)
                if delayed:
                    # Not due yet, or due by the next promotion, which wakes workers.
                    times = dict(delayed)
                    for chunk in _chunks([p for p, _when in delayed], limit):
                        params = []
                        for payload in chunk:
                            params += [queue, payload, times[payload]]
                        cursor.execute(self._delayed_sql(len(chunk)), params)
        except DatabaseError as exc:
            what = f"{jobs[0]}" if len(jobs) == 1 else f"{len(jobs)} jobs"
            raise BackendError(
                f"enqueueing {what} on {queue!r} in the {self._target.label}: {exc}"
            ) from exc


def _chunks(payloads: list[str], limit: int) -> list[list[str]]:
    chunks: list[list[str]] = []
    chunk: list[str] = []
    size = 0
    for payload in payloads:
        if chunk and (len(chunk) >= limit or size + len(payload) > CHUNK_BYTES):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(payload)
        size += len(payload)
    if chunk:
        chunks.append(chunk)
    return chunks
