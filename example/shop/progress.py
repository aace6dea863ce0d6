"""Counts finished demo jobs in Redis so the demo can draw its progress bar."""

import os

import redis
from django.conf import settings

KEY = "dlq-example:done"
_clients: dict[int, "redis.Redis"] = {}


def client() -> "redis.Redis":
    """One connection per process (workers are forked, so never share the parent's)."""
    pid = os.getpid()
    if pid not in _clients:
        _clients.clear()
        _clients[pid] = redis.Redis.from_url(settings.LIGHTWEIGHT_QUEUE_REDIS_URL)
    return _clients[pid]


def mark_done() -> None:
    client().incr(KEY)
