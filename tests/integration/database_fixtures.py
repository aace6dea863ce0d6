"""Fixtures for tests against real databases: SQLite, PostgreSQL and MariaDB/MySQL.

Each test run creates databases of its own, named ``dlqtest_<random>`` (several runs
share the servers at once), migrates dlq's tables into them, and drops them at the end;
it never touches anything else on the servers. The servers are those
:mod:`tests.services` names; without one its tests are skipped, except under ``CI=true``
where that is a failure, as for Redis.

Each database is registered as a Django alias (``dlqtest_sqlite``, ``dlqtest_postgresql``,
``dlqtest_mysql``) for the whole session; every test using one starts with its dlq
tables emptied. ``tests/backends.py`` lists the database backend on each for the shared tests.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from django.core.management import call_command
from django.db import connections

from dlq.backends.database import DatabaseBackend, Tuning
from dlq.backends.database.schema import (
    CLAIM_TABLE,
    CRON_TABLE,
    DEAD_TABLE,
    JOB_TABLE,
    QUEUE_TABLE,
    RECORD_TABLE,
    SLOT_TABLE,
)
from dlq.core.settings import QueueSettings
from tests.services import MYSQL, POSTGRES, unavailable

__all__ = [
    "VENDORS",
    "TestDatabase",
    "Vendor",
    "database",
    "database_session",
    "make_database",
    "session_database",
]

Vendor = Literal["sqlite", "postgresql", "mysql"]
VENDORS: tuple[Vendor, ...] = ("sqlite", "postgresql", "mysql")
_TABLES = (JOB_TABLE, DEAD_TABLE, QUEUE_TABLE, SLOT_TABLE, CLAIM_TABLE, CRON_TABLE, RECORD_TABLE)

PG = POSTGRES
MY = MYSQL


@dataclass
class TestDatabase:
    """A database of this test run's own, registered as a Django alias."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    vendor: Vendor
    alias: str
    config: dict[str, Any]
    drop: Callable[[], None] = field(repr=False)

    def settings(self, **values: object) -> QueueSettings:
        return QueueSettings.model_validate(
            {"DATABASE_ALIAS": self.alias, "MAX_DELIVERIES": 3, **values}
        )

    def backend(self, tuning: Tuning | None = None, **values: object) -> DatabaseBackend:
        return DatabaseBackend(self.settings(**values), tuning=tuning)

    def empty(self) -> None:
        with connections[self.alias].cursor() as cursor:
            for table in _TABLES:
                cursor.execute(f"DELETE FROM {table}")

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` through Django's connection (``%s`` placeholders); its rows."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []


def _register(alias: str, config: dict[str, Any]) -> None:
    default = connections.settings["default"]
    configured = connections.configure_settings({"default": default, alias: config})
    connections.settings[alias] = configured[alias]


def _forget(alias: str) -> None:
    if alias in connections.settings:
        connections[alias].close()
        del connections.settings[alias]


def _sqlite(name: str) -> tuple[dict[str, Any], Callable[[], None]]:
    directory = tempfile.mkdtemp(prefix="dlqtest-")
    path = Path(directory) / f"{name}.sqlite3"
    config = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }

    def drop() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.rmdir(directory)

    return config, drop


def _postgresql(name: str) -> tuple[dict[str, Any], Callable[[], None]]:
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed")
        raise
    dsn = f"host={PG['HOST']} port={PG['PORT']} user={PG['USER']} dbname=postgres"
    if PG["PASSWORD"]:
        dsn += f" password={PG['PASSWORD']}"
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(f"no PostgreSQL at {PG['HOST']}:{PG['PORT']}: {exc}")
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return {"ENGINE": "django.db.backends.postgresql", "NAME": name, **PG}, drop


def _mysql(name: str) -> tuple[dict[str, Any], Callable[[], None]]:
    try:
        import MySQLdb
    except ImportError:
        unavailable("mysqlclient is not installed")
        raise
    params: dict[str, Any] = {
        "host": MY["HOST"],
        "port": int(MY["PORT"]),
        "user": MY["USER"],
        "connect_timeout": 3,
    }
    if MY["PASSWORD"]:
        params["password"] = MY["PASSWORD"]
    try:
        admin = MySQLdb.connect(**params)
    except MySQLdb.OperationalError as exc:
        unavailable(f"no MySQL/MariaDB at {MY['HOST']}:{MY['PORT']}: {exc}")
        raise
    try:
        admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        admin.close()  # type: ignore[no-untyped-call]  # the stubs leave close() untyped

    def drop() -> None:
        conn = MySQLdb.connect(**params)
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()  # type: ignore[no-untyped-call]  # as above

    return {"ENGINE": "django.db.backends.mysql", "NAME": name, **MY}, drop


_MAKERS = {"sqlite": _sqlite, "postgresql": _postgresql, "mysql": _mysql}


def make_database(vendor: Vendor, alias: str | None = None) -> TestDatabase:
    """Create, register and migrate a database of ``vendor`` (skips if there is no server)."""
    name = f"dlqtest_{uuid.uuid4().hex[:12]}"
    config, drop = _MAKERS[vendor](name)
    alias = alias or f"dlqtest_{vendor}"
    _register(alias, config)

    def forget_and_drop() -> None:
        _forget(alias)
        drop()

    try:
        call_command("migrate", "dlq", database=alias, verbosity=0)
    except BaseException:
        forget_and_drop()
        raise
    return TestDatabase(vendor, alias, config, forget_and_drop)


_SESSION: dict[Vendor, TestDatabase] = {}


@pytest.fixture(scope="session")
def database_session(django_db_blocker: Any) -> Iterator[dict[Vendor, TestDatabase]]:
    """The run's databases, made on first use and dropped when the run ends."""
    with django_db_blocker.unblock():
        try:
            yield _SESSION
        finally:
            for db in list(_SESSION.values()):
                db.drop()
            _SESSION.clear()


def _get(sessions: dict[Vendor, TestDatabase], vendor: Vendor) -> TestDatabase:
    if vendor not in sessions:
        sessions[vendor] = make_database(vendor)
    db = sessions[vendor]
    db.empty()
    return db


@pytest.fixture(params=VENDORS)
def database(
    request: pytest.FixtureRequest,
    database_session: dict[Vendor, TestDatabase],
    django_db_blocker: Any,
) -> Iterator[TestDatabase]:
    """Each vendor's database in turn, its dlq tables empty."""
    with django_db_blocker.unblock():
        yield _get(database_session, request.param)


def session_database(request: pytest.FixtureRequest, vendor: Vendor) -> TestDatabase:
    """The run's database of ``vendor``, its dlq tables empty (call with the DB unblocked)."""
    return _get(request.getfixturevalue("database_session"), vendor)
