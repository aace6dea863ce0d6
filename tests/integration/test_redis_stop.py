"""A worker's stop on the Redis backends: the blocking pop cut short, what it may have moved,
and a dequeue interrupted anywhere (as ``StopWorker`` used to interrupt it)."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest
import redis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import dlq.backends.redis.bookkeeping as bookkeeping_module
import dlq.backends.redis.dispatch as dispatch_module
import dlq.backends.redis.line as line_module
import dlq.backends.redis.wire as wire_module
from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.tuning import Tuning
from dlq.core.settings import QueueSettings
from dlq.domain.envelope import Job
from dlq.domain.outcome import Succeeded
from dlq.worker.stop_flag import StopFlag
from tests.integration.interruptions import Interrupted, interrupted_at
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures
from tests.integration.redis_fixtures import BACKEND_CLASSES, make_backend
from tests.integration.runner_harness import wait_until
from tests.integration.tcp_proxy import *  # noqa: F403  # registers the proxy fixture
from tests.integration.tcp_proxy import ReplyHoldingProxy

Q = "stops"
_queues = itertools.count()


def job(number: int) -> Job:
    return Job.create("tests.testapp.tasks.add", [number], {}, now=datetime.now(UTC))


@pytest.mark.parametrize("kind", sorted(BACKEND_CLASSES))
@pytest.mark.parametrize("then", ["release", "dequeue"])
def test_a_job_the_cut_pop_moved_is_given_back_or_taken_next(
    kind: str,
    then: str,
    reply_holding_proxy: ReplyHoldingProxy,
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    proxy, keys, waiting = reply_holding_proxy, Keys(redis_prefix), job(1)
    backend = make_backend(kind, redis_prefix, REDIS_URL=proxy.url)
    stop, results = StopFlag(), list[Job | None]()
    returned = threading.Event()

    def dequeue() -> None:
        results.append(backend.dequeue(Q, 1, 30, stop=stop))
        returned.set()

    threading.Thread(target=dequeue, daemon=True).start()

    def popping() -> bool:
        return any(
            client["cmd"] == "blmove"
            and int(client["addr"].rsplit(":", 1)[1]) in proxy.upstream_ports
            for client in redis_client.client_list()
        )

    wait_until(popping, what="the worker's pop to block")
    proxy.hold()  # the server moves the job at once; its reply waits in the proxy
    redis_client.lpush(keys.queue(Q), waiting.encode())
    processing = keys.processing(Q, 1)
    wait_until(lambda: redis_client.llen(processing) == 1, what="the pop to move the job")
    stop.set()
    assert returned.wait(5), "the stop did not end the wait"
    assert results == [None]
    proxy.flow()  # (the held reply goes to a connection the worker has closed)
    if then == "release":
        assert backend.release(Q, 1) == 1
        assert redis_client.llen(processing) == 0
        assert redis_client.lrange(keys.queue(Q), 0, -1) == [waiting.encode()]
    taken = backend.dequeue(Q, 1, 1.0)
    assert taken is not None
    assert (taken.id, taken.attempts) == (waiting.id, 1)  # a first delivery, not a retry
    backend.acknowledge(Q, 1, taken, Succeeded(None, 0.0))
    assert backend.dequeue(Q, 1, 0.05) is None
    assert redis_client.llen(processing) == 0
    backend.close()
    stop.close()


_INTERRUPTIBLE = [dispatch_module, bookkeeping_module, line_module, wire_module]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(opcode=st.integers(1, 1500), waiting=st.booleans())
def test_a_dequeue_interrupted_anywhere_leaves_no_reply_out_of_step_and_no_job_lost(
    redis_backend: RedisBackendBase,
    redis_settings: QueueSettings,
    redis_client: redis.Redis,
    opcode: int,
    waiting: bool,
) -> None:
    """An exception raised at any bytecode of a dequeue (blocking when ``waiting`` is
    false) never puts the line out of step: the hand-back works, and every job is still
    delivered, each once."""
    queue = f"{Q}-{next(_queues)}"
    backend = type(redis_backend)(redis_settings, tuning=Tuning(block_cap_s=0.1))
    keys = Keys(redis_settings.REDIS_PREFIX)
    first, second = job(1), job(2)
    backend.enqueue(first, queue)
    taken = backend.dequeue(queue, 1, 1.0)
    assert taken is not None
    backend.acknowledge(queue, 1, taken, Succeeded(None, 0.0))  # deferred: a reply owed
    if waiting:
        backend.enqueue(second, queue)
    with interrupted_at(opcode, _INTERRUPTIBLE):
        try:
            got = backend.dequeue(queue, 1, 0.1)
        except Interrupted:
            got = None
    if got is not None:  # not interrupted in time to stop the hand-out: finish it
        backend.acknowledge(queue, 1, got, Succeeded(None, 0.0))
    backend.release(queue, 1)  # issue #15: "unexpected reply from Redis" came from here
    if not waiting:
        backend.enqueue(second, queue)
    delivered = [got.id] if got is not None else []
    while (item := backend.dequeue(queue, 1, 0.05)) is not None:
        delivered.append(item.id)
        backend.acknowledge(queue, 1, item, Succeeded(None, 0.0))
    assert delivered == [second.id]
    assert backend.dead_letter_count(queue) == 0
    assert redis_client.llen(keys.processing(queue, 1)) == 0
    assert redis_client.llen(keys.queue(queue)) == 0
    backend.close()
