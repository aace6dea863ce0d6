"""``manage.py check`` on the database backend's settings and database (dlq.E020-E024,
dlq.W020-W021), against real databases."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections
from django.test import override_settings

from dlq.database_checks import _too_old, check_database_backend
from tests.integration.database_fixtures import TestDatabase, database, database_session

__all__ = ["database", "database_session"]  # the fixtures, for pytest

DATABASE = "dlq.backends.database.DatabaseBackend"


def ids(**settings: object) -> list[str]:
    with override_settings(**{f"LIGHTWEIGHT_QUEUE_{k}": v for k, v in settings.items()}):
        return [message.id or "" for message in check_database_backend()]


@pytest.fixture
def alias(django_db_blocker: Any) -> Iterator[str]:
    """A SQLite alias with no dlq tables and Django's default transaction mode."""
    with tempfile.TemporaryDirectory() as directory, django_db_blocker.unblock():
        name = "dlqtest_unmigrated"
        connections.settings[name] = connections.configure_settings(
            {
                "default": connections.settings["default"],
                name: {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{directory}/x.db"},
            }
        )[name]
        try:
            yield name
        finally:
            connections[name].close()
            del connections.settings[name]


def test_a_migrated_database_passes(database: TestDatabase) -> None:
    assert ids(BACKEND=DATABASE, DATABASE_ALIAS=database.alias) == []


def test_redis_settings_with_only_the_database_backend_are_an_error() -> None:
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND=DATABASE, LIGHTWEIGHT_QUEUE_REDIS_URL="redis://x:6379/0"
    ):
        (error, *_) = check_database_backend()
    assert error.id == "dlq.E020"
    assert "LIGHTWEIGHT_QUEUE_REDIS_URL is set, but every queue uses the database" in error.msg
    mixed = ids(
        BACKEND=DATABASE,
        BACKEND_OVERRIDES={"fast": "dlq.backends.reliable_redis.ReliableRedisBackend"},
        REDIS_URL="redis://x:6379/0",
    )
    assert "dlq.E020" not in mixed  # one queue uses Redis: the URL is needed


def test_an_alias_not_in_databases_is_an_error() -> None:
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND=DATABASE, LIGHTWEIGHT_QUEUE_DATABASE_ALIAS="jobs"
    ):
        (error,) = check_database_backend()
    assert error.id == "dlq.E021"
    assert "'jobs' is not in DATABASES" in error.msg
    assert error.hint is not None
    assert "default" in error.hint


def test_unapplied_migrations_name_the_command_and_sqlite_hints_at_its_options(
    alias: str,
) -> None:
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND=DATABASE, LIGHTWEIGHT_QUEUE_DATABASE_ALIAS=alias
    ):
        messages = {message.id: message for message in check_database_backend()}
    assert set(messages) == {"dlq.W020", "dlq.E023"}
    assert messages["dlq.E023"].hint == f"run: manage.py migrate --database={alias}"
    assert '"transaction_mode": "IMMEDIATE"' in (messages["dlq.W020"].hint or "")
    with (
        override_settings(
            LIGHTWEIGHT_QUEUE_BACKEND=DATABASE, LIGHTWEIGHT_QUEUE_DATABASE_ALIAS=alias
        ),
        pytest.raises(SystemCheckError, match=r"dlq\.E023"),
    ):
        call_command("check")


def test_a_database_that_does_not_answer_is_a_warning(django_db_blocker: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    name = "dlqtest_nowhere"
    connections.settings[name] = connections.configure_settings(
        {
            "default": connections.settings["default"],
            name: {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "nowhere",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "USER": "postgres",
                "OPTIONS": {"connect_timeout": 2},
            },
        }
    )[name]
    try:
        with django_db_blocker.unblock():
            assert ids(BACKEND=DATABASE, DATABASE_ALIAS=name) == ["dlq.W021"]
    finally:
        del connections.settings[name]


def test_databases_without_skip_locked_are_named() -> None:
    old_mariadb = SimpleNamespace(vendor="mysql", mysql_version=(10, 5, 9), mysql_is_mariadb=True)
    old_mysql = SimpleNamespace(vendor="mysql", mysql_version=(5, 7, 40), mysql_is_mariadb=False)
    new = SimpleNamespace(vendor="mysql", mysql_version=(10, 11, 6), mysql_is_mariadb=True)
    assert "MariaDB 10.5.9 has no FOR UPDATE SKIP LOCKED" in _too_old(old_mariadb)
    assert "it needs MySQL 8.0.1 or later" in _too_old(old_mysql)
    assert _too_old(new) == ""


def test_settings_without_the_database_backend_are_left_alone() -> None:
    assert ids() == []
    assert ids(REDIS_URL="redis://x:6379/0", DATABASE_ALIAS="nowhere") == []
