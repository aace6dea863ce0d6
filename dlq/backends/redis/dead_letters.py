"""Dead letters in Redis: how one is stored, and listing, requeueing and purging them.

A dead letter is one list element: a one-line JSON header, a newline, then the payload
exactly as it was queued (any bytes, undecodable ones included)::

    {"reason":"...","failed_at":"2026-01-02T03:04:05.678901+00:00","job_id":"..."}\\n<raw>

The list is per queue (``…:{<queue>}:dead``), newest first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import redis

from dlq.backends.redis.connection import as_bytes_list, as_int
from dlq.backends.redis.scripts import CLEAR, REQUEUE, run_script
from dlq.domain.dead_letter import DeadLetter
from dlq.domain.envelope import decode_job, encode_job
from dlq.exceptions import PayloadError

__all__ = [
    "decode_entry",
    "encode_entry",
    "list_dead_letters",
    "purge_dead_letters",
    "requeue_dead_letters",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_entry(raw: bytes, reason: str, failed_at: datetime, job_id: str | None) -> bytes:
    header = json.dumps(
        {
            "reason": reason,
            "failed_at": failed_at.astimezone(UTC).isoformat(),
            "job_id": job_id,
        },
        separators=(",", ":"),
    )
    return header.encode("utf-8") + b"\n" + raw


def decode_entry(queue: str, entry: bytes) -> DeadLetter:
    """The dead letter in ``entry``; one whose header is unreadable is shown as such."""
    header, _, raw = entry.partition(b"\n")
    try:
        meta = json.loads(header)
        reason, job_id = str(meta["reason"]), meta.get("job_id")
        failed_at = datetime.fromisoformat(str(meta["failed_at"]))
    except (ValueError, KeyError, TypeError):
        return DeadLetter(queue, entry, "unreadable dead-letter entry", _EPOCH)
    return DeadLetter(queue, raw, reason, failed_at, job_id if isinstance(job_id, str) else None)


def list_dead_letters(client: redis.Redis, key: str, queue: str, limit: int) -> list[DeadLetter]:
    if limit <= 0:
        return []
    entries = as_bytes_list(client.lrange(key, 0, limit - 1))
    return [decode_entry(queue, entry) for entry in entries]


def requeue_dead_letters(
    client: redis.Redis,
    dead_key: str,
    queue_key: str,
    queue: str,
    job_ids: Collection[str] | None,
    *,
    page_size: int,
) -> int:
    """Move dead letters (all, or those of ``job_ids``) to the queue's head, oldest first.

    Each goes back with ``attempts`` reset to 0, so it gets a full set of deliveries.
    Undecodable payloads stay: running them again cannot help. Pages from the oldest end,
    so dead letters added meanwhile (at the newest end) do not shift the pages.
    """
    wanted: Callable[[str], bool] = (
        (lambda _job_id: True) if job_ids is None else set(job_ids).__contains__
    )
    kept = moved = 0
    while True:
        page = as_bytes_list(client.lrange(dead_key, -(kept + page_size), -(kept + 1)))
        if not page:
            return moved
        pairs: list[bytes] = []
        for entry in reversed(page):
            letter = decode_entry(queue, entry)
            payload = _requeueable(letter) if letter.job_id and wanted(letter.job_id) else None
            if payload is None:
                kept += 1
            else:
                pairs += [entry, payload]
        if pairs:
            moved += as_int(run_script(client, REQUEUE, [dead_key, queue_key], pairs))
        if len(page) < page_size:
            return moved


def _requeueable(letter: DeadLetter) -> bytes | None:
    try:
        job = decode_job(letter.raw)
    except PayloadError:
        return None
    return encode_job(job.replace(attempts=0))


def purge_dead_letters(client: redis.Redis, key: str) -> int:
    return as_int(run_script(client, CLEAR, [key], []))
