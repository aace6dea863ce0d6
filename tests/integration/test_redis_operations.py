"""Queue operations on both Redis backends: pause, clear, deduplicate, startup, status."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis

from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.recovery import marker_of
from dlq.backends.redis.scripts import DEDUPLICATE, run_script
from dlq.domain.envelope import Job
from dlq.domain.outcome import Succeeded
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures

Q = "ops"
NOW = datetime(2026, 1, 2, tzinfo=UTC)
OK = Succeeded(None, 0.0)


def now() -> datetime:
    return datetime.now(UTC)


def job(number: int, *, at: int = 0) -> Job:
    return Job.create("tests.testapp.tasks.add", [number], {}, now=NOW + timedelta(seconds=at))


def keys(backend: RedisBackendBase) -> Keys:
    return Keys(backend._settings.REDIS_PREFIX)


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def drain(backend: RedisBackendBase, worker: int = 1) -> list[Job]:
    taken = []
    while (item := backend.dequeue(Q, worker, 0.05)) is not None:
        backend.acknowledge(Q, worker, item, OK)
        taken.append(item)
    return taken


# pause


def test_pause_resume_and_upstream_compatible_key(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    redis_backend.enqueue(job(1), Q)
    until = now() + timedelta(hours=1)
    redis_backend.pause(Q, until)
    assert redis_backend.paused_until(Q) == until
    pause_key = keys(redis_backend).pause(Q)
    assert redis_client.get(pause_key) == until.isoformat(" ").encode()  # upstream's value
    assert 0 < redis_client.pttl(pause_key) <= 3_600_000
    assert redis_backend.dequeue(Q, 1, 0.1) is None
    redis_backend.resume(Q)
    assert redis_backend.paused_until(Q) is None
    assert [j.args[0] for j in drain(redis_backend)] == [1]


def test_a_sub_second_pause_expires_by_itself(redis_backend: RedisBackendBase) -> None:
    redis_backend.enqueue(job(1), Q)
    redis_backend.pause(Q, now() + timedelta(milliseconds=300))
    assert redis_backend.dequeue(Q, 1, 0.0) is None
    taken = None
    for _ in range(200):
        taken = redis_backend.dequeue(Q, 1, 0.05)
        if taken is not None:
            break
    assert taken is not None
    assert redis_backend.paused_until(Q) is None


def test_pause_needs_an_aware_time_in_the_future(redis_backend: RedisBackendBase) -> None:
    with pytest.raises(ValueError, match="time zone"):
        redis_backend.pause(Q, datetime(2999, 1, 1))  # the point of the test
    with pytest.raises(ValueError, match="not in the future"):
        redis_backend.pause(Q, now() - timedelta(seconds=1))


def test_no_job_starts_after_pause_returns(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    """A busy worker with prefetched jobs starts nothing between pause() and resume()."""
    redis_backend.bulk_enqueue([job(n) for n in range(20_000)], Q)
    worker = type(redis_backend)(redis_backend._settings)
    starts: list[float] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            item = worker.dequeue(Q, 1, 0.05)
            if item is not None:
                starts.append(time.monotonic())
                worker.acknowledge(Q, 1, item, OK)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        wait_for(lambda: len(starts) >= 500)  # well into its stride, with a batch reserved
        redis_backend.pause(Q, now() + timedelta(hours=1))
        paused_at = time.monotonic()
        time.sleep(0.3)
        resumed_at = time.monotonic()
        redis_backend.resume(Q)
        wait_for(lambda: len([t for t in starts if t > resumed_at]) >= 10)
    finally:
        stop.set()
        thread.join()
        worker.close()
    assert [t for t in starts if paused_at < t < resumed_at] == []
    assert len(starts) + redis_backend.length(Q) == 20_000


# clear


def test_clear_removes_waiting_and_reserved_jobs(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    redis_backend.bulk_enqueue([job(n) for n in range(100)], Q)
    for _ in range(4):
        item = redis_backend.dequeue(Q, 1, 1.0)
        assert item is not None
        redis_backend.acknowledge(Q, 1, item, OK)
    running = redis_backend.dequeue(Q, 1, 1.0)
    assert running is not None
    reserved = redis_client.llen(keys(redis_backend).processing(Q, 1)) - 1
    assert reserved > 0
    assert redis_backend.clear(Q) == 100 - 5  # waiting, and reserved but not started
    assert redis_client.llen(keys(redis_backend).processing(Q, 1)) == 1
    assert redis_backend.length(Q) == 0
    assert [j.id for j in redis_backend.in_progress(Q)[1]] == [running.id]  # it runs on
    redis_backend.acknowledge(Q, 1, running, OK)
    assert redis_backend.dequeue(Q, 1, 0.05) is None  # the reserved ones are gone too


# deduplicate


def test_deduplicate_keeps_the_oldest_copy_in_pages(redis_backend: RedisBackendBase) -> None:
    jobs = [job(n % 7, at=n) for n in range(40)]  # 7 distinct jobs, oldest first
    redis_backend.bulk_enqueue(jobs, Q)
    progress: list[tuple[int, int]] = []
    assert redis_backend.deduplicate(
        Q, progress=lambda done, total: progress.append((done, total)), page_size=3
    ) == (40, 7)
    assert [j.id for j in drain(redis_backend)] == [j.id for j in jobs[:7]]
    assert len(progress) >= 40 // 3
    assert progress[-1] == (40, 40)
    assert all(done <= total for done, total in progress)


def test_deduplicate_ignores_id_created_time_and_attempts(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    original = job(1)
    redis_backend.bulk_enqueue(
        [original, job(1, at=60).replace(attempts=2), job(2), job(1).replace(timeout=5)], Q
    )
    redis_client.lpush(keys(redis_backend).queue(Q), b"not json")  # left alone
    assert redis_backend.deduplicate(Q) == (5, 4)
    left = redis_client.lrange(keys(redis_backend).queue(Q), 0, -1)
    assert b"not json" in left
    assert original.encode() in left


def test_deduplicate_is_safe_with_enqueues_and_workers_meanwhile(
    redis_backend: RedisBackendBase,
) -> None:
    """Jobs enqueued and taken while it pages never make it drop a non-duplicate."""
    first = [job(n % 10, at=n) for n in range(60)]
    redis_backend.bulk_enqueue(first, Q)
    added: list[Job] = []
    taken: list[Job] = []

    def meanwhile(done: int, total: int) -> None:
        more = [job(5, at=100 + done), job(1000 + done, at=100 + done)]  # a copy, a new job
        redis_backend.bulk_enqueue(more, Q)
        added.extend(more)
        item = redis_backend.dequeue(Q, 1, 0.05)  # a worker takes the oldest
        if item is not None:
            redis_backend.acknowledge(Q, 1, item, OK)
            taken.append(item)

    before, _ = redis_backend.deduplicate(Q, progress=meanwhile, page_size=4)
    assert before == 60
    left = drain(redis_backend)
    survivors = {item.id for item in left + taken}
    assert len(survivors) == len(left) + len(taken), "no job ran twice"
    identities = {item.identity() for item in first + added}
    assert identities == {item.identity() for item in left + taken}, "each distinct job runs"
    assert {item.id for item in added if item.args[0] != 5} <= survivors
    assert len(survivors) < len(first) + len(added), "duplicates were removed"


def test_deduplication_never_removes_a_copy_whose_twin_is_gone(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    """The script's own guard: the keeper was taken by a worker after the page was read."""
    key = keys(redis_backend).queue(Q)
    older, newer = job(1).encode(), job(1, at=9).encode()
    redis_client.lpush(key, newer)  # the older copy is no longer waiting
    assert run_script(redis_client, DEDUPLICATE, [key], [newer, older]) == 0
    twin = b'{"path":"a.b","args":[],"kwargs":{}}'
    redis_client.lpush(key, twin)
    assert run_script(redis_client, DEDUPLICATE, [key], [twin, twin]) == 0  # only one copy
    redis_client.lpush(key, twin)
    assert run_script(redis_client, DEDUPLICATE, [key], [twin, twin]) == 1
    assert redis_client.lrange(key, 0, -1) == [twin, newer]


# startup and status


def _seed_slot(
    client: redis.Redis, k: Keys, worker: int, jobs: list[Job], *, started: Job | None
) -> None:
    """A slot as a process left it: ``jobs`` taken (oldest first), ``started`` running."""
    client.lpush(k.processing(Q, worker), *[item.encode() for item in jobs])
    if started is not None:
        client.set(k.started(Q, worker), marker_of(started.encode()))


def test_startup_returns_jobs_of_unleased_slots_only(
    redis_backend: RedisBackendBase, redis_client: redis.Redis
) -> None:
    k = keys(redis_backend)
    live = [job(1), job(2)]
    dead = [job(3), job(4), job(5)]
    _seed_slot(redis_client, k, 1, live, started=live[0])
    assert redis_backend.acquire_slot(Q, 1, "runner-elsewhere", 30)
    _seed_slot(redis_client, k, 2, dead, started=dead[0])
    redis_backend.enqueue(job(6), Q)

    redis_backend.startup(Q)

    assert redis_client.lrange(k.processing(Q, 1), 0, -1) == [j.encode() for j in reversed(live)]
    assert redis_client.exists(k.processing(Q, 2), k.started(Q, 2)) == 0
    ran = drain(redis_backend, worker=3)
    if redis_backend.reliable:  # the started job runs again, first, counted
        assert [(j.id, j.attempts) for j in ran] == [
            (dead[0].id, 2),
            (dead[1].id, 1),
            (dead[2].id, 1),
            (ran[3].id, 1),
        ]
    else:  # it may have run: it is kept, not run again
        assert [j.id for j in ran[:2]] == [dead[1].id, dead[2].id]
        (letter,) = redis_backend.dead_letters(Q)
        assert letter.job_id == dead[0].id
        assert "at-most-once" in letter.reason
    assert redis_backend.in_progress(Q)[1][0].id == live[0].id


def test_in_progress_lists_each_slots_jobs(redis_backend: RedisBackendBase) -> None:
    redis_backend.bulk_enqueue([job(1), job(2)], Q)
    first = redis_backend.dequeue(Q, 1, 1.0)
    second = redis_backend.dequeue(Q, 2, 1.0)
    assert first is not None
    assert second is not None
    status = redis_backend.in_progress(Q)
    assert {n: [(j.id, j.attempts) for j in jobs] for n, jobs in status.items()} == {
        1: [(first.id, 1)],
        2: [(second.id, 1)],
    }
    redis_backend.acknowledge(Q, 1, first, OK)
    assert list(redis_backend.in_progress(Q)) == [2]
