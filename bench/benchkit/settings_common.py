"""The Django settings both bench projects share; each project adds its app and backend.

The queue is configured to do as little around a job as either system allows, identically:
no job middleware (upstream's default list names a TransactionMiddleware module that 4.11.0
does not ship), no transaction around jobs, no Prometheus, and only warnings logged. The
database scenarios turn transactions on and name a database (see ``_database_settings``).
"""

from __future__ import annotations

import os
from typing import Any

from benchkit.config import (
    ATOMIC_ENV,
    CONN_MAX_AGE_ENV,
    DATABASE_ENV,
    DATABASE_NAME_ENV,
    QUEUE,
    WORKERS_ENV,
    BenchConfig,
)
from benchkit.systems import SYSTEMS

__all__ = ["common_settings"]


def common_settings(system: str) -> dict[str, Any]:
    config = BenchConfig.from_env(system)
    return {
        **_database_settings(config),
        "SECRET_KEY": "bench-only-not-secret",
        "DEBUG": False,
        "USE_TZ": True,
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"stderr": {"class": "logging.StreamHandler"}},
            "root": {"handlers": ["stderr"], "level": "WARNING"},
        },
        "LIGHTWEIGHT_QUEUE_BACKEND": SYSTEMS[system].backends[config.backend],
        "LIGHTWEIGHT_QUEUE_REDIS_HOST": config.redis_host,
        "LIGHTWEIGHT_QUEUE_REDIS_PORT": config.redis_port,
        "LIGHTWEIGHT_QUEUE_REDIS_DATABASE": config.redis_db,
        "LIGHTWEIGHT_QUEUE_REDIS_PREFIX": config.prefix,
        "LIGHTWEIGHT_QUEUE_MIDDLEWARE": (),
        "LIGHTWEIGHT_QUEUE_ATOMIC_JOBS": os.environ.get(ATOMIC_ENV) == "1",
        # 1 unless a runner scenario asks for more (`queue_worker` ignores it).
        "LIGHTWEIGHT_QUEUE_WORKERS": {QUEUE: int(os.environ.get(WORKERS_ENV, "1"))},
    }


def _database_settings(config: BenchConfig) -> dict[str, Any]:
    """An in-memory SQLite database no job opens, unless a database scenario names one
    (``BENCH_DATABASE``: "sqlite", a file of the run's, or "postgres", the database
    ``BENCH_DATABASE_NAME`` on 127.0.0.1:5432) with its ``CONN_MAX_AGE``."""
    kind = os.environ.get(DATABASE_ENV, "memory")
    max_age = os.environ.get(CONN_MAX_AGE_ENV, "0")
    options: dict[str, Any] = {"CONN_MAX_AGE": None if max_age == "none" else int(max_age)}
    if kind == "sqlite":
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(config.sqlite_file)}
    elif kind == "postgres":
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ[DATABASE_NAME_ENV],
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "USER": "postgres",
        }
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    return {"DATABASES": {"default": {**database, **options}}}
