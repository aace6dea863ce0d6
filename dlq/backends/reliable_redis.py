"""The at-least-once Redis backend: a job leaves Redis only after it has run.

Same keys and mechanics as :mod:`dlq.backends.redis`. A job whose worker died while it ran
is delivered again, with ``attempts`` one higher, when the slot next asks for a job (or by
a runner's ``startup`` if the slot is no longer served); a job that times out is queued
again. Once a job has started ``MAX_DELIVERIES`` times without finishing it goes to the
queue's dead letters with the reason, rather than looping for ever.
"""

from __future__ import annotations

from typing import ClassVar

from dlq.backends.redis.base import RedisBackendBase

__all__ = ["ReliableRedisBackend"]


class ReliableRedisBackend(RedisBackendBase):
    """At-least-once delivery on Redis; settings ``LIGHTWEIGHT_QUEUE_REDIS_*``."""

    reliable: ClassVar[bool] = True
