"""The Django settings both bench projects share; each project adds its app and backend.

The queue is configured to do as little around a job as either system allows, identically:
no job middleware (upstream's default list names a TransactionMiddleware module that 4.11.0
does not ship), no transaction around jobs, no Prometheus, and only warnings logged.
"""

from __future__ import annotations

import os
from typing import Any

from benchkit.config import QUEUE, WORKERS_ENV, BenchConfig
from benchkit.systems import SYSTEMS

__all__ = ["common_settings"]


def common_settings(system: str) -> dict[str, Any]:
    config = BenchConfig.from_env(system)
    return {
        "SECRET_KEY": "bench-only-not-secret",
        "DEBUG": False,
        "USE_TZ": True,
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
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
        "LIGHTWEIGHT_QUEUE_ATOMIC_JOBS": False,
        # 1 unless a runner scenario asks for more (`queue_worker` ignores it).
        "LIGHTWEIGHT_QUEUE_WORKERS": {QUEUE: int(os.environ.get(WORKERS_ENV, "1"))},
    }
