"""Instead of running a job, prints the URL of a page that runs it and rolls it back.

Include ``dlq.urls`` in your URLconf (``path("dlq/", include("dlq.urls"))``) and run
with ``DEBUG = True``; the page answers 404 otherwise.

A delayed job's URL is printed at once, with the time it was due (the page runs it when
asked); a run that would be retried says so on the page, and nothing is queued again.
Records of jobs that keep their result are kept in the process as QUEUED (the page's
run is rolled back, so it writes none).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO
from urllib.parse import urlencode

from django.urls import reverse

from dlq.backends.record_table import RecordTable
from dlq.core.clock import utc_now
from dlq.core.protocols import BackendContext, StopSignal
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import Outcome

__all__ = ["DebugWebBackend"]


class DebugWebBackend:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._records = RecordTable(utc_now)

    @classmethod
    def from_context(cls, context: BackendContext) -> DebugWebBackend:
        return cls()

    def startup(self, queue: str) -> None:
        pass

    def enqueue(self, job: Job, queue: str) -> None:
        url = reverse("dlq:debug-run") + "?" + urlencode({"job": job.encode().decode("utf-8")})
        due = "" if job.run_after is None else f" (due {job.run_after.isoformat(' ')})"
        print(f"Run {job.path}{due} at: {url}", file=self._out or sys.stdout)

    def save_record(self, record: JobRecord, ttl_s: int) -> None:
        self._records.save_record(record, ttl_s)

    def get_record(self, job_id: str) -> JobRecord | None:
        return self._records.get_record(job_id)

    def prune_records(self) -> int:
        return self._records.prune_records()

    def bulk_enqueue(self, jobs: Sequence[Job], queue: str) -> None:
        for job in jobs:
            self.enqueue(job, queue)

    def dequeue(
        self, queue: str, worker_number: int, timeout_s: float, *, stop: StopSignal | None = None
    ) -> Job | None:
        return None

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        pass

    def length(self, queue: str) -> int:
        return 0
