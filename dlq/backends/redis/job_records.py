"""Job records on Redis (``SupportsResults``): one string per job id that expires by itself.

``…:record:<job id>`` (:mod:`.keys`) holds :meth:`JobRecord.encode
<dlq.domain.job_record.JobRecord.encode>`'s JSON, written whole with ``SET … EX ttl_s`` at
each step (queued, started, ended): every write restarts the retention period, so a record
is kept that long after its last change, and Redis forgets it then, with nothing to prune.
A value that does not decode (written by something else, or damaged) reads as no record,
with a warning naming the key: a status page must not crash on it.
"""

from __future__ import annotations

import logging

import redis

from dlq.backends.redis.keys import Keys
from dlq.domain.job_record import JobRecord, decode_record
from dlq.exceptions import PayloadError

__all__ = ["get_record", "save_record"]


def save_record(client: redis.Redis, keys: Keys, record: JobRecord, ttl_s: int) -> None:
    if ttl_s < 1:
        raise ValueError(
            f"job record of {record.id}: ttl_s must be a whole number of seconds >= 1,"
            f" not {ttl_s!r}"
        )
    client.set(keys.record(record.id), record.encode(), ex=ttl_s)


def get_record(
    client: redis.Redis, keys: Keys, job_id: str, logger: logging.Logger
) -> JobRecord | None:
    key = keys.record(job_id)
    raw = client.get(key)
    if raw is None:
        return None
    try:
        return decode_record(raw)
    except PayloadError as exc:
        # The reason's start only: the rest may quote the record's arguments (personal data).
        logger.warning(
            "job record %s cannot be read, so it counts as missing: %.120s", key, exc.reason
        )
        return None
