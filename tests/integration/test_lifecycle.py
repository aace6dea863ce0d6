"""The job lifecycle through dlq's public API, in process, on the in-memory backend (the
contract in tests/contract/ holds every backend to the same, and the runner tests run it in
real processes): delayed jobs, retries, job context, results, enqueue on commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import pytest
from django.db import transaction
from django.test import override_settings

import dlq
import dlq.testing
from dlq.backends.memory import InMemoryBackend
from dlq.conf import DjangoRuntime
from dlq.core.registry import TaskRegistry
from dlq.domain.outcome import Failed, GaveUp, Retrying, Succeeded
from dlq.exceptions import ConfigurationError
from tests.testapp import lifecycle_tasks as lt
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    lt.SEEN.clear()
    lt.FAILURES_LEFT[0] = 0


def close_to(when: datetime | None, expected: datetime, within_s: float = 5.0) -> bool:
    return when is not None and abs((when - expected).total_seconds()) <= within_s


# -- delayed jobs ---------------------------------------------------------------------------


def test_a_delayed_job_waits_in_the_backend_until_its_time(memory: InMemoryBackend) -> None:
    tasks.add.using(delay=timedelta(minutes=10))(1)
    assert memory.length("default") == 0
    assert memory.delayed_count("default") == 1
    assert close_to(memory.next_due("default"), datetime.now(UTC) + timedelta(minutes=10))
    assert memory.run_queued("default") == []
    (outcome,) = dlq.testing.run_queued("default", delayed=True)
    assert isinstance(outcome, Succeeded)
    assert outcome.result == 1


def test_run_after_and_bulk_enqueue_hold_jobs_too(memory: InMemoryBackend) -> None:
    at = datetime(2099, 1, 1, 9, tzinfo=UTC)
    tasks.add.using(run_after=at)(1)
    with tasks.add.using(delay=timedelta(seconds=30)).bulk_enqueue() as enqueue:
        enqueue(2)
        enqueue(3)
    assert memory.delayed_count("default") == 3
    assert memory.next_due("default") is not None
    assert memory.next_due("default") != at  # the bulk jobs are due first
    outcomes = dlq.testing.run_queued("default", delayed=True)
    assert sorted(cast(int, o.result) for o in outcomes if isinstance(o, Succeeded)) == [1, 2, 3]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"run_after": datetime(2099, 1, 1)}, "run_after"),  # naive: refused, not guessed
        ({"delay": timedelta(seconds=-1)}, "delay"),
        ({"delay": 10}, "delay"),
        ({"on_commit": ""}, "on_commit"),
    ],
)
def test_bad_lifecycle_options_are_refused_naming_them(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        tasks.add.using(**options)  # type: ignore[arg-type]  # wrong on purpose
    assert f"tests.testapp.tasks.add {named}" in str(caught.value)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": "3"}, "retries"),
        ({"retry_on": TimeoutError}, "retry_on"),  # a class, not a tuple of them
        ({"backoff": dlq.Backoff(base_s=0)}, "backoff"),
        ({"backoff": dlq.Backoff(min_s=10, max_s=1)}, "backoff"),
        ({"store_result": "yes"}, "store_result"),
    ],
)
def test_bad_retry_options_are_refused_at_decoration(
    options: dict[str, object], named: str
) -> None:
    def fn() -> None: ...

    with pytest.raises(ConfigurationError) as caught:
        dlq.task(registry=TaskRegistry(), **options)(fn)  # type: ignore[arg-type]  # wrong on purpose
    assert f" {named}" in str(caught.value)


# -- retries ----------------------------------------------------------------------------------


def test_a_failed_run_is_retried_after_its_backoff_with_the_same_id(
    memory: InMemoryBackend,
) -> None:
    lt.FAILURES_LEFT[0] = 2
    lt.flaky("pay")
    (first,) = memory.run_queued("default")
    assert isinstance(first, Retrying)
    assert close_to(first.run_after, datetime.now(UTC) + timedelta(seconds=60))
    assert memory.delayed_count("default") == 1
    outcomes = dlq.testing.run_queued("default", delayed=True)
    assert [type(o) for o in outcomes] == [Retrying, Succeeded]
    second = outcomes[0]
    assert isinstance(second, Retrying)  # the back-off doubles: 120 s before attempt 3
    assert close_to(second.run_after, datetime.now(UTC) + timedelta(seconds=120))
    assert isinstance(outcomes[1], Succeeded)
    assert outcomes[1].result == "pay done on attempt 3"
    assert [(attempt, delivery) for attempt, delivery, _, _ in lt.SEEN] == [(1, 1), (2, 1), (3, 1)]
    assert len({job_id for _, _, job_id, _ in lt.SEEN}) == 1
    assert {queue for *_, queue in lt.SEEN} == {"default"}


def test_after_the_last_retry_the_job_is_a_dead_letter_with_its_traceback(
    memory: InMemoryBackend,
) -> None:
    lt.FAILURES_LEFT[0] = 99
    lt.flaky("pay")
    outcomes = dlq.testing.run_queued("default", delayed=True)
    assert [type(o) for o in outcomes] == [Retrying, Retrying, Retrying, GaveUp]
    (dead,) = memory.dead_letters("default")
    assert "attempt 4, its last: builtins.TimeoutError: pay: the API timed out" in dead.reason
    assert "Traceback (most recent call last)" in dead.reason
    assert "lifecycle_tasks.py" in dead.reason
    assert memory.delayed_count("default") == 0


def test_an_exception_not_in_retry_on_fails_at_once_as_upstream(memory: InMemoryBackend) -> None:
    lt.wrong_kind_of_error()
    (outcome,) = dlq.testing.run_queued("default", delayed=True)
    assert isinstance(outcome, Failed)
    assert isinstance(outcome.exception, KeyError)
    assert memory.dead_letter_count("default") == 0
    assert memory.delayed_count("default") == 0


def test_retry_raised_by_the_task_sets_the_delay(memory: InMemoryBackend) -> None:
    lt.asks_to_retry(300)
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Retrying)
    assert close_to(outcome.run_after, datetime.now(UTC) + timedelta(seconds=300))
    # Its one retry used, the second Retry makes it a dead letter.
    assert [type(o) for o in dlq.testing.run_queued("default", delayed=True)] == [GaveUp]


def test_retry_in_a_task_without_retries_is_a_dead_letter_saying_so(
    memory: InMemoryBackend,
) -> None:
    lt.retry_without_retries()
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, GaveUp)
    (dead,) = memory.dead_letters("default")
    assert "attempt 1, its last: dlq.exceptions.Retry" in dead.reason


def test_backoff_grows_caps_and_jitters_within_bounds() -> None:
    backoff = dlq.Backoff(base_s=1, factor=2, max_s=10, min_s=0.5, jitter=False)
    assert [backoff.delay_s(n, lambda: 0.0) for n in (1, 2, 3, 4, 5, 60)] == [1, 2, 4, 8, 10, 10]
    jittered = dlq.Backoff(base_s=8, jitter=True, min_s=3)
    assert jittered.delay_s(1, lambda: 0.0) == 4.0  # the lower half of 8 s, not below 3
    assert jittered.delay_s(1, lambda: 0.999) == pytest.approx(7.996)
    assert dlq.Backoff(base_s=2, min_s=3, jitter=True).delay_s(1, lambda: 0.0) == 3


# -- job context --------------------------------------------------------------------------------


def test_current_job_outside_a_job_says_where_it_works() -> None:
    with pytest.raises(dlq.NoCurrentJobError, match="outside a running job"):
        dlq.current_job()


# -- results ----------------------------------------------------------------------------------


def test_a_kept_result_comes_back_as_its_annotated_type(memory: InMemoryBackend) -> None:
    handle = lt.receipt.enqueue([Decimal("1.50"), Decimal("2")])
    assert handle.status is dlq.JobStatus.QUEUED
    dlq.testing.run_queued("default")
    assert handle.wait(timeout=1) == lt.Receipt(total=Decimal("3.50"), items=2)
    record = dlq.get_job(handle.id)
    assert record is not None
    assert record.status is dlq.JobStatus.SUCCEEDED
    assert record.return_value == {"total": "3.50", "items": 2}
    assert (record.attempt, record.worker_ids, record.errors) == (1, ("run_queued",), ())
    assert record.args == (["1.50", "2"],)
    assert record.enqueued_at is not None
    assert record.started_at is not None
    assert record.finished_at is not None
    assert record.finished_at >= record.started_at


def test_a_return_value_that_is_not_json_fails_the_job_clearly(memory: InMemoryBackend) -> None:
    handle = lt.returns_a_set.enqueue()
    (outcome,) = dlq.testing.run_queued("default")
    assert isinstance(outcome, Failed)
    with pytest.raises(dlq.JobFailedError, match="ReturnValueError") as caught:
        handle.wait(timeout=1)
    assert "cannot be kept as its result" in caught.value.record.errors[-1].message


def test_a_record_follows_retries_to_the_dead_letter(memory: InMemoryBackend) -> None:
    handle = lt.always_fails.enqueue("no")
    memory.run_queued("default")
    waiting = handle.refresh()
    assert waiting is not None
    assert waiting.status is dlq.JobStatus.DELAYED
    assert [e.exception_class for e in waiting.errors] == ["builtins.ValueError"]
    dlq.testing.run_queued("default", delayed=True)
    dead = handle.refresh()
    assert dead is not None
    assert (dead.status, dead.attempt, len(dead.errors)) == (dlq.JobStatus.DEAD, 2, 2)
    assert "Traceback" in dead.errors[-1].traceback
    with pytest.raises(dlq.JobFailedError, match=r"dead: builtins\.ValueError: no"):
        handle.wait(timeout=1)


def test_the_setting_keeps_every_tasks_result(
    memory: InMemoryBackend, runtime: DjangoRuntime
) -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_STORE_RESULTS=True):
        runtime.reset()
        handle = tasks.add.enqueue(2, b=3)
        dlq.testing.run_queued("default")
        assert handle.wait(timeout=1) == 5


def test_without_a_kept_result_the_handle_says_so(memory: InMemoryBackend) -> None:
    handle = tasks.add.enqueue(1)
    assert len(handle.id) == 32
    assert handle.refresh() is None
    with pytest.raises(dlq.JobWaitTimeout, match="no record"):
        handle.wait(timeout=0.05)


def test_calling_a_task_still_returns_none_as_upstream(memory: InMemoryBackend) -> None:
    assert tasks.add(1) is None


# -- enqueue on commit ------------------------------------------------------------------------


def test_on_commit_enqueues_only_when_the_transaction_commits(memory: InMemoryBackend) -> None:
    with transaction.atomic():
        handle = lt.after_commit("kept")
        assert memory.length("default") == 0
    assert memory.length("default") == 1
    assert memory.waiting("default")[0].args == ("kept",)
    assert handle is None
    with transaction.atomic():
        lt.after_commit("dropped")
        transaction.set_rollback(True)
    assert memory.length("default") == 1


def test_on_commit_per_call_and_by_setting(memory: InMemoryBackend, runtime: DjangoRuntime) -> None:
    with transaction.atomic():
        tasks.add.using(on_commit="default")(1)
        assert memory.length("default") == 0
    assert memory.length("default") == 1
    with override_settings(LIGHTWEIGHT_QUEUE_ENQUEUE_ON_COMMIT=True):
        runtime.reset()
        memory = dlq.testing.backend()
        with transaction.atomic():
            handle = tasks.add.enqueue(2)
            assert memory.length("default") == 0
        assert [j.id for j in memory.waiting("default")] == [handle.id]
        tasks.add.using(on_commit=False)(3)  # a call can opt out
        assert memory.length("default") == 2


def test_an_unknown_commit_alias_is_a_check_error(runtime: DjangoRuntime) -> None:
    from django.core import checks

    with override_settings(LIGHTWEIGHT_QUEUE_ENQUEUE_ON_COMMIT="orders"):
        runtime.reset()
        found = [m for m in checks.run_checks(tags=["dlq"]) if m.id == "dlq.E008"]
    runtime.reset()
    assert [m.obj for m in found] == ["LIGHTWEIGHT_QUEUE_ENQUEUE_ON_COMMIT"]
    assert "'orders' is not a key of DATABASES (its keys: 'default'" in found[0].msg


def test_the_synchronous_backend_runs_delays_at_once_and_retries_inline(
    runtime: DjangoRuntime,
) -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_BACKEND="dlq.backends.synchronous.SynchronousBackend"):
        runtime.reset()
        lt.FAILURES_LEFT[0] = 2
        lt.flaky.using(delay=timedelta(hours=1))("now")
        assert [attempt for attempt, *_ in lt.SEEN] == [1, 2, 3]
        handle = lt.always_fails.enqueue("inline")
        record = handle.refresh()
        assert record is not None
        assert (record.status, record.attempt) == (dlq.JobStatus.DEAD, 2)
        assert lt.receipt.enqueue([Decimal(2)]).wait(timeout=0) == lt.Receipt(Decimal(2), 1)
    runtime.reset()


def test_on_commit_holds_delayed_and_bulk_calls_too(memory: InMemoryBackend) -> None:
    with transaction.atomic():
        tasks.add.using(delay=timedelta(minutes=5), on_commit=True)(1)
        with tasks.add.bulk_enqueue(on_commit=True, using="default") as enqueue:
            enqueue(2)
        assert (memory.delayed_count("default"), memory.length("default")) == (0, 0)
    assert (memory.delayed_count("default"), memory.length("default")) == (1, 1)


def test_using_names_the_alias_whose_commit_to_wait_for(memory: InMemoryBackend) -> None:
    assert tasks.add.using(on_commit=True, using="orders").on_commit == "orders"
    with pytest.raises(ConfigurationError, match="using"):
        tasks.add.using(using="orders")  # an alias without on_commit means nothing
