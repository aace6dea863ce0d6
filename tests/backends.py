"""Every backend the shared tests run on, in one registry: the contract, the queue commands.

Each :class:`BackendKind` names its class, its delivery promise and how a test gets one
in a namespace of its own:

- :meth:`BackendKind.instance`: a backend object the test drives itself (the contract);
- :meth:`BackendKind.settings`: ``LIGHTWEIGHT_QUEUE_*`` values pointing dlq's runtime at
  one (the commands find it through the runtime, as in production).

Redis kinds work under a fresh key prefix on the shared server, database kinds in one of
the run's databases (emptied first); both clean up after themselves. A kind whose server
is missing skips its tests, or fails them under ``CI=true`` (:mod:`tests.services`).
Process tests (``tests/integration/runner_harness.py``) pick their own backends, since
a runner needs a settings module rather than an object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import Backend
from tests.integration.database_fixtures import VENDORS, TestDatabase, Vendor, session_database
from tests.integration.redis_fixtures import delete_prefix, make_backend
from tests.services import REDIS_URL, require_redis

__all__ = ["KINDS", "MAX_DELIVERIES", "BackendKind", "Delivery"]

#: What becomes of a job whose delivery did not finish (its worker died, it timed out).
Delivery = Literal["at_most_once", "at_least_once"]

#: Deliveries of one job before it is a dead letter, in every kind's instance.
MAX_DELIVERIES = 3

Instance = Callable[[pytest.FixtureRequest], AbstractContextManager[Backend]]
Settings = Callable[[pytest.FixtureRequest], AbstractContextManager[dict[str, object]]]


@dataclass(frozen=True)
class BackendKind:
    name: str
    #: What ``LIGHTWEIGHT_QUEUE_BACKEND`` says for it.
    path: str
    delivery: Delivery
    instance: Instance
    settings: Settings


def _now() -> datetime:
    return datetime.now(UTC)


# -- in memory --------------------------------------------------------------------------

_MEMORY = "dlq.backends.memory.InMemoryBackend"


@contextmanager
def _memory_instance(request: pytest.FixtureRequest) -> Iterator[Backend]:
    yield InMemoryBackend(_now, max_deliveries=MAX_DELIVERIES)


@contextmanager
def _memory_settings(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    yield {"BACKEND": _MEMORY, "MAX_DELIVERIES": MAX_DELIVERIES}


# -- Redis --------------------------------------------------------------------------------


def _redis(kind: str) -> tuple[Instance, Settings]:
    @contextmanager
    def instance(request: pytest.FixtureRequest) -> Iterator[Backend]:
        client = require_redis()
        prefix = f"dlq-test-{kind}-{uuid.uuid4().hex[:16]}"
        backend = make_backend(kind, prefix, MAX_DELIVERIES=MAX_DELIVERIES)
        try:
            yield backend
        finally:
            backend.close()
            delete_prefix(client, prefix)
            client.close()

    @contextmanager
    def settings(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
        client = require_redis()
        prefix = f"dlq-test-{kind}-{uuid.uuid4().hex[:16]}"
        try:
            yield {
                "BACKEND": _REDIS_PATHS[kind],
                "REDIS_URL": REDIS_URL,
                "REDIS_PREFIX": prefix,
                "MAX_DELIVERIES": MAX_DELIVERIES,
            }
        finally:
            delete_prefix(client, prefix)
            client.close()

    return instance, settings


_REDIS_PATHS = {
    "redis": "dlq.backends.redis.RedisBackend",
    "reliable_redis": "dlq.backends.reliable_redis.ReliableRedisBackend",
}


# -- databases ----------------------------------------------------------------------------

_DATABASE = "dlq.backends.database.DatabaseBackend"


def _database(vendor: Vendor) -> tuple[Instance, Settings]:
    @contextmanager
    def database(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
        blocker: Any = request.getfixturevalue("django_db_blocker")
        with blocker.unblock():
            yield session_database(request, vendor)

    @contextmanager
    def instance(request: pytest.FixtureRequest) -> Iterator[Backend]:
        with database(request) as db:
            backend = db.backend(MAX_DELIVERIES=MAX_DELIVERIES)
            try:
                yield backend
            finally:
                backend.close()

    @contextmanager
    def settings(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
        with database(request) as db:
            yield {
                "BACKEND": _DATABASE,
                "DATABASE_ALIAS": db.alias,
                "MAX_DELIVERIES": MAX_DELIVERIES,
            }

    return instance, settings


def _kinds() -> dict[str, BackendKind]:
    kinds = [
        BackendKind("memory", _MEMORY, "at_least_once", _memory_instance, _memory_settings),
        BackendKind("redis", _REDIS_PATHS["redis"], "at_most_once", *_redis("redis")),
        BackendKind(
            "reliable_redis",
            _REDIS_PATHS["reliable_redis"],
            "at_least_once",
            *_redis("reliable_redis"),
        ),
    ]
    kinds += [
        BackendKind(f"database_{vendor}", _DATABASE, "at_least_once", *_database(vendor))
        for vendor in VENDORS
    ]
    return {kind.name: kind for kind in kinds}


#: By name, in the order tests are parametrised.
KINDS = _kinds()
