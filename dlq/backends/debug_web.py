"""Instead of running a job, prints the URL of a page that runs it and rolls it back.

Include ``dlq.urls`` in your URLconf (``path("dlq/", include("dlq.urls"))``) and run
with ``DEBUG = True``; the page answers 404 otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO
from urllib.parse import urlencode

from django.urls import reverse

from dlq.core.protocols import BackendContext, StopSignal
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome

__all__ = ["DebugWebBackend"]


class DebugWebBackend:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    @classmethod
    def from_context(cls, context: BackendContext) -> DebugWebBackend:
        return cls()

    def startup(self, queue: str) -> None:
        pass

    def enqueue(self, job: Job, queue: str) -> None:
        url = reverse("dlq:debug-run") + "?" + urlencode({"job": job.encode().decode("utf-8")})
        print(f"Run {job.path} at: {url}", file=self._out or sys.stdout)

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
