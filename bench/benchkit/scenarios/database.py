"""One worker through the runner with every job in a transaction, the database on SQLite
or PostgreSQL: what a default install (ATOMIC_JOBS on) pays per job for its database.

dlq and upstream run `queue_runner` with one worker, LIGHTWEIGHT_QUEUE_ATOMIC_JOBS on and
the database named by the scenario; `CONN_MAX_AGE` is None (one connection per worker
process, kept) or 0 (Django's default: a connection per job). Dramatiq runs its own
worker (one process, one thread, prefetch 64) on the same Redis with the same no-op task
and no database: the reference the issue sets (dlq at least twice its drain). The drain
itself is runner.drain: N pre-filled jobs between two markers.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator

from benchkit.config import ATOMIC_ENV, CONN_MAX_AGE_ENV, DATABASE_ENV, DATABASE_NAME_ENV
from benchkit.context import Context
from benchkit.scenarios.runner import drain

_POSTGRES = "host=127.0.0.1 port=5432 user=postgres"


def drain_with_database(ctx: Context, database: str, conn_max_age: str) -> dict[str, object]:
    if ctx.system.name == "dramatiq":
        return {**drain(ctx, workers=1), "database": "none"}
    with _database(ctx, database) as name:
        env = {
            ATOMIC_ENV: "1",
            DATABASE_ENV: database,
            DATABASE_NAME_ENV: name,
            CONN_MAX_AGE_ENV: conn_max_age,
        }
        return {**drain(ctx, workers=1, env=env), "database": database}


@contextlib.contextmanager
def _database(ctx: Context, database: str) -> Iterator[str]:
    """A database of this measurement's own, removed afterwards; yields its name."""
    if database == "sqlite":
        ctx.config.sqlite_file.unlink(missing_ok=True)
        try:
            yield str(ctx.config.sqlite_file)
        finally:
            ctx.config.sqlite_file.unlink(missing_ok=True)
        return
    import psycopg

    name = re.sub(r"[^a-z0-9_]", "_", ctx.config.prefix.lower())[:60]
    with psycopg.connect(f"{_POSTGRES} dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


sqlite_kept = functools.partial(drain_with_database, database="sqlite", conn_max_age="none")
sqlite_per_job = functools.partial(drain_with_database, database="sqlite", conn_max_age="0")
postgres_kept = functools.partial(drain_with_database, database="postgres", conn_max_age="none")
postgres_per_job = functools.partial(drain_with_database, database="postgres", conn_max_age="0")
