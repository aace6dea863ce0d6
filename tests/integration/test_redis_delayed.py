"""Delayed jobs, retries and job records on the Redis backends, beyond the contract:
promotion under concurrency, and what the queue's other operations do to held jobs.

The backends take their clock as an argument, so "an hour later" is a clock set an hour
ahead, never a wait.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.delayed import due_time, score_of
from dlq.backends.redis.keys import Keys
from dlq.core.settings import QueueSettings
from dlq.domain.envelope import Job, decode_job
from dlq.domain.job_record import JobRecord
from dlq.domain.outcome import Retrying, Succeeded
from tests.integration.redis_fixtures import BACKEND_CLASSES
from tests.services import require_redis

pytestmark = pytest.mark.redis

QUEUE = "held"
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(params=sorted(BACKEND_CLASSES))
def make(
    request: pytest.FixtureRequest, redis_settings: QueueSettings
) -> Iterator[Callable[[datetime], RedisBackendBase]]:
    """Backends of one kind on the test's prefix, each with a clock stopped at a given time."""
    made: list[RedisBackendBase] = []

    def backend(now: datetime) -> RedisBackendBase:
        made.append(BACKEND_CLASSES[request.param](redis_settings, clock=lambda: now))
        return made[-1]

    yield backend
    for each in made:
        each.close()


def job(number: int, run_after: datetime | None) -> Job:
    return Job.create("tests.testapp.tasks.add", [number], {}, now=T0, run_after=run_after)


def test_concurrent_promotions_move_each_due_job_once_in_due_order(
    make: Callable[[datetime], RedisBackendBase], redis_client: redis.Redis, redis_prefix: str
) -> None:
    count = 5000
    enqueuer = make(T0)
    # Due one microsecond apart, enqueued out of order: the list must come out in due order.
    jobs = [job(n, T0 + timedelta(minutes=1, microseconds=n)) for n in range(count)]
    enqueuer.bulk_enqueue(jobs[1::2] + jobs[0::2], QUEUE)
    assert enqueuer.delayed_count(QUEUE) == count
    assert enqueuer.length(QUEUE) == 0

    promoters = [make(T0 + HOUR), make(T0 + HOUR)]
    moved = [0, 0]
    start = threading.Barrier(2)

    def promote(index: int) -> None:
        start.wait()
        while (done := promoters[index].promote_due(QUEUE)) > 0:
            moved[index] += done

    threads = [threading.Thread(target=promote, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sum(moved) == count
    assert enqueuer.delayed_count(QUEUE) == 0
    assert enqueuer.next_due(QUEUE) is None
    # The list's tail is taken first: read it from there.
    key = Keys(redis_prefix).queue(QUEUE)
    payloads = redis_client.lrange(key, 0, -1)[::-1]
    taken = [decode_job(raw).args[0] for raw in payloads]
    assert Counter(taken) == Counter(range(count))
    assert taken == list(range(count))


def test_a_promoted_job_waits_behind_the_jobs_already_queued(
    make: Callable[[datetime], RedisBackendBase],
) -> None:
    backend = make(T0)
    backend.enqueue(job(1, T0 + timedelta(minutes=1)), QUEUE)
    backend.enqueue(job(2, None), QUEUE)
    later = make(T0 + HOUR)
    assert later.promote_due(QUEUE) == 1
    later.enqueue(job(3, None), QUEUE)
    order = []
    while (taken := later.dequeue(QUEUE, 1, 0.05)) is not None:
        order.append(taken.args[0])
        later.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
    assert order == [2, 1, 3]


def test_a_job_due_only_later_is_not_promoted(
    make: Callable[[datetime], RedisBackendBase],
) -> None:
    backend = make(T0)
    backend.bulk_enqueue([job(1, T0 + timedelta(seconds=1)), job(2, T0 + HOUR)], QUEUE)
    assert backend.promote_due(QUEUE) == 0
    assert make(T0 + timedelta(seconds=1)).promote_due(QUEUE) == 1
    assert backend.delayed_count(QUEUE) == 1
    assert backend.next_due(QUEUE) == T0 + HOUR


def test_queue_operations_leave_held_jobs_alone(
    make: Callable[[datetime], RedisBackendBase],
) -> None:
    backend = make(T0)
    held = job(1, T0 + HOUR)
    twin = job(1, T0 + HOUR)  # identical but for id: deduplicate would drop one if it looked
    backend.bulk_enqueue([held, twin, job(2, None)], QUEUE)

    backend.startup(QUEUE)
    assert backend.deduplicate(QUEUE) == (1, 1)
    assert [decode_job(raw).args for raw in backend.waiting_page(QUEUE, 0, 10)] == [(2,)]
    assert backend.clear(QUEUE) == 1

    assert backend.delayed_count(QUEUE) == 2
    assert make(T0 + HOUR).promote_due(QUEUE) == 2
    assert {taken.id for taken in _drain(backend)} == {held.id, twin.id}


def test_a_retry_left_in_a_processing_list_by_a_lost_acknowledgement_is_held_once(
    make: Callable[[datetime], RedisBackendBase],
) -> None:
    """Acknowledging twice is what redoing an acknowledgement whose reply was lost does."""
    backend = make(T0)
    backend.enqueue(job(1, None), QUEUE)
    taken = backend.dequeue(QUEUE, 1, 1.0)
    assert taken is not None
    retrying = Retrying(RuntimeError("no"), 0.1, T0 + timedelta(minutes=5))
    backend.acknowledge(QUEUE, 1, taken, retrying)
    backend.acknowledge(QUEUE, 1, taken, retrying)
    assert backend.delayed_count(QUEUE) == 1
    assert backend.in_progress(QUEUE) == {}
    (retried,) = _drain(make(T0 + HOUR), promote=True)
    assert (retried.id, retried.retry, retried.attempts) == (taken.id, 1, 1)


def test_a_retry_already_due_goes_straight_to_the_queue(
    make: Callable[[datetime], RedisBackendBase],
) -> None:
    backend = make(T0)
    backend.enqueue(job(1, None), QUEUE)
    taken = backend.dequeue(QUEUE, 1, 1.0)
    assert taken is not None
    backend.acknowledge(QUEUE, 1, taken, Retrying(RuntimeError("no"), 0.1, T0))
    assert backend.delayed_count(QUEUE) == 0
    assert backend.length(QUEUE) == 1


def test_the_runners_bounded_view_promotes_too(
    make: Callable[[datetime], RedisBackendBase],
) -> None:
    backend = make(T0 + HOUR)
    backend.enqueue(job(1, T0 + HOUR + timedelta(seconds=1)), QUEUE)
    view = make(T0 + 2 * HOUR).with_call_deadline(1.0)
    assert view.delayed_count(QUEUE) == 1
    assert view.promote_due(QUEUE) == 1
    assert view.next_due(QUEUE) is None
    assert backend.length(QUEUE) == 1


def test_a_corrupt_job_record_reads_as_none_with_a_warning(
    make: Callable[[datetime], RedisBackendBase],
    redis_client: redis.Redis,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = make(T0)
    key = Keys(redis_prefix).record("job-1")
    redis_client.set(key, b'{"id": "job-1", "status": "nonsense"')
    with caplog.at_level(logging.WARNING):
        assert backend.get_record("job-1") is None
    assert f"job record {key} cannot be read" in caplog.text
    redis_client.set(key, b"\xff\x00not json at all")
    assert backend.get_record("job-1") is None


def test_a_record_needs_a_positive_ttl(make: Callable[[datetime], RedisBackendBase]) -> None:
    record = JobRecord.queued(job(1, None).replace(store_result=True), QUEUE)
    with pytest.raises(ValueError, match=r"ttl_s must be .* not 0"):
        make(T0).save_record(record, 0)


def _drain(backend: RedisBackendBase, *, promote: bool = False) -> list[Job]:
    if promote:
        backend.promote_due(QUEUE)
    taken = []
    while (one := backend.dequeue(QUEUE, 1, 0.05)) is not None:
        taken.append(one)
        backend.acknowledge(QUEUE, 1, one, Succeeded(None, 0.0))
    return taken


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2105, 12, 31), timezones=st.just(UTC)
        ),
        min_size=1,
        max_size=20,
        unique=True,
    )
)
def test_scores_order_as_the_times_do_and_read_back_to_the_microsecond(
    times: list[datetime],
) -> None:
    client = require_redis()
    key = f"dlq-test-scores-{uuid.uuid4().hex}"
    try:
        client.zadd(key, {when.isoformat(): score_of(when) for when in times})
        read: object = client.zrange(key, 0, -1, withscores=True)
    finally:
        client.delete(key)
        client.close()
    assert isinstance(read, list)
    pairs = [(datetime.fromisoformat(member.decode()), float(score)) for member, score in read]
    assert [when for when, _score in pairs] == sorted(times)
    assert all(due_time(score) == when for when, score in pairs)
