"""Django settings for dlq's own tests."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "dlq-tests-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dlq",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
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

# Django's task API on dlq (dlq.django_tasks): "default" is dlq's; "immediate" and "dummy"
# are Django's reference backends, which tests/integration/test_django_tasks.py runs the
# same tasks through to compare. On Django 5.2 the backport is an app (its checks); on
# Django 6 Django's own checks run every backend, so the backport is only imported.
if __import__("django").VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
TASKS = {
    "default": {
        "BACKEND": "dlq.django_tasks.DlqBackend",
        "QUEUES": ["default", "other"],
    },
    "immediate": {
        "BACKEND": (
            "django.tasks.backends.immediate.ImmediateBackend"
            if __import__("django").VERSION >= (6, 0)
            else "django_tasks.backends.immediate.ImmediateBackend"
        ),
        "QUEUES": ["default", "other"],
    },
    # Supports run_after and priorities: the reference for validate_task's other errors.
    "dummy": {
        "BACKEND": (
            "django.tasks.backends.dummy.DummyBackend"
            if __import__("django").VERSION >= (6, 0)
            else "django_tasks.backends.dummy.DummyBackend"
        ),
        "QUEUES": ["default", "other"],
    },
}
# The process labs give "default" workers and "other" none: dlq.W030 would say so at every
# command they run. tests/integration/test_django_tasks.py checks it (run_checks is not
# silenced).
SILENCED_SYSTEM_CHECKS = ["dlq.W030"]
