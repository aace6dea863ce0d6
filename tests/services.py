"""Where the test suite finds the servers it talks to, and what a missing one means.

One place for every address, each overridable by an environment variable:

- Redis: ``DLQ_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``);
- PostgreSQL: ``DLQ_TEST_POSTGRES_HOST``/``_PORT``/``_USER``/``_PASSWORD``
  (127.0.0.1:5432, ``postgres``, trust authentication);
- MariaDB/MySQL: ``DLQ_TEST_MYSQL_HOST``/``_PORT``/``_USER``/``_PASSWORD``
  (127.0.0.1:3306, ``root``, no password).

A test that needs a server that does not answer is skipped, except under ``CI=true`` (any
case), where that is a failure: CI starts every server (``scripts/test``), so a missing
one there is a broken set-up, not a reason to pass.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest
import redis

__all__ = ["MYSQL", "POSTGRES", "REDIS_URL", "require_redis", "unavailable", "under_ci"]

REDIS_URL = os.environ.get("DLQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

POSTGRES = {
    "HOST": os.environ.get("DLQ_TEST_POSTGRES_HOST", "127.0.0.1"),
    "PORT": os.environ.get("DLQ_TEST_POSTGRES_PORT", "5432"),
    "USER": os.environ.get("DLQ_TEST_POSTGRES_USER", "postgres"),
    "PASSWORD": os.environ.get("DLQ_TEST_POSTGRES_PASSWORD", ""),
}
MYSQL = {
    "HOST": os.environ.get("DLQ_TEST_MYSQL_HOST", "127.0.0.1"),
    "PORT": os.environ.get("DLQ_TEST_MYSQL_PORT", "3306"),
    "USER": os.environ.get("DLQ_TEST_MYSQL_USER", "root"),
    "PASSWORD": os.environ.get("DLQ_TEST_MYSQL_PASSWORD", ""),
}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it under CI."""
    if under_ci():
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def require_redis() -> redis.Redis:
    """A client of the shared Redis server (close it when done); skips or fails without one."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        unavailable(f"no Redis server at {REDIS_URL}: {exc}")
    return client
