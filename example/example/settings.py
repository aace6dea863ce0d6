"""Settings of the example project.

Jobs wait in the project's own SQLite database (the database backend): nothing else to
run. With DLQ_REDIS_URL set (``./scripts/demo --redis`` sets it), they go to Redis instead.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only"
DEBUG = True
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "dlq",
    "shop",
    "reports",
    "mail",
]
ROOT_URLCONF = "example.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "example.sqlite3",
        # What dlq's check (dlq.W020) asks of a SQLite database that workers share: writers
        # wait for each other instead of failing with "database is locked".
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "dlq": {"handlers": ["console"], "level": os.environ.get("DLQ_LOG_LEVEL", "WARNING")}
    },
}

if os.environ.get("DLQ_REDIS_URL"):
    LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.reliable_redis.ReliableRedisBackend"
    LIGHTWEIGHT_QUEUE_REDIS_URL = os.environ["DLQ_REDIS_URL"]
    LIGHTWEIGHT_QUEUE_REDIS_PREFIX = "dlq-example"
else:
    LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.database.DatabaseBackend"
LIGHTWEIGHT_QUEUE_BACKEND = os.environ.get("DLQ_BACKEND", LIGHTWEIGHT_QUEUE_BACKEND)
LIGHTWEIGHT_QUEUE_WORKERS = {"orders": 2, "reports": 1, "mail": 1}
try:
    import django.tasks  # noqa: F401  # Django 6: the task API is built in
except ImportError:  # Django 5.2: the backport is an app (its checks and signals)
    INSTALLED_APPS.append("django_tasks")
# Django's task API (mail/tasks.py) on dlq: its tasks go to the dlq queue of their
# queue_name, on the backend above, and run in the same queue_runner.
TASKS = {
    "default": {
        "BACKEND": "dlq.django_tasks.DlqBackend",
        "QUEUES": ["mail"],
        "OPTIONS": {"TIMEOUT": 30},
    }
}
# A fresh runner catches up cron minutes missed in the last minute only.
LIGHTWEIGHT_QUEUE_CRON_CATCH_UP_S = 60
