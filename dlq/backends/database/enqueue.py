"""Enqueueing through Django's connection, so that a job joins the caller's transaction.

Inside ``transaction.atomic()`` a job becomes visible to workers when the transaction
commits, and vanishes if it rolls back. On PostgreSQL the same statement NOTIFYs the
queue's channel, and PostgreSQL delivers a notification only when its transaction
commits: idle workers wake for committed jobs only.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        channel = [notify_channel(queue)] if self._notify else []
        try:
            with connections[self._target.alias].cursor() as cursor:
                for chunk in _chunks(payloads, limit):
                    params: list[str] = []
                    for payload in chunk:
                        params += [queue, payload]
                    cursor.execute(self._sql(len(chunk)), params + channel)
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
