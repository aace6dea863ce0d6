"""Both Redis backends against a real server: delivery, order, bad payloads, ack by id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import redis

from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.keys import Keys
from dlq.core.protocols import (
    Backend,
    SupportsClaim,
    SupportsClear,
    SupportsDeadLetters,
    SupportsDeduplicate,
    SupportsInspection,
    SupportsPause,
    SupportsRelease,
    SupportsSlotLease,
)
from dlq.domain.envelope import Job, decode_job
from dlq.domain.outcome import Failed, Rejected, Succeeded
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures

Q = "jobs"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
OK = Succeeded(None, 0.0)


def job(number: int, path: str = "tests.testapp.tasks.add") -> Job:
    return Job.create(path, [number], {"n": number}, now=NOW + timedelta(seconds=number))


def keys(backend: RedisBackendBase) -> Keys:
    return Keys(backend._settings.REDIS_PREFIX)


def upstream_payload(number: int) -> bytes:
    """A job as django-lightweight-queue 4.x writes it: no id, no attempts."""
    return json.dumps(
        {
            "path": "tests.testapp.tasks.add",
            "args": [number],
            "kwargs": {},
            "timeout": None,
            "sigkill_on_stop": False,
            "created_time": "2024-01-02 03:04:05.123456",
        }
    ).encode()


def drain(backend: RedisBackendBase, worker: int = 1, queue: str = Q) -> list[Job]:
    taken = []
    while (item := backend.dequeue(queue, worker, 0.05)) is not None:
        backend.acknowledge(queue, worker, item, OK)
        taken.append(item)
    return taken


def test_both_backends_declare_every_capability(redis_backend: RedisBackendBase) -> None:
    for protocol in (
        Backend,
        SupportsPause,
        SupportsClear,
        SupportsDeduplicate,
        SupportsDeadLetters,
        SupportsClaim,
        SupportsSlotLease,
        SupportsInspection,
        SupportsRelease,
    ):
        assert isinstance(redis_backend, protocol), protocol.__name__


def test_enqueue_dequeue_acknowledge(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    original = job(1)
    redis_backend.enqueue(original, Q)
    assert redis_backend.length(Q) == 1
    taken = redis_backend.dequeue(Q, 1, 1.0)
    assert taken is not None
    assert (taken.id, taken.path, taken.args, taken.kwargs) == (
        original.id,
        original.path,
        original.args,
        original.kwargs,
    )
    assert taken.attempts == 1
    assert redis_backend.length(Q) == 0
    assert [j.id for j in redis_backend.in_progress(Q)[1]] == [original.id]
    redis_backend.acknowledge(Q, 1, taken, Failed(ValueError("boom"), 0.1))
    assert redis_backend.in_progress(Q) == {}
    assert redis_client.llen(keys(redis_backend).processing(Q, 1)) == 0
    assert redis_backend.dequeue(Q, 1, 0.05) is None
    assert redis_backend.dead_letter_count(Q) == 0


def test_keys_are_upstreams(redis_backend: RedisBackendBase, redis_client: redis.Redis) -> None:
    redis_backend.enqueue(job(1), Q)
    prefix = redis_backend._settings.REDIS_PREFIX
    assert redis_client.llen(f"{prefix}:django_lightweight_queue:{Q}") == 1
    taken = redis_backend.dequeue(Q, 4, 1.0)
    assert taken is not None
    assert redis_client.lrange(f"{prefix}:django_lightweight_queue:{Q}:processing:4", 0, -1) == [
        taken.raw
    ]


def test_bulk_and_single_enqueues_keep_their_order(redis_backend: RedisBackendBase) -> None:
    redis_backend.enqueue(job(0), Q)
    redis_backend.bulk_enqueue([job(n) for n in range(1, 2501)], Q)  # several LPUSH chunks
    redis_backend.enqueue(job(2501), Q)
    assert redis_backend.length(Q) == 2502
    assert [j.args[0] for j in drain(redis_backend)] == list(range(2502))


def test_workers_share_a_queue_without_running_a_job_twice(
    redis_backend: RedisBackendBase,
) -> None:
    redis_backend.bulk_enqueue([job(n) for n in range(300)], Q)
    other = type(redis_backend)(redis_backend._settings)
    try:
        seen: list[int] = []
        while True:
            one = redis_backend.dequeue(Q, 1, 0.05)
            two = other.dequeue(Q, 2, 0.05)
            for backend, worker, item in ((redis_backend, 1, one), (other, 2, two)):
                if item is not None:
                    seen.append(int(str(item.args[0])))
                    backend.acknowledge(Q, worker, item, OK)
            if one is None and two is None:
                break
    finally:
        other.close()
    assert sorted(seen) == list(range(300))


def test_release_gives_reserved_jobs_back_in_order(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    redis_backend.bulk_enqueue([job(n) for n in range(50)], Q)
    taken = []
    for _ in range(5):  # batches grow: 1, 2, 4, ... so some jobs are now reserved
        item = redis_backend.dequeue(Q, 1, 1.0)
        assert item is not None
        redis_backend.acknowledge(Q, 1, item, OK)
        taken.append(item.args[0])
    # (in_progress first sends the last acknowledgement, which waits for the next command)
    reserved = len(redis_backend.in_progress(Q)[1])
    assert reserved > 0
    assert redis_client.llen(keys(redis_backend).processing(Q, 1)) == reserved
    assert redis_backend.release(Q, 1) == reserved
    assert redis_client.llen(keys(redis_backend).processing(Q, 1)) == 0
    assert redis_backend.length(Q) == 45
    assert [j.args[0] for j in drain(redis_backend, worker=2)] == list(range(5, 50))
    assert taken == list(range(5))


def test_bad_payloads_are_dead_lettered_and_the_rest_run(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    """A malformed payload, an unknown task and an upstream job, between valid jobs."""
    queue_key = keys(redis_backend).queue(Q)
    malformed = b"\xff{not json"
    redis_backend.enqueue(job(1), Q)
    redis_client.lpush(queue_key, malformed)
    redis_backend.enqueue(job(2), Q)
    redis_backend.enqueue(job(3, path="no.such.task"), Q)
    redis_client.lpush(queue_key, upstream_payload(4))
    redis_backend.enqueue(job(5), Q)

    ran = []
    while (item := redis_backend.dequeue(Q, 1, 0.05)) is not None:
        if item.path == "no.such.task":  # what the worker does for an unregistered path
            redis_backend.acknowledge(Q, 1, item, Rejected("'no.such.task' is not registered"))
        else:
            redis_backend.acknowledge(Q, 1, item, OK)
            ran.append(item)

    assert [j.args[0] for j in ran] == [1, 2, 4, 5]
    legacy = ran[2]
    assert legacy.id.startswith("legacy-")
    assert legacy.raw == upstream_payload(4)
    assert legacy.attempts == 1
    letters = {letter.raw: letter for letter in redis_backend.dead_letters(Q)}
    assert len(letters) == 2
    assert "undecodable payload" in letters[malformed].reason
    assert letters[malformed].job_id is None
    (unknown,) = (letter for raw, letter in letters.items() if raw != malformed)
    assert decode_job(unknown.raw).path == "no.such.task"
    assert "not registered" in unknown.reason
    assert unknown.job_id is not None
    assert redis_backend.length(Q) == 0
    assert redis_client.llen(keys(redis_backend).processing(Q, 1)) == 0


def test_acknowledging_removes_exactly_that_job(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    """Byte-identical upstream payloads and same-argument dlq jobs are told apart."""
    queue_key = keys(redis_backend).queue(Q)
    twin = upstream_payload(7)
    redis_client.lpush(queue_key, twin, twin)
    first, second = job(8), job(8)
    redis_backend.bulk_enqueue([first, second], Q)

    taken = redis_backend.dequeue(Q, 1, 1.0)
    assert taken is not None
    assert taken.raw == twin
    redis_backend.acknowledge(Q, 1, taken, OK)
    # The other copy is still somewhere, waiting or reserved, and still runs.
    rest = drain(redis_backend)
    assert [j.raw for j in rest] == [twin, first.encode(), second.encode()]
    assert [j.id for j in rest[1:]] == [first.id, second.id]
    assert redis_client.llen(keys(redis_backend).processing(Q, 1)) == 0


def test_dead_letters_list_requeue_purge(redis_backend: RedisBackendBase) -> None:
    buried = []
    for number in range(4):
        redis_backend.enqueue(job(number), Q)
        item = redis_backend.dequeue(Q, 1, 1.0)
        assert item is not None
        redis_backend.acknowledge(Q, 1, item, Rejected(f"reason {number}"))
        buried.append(item)
    letters = redis_backend.dead_letters(Q)
    assert [letter.job_id for letter in letters] == [j.id for j in reversed(buried)]
    assert letters[0].reason == "rejected: reason 3"
    assert letters[0].failed_at.tzinfo is not None
    assert [letter.job_id for letter in redis_backend.dead_letters(Q, limit=2)] == [
        buried[3].id,
        buried[2].id,
    ]
    assert redis_backend.requeue_dead_letters(Q, [buried[1].id, "unknown"]) == 1
    assert redis_backend.dead_letter_count(Q) == 3
    (again,) = drain(redis_backend)
    assert (again.id, again.attempts) == (buried[1].id, 1)
    assert redis_backend.requeue_dead_letters(Q) == 3
    assert [j.id for j in drain(redis_backend)] == [buried[0].id, buried[2].id, buried[3].id]
    redis_backend.enqueue(job(9), Q)
    item = redis_backend.dequeue(Q, 1, 1.0)
    assert item is not None
    redis_backend.acknowledge(Q, 1, item, Rejected("no"))
    assert redis_backend.purge_dead_letters(Q) == 1
    assert redis_backend.dead_letter_count(Q) == 0


def test_undecodable_dead_letters_are_not_requeued(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    redis_client.lpush(keys(redis_backend).queue(Q), b"garbage")
    assert redis_backend.dequeue(Q, 1, 0.05) is None
    assert redis_backend.dead_letter_count(Q) == 1
    assert redis_backend.requeue_dead_letters(Q) == 0
    assert redis_backend.dead_letters(Q)[0].raw == b"garbage"


def test_claims_are_set_nx_with_a_ttl(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    assert redis_backend.claim("cron:2026-01-01T00:00", 60) is True
    assert redis_backend.claim("cron:2026-01-01T00:00", 60) is False
    assert 0 < redis_client.ttl(keys(redis_backend).claim("cron:2026-01-01T00:00")) <= 60


def test_slot_leases(redis_backend: RedisBackendBase, redis_client: redis.Redis) -> None:
    assert redis_backend.acquire_slot(Q, 1, "host-a:1", 30)
    assert redis_backend.acquire_slot(Q, 1, "host-a:1", 30)  # its owner may take it again
    assert not redis_backend.acquire_slot(Q, 1, "host-b:2", 30)
    assert not redis_backend.renew_slot(Q, 1, "host-b:2", 30)
    assert redis_backend.renew_slot(Q, 1, "host-a:1", 0.5)
    assert 0 < redis_client.pttl(keys(redis_backend).lease(Q, 1)) <= 500
    redis_backend.release_slot(Q, 1, "host-b:2")  # not its lease: nothing happens
    assert redis_client.get(keys(redis_backend).lease(Q, 1)) == b"host-a:1"
    redis_backend.release_slot(Q, 1, "host-a:1")
    assert redis_backend.acquire_slot(Q, 1, "host-b:2", 30)
