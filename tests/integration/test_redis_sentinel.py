"""Redis behind Sentinel: the URL, every kind of connection following a failover, secrets.

Against a deployment of the test's own (:mod:`tests.integration.sentinel_fixtures`): real
``redis-server`` and ``redis-sentinel`` processes, passwords on Redis and on the sentinels.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

import pytest
from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.connection import RedisTarget
from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.settings import QueueSettings
from dlq.domain.envelope import Job
from dlq.domain.outcome import Succeeded
from dlq.exceptions import BackendError, ConfigurationError
from tests.integration.sentinel_fixtures import *  # noqa: F403  # registers the fixture
from tests.integration.sentinel_fixtures import (
    PASSWORD,
    SENTINEL_PASSWORD,
    SERVICE,
    SentinelDeployment,
)
from tests.integration.tcp_proxy import FreezingProxy

pytestmark = [pytest.mark.redis, pytest.mark.slow]

Q = "ha"
T = TypeVar("T")
SECRETS = (PASSWORD, quote(PASSWORD, safe=""), SENTINEL_PASSWORD, quote(SENTINEL_PASSWORD, safe=""))


def job(number: int) -> Job:
    return Job.create("tests.testapp.tasks.add", [number], {}, now=datetime.now(UTC))


def backend(url: str) -> ReliableRedisBackend:
    return ReliableRedisBackend(
        QueueSettings.model_validate({"REDIS_URL": url, "REDIS_PREFIX": "dlq-sentinel-test"})
    )


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def eventually(call: Callable[[], T], errors: list[BackendError], timeout_s: float = 30.0) -> T:
    """``call()``'s result once it stops raising BackendError (a failover in progress)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except BackendError as exc:
            errors.append(exc)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def deployment(sentinel_deployment: SentinelDeployment) -> SentinelDeployment:
    return sentinel_deployment


# The URL, read without a server


def test_a_sentinel_url_makes_sentinel_managed_connections() -> None:
    url = (
        f"rediss+sentinel://app:{quote(PASSWORD, safe='')}@10.0.0.1:26380,10.0.0.2/{SERVICE}/2"
        f"?sentinel_password={quote(SENTINEL_PASSWORD, safe='')}&ssl_cert_reqs=none"
    )
    target = RedisTarget.from_settings(QueueSettings.model_validate({"REDIS_URL": url}))

    assert target.connection_class is SentinelManagedSSLConnection
    assert target.options["password"] == PASSWORD
    assert target.options["username"] == "app"
    assert target.options["db"] == 2
    assert target.options["ssl_cert_reqs"] == "none"
    assert target.sentinel is not None
    assert target.sentinel.sentinels == (("10.0.0.1", 26380), ("10.0.0.2", 26379))
    assert target.sentinel.options["password"] == SENTINEL_PASSWORD
    assert target.sentinel.options["ssl"] is True
    assert target.location == f"rediss+sentinel://app@10.0.0.1:26380,10.0.0.2:26379/{SERVICE}/2"
    assert_no_secret(repr(target))
    assert set(SECRETS) <= set(target.secrets)


def test_the_database_is_redis_databases_unless_the_url_names_one() -> None:
    def database(url: str) -> object:
        settings = QueueSettings.model_validate({"REDIS_URL": url, "REDIS_DATABASE": 7})
        return RedisTarget.from_settings(settings).options["db"]

    assert database(f"redis+sentinel://h/{SERVICE}") == 7
    assert database(f"redis+sentinel://h/{SERVICE}/2") == 2


@pytest.mark.parametrize(
    ("query", "says"),
    [("socket_tiemout=1", "'socket_tiemout'"), ("protocol=9", "protocol must be either 2 or 3")],
)
def test_an_option_redis_py_does_not_take_is_refused_when_the_backend_is_built(
    query: str, says: str
) -> None:
    url = f"redis+sentinel://:{quote(PASSWORD, safe='')}@h/{SERVICE}?{query}"
    with pytest.raises(ConfigurationError) as caught:
        RedisTarget.from_settings(QueueSettings.model_validate({"REDIS_URL": url}))
    assert says in str(caught.value)
    assert_no_secret(str(caught.value))


def test_a_bounded_target_shares_its_deadline_among_every_wait() -> None:
    url = f"redis+sentinel://h1,h2,h3/{SERVICE}"
    target = RedisTarget.from_settings(QueueSettings.model_validate({"REDIS_URL": url}))

    bounded = target.bounded(1.0)

    assert target.connection_class is SentinelManagedConnection
    # Connect and a reply for each of three sentinels, then for the master.
    assert bounded.unanswered_waits == 8
    assert bounded.step_s == pytest.approx(0.125)
    assert bounded.options["socket_connect_timeout"] == pytest.approx(0.125)
    assert bounded.sentinel is not None
    assert bounded.sentinel.timeout_s == pytest.approx(0.125)


# A deployment of the test's own


def test_every_connection_follows_a_failover(
    deployment: SentinelDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    ha = backend(deployment.url())
    bounded = ha.with_call_deadline(1.0)
    assert isinstance(bounded, RedisBackendBase)
    errors: list[BackendError] = []
    with caplog.at_level(logging.DEBUG):
        ha.enqueue(job(1), Q)  # the enqueuing line
        ha.enqueue(job(2), Q)
        first = ha.dequeue(Q, 1, 1.0)  # the worker's line
        assert first is not None
        ha.acknowledge(Q, 1, first, Succeeded(None, 0.0))
        assert ha.length(Q) == 1  # the pooled client
        assert bounded.acquire_slot(Q, 1, "runner-a", 10.0)  # the runner's bounded calls
        old_master = deployment.master_port()
        deployment.wait_for_replication()

        deployment.kill_master()

        # A worker's dequeue retries with back-off until its timeout: no error to see.
        second = ha.dequeue(Q, 1, 30.0)
        assert second is not None
        assert second.args == (2,)
        ha.acknowledge(Q, 1, second, Succeeded(None, 0.0))
        eventually(lambda: ha.enqueue(job(3), Q), errors)
        assert eventually(lambda: ha.length(Q), errors) == 1
        assert eventually(lambda: bounded.renew_slot(Q, 1, "runner-a", 10.0), errors)
        ha.pause(Q, datetime.now(UTC) + timedelta(minutes=1))
        assert ha.paused_until(Q) is not None
    assert deployment.master_port() not in {None, old_master}
    for error in errors:
        assert_no_secret(full_text(error))
    assert_no_secret(caplog.text)
    ha.close()


def test_errors_name_the_deployment_never_its_passwords(deployment: SentinelDeployment) -> None:
    wrong_service = backend(deployment.url().replace(f"/{SERVICE}/", "/nosuchservice/"))
    with pytest.raises(BackendError) as caught:
        wrong_service.length(Q)
    text = full_text(caught.value)
    assert "redis+sentinel://127.0.0.1:" in str(caught.value)
    assert "No master found for 'nosuchservice'" in text
    assert_no_secret(text)

    wrong_sentinel_password = backend(deployment.url(with_sentinel_password=False))
    with pytest.raises(BackendError) as caught:
        wrong_sentinel_password.enqueue(job(1), Q)
    assert "No master found" in full_text(caught.value)
    assert_no_secret(full_text(caught.value))


def test_a_bounded_call_ends_within_its_deadline_when_no_sentinel_answers(
    deployment: SentinelDeployment,
) -> None:
    proxies = [FreezingProxy(("127.0.0.1", port)) for port in deployment.sentinel_ports]
    try:
        hosts = ",".join(f"127.0.0.1:{proxy.port}" for proxy in proxies)
        url = deployment.url().replace(
            ",".join(f"127.0.0.1:{port}" for port in deployment.sentinel_ports), hosts
        )
        bounded = backend(url).with_call_deadline(1.0)
        assert isinstance(bounded, RedisBackendBase)
        for proxy in proxies:
            proxy.freeze()
        started = time.monotonic()
        with pytest.raises(BackendError, match="No master found"):
            bounded.acquire_slot(Q, 1, "runner-a", 10.0)
        waited_s = time.monotonic() - started
    finally:
        for proxy in proxies:
            proxy.close()
    # Three sentinels asked in turn, each cut to an eighth of the deadline twice over: the
    # call ends near 0.75 s; twice the deadline leaves a loaded machine room.
    assert waited_s < 2.0
