from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed

from dlq.conf import DjangoRuntime
from dlq.core.runtime import install_runtime
from dlq.core.settings import PREFIX

if TYPE_CHECKING:
    from dlq.core.task import Task


class DlqConfig(AppConfig):
    name = "dlq"
    verbose_name = "dlq task queue"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Importing dlq.cron_jobs registers cron's task, run_cron_entry, as importing an
        # app's tasks.py registers its tasks: done here, when Django starts dlq, rather
        # than whenever dlq.apps happens to be imported.
        from dlq import checks as dlq_checks
        from dlq import cron_jobs  # noqa: F401  # registers the cron task
        from dlq.database_checks import check_database_backend

        self.runtime = DjangoRuntime()
        install_runtime(self.runtime)
        # Workers run Django-API tasks whose TASKS backend is dlq's (dlq.django_tasks); the
        # resolver answers for no other path, and imports nothing a payload names.
        self.runtime.registry.add_resolver(_resolve_django_task)
        checks.register(dlq_checks.check_settings, dlq_checks.TAG, dlq_checks.SETTINGS_TAG)
        checks.register(dlq_checks.check_cron, dlq_checks.TAG, dlq_checks.CRON_TAG)
        # Workers run these too: a database that is not migrated stops them with the command
        # to run, not with an error at their first job.
        checks.register(check_database_backend, dlq_checks.TAG, dlq_checks.SETTINGS_TAG)
        setting_changed.connect(self._setting_changed, dispatch_uid="dlq.setting_changed")

    def _setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting.startswith(PREFIX) or setting in {"INSTALLED_APPS", "DEBUG"}:
            self.runtime.reset()


def _resolve_django_task(path: str) -> Task[..., object] | None:
    """The Django-API task at ``path``, if any: ``dlq.django_tasks`` (and Django's task
    module or its backport) imported only when a payload names no ``@dlq.task``, not at
    every worker's start."""
    from dlq.django_tasks.running import resolve_django_task

    return resolve_django_task(path)
