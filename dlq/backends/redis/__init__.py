"""The at-most-once Redis backend: a job runs at most once, and nothing is dropped unseen.

A worker takes jobs in batches into its slot's processing list (upstream's keys, see
:mod:`dlq.backends.redis.keys`), marks each job as started before handing it out and
removes it once acknowledged. If the worker dies, the job that had started is moved to the
queue's dead letters, with the reason, instead of being run again; the jobs it had taken
but not started still run. A job that timed out is dead-lettered too (it may have done
part of its work; it is not run again). Payloads that cannot be decoded, and jobs the
worker rejects (an unknown task, arguments that do not fit), are dead-lettered on first
sight. Upstream's at-most-once backend dropped a job the moment it was popped; this one
keeps everything it gives up on where an operator can see and requeue it.

Keys are upstream's (``[PREFIX:]django_lightweight_queue:<queue>``, ``…:processing:<n>``,
``…:pause``), so jobs queued by django-lightweight-queue 4.x run here during a rolling
upgrade; dlq's own keys (dead letters, started markers, slot leases) carry the queue name
as a hash tag. That keeps dlq's keys of a queue in one Redis Cluster slot, but upstream's
keys have no tag, and the scripts touch both: the backends need one Redis server (with
replicas or Sentinel if wanted), not a cluster. :mod:`dlq.backends.redis.keys` has the
full layout. Needs Redis 6.2 or later (``BLMOVE``, ``LPOS``).

How jobs reach workers quickly (batches, writes without waiting, pause, stop) is described
in :mod:`dlq.backends.redis.dispatch`; connections and retries in
:mod:`dlq.backends.redis.connection` (Sentinel in :mod:`dlq.backends.redis.sentinel`); the
pipelined connection a worker uses, and why it never reads a reply out of step, in
:mod:`dlq.backends.redis.line`. Delayed jobs and retries wait in a sorted set per queue
until the runner moves them to the queue (:mod:`dlq.backends.redis.delayed`); job records
are keys that expire (:mod:`dlq.backends.redis.job_records`).
"""

from __future__ import annotations

from typing import ClassVar

from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.tuning import Tuning

__all__ = ["RedisBackend", "Tuning"]


class RedisBackend(RedisBackendBase):
    """At-most-once delivery on Redis; settings ``LIGHTWEIGHT_QUEUE_REDIS_*``."""

    reliable: ClassVar[bool] = False
