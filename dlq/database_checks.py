"""System checks for the database backend, and for settings that make no sense with it.

Ids (numbered apart from :mod:`dlq.checks`' so that both can grow):

* ``dlq.E020`` Redis settings while every queue uses the database backend;
* ``dlq.E021`` ``DATABASE_ALIAS`` names no database, or one the backend cannot use;
* ``dlq.E022`` the database is too old (MySQL before 8.0.1 and MariaDB before 10.6 have
  no ``SKIP LOCKED``, SQLite before 3.35 no ``RETURNING``);
* ``dlq.E023`` dlq's migrations are not applied to that database;
* ``dlq.E024`` the driver the backend needs is not installed;
* ``dlq.W020`` a SQLite alias without ``transaction_mode = "IMMEDIATE"``;
* ``dlq.W021`` the database could not be reached to check it.

The checks that talk to the database run only when a queue uses the database backend,
and never under Django's migration commands: an unapplied migration must not stop
``manage.py migrate`` from applying it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from typing import Any

from django.core import checks
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from dlq.backends import import_path
from dlq.backends.database import DatabaseBackend
from dlq.conf import get_runtime
from dlq.core.settings import PREFIX, QueueSettings
from dlq.exceptions import ConfigurationError

__all__ = ["check_database_backend"]

_ALIAS_SETTING = f"{PREFIX}DATABASE_ALIAS"
_MIGRATION_COMMANDS = frozenset(
    {"migrate", "makemigrations", "sqlmigrate", "showmigrations", "squashmigrations"}
)
_SQLITE_OPTIONS = (
    '"OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20,'
    ' "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"}'
)


def check_database_backend(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    try:
        settings = get_runtime().settings
    except ConfigurationError:
        return []  # dlq.checks reports it
    backends = _backend_settings(settings)
    using = [name for name, is_database in backends.items() if is_database]
    errors = _check_redis_settings(settings, backends)
    if not using:
        return errors
    errors += _check_alias(settings.DATABASE_ALIAS)
    if any(error.is_serious() for error in errors) or _running_migration_command():
        return errors
    return errors + _check_database(settings.DATABASE_ALIAS)


def _backend_settings(settings: QueueSettings) -> dict[str, bool]:
    """Each backend setting, and whether it names the database backend (False when it
    cannot be imported: dlq.checks reports that)."""
    paths = {f"{PREFIX}BACKEND": settings.BACKEND}
    paths.update(
        {f"{PREFIX}BACKEND_OVERRIDES[{q!r}]": p for q, p in settings.BACKEND_OVERRIDES.items()}
    )
    result = {}
    for name, path in paths.items():
        try:
            cls = import_path(path, name)
        except ConfigurationError:
            result[name] = False
            continue
        result[name] = isinstance(cls, type) and issubclass(cls, DatabaseBackend)
    return result


def _check_redis_settings(
    settings: QueueSettings, backends: dict[str, bool]
) -> list[checks.CheckMessage]:
    if not all(backends.values()):
        return []
    redis = sorted(PREFIX + name for name in settings.model_fields_set if name.startswith("REDIS_"))
    if not redis:
        return []
    return [
        checks.Error(
            f"{', '.join(redis)} {'is' if len(redis) == 1 else 'are'} set, but every queue uses"
            " the database backend, which never reads them",
            hint=f"remove {'it' if len(redis) == 1 else 'them'}, or set {PREFIX}BACKEND (or"
            f" {PREFIX}BACKEND_OVERRIDES for some queues) to a Redis backend",
            obj=redis[0],
            id="dlq.E020",
        )
    ]


def _check_alias(alias: str) -> list[checks.CheckMessage]:
    if alias not in connections.settings:
        return [
            checks.Error(
                f"{alias!r} is not in DATABASES",
                hint=f"set {_ALIAS_SETTING} to one of {sorted(connections.settings)}, or add"
                f" {alias!r} to DATABASES",
                obj=_ALIAS_SETTING,
                id="dlq.E021",
            )
        ]
    wrapper = connections[alias]
    if wrapper.vendor not in {"postgresql", "mysql", "sqlite"}:
        return [
            checks.Error(
                f"the database {alias!r} is {wrapper.vendor}; the database backend"
                " works with PostgreSQL, MySQL/MariaDB and SQLite",
                obj=_ALIAS_SETTING,
                id="dlq.E021",
            )
        ]
    if wrapper.vendor == "postgresql" and importlib.util.find_spec("psycopg") is None:
        return [
            checks.Error(
                "the database backend needs psycopg 3 for PostgreSQL",
                hint='pip install "dlq[postgres]"',
                obj=_ALIAS_SETTING,
                id="dlq.E024",
            )
        ]
    if wrapper.vendor != "sqlite":
        return []
    name = str(wrapper.settings_dict.get("NAME") or "")
    if name in {"", ":memory:"} or "mode=memory" in name:
        return [
            checks.Error(
                f"the SQLite database {alias!r} is in memory: each worker would see one of its own",
                hint="give it a file NAME",
                obj=_ALIAS_SETTING,
                id="dlq.E021",
            )
        ]
    mode = str(wrapper.settings_dict.get("OPTIONS", {}).get("transaction_mode") or "")
    if mode.upper() in {"IMMEDIATE", "EXCLUSIVE"}:
        return []
    return [
        checks.Warning(
            f"the SQLite database {alias!r} starts transactions DEFERRED: a transaction that"
            " reads and then enqueues fails with 'database is locked' when a worker writes"
            " at that moment, instead of waiting",
            hint=f"add to DATABASES[{alias!r}]: {_SQLITE_OPTIONS}",
            obj=_ALIAS_SETTING,
            id="dlq.W020",
        )
    ]


def _running_migration_command() -> bool:
    return len(sys.argv) > 1 and sys.argv[1] in _MIGRATION_COMMANDS


def _check_database(alias: str) -> list[checks.CheckMessage]:
    wrapper = connections[alias]
    try:
        wrapper.ensure_connection()
        too_old = _too_old(wrapper)
        if too_old:
            return [checks.Error(too_old, obj=_ALIAS_SETTING, id="dlq.E022")]
        executor = MigrationExecutor(wrapper)
        targets = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "dlq"]
        plan = executor.migration_plan(targets)
    except Exception as exc:  # any failure to look is a warning: a check must not crash
        return [
            checks.Warning(
                f"could not reach the database {alias!r} to check it for the database"
                f" backend: {exc}",
                obj=_ALIAS_SETTING,
                id="dlq.W021",
            )
        ]
    if not plan:
        return []
    command = "manage.py migrate" + ("" if alias == "default" else f" --database={alias}")
    return [
        checks.Error(
            f"dlq's tables are missing or out of date in the database {alias!r}"
            f" ({len(plan)} migration{'s' if len(plan) > 1 else ''} of dlq not applied)",
            hint=f"run: {command}",
            obj=_ALIAS_SETTING,
            id="dlq.E023",
        )
    ]


def _too_old(wrapper: Any) -> str:
    if wrapper.vendor == "mysql":
        version = tuple(wrapper.mysql_version)
        if wrapper.mysql_is_mariadb and version < (10, 6):
            found, needed = "MariaDB", "10.6"
        elif not wrapper.mysql_is_mariadb and version < (8, 0, 1):
            found, needed = "MySQL", "8.0.1"
        else:
            return ""
        return (
            f"{found} {'.'.join(map(str, version))} has no FOR UPDATE SKIP LOCKED, which the"
            f" database backend claims jobs with: it needs {found} {needed} or later"
        )
    if wrapper.vendor == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 35):
            return (
                f"SQLite {sqlite3.sqlite_version} has no UPDATE ... RETURNING, which the"
                " database backend claims jobs with: it needs SQLite 3.35 or later"
            )
    return ""
