"""Benchmark tasks for Dramatiq: the same bodies (benchkit.tasks_impl) as actors on a Redis
broker under the run's key prefix, and the two calls the harness makes of every system's
tasks (``mark("start")`` and ``noop_count.bulk_enqueue()``) spelled for Dramatiq.
Keep in step with the other projects' benchapp/tasks.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from benchkit import tasks_impl
from benchkit.config import QUEUE, BenchConfig
from dramatiq.brokers.redis import RedisBroker

_config = BenchConfig.from_env("dramatiq")
# The run's prefix as the broker's namespace: its keys are the run's, and the harness's
# clean-up (every key under the prefix) finds them.
broker = RedisBroker(
    host=_config.redis_host,
    port=_config.redis_port,
    db=_config.redis_db,
    namespace=_config.prefix,
)
dramatiq.set_broker(broker)


class _Task:
    """A call enqueues, as with dlq's and upstream's @task."""

    def __init__(self, fn: Callable[..., None]) -> None:
        self.actor = dramatiq.actor(fn, queue_name=QUEUE, max_retries=0)

    def __call__(self, *args: Any) -> None:
        self.actor.send(*args)

    @contextmanager
    def bulk_enqueue(self, batch_size: int = 1000) -> Iterator[Callable[..., None]]:
        # Dramatiq sends one message per call (one script run each); prefilling is not
        # what is measured.
        yield self.actor.send


noop_count = _Task(tasks_impl.noop_count)
mark = _Task(tasks_impl.mark)
latency_probe = _Task(tasks_impl.latency_probe)
whoami = _Task(tasks_impl.whoami)
