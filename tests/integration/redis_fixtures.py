"""Fixtures for tests against a real Redis; never a fake, never a flush.

The shared server is the one :mod:`tests.services` names (127.0.0.1:6379 unless
``DLQ_TEST_REDIS_URL`` says otherwise); without it the tests are skipped, except under
``CI=true`` where that is a failure. Every
test works under a key prefix of its own and deletes only those keys afterwards.

Tests that stop Redis start a private server of their own (:class:`PrivateRedis`) on a
free port; the shared server is never stopped.

``tests/conftest.py`` imports the fixtures: ``redis_client``, ``redis_prefix``,
``redis_settings``, ``redis_backend`` (both backends), ``at_most_once``,
``at_least_once``, ``private_redis``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dlq.backends.redis import RedisBackend
from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.keys import glob_escape
from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.settings import QueueSettings
from tests.services import REDIS_URL, require_redis, unavailable

__all__ = [
    "BACKEND_CLASSES",
    "PrivateRedis",
    "at_least_once",
    "at_most_once",
    "delete_prefix",
    "make_backend",
    "private_redis",
    "redis_backend",
    "redis_client",
    "redis_prefix",
    "redis_settings",
    "require_redis",
]

BACKEND_CLASSES: dict[str, type[RedisBackendBase]] = {
    "redis": RedisBackend,
    "reliable_redis": ReliableRedisBackend,
}
SHARED_URL = REDIS_URL


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete the keys under ``prefix:`` and nothing else."""
    keys = list(client.scan_iter(match=glob_escape(prefix) + ":*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def make_backend(kind: str, prefix: str, **settings: object) -> RedisBackendBase:
    """A backend of ``kind`` ('redis' or 'reliable_redis') on the shared server."""
    values: dict[str, object] = {"REDIS_URL": SHARED_URL, "REDIS_PREFIX": prefix}
    values.update(settings)
    return BACKEND_CLASSES[kind](QueueSettings.model_validate(values))


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = require_redis()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"dlq-test-{uuid.uuid4().hex[:16]}"
    yield prefix
    delete_prefix(redis_client, prefix)


@pytest.fixture
def redis_settings(redis_prefix: str) -> QueueSettings:
    return QueueSettings.model_validate(
        {"REDIS_URL": SHARED_URL, "REDIS_PREFIX": redis_prefix, "MAX_DELIVERIES": 3}
    )


def _backend(kind: str, settings: QueueSettings) -> Iterator[RedisBackendBase]:
    backend = BACKEND_CLASSES[kind](settings)
    yield backend
    backend.close()


@pytest.fixture(params=sorted(BACKEND_CLASSES))
def redis_backend(
    request: pytest.FixtureRequest, redis_settings: QueueSettings
) -> Iterator[RedisBackendBase]:
    """Each Redis backend in turn, MAX_DELIVERIES=3, under the test's prefix."""
    yield from _backend(request.param, redis_settings)


@pytest.fixture
def at_most_once(redis_settings: QueueSettings) -> Iterator[RedisBackendBase]:
    yield from _backend("redis", redis_settings)


@pytest.fixture
def at_least_once(redis_settings: QueueSettings) -> Iterator[RedisBackendBase]:
    yield from _backend("reliable_redis", redis_settings)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A Redis server of the test's own, which it may stop and start at will."""

    def __init__(self, directory: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.binary = str(binary)
        self.directory = directory
        self.port = free_port()
        self.socket_path = str(directory / "redis.sock")
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                "--unixsocket", self.socket_path,
                "--unixsocketperm", "700",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.02)

    def stop(self, *, save: bool = False) -> None:
        """Stop the server; with ``save``, its data is written and loaded by the next start."""
        if self.process is None:
            return
        if save:
            client = redis.Redis(unix_socket_path=self.socket_path, socket_timeout=5)
            try:
                client.shutdown(save=True)
            except redis.ConnectionError:
                pass  # the server closes the connection as it stops
            finally:
                client.close()
        else:
            self.process.terminate()
        self.process.wait(10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=self.socket_path, socket_timeout=5)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A started private server (in a temporary directory), stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="dlq-redis-") as directory:
        server = PrivateRedis(Path(directory))
        server.start()
        try:
            yield server
        finally:
            if server.process is not None:
                server.process.kill()
                server.process.wait(10)
