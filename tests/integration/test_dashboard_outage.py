"""A backend that is down gives pages that say so, never a 500: a private Redis server that
the test stops, and a PostgreSQL database behind a proxy that the test cuts.

One queue stays on a backend that works, to show that the others' outage hides nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from dlq.conf import DjangoRuntime
from dlq.core.protocols import SupportsRelease
from dlq.domain.envelope import Job
from tests.integration.dashboard_fixtures import BASE, Login, login, open_database
from tests.integration.database_fixtures import make_database
from tests.integration.outage_proxy import TcpProxy
from tests.integration.redis_fixtures import PrivateRedis, private_redis

__all__ = ["login", "open_database", "private_redis"]  # fixtures used here


def enqueue(runtime: DjangoRuntime, queue: str, count: int) -> list[Job]:
    jobs = [
        Job.create("tests.testapp.tasks.add", [number], {}, now=datetime.now(UTC))
        for number in range(count)
    ]
    runtime.backend_for(queue).bulk_enqueue(jobs, queue)
    return jobs


def assert_pages_say_the_backend_is_down(client: Client, queue: str, job: Job, says: str) -> None:
    """Every page answers, saying ``says`` (part of the backend's error) about ``queue``;
    the queue ``healthy`` is still shown with its numbers."""
    overview = client.get(BASE)
    assert overview.status_code == 200
    data = json.loads(client.get(BASE + "status.json").content)
    rows = {row["queue"]: row for row in data["queues"]}
    assert rows[queue]["down"] is True
    assert rows[queue]["cells"]["state"].startswith("unreachable: ")
    assert says in rows[queue]["cells"]["state"]
    assert rows[queue]["cells"]["waiting"] == "—"
    assert rows["healthy"]["cells"]["waiting"] == "2"
    assert data["totals"]["state"] == "0 paused, 1 unreachable"
    for page in (f"queue/{queue}/", f"job/?queue={queue}&id={job.id}"):
        response = client.get(BASE + page)
        assert response.status_code == 200
        assert f"The backend of queue {queue} cannot be reached".encode() in response.content
        assert says.encode() in response.content
    refused = client.get(BASE + f"action/clear/{queue}/")
    assert refused.status_code == 503
    assert says.encode() in refused.content
    done = client.post(BASE + f"action/clear/{queue}/", {"confirmed": "yes"}, follow=True)
    assert done.status_code == 200
    assert b"Nothing was done" in done.content
    assert says.encode() in done.content


def assert_pages_work_again(client: Client, queue: str, waiting: int) -> None:
    data = json.loads(client.get(BASE + "status.json").content)
    rows = {row["queue"]: row for row in data["queues"]}
    assert rows[queue]["down"] is False
    assert rows[queue]["cells"]["waiting"] == str(waiting)
    assert client.get(BASE + f"queue/{queue}/").status_code == 200


@pytest.fixture
def healthy(settings: Any, runtime: DjangoRuntime) -> Iterator[DjangoRuntime]:
    """Queues ``healthy`` (in memory) and ``down``, whose backend the test chooses."""
    settings.LIGHTWEIGHT_QUEUE_WORKERS = {"healthy": 1, "down": 1}
    settings.LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES = {
        "healthy": "dlq.backends.memory.InMemoryBackend"
    }
    yield runtime
    runtime.reset()


def close(runtime: DjangoRuntime) -> None:
    """Close the connections of the backend of ``down``, and forget it."""
    backend = runtime.backend_for("down")
    if isinstance(backend, SupportsRelease):
        backend.close()
    runtime.reset()


def test_a_stopped_redis(
    login: Login, private_redis: PrivateRedis, healthy: DjangoRuntime, settings: Any
) -> None:
    settings.LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.reliable_redis.ReliableRedisBackend"
    settings.LIGHTWEIGHT_QUEUE_REDIS_URL = private_redis.url
    enqueue(healthy, "healthy", 2)
    job, *_ = enqueue(healthy, "down", 3)
    client = login("view", "operate", "payloads")
    try:
        assert_pages_work_again(client, "down", 3)
        private_redis.stop()
        assert_pages_say_the_backend_is_down(client, "down", job, "Connection refused")
        private_redis.start()  # empty again: it saved nothing
        assert_pages_work_again(client, "down", 0)
    finally:
        close(healthy)


def register(alias: str, config: dict[str, Any]) -> None:
    """Add ``alias`` to Django's databases for this test (as the database fixtures do)."""
    default = connections.settings["default"]
    connections.settings[alias] = connections.configure_settings(
        {"default": default, alias: config}
    )[alias]


def test_an_unreachable_database(login: Login, healthy: DjangoRuntime, settings: Any) -> None:
    database = make_database("postgresql", alias=f"dlqdash_{uuid.uuid4().hex[:8]}")
    proxy = TcpProxy(str(database.config["HOST"]), int(database.config["PORT"]))
    proxy.start()
    through = f"{database.alias}_proxy"
    register(through, {**database.config, "HOST": "127.0.0.1", "PORT": str(proxy.port)})
    try:
        settings.LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.database.DatabaseBackend"
        settings.LIGHTWEIGHT_QUEUE_DATABASE_ALIAS = through
        enqueue(healthy, "healthy", 2)
        job, *_ = enqueue(healthy, "down", 3)
        client = login("view", "operate", "payloads")
        assert_pages_work_again(client, "down", 3)
        proxy.cut()
        assert_pages_say_the_backend_is_down(client, "down", job, through)
        proxy.start()
        assert_pages_work_again(client, "down", 3)
    finally:
        close(healthy)
        connections[through].close()
        del connections.settings[through]
        proxy.cut()
        database.drop()


class BrokenBackend:
    """A backend of another project whose store fails with an error of its own, whose
    message holds a secret (as a driver's may quote a URL with its password)."""

    def startup(self, queue: str) -> None:
        pass

    def enqueue(self, job: Job, queue: str) -> None:
        raise ConnectionResetError("redis://:hunter2@cache:6379 reset the connection")

    def bulk_enqueue(self, jobs: object, queue: str) -> None:
        raise ConnectionResetError("redis://:hunter2@cache:6379 reset the connection")

    def dequeue(self, queue: str, worker_number: int, timeout_s: float, **kwargs: object) -> None:
        return None

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: object) -> None:
        pass

    def length(self, queue: str) -> int:
        raise ConnectionResetError("redis://:hunter2@cache:6379 reset the connection")


def test_a_backend_failing_with_an_error_of_its_own(
    login: Login, healthy: DjangoRuntime, settings: Any
) -> None:
    settings.LIGHTWEIGHT_QUEUE_BACKEND = f"{__name__}.BrokenBackend"
    enqueue(healthy, "healthy", 2)
    client = login("view", "operate", "payloads")
    data = json.loads(client.get(BASE + "status.json").content)
    state = {row["queue"]: row for row in data["queues"]}["down"]["cells"]["state"]
    assert state == (
        "unreachable: ConnectionResetError while reading the status of 'down'"
        " (the details are in the server's log)"
    )
    page = client.get(BASE + "queue/down/")
    assert page.status_code == 200
    assert b"ConnectionResetError" in page.content
    assert b"hunter2" not in page.content
