"""Job records kept in a dict, for the backends whose state lives in the process
(in memory, synchronous): :class:`~dlq.core.protocols.SupportsResults` without a store."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from dlq.core.protocols import Clock
from dlq.domain.job_record import JobRecord

__all__ = ["RecordTable"]


class RecordTable:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: dict[str, tuple[JobRecord, datetime]] = {}
        self._lock = threading.Lock()

    def save_record(self, record: JobRecord, ttl_s: int) -> None:
        with self._lock:
            self._records[record.id] = (record, self._clock() + timedelta(seconds=ttl_s))

    def get_record(self, job_id: str) -> JobRecord | None:
        with self._lock:
            found = self._records.get(job_id)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def prune_records(self) -> int:
        now = self._clock()
        with self._lock:
            expired = [key for key, (_, until) in self._records.items() if until <= now]
            for key in expired:
                del self._records[key]
        return len(expired)
