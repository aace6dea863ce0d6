"""Properties of both Redis backends over generated queues, on a real server."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.keys import Keys
from dlq.domain.outcome import Rejected, Succeeded
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures
from tests.strategies import QUEUED_REGISTERED_PATH, queued_payloads

_queues = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payloads=st.lists(queued_payloads(), max_size=30))
def test_every_payload_runs_once_in_order_or_is_kept_with_its_bytes(
    redis_backend: RedisBackendBase, payloads: list[tuple[str, bytes]]
) -> None:
    queue = f"property-{next(_queues)}"  # examples share the test's prefix, not its queues
    client = redis_backend._client
    if payloads:
        client.lpush(
            Keys(redis_backend._settings.REDIS_PREFIX).queue(queue), *(p for _, p in payloads)
        )
    ran: list[bytes] = []
    while (job := redis_backend.dequeue(queue, 1, 0.0)) is not None:
        assert job.attempts == 1
        if job.path == QUEUED_REGISTERED_PATH:
            redis_backend.acknowledge(queue, 1, job, Succeeded(None, 0.0))
            assert job.raw is not None
            ran.append(job.raw)
        else:
            redis_backend.acknowledge(queue, 1, job, Rejected("not a registered task"))
    assert ran == [raw for kind, raw in payloads if kind == "run"]
    kept = sorted(letter.raw for letter in redis_backend.dead_letters(queue, limit=100))
    assert kept == sorted(raw for kind, raw in payloads if kind != "run")
    assert redis_backend.length(queue) == 0
    assert redis_backend.in_progress(queue) == {}
