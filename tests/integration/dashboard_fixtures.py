"""Fixtures for the dashboard's tests: users with each set of its permissions, and queues
on each real backend.

``login(*permissions)`` logs the test client in as a new staff user with those of
``view``, ``operate`` and ``payloads``. ``queues`` configures the queues ``emails`` (2
workers) and ``reports`` (1) on one backend at a time: in memory, on Redis (under a key
prefix of the test's own) and on SQLite (a database of the test's own), and
:class:`Queues` puts jobs where a page should show them.

No test here runs inside Django's test transaction: Django's test cases refuse, for the
test's length, every database they were not told of when it began, and the database
backend's test database is made during the test. Instead ``open_database`` lets the test
use the default (test) database as it is, and ``login`` deletes the users it made (their
admin log entries go with them) and their sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from dlq.conf import DjangoRuntime
from dlq.core.protocols import Backend, SupportsRelease
from dlq.domain.envelope import Job, JSONValue
from dlq.domain.outcome import Rejected
from tests.integration.database_fixtures import make_database
from tests.integration.redis_fixtures import SHARED_URL

__all__ = [
    "BASE",
    "QUEUE_KINDS",
    "Login",
    "Queues",
    "configure",
    "login",
    "make_user",
    "open_database",
    "queues",
]

Login = Callable[..., Client]

#: Where the admin serves the dashboard in tests/urls.py.
BASE = "/admin/dlq/dashboard/"
CODENAMES = {"view": "view_dashboard", "operate": "operate_queues", "payloads": "view_payloads"}
WORKERS = {"emails": 2, "reports": 1}
QUEUE_KINDS = ("memory", "redis", "sqlite")


@pytest.fixture
def open_database(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The default test database, usable without a test transaction around the test."""
    with django_db_blocker.unblock():
        yield


def make_user(
    django_user_model: Any,
    *permissions: str,
    staff: bool = True,
    superuser: bool = False,
    password: str | None = None,
) -> Any:
    """A new user with those of ``view``, ``operate`` and ``payloads``; delete it after.

    Without a ``password`` it can only be logged in with ``force_login`` (hashing one
    takes a good part of a second, on purpose)."""
    user = django_user_model.objects.create_user(
        username=f"dlq-test-{uuid.uuid4().hex[:8]}",
        password=password,
        is_staff=staff,
        is_superuser=superuser,
    )
    codenames = [CODENAMES[name] for name in permissions]
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="dlq", codename__in=codenames)
    )
    return user


@pytest.fixture
def login(client: Client, django_user_model: Any, open_database: None) -> Iterator[Login]:
    """``login("view", "operate", staff=True)``: the client, logged in as a new user."""
    made: list[Any] = []

    def as_user(*permissions: str, staff: bool = True, superuser: bool = False) -> Client:
        user = make_user(django_user_model, *permissions, staff=staff, superuser=superuser)
        made.append(user)
        client.force_login(user)
        return client

    yield as_user
    client.logout()  # deletes the session
    for user in made:
        user.delete()


@dataclass
class Queues:
    """The configured queues on one backend, and ways to fill them."""

    runtime: DjangoRuntime
    kind: str

    def backend(self, queue: str = "emails") -> Backend:
        return self.runtime.backend_for(queue)

    def enqueue(
        self,
        *args: JSONValue,
        queue: str = "emails",
        path: str = "tests.testapp.tasks.add",
        **kwargs: JSONValue,
    ) -> Job:
        job = Job.create(path, args, kwargs, now=datetime.now(UTC))
        self.backend(queue).enqueue(job, queue)
        return job

    def take(self, *args: JSONValue, queue: str = "emails", worker: int = 1) -> Job:
        """A job that worker slot ``worker`` holds (enqueued and taken on an empty queue,
        since batch backends take every waiting job they can)."""
        backend = self.backend(queue)
        assert backend.length(queue) == 0, "take() needs an empty queue"
        job = self.enqueue(*args, queue=queue)
        taken = backend.dequeue(queue, worker, 1.0)
        assert taken is not None
        assert taken.id == job.id
        return taken

    def bury(
        self, *args: JSONValue, queue: str = "emails", reason: str = "refused by a test"
    ) -> Job:
        """A dead letter of a job of ``tests.testapp.tasks.add`` with ``args``."""
        backend = self.backend(queue)
        taken = self.take(*args, queue=queue, worker=9)
        backend.acknowledge(queue, 9, taken, Rejected(reason))
        return taken


def configure(settings: Any, kind: str, request: pytest.FixtureRequest) -> None:
    """Point dlq's settings at a backend of ``kind``, with the two queues."""
    settings.LIGHTWEIGHT_QUEUE_WORKERS = dict(WORKERS)
    if kind == "memory":
        settings.LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.memory.InMemoryBackend"
    elif kind == "redis":
        settings.LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.reliable_redis.ReliableRedisBackend"
        settings.LIGHTWEIGHT_QUEUE_REDIS_URL = SHARED_URL
        settings.LIGHTWEIGHT_QUEUE_REDIS_PREFIX = request.getfixturevalue("redis_prefix")
    elif kind == "sqlite":
        database = make_database("sqlite", alias=f"dlqdash_{uuid.uuid4().hex[:8]}")
        request.addfinalizer(database.drop)
        settings.LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.database.DatabaseBackend"
        settings.LIGHTWEIGHT_QUEUE_DATABASE_ALIAS = database.alias
    else:
        raise ValueError(f"no such kind of queues: {kind!r}")


@pytest.fixture(params=QUEUE_KINDS)
def queues(
    request: pytest.FixtureRequest, settings: Any, runtime: DjangoRuntime
) -> Iterator[Queues]:
    """The queues on each backend in turn."""
    configure(settings, request.param, request)
    runtime.reset()
    yield Queues(runtime, request.param)
    for queue in WORKERS:
        backend = runtime.backend_for(queue)
        if isinstance(backend, SupportsRelease):
            backend.close()
    runtime.reset()
