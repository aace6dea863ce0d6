"""Django settings for dlq's own tests."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "dlq-tests-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "dlq",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "tests.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DLQ_TEST_DB", str(BASE_DIR / "test.sqlite3")),
        "TEST": {"NAME": os.environ.get("DLQ_TEST_DB", str(BASE_DIR / "test.sqlite3"))},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.memory.InMemoryBackend"
