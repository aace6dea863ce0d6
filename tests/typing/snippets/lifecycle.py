# Checked by tests/typing/test_typing_promises.py, not by the main mypy run: a line with an
# expectation comment must get exactly that error or note, and every other line none.
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dlq
from dlq import task


@task(store_result=True, retries=3, retry_on=(TimeoutError,), backoff=dlq.Backoff(base_s=2))
def total(prices: list[Decimal]) -> Decimal:
    return sum(prices, Decimal(0))


handle = total.enqueue([Decimal("1.5")])
reveal_type(handle)  # N: Revealed type is "dlq.core.results.JobHandle[decimal.Decimal]"
reveal_type(handle.wait(timeout=5))  # N: Revealed type is "decimal.Decimal"
reveal_type(dlq.get_job(handle.id))  # N: Revealed type is "dlq.domain.job_record.JobRecord | None"
reveal_type(dlq.current_job().attempt)  # N: Revealed type is "int"
total.using(delay=timedelta(minutes=10))([Decimal(1)])
total.using(run_after=datetime(2030, 1, 1, tzinfo=UTC), on_commit="default")([Decimal(1)])
total.using(delay=600)  # E: Argument "delay" to "using" of "Task" has incompatible type "int"; expected "timedelta | None"  [arg-type]
total.enqueue(["1.5"])  # E: List item 0 has incompatible type "str"; expected "Decimal"  [list-item]
@task(retries="3")  # E: Argument "retries" to "task" has incompatible type "str"; expected "int"  [arg-type]
def wrong() -> None: ...
