"""Redis behind Sentinel: where the master is, and following it when it moves.

``LIGHTWEIGHT_QUEUE_REDIS_URL = "redis+sentinel://host1:26379,host2:26379/mymaster/0"``
(the format is :mod:`dlq.core.redis_url`'s). Every connection dlq makes to a Sentinel
deployment is one of redis-py's ``SentinelManagedConnection``: each time it connects, it
asks the sentinels, in turn, where the master of the service is, and connects there. So
following a failover is reconnecting, which every kind of dlq connection already does
when its connection fails:

* a failover drops the old master's connections: the master died, or Sentinel demoted it
  and closed its clients (``CLIENT KILL``), and a command sent meanwhile to a demoted
  master is refused with ``READONLY``, which dlq counts as a lost connection too;
* a worker's or an enqueuer's :class:`~dlq.backends.redis.line.Line` then raises
  ``LineLost``; its owner retries with back-off (a worker until its dequeue's timeout,
  then again; an enqueue five times over about 2.5 s, then it raises ``BackendError``),
  and the retry connects to whichever master the sentinels name by then;
* pooled clients (operations, commands) retry with back-off the same way; the runner's
  own calls (:mod:`dlq.backends.redis.bounded`) do not retry: the runner calls again on
  its next pass.

While no sentinel names a master that is up (the sentinels are still agreeing on a new
one), connecting fails with ``MasterNotFoundError`` and is retried like any other failure.
Writes Redis had acknowledged but not yet copied to the replica that becomes the master
are lost with the old master: Redis replicates asynchronously (see the README).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

__all__ = ["SENTINEL_TIMEOUT_S", "SentinelService"]

#: Connect and reply timeout of a question to one sentinel: a sentinel that takes longer
#: is skipped for the next one.
SENTINEL_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class SentinelService:
    """The sentinels to ask, and the name of the service whose master they know."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    #: Options for each sentinel's client (credentials, TLS), beside timeouts and retries.
    options: Mapping[str, Any] = field(repr=False)
    #: Connect and reply timeout of each question to a sentinel; none is retried.
    timeout_s: float = SENTINEL_TIMEOUT_S
    _pools: dict[tuple[object, ...], SentinelConnectionPool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def with_timeout(self, timeout_s: float) -> SentinelService:
        return replace(self, timeout_s=timeout_s)

    @functools.cached_property
    def _manager(self) -> Sentinel:
        options = dict(self.options)
        options.update(
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            # Not redis-py's default (retries with back-off of up to seconds): a sentinel
            # that does not answer is skipped for the next one, at once.
            retry=Retry(NoBackoff(), 0),
        )
        return Sentinel(list(self.sentinels), sentinel_kwargs=options)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    def pool(
        self,
        key: tuple[object, ...],
        connection_class: type[AbstractConnection],
        options: Mapping[str, Any],
    ) -> SentinelConnectionPool:
        """The pool for connections to the master made with ``options`` (kept by ``key``,
        since older redis-py releases let a connection reach its pool only by weak
        reference)."""
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = SentinelConnectionPool(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                self.service, self._manager, connection_class=connection_class, **options
            )
        return pool
