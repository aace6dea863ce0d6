"""Two cron schedulers sharing a real Redis enqueue each (entry, minute) once.

Each test runs with coalescing on (the default: the minutes an entry missed run once, for
the latest) and off (each minute runs).

Skipped without Redis on 127.0.0.1:6379, a failure under ``CI=true`` (see
``redis_fixtures``). Time is faked; the schedulers run in threads at once, as two
runners would.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from dlq.backends.redis.base import RedisBackendBase
from dlq.conf import DjangoRuntime
from dlq.core.scheduler import CronScheduler
from dlq.cron_jobs import build_scheduler
from dlq.domain.cron.due import Firing, due_firings, due_runs
from dlq.domain.cron.entry import CronEntry, parse_cron_config
from tests.integration.redis_fixtures import (  # noqa: F401  # fixtures
    SHARED_URL,
    make_backend,
    redis_client,
    redis_prefix,
)
from tests.testapp import cron as testapp_cron

pytestmark = pytest.mark.redis

START = datetime(2024, 1, 1, 10, 0, 7, tzinfo=UTC)
ZONE = UTC


def entries() -> tuple[CronEntry, ...]:
    raw = [
        {"command": "every", "minutes": "*", "hours": "*"},
        {"command": "even", "minutes": "*/2", "hours": "*"},
        {"command": "at_five", "minutes": "5", "hours": "10"},
    ]
    return parse_cron_config(raw, app_label="app", where="app.cron.CONFIG").entries


def tick_times(offset_ms: int) -> list[datetime]:
    """Ticks every 17s (plus an offset) over 12 minutes: never in second 0 by design."""
    return [START + timedelta(milliseconds=offset_ms + 17_000 * n) for n in range(43)]


def run_together(schedulers: list[CronScheduler], offsets: list[int]) -> None:
    barrier = threading.Barrier(len(schedulers))

    def drive(scheduler: CronScheduler, offset: int) -> None:
        barrier.wait()
        for now in tick_times(offset):
            scheduler.tick(now)

    threads = [
        threading.Thread(target=drive, args=(scheduler, offset))
        for scheduler, offset in zip(schedulers, offsets, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)


@pytest.mark.parametrize("coalesce", [True, False])
@pytest.mark.parametrize("kind", ["redis", "reliable_redis"])
def test_two_schedulers_sharing_a_redis_enqueue_each_minute_once(
    redis_prefix: str,  # noqa: F811  # a fixture
    kind: str,
    coalesce: bool,
) -> None:
    lock = threading.Lock()
    fired: list[Firing] = []

    def enqueue(firing: Firing) -> None:
        with lock:
            fired.append(firing)

    backends: list[RedisBackendBase] = [make_backend(kind, redis_prefix) for _ in range(2)]
    try:
        schedulers = [
            CronScheduler(
                entries(),
                tz=ZONE,
                catch_up_s=300,
                claims_for=lambda queue, backend=backend: backend,  # type: ignore[misc]  # bound per scheduler
                enqueue=enqueue,
                coalesce=coalesce,
            )
            for backend in backends
        ]
        run_together(schedulers, offsets=[0, 5])
        end = max(tick_times(5))
        due = due_firings(entries(), ZONE, START - timedelta(seconds=300), end)
        # Every due minute is claimed in Redis, collapsed into another's job or not.
        assert not any(backends[0].claim(firing.claim_key, 60) for firing in due)
    finally:
        for backend in backends:
            backend.close()
    counts = Counter((firing.entry.id, firing.minute) for firing in fired)
    assert set(counts.values()) == {1}
    # Both start at START and catch up the five minutes before; later ticks, 17 s apart,
    # each find one minute at most.
    catch_up = due_runs(entries(), ZONE, START - timedelta(seconds=300), START, coalesce=coalesce)
    expected = [run.firing for run in catch_up] + due_firings(entries(), ZONE, START, end)
    assert sorted(counts) == sorted((firing.entry.id, firing.minute) for firing in expected)


@pytest.mark.parametrize(
    ("coalesce", "expected"),
    [
        (False, list(range(-4, 4))),  # 09:56 to 10:03, each once
        (True, [0, 3]),  # 10:00 for 09:56 to 10:00, then 10:03 for 10:01 to 10:03
    ],
)
def test_a_restarted_scheduler_catches_up_once_through_redis(
    redis_prefix: str,  # noqa: F811  # a fixture
    coalesce: bool,
    expected: list[int],
) -> None:
    fired: list[Firing] = []
    backend = make_backend("redis", redis_prefix)
    try:

        def new_scheduler() -> CronScheduler:
            return CronScheduler(
                entries()[:1],
                tz=ZONE,
                catch_up_s=300,
                claims_for=lambda queue: backend,
                enqueue=fired.append,
                coalesce=coalesce,
            )

        new_scheduler().tick(START)  # catches up 09:56 to 10:00
        new_scheduler().tick(START + timedelta(minutes=3))  # restarted: 10:01 to 10:03 only
        new_scheduler().tick(START + timedelta(minutes=3, seconds=20))  # nothing left
    finally:
        backend.close()
    minutes = [firing.minute for firing in fired]
    assert minutes == [START.replace(second=0) + timedelta(minutes=m) for m in expected]


@pytest.mark.parametrize(
    ("coalesce", "expected"),
    [
        (True, 5),  # 10:00 (standing for 09:57 too), 10:03, 10:06, 10:09, 10:12
        (False, 6),  # 09:57 (caught up), 10:00, 10:03, 10:06, 10:09, 10:12
    ],
)
def test_two_django_schedulers_on_redis_queue_each_cron_job_once(
    redis_prefix: str,  # noqa: F811  # a fixture
    runtime: DjangoRuntime,
    monkeypatch: pytest.MonkeyPatch,
    coalesce: bool,
    expected: int,
) -> None:
    monkeypatch.setattr(
        testapp_cron,
        "CONFIG",
        [{"command": "cron_probe", "minutes": "*/3", "hours": "*", "queue": "cron-redis"}],
    )
    redis_settings = {
        "LIGHTWEIGHT_QUEUE_BACKEND": "dlq.backends.redis.RedisBackend",
        "LIGHTWEIGHT_QUEUE_REDIS_URL": SHARED_URL,
        "LIGHTWEIGHT_QUEUE_REDIS_PREFIX": redis_prefix,
        "LIGHTWEIGHT_QUEUE_CRON_COALESCE": coalesce,
    }
    with override_settings(**redis_settings):
        schedulers = [build_scheduler(runtime), build_scheduler(runtime)]
        run_together(schedulers, offsets=[0, 3])
        backend = runtime.backend_for("cron-redis")
        length: Callable[[str], int] = backend.length
        assert length("cron-redis") == expected
