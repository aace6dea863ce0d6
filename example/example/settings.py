"""Settings of the example project. The demo points it at Redis with DLQ_REDIS_URL."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only"
DEBUG = True
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "dlq", "shop", "reports"]
ROOT_URLCONF = "example.urls"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "example.sqlite3"}
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "dlq": {"handlers": ["console"], "level": os.environ.get("DLQ_LOG_LEVEL", "WARNING")}
    },
}

LIGHTWEIGHT_QUEUE_BACKEND = os.environ.get(
    "DLQ_BACKEND", "dlq.backends.reliable_redis.ReliableRedisBackend"
)
LIGHTWEIGHT_QUEUE_REDIS_URL = os.environ.get("DLQ_REDIS_URL", "redis://127.0.0.1:6379/0")
LIGHTWEIGHT_QUEUE_REDIS_PREFIX = "dlq-example"
LIGHTWEIGHT_QUEUE_WORKERS = {"orders": 2, "reports": 1}
# A fresh runner catches up cron minutes missed in the last minute only.
LIGHTWEIGHT_QUEUE_CRON_CATCH_UP_S = 60
