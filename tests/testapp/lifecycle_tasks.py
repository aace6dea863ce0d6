"""Tasks for the in-process lifecycle tests (tests/integration/test_lifecycle.py): retries,
results and job context. Imported by those tests, so registered in their process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import dlq
from dlq import task

#: What each run saw: (attempt, delivery, job id, queue), appended by ``flaky``.
SEEN: list[tuple[int, int, str, str]] = []
#: How many times ``flaky`` raises before it succeeds.
FAILURES_LEFT: list[int] = [0]


@dataclass
class Receipt:
    total: Decimal
    items: int


@task(retries=3, retry_on=(TimeoutError,), backoff=dlq.Backoff(base_s=60, jitter=False))
def flaky(label: str) -> str:
    job = dlq.current_job()
    SEEN.append((job.attempt, job.delivery, job.id, job.queue))
    if FAILURES_LEFT[0] > 0:
        FAILURES_LEFT[0] -= 1
        raise TimeoutError(f"{label}: the API timed out")
    return f"{label} done on attempt {job.attempt}"


@task(retries=3, retry_on=(TimeoutError,))
def wrong_kind_of_error() -> None:
    raise KeyError("not retried")


@task(retries=1)
def asks_to_retry(delay_s: float) -> None:
    raise dlq.Retry(delay=timedelta(seconds=delay_s), reason="not yet")


@task()
def retry_without_retries() -> None:
    raise dlq.Retry(delay=1)


@task(store_result=True)
def receipt(prices: list[Decimal]) -> Receipt:
    return Receipt(total=sum(prices, Decimal(0)), items=len(prices))


@task(store_result=True)
def returns_a_set() -> object:
    return {1, 2}


@task(store_result=True, retries=1, backoff=dlq.Backoff(base_s=0.01, jitter=False))
def always_fails(message: str) -> None:
    raise ValueError(message)


@task(on_commit=True)
def after_commit(label: str) -> None: ...
