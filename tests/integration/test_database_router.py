"""dlq's tables in a database of their own, through ``dlq.routers.QueueDatabaseRouter``."""

from __future__ import annotations

from django.test import override_settings

from dlq.models import QueuedJob
from dlq.routers import QueueDatabaseRouter
from tests.testapp.models import Record

ROUTER = QueueDatabaseRouter()


def test_dlq_models_and_migrations_go_to_the_configured_alias_only() -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_DATABASE_ALIAS="jobs"):
        assert ROUTER.db_for_write(QueuedJob) == "jobs"
        assert ROUTER.db_for_read(QueuedJob) == "jobs"
        assert ROUTER.db_for_read(Record) is None
        assert ROUTER.allow_migrate("jobs", "dlq") is True
        assert ROUTER.allow_migrate("default", "dlq") is False
        assert ROUTER.allow_migrate("jobs", "testapp") is False
        assert ROUTER.allow_migrate("default", "testapp") is None


def test_with_the_default_alias_it_has_no_opinion() -> None:
    assert ROUTER.allow_migrate("default", "dlq") is None
    assert ROUTER.db_for_write(QueuedJob) == "default"
