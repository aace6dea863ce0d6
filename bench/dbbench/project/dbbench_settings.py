"""One tiny project for both systems; the environment says which and which database.

BENCH_DB_SYSTEM   "dlq" (@dlq.task), "dlqapi" (Django's task API on dlq.django_tasks.DlqBackend)
                  or "tasksdb" (django-tasks-db)
BENCH_DB_STORE    dlq systems: "database" (the default: dlq's database backend) or "redis"
                  (ReliableRedisBackend on BENCH_REDIS_URL, keys under BENCH_REDIS_PREFIX)
BENCH_STORE_RESULTS  dlq systems: "1" keeps each job's result record, "0" does not; unset,
                  each its default (@dlq.task: none; Django's API: where the backend can)
BENCH_DB_VENDOR   "sqlite" or "postgresql"
BENCH_DB_NAME     the SQLite file, or the PostgreSQL database (on BENCH_PG_HOST:PORT)
BENCH_DB_WORKERS  workers for dlq's queue_runner (default 1)

Both systems do as little around a job as they allow: no middleware, no transaction
around jobs, warnings-only logging.
"""

import os

SYSTEM = os.environ["BENCH_DB_SYSTEM"]
VENDOR = os.environ["BENCH_DB_VENDOR"]

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
if VENDOR == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["BENCH_DB_NAME"],
            # What each system's documentation asks of SQLite under concurrent workers.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["BENCH_DB_NAME"],
            "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
            "USER": os.environ.get("BENCH_PG_USER", "postgres"),
        }
    }

if SYSTEM in ("dlq", "dlqapi"):
    INSTALLED_APPS = ["dlq", "dbbenchapp"]
    if os.environ.get("BENCH_DB_STORE", "database") == "redis":
        LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.reliable_redis.ReliableRedisBackend"
        LIGHTWEIGHT_QUEUE_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
        LIGHTWEIGHT_QUEUE_REDIS_PREFIX = os.environ["BENCH_REDIS_PREFIX"]
    else:
        LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.database.DatabaseBackend"
    LIGHTWEIGHT_QUEUE_MIDDLEWARE = ()
    LIGHTWEIGHT_QUEUE_ATOMIC_JOBS = False
    LIGHTWEIGHT_QUEUE_WORKERS = {"bench": int(os.environ.get("BENCH_DB_WORKERS", "1"))}
    # A job count far above any scenario's: no worker is recycled mid-measurement.
    LIGHTWEIGHT_QUEUE_JOBS_PER_WORKER = 10_000_000
    STORE_RESULTS = {"1": True, "0": False}.get(os.environ.get("BENCH_STORE_RESULTS", ""))
    if STORE_RESULTS is not None:
        LIGHTWEIGHT_QUEUE_STORE_RESULTS = STORE_RESULTS
if SYSTEM == "dlqapi":
    try:
        import django.tasks  # noqa: F401
    except ImportError:  # Django 5.2: the backport
        INSTALLED_APPS.insert(0, "django_tasks")
    TASKS = {
        "default": {
            "BACKEND": "dlq.django_tasks.DlqBackend",
            "QUEUES": ["bench"],
            "OPTIONS": {} if STORE_RESULTS is None else {"STORE_RESULTS": STORE_RESULTS},
        }
    }
if SYSTEM == "tasksdb":
    INSTALLED_APPS = ["django_tasks", "django_tasks_db", "dbbenchapp"]
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
