"""Connecting: settings and URLs, TLS and unix sockets, ACL users, secrets kept out of errors."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime

import pytest
import redis
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection

from dlq.backends.redis import RedisBackend
from dlq.backends.redis.connection import SOCKET_TIMEOUT_S, RedisTarget
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.tuning import BLOCK_CAP_S, Tuning
from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.settings import QueueSettings
from dlq.domain.envelope import Job
from dlq.domain.outcome import Succeeded
from dlq.exceptions import BackendError, ConfigurationError
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures
from tests.integration.redis_fixtures import PrivateRedis, free_port

SECRET = "s3cr3t-Pa55/w0rd"
QUOTED = "s3cr3t-Pa55%2Fw0rd"
Q = "conn"


def settings(**values: object) -> QueueSettings:
    return QueueSettings.model_validate(values)


def job() -> Job:
    return Job.create("tests.testapp.tasks.add", [1], {}, now=datetime.now(UTC))


def full_text(exc: BaseException) -> str:
    """The message and the whole printed chain, as a log or a traceback would show it."""
    return "".join(traceback.format_exception(exc))


# Settings and URLs (no server needed)


def test_host_port_password_database() -> None:
    target = RedisTarget.from_settings(
        settings(REDIS_HOST="redis.internal", REDIS_PORT=6380, REDIS_PASSWORD=SECRET,
                 REDIS_DATABASE=4)
    )  # fmt: skip
    assert target.connection_class is Connection
    assert (target.options["host"], target.options["port"], target.options["db"]) == (
        "redis.internal",
        6380,
        4,
    )
    assert target.options["password"] == SECRET
    assert target.location == "redis://redis.internal:6380/4"
    assert SECRET not in repr(target)


@pytest.mark.parametrize(
    ("url", "connection_class", "expected"),
    [
        (f"redis://:{QUOTED}@cache:6390/2", Connection, {"host": "cache", "port": 6390, "db": 2}),
        (
            f"rediss://dlq-user:{QUOTED}@cache.example.com:6391/0",
            SSLConnection,
            {"host": "cache.example.com", "username": "dlq-user"},
        ),
        (
            "unix:///run/redis/redis.sock?db=3",
            UnixDomainSocketConnection,
            {"path": "/run/redis/redis.sock", "db": 3},
        ),
    ],
)
def test_urls(url: str, connection_class: type, expected: dict[str, object]) -> None:
    target = RedisTarget.from_settings(settings(REDIS_URL=url, REDIS_HOST="ignored"))
    assert target.connection_class is connection_class
    for name, value in expected.items():
        assert target.options[name] == value
    if "@" in url:
        assert target.options["password"] == SECRET
    assert SECRET not in target.location
    assert QUOTED not in target.location
    assert "ignored" not in target.location


def test_locations_name_the_user_not_the_password() -> None:
    target = RedisTarget.from_settings(settings(REDIS_URL=f"rediss://bob:{QUOTED}@h:1/0"))
    assert target.location == "rediss://bob@h:1/0"


def test_a_url_that_cannot_be_parsed_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisBackend(settings(REDIS_URL=f"redis://user:{SECRET}@host:port-{SECRET}/0"))
    assert "LIGHTWEIGHT_QUEUE_REDIS_URL" in str(caught.value)
    assert SECRET not in full_text(caught.value)


def test_sockets_wait_longer_than_a_blocking_pop() -> None:
    assert SOCKET_TIMEOUT_S > BLOCK_CAP_S
    backend = RedisBackend(settings())
    assert backend._dispatcher._line._socket_timeout == Tuning().read_timeout_s > BLOCK_CAP_S
    options = backend._target.connection_options(socket_timeout=SOCKET_TIMEOUT_S, retry=None)  # type: ignore[arg-type]  # only read back
    assert options["socket_keepalive"] is True
    backend.close()


def test_long_dequeue_timeouts_block_in_capped_steps(redis_settings: QueueSettings) -> None:
    backend = ReliableRedisBackend(redis_settings, tuning=Tuning(block_cap_s=0.05))
    assert backend.dequeue(Q, 1, 0.3) is None
    backend.close()


# Against private servers


def test_unix_socket_url_and_database(private_redis: PrivateRedis) -> None:
    url = f"unix://{private_redis.socket_path}?db=1"
    backend = RedisBackend(settings(REDIS_URL=url, REDIS_PREFIX="p"))
    backend.enqueue(job(), Q)
    client = redis.Redis(unix_socket_path=private_redis.socket_path, db=1)
    assert client.llen(Keys("p").queue(Q)) == 1
    taken = backend.dequeue(Q, 1, 1.0)
    assert taken is not None
    backend.acknowledge(Q, 1, taken, Succeeded(None, 0.0))
    backend.close()
    client.close()


@pytest.fixture
def acl_server(private_redis: PrivateRedis) -> PrivateRedis:
    client = private_redis.client()
    client.acl_setuser(
        "dlq-user", enabled=True, passwords=[f"+{SECRET}"], keys=["*"], channels=["*"],
        commands=["+@all"],
    )  # fmt: skip
    client.acl_setuser("default", enabled=False)
    client.close()
    return private_redis


def test_acl_user_in_the_url(acl_server: PrivateRedis) -> None:
    url = f"redis://dlq-user:{QUOTED}@127.0.0.1:{acl_server.port}/0"
    backend = ReliableRedisBackend(settings(REDIS_URL=url))
    backend.enqueue(job(), Q)
    assert backend.length(Q) == 1
    taken = backend.dequeue(Q, 1, 1.0)
    assert taken is not None
    backend.close()


def test_a_wrong_password_is_not_repeated_in_errors(
    acl_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = SECRET + "-wrong"
    url = f"redis://dlq-user:{QUOTED}-wrong@127.0.0.1:{acl_server.port}/0"
    backend = RedisBackend(settings(REDIS_URL=url))
    with pytest.raises(BackendError) as caught:
        backend.length(Q)
    assert f"127.0.0.1:{acl_server.port}" in str(caught.value)
    assert wrong not in full_text(caught.value)
    assert QUOTED not in full_text(caught.value)
    with caplog.at_level(logging.DEBUG):
        assert backend.dequeue(Q, 1, 0.2) is None  # a worker retries rather than crashes
    assert "lost the connection" in caplog.text
    assert wrong not in caplog.text
    assert QUOTED not in caplog.text
    backend.close()


def test_an_unreachable_server_fails_enqueue_after_retries_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there
    backend = ReliableRedisBackend(
        settings(REDIS_HOST="127.0.0.1", REDIS_PORT=port, REDIS_PASSWORD=SECRET)
    )
    with pytest.raises(BackendError) as caught:
        backend.enqueue(job(), Q)
    message = str(caught.value)
    assert message.startswith(f"Redis at redis://127.0.0.1:{port}/0 failed while enqueueing")
    assert SECRET not in full_text(caught.value)
    with caplog.at_level(logging.DEBUG):
        assert backend.dequeue(Q, 1, 0.3) is None
    assert SECRET not in caplog.text
    backend.close()
