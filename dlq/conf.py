"""The Django side of dlq's runtime: settings, backends and the job runner, built lazily.

:class:`DjangoRuntime` is created and installed by ``DlqConfig.ready()``. It reads
Django's settings (and the ``--config`` file a command names) the first time something
needs them, and forgets what it built when a ``LIGHTWEIGHT_QUEUE_*`` setting changes
(``override_settings`` in tests). Things derived from the settings and the installed
apps that are costly to build and often asked for (the cron configuration, say) are kept
with :meth:`DjangoRuntime.memo` and forgotten at the same moment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import Any, TypeVar, cast

from django.apps import apps
from django.conf import settings as django_settings
from django.db import transaction
from django.utils.module_loading import module_has_submodule

from dlq.backends import build_backend, import_path
from dlq.core.clock import utc_now
from dlq.core.execution import JobRunner
from dlq.core.protocols import Backend, BackendContext
from dlq.core.registry import TaskRegistry, default_registry
from dlq.core.runtime import current_runtime
from dlq.core.settings import (
    PREFIX,
    QueueSettings,
    SettingsSource,
    build_settings,
    load_config_file,
    relevant_names,
)
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome
from dlq.exceptions import ConfigurationError, NotReadyError, Problem

__all__ = ["DjangoRuntime", "get_runtime", "queue_settings"]

T = TypeVar("T")


class DjangoRuntime:
    def __init__(self, registry: TaskRegistry = default_registry) -> None:
        self.registry = registry
        self._config: SettingsSource | None = None
        self._lock = threading.RLock()
        self._settings: QueueSettings | None = None
        self._backends: dict[str, Backend] = {}  # by import path
        self._queue_backends: dict[str, Backend] = {}  # by queue: every enqueue asks
        self._runner: JobRunner | None = None
        self._discovered = False
        self._memos: dict[Callable[[], object], object] = {}

    def now(self) -> datetime:
        return utc_now()

    def use_config_file(self, path: str | Path | None) -> None:
        """Layer a ``--config`` file over Django's settings from now on."""
        with self._lock:
            config = None if path is None else load_config_file(path)
            if config != self._config:
                self._config = config
                self.reset()

    @property
    def config_file(self) -> str | None:
        return None if self._config is None else self._config.label

    @property
    def settings(self) -> QueueSettings:
        settings = self._settings  # (read without the lock: every enqueue asks)
        if settings is not None:
            return settings
        with self._lock:
            if self._settings is None:
                self._settings = build_settings(_django_setting_values(), self._config)
            return self._settings

    def reset(self) -> None:
        """Forget everything built from the settings, and the settings (they changed)."""
        with self._lock:
            self._settings = None
            self.forget_memos()
            self.drop_backends()

    def forget_memos(self) -> None:
        """Forget what :meth:`memo` kept, and only that: for a test that rewrote a
        ``cron.py``'s ``CONFIG``, which no setting announces."""
        with self._lock:
            self._memos.clear()

    def memo(self, build: Callable[[], T]) -> T:
        """``build()``, called once and kept until :meth:`reset` (settings or apps changed).

        For values derived from the settings and the installed apps, costly to build and
        asked for often. A fork keeps them, as it keeps the settings.
        """
        found = self._memos.get(build, _MISSING)  # (a dict read needs no lock)
        if found is _MISSING:
            with self._lock:
                found = self._memos.get(build, _MISSING)
                if found is _MISSING:
                    found = self._memos[build] = build()
        return cast(T, found)

    def drop_backends(self) -> None:
        """Forget the backends and the job runner, keeping the settings: what a fork needs,
        since the child must open connections of its own. Settings are plain values, and
        building them again would cost every recycled worker milliseconds."""
        with self._lock:
            self._backends.clear()
            self._queue_backends.clear()
            self._runner = None

    def backend_for(self, queue: str) -> Backend:
        backend = self._queue_backends.get(queue)  # (a dict read needs no lock)
        if backend is not None:
            return backend
        path = self.settings.backend_path_for(queue)
        with self._lock:
            backend = self._backends.get(path)
            if backend is None:
                setting = (
                    f"{PREFIX}BACKEND_OVERRIDES[{queue!r}]"
                    if queue in self.settings.BACKEND_OVERRIDES
                    else f"{PREFIX}BACKEND"
                )
                backend = build_backend(path, self._backend_context(), setting)
                self._backends[path] = backend
            self._queue_backends[queue] = backend
            return backend

    def _backend_context(self) -> BackendContext:
        return BackendContext(
            settings=self.settings,
            clock=utc_now,
            logger=self.logger("dlq.backend"),
            run_job=self.run_job,
        )

    def run_job(self, job: Job, queue: str) -> Outcome:
        return self.job_runner().run(job, queue)

    def on_commit(self, callback: Callable[[], None], alias: str) -> None:
        transaction.on_commit(callback, using=alias)

    def job_runner(self) -> JobRunner:
        with self._lock:
            if self._runner is None:
                self.discover_tasks()
                self._runner = JobRunner(
                    self.registry,
                    [_middleware(path) for path in self.settings.MIDDLEWARE],
                    atomic_by_default=self.settings.ATOMIC_JOBS,
                    atomic=transaction.atomic,
                    logger=self.logger("dlq.execution"),
                )
            return self._runner

    def logger(self, name: str) -> logging.Logger:
        factory = self.settings.LOGGER_FACTORY
        make: object = (
            import_path(factory, f"{PREFIX}LOGGER_FACTORY") if isinstance(factory, str) else factory
        )
        if not callable(make):
            raise ConfigurationError(
                [Problem(f"{PREFIX}LOGGER_FACTORY", f"{factory!r} is not callable")]
            )
        logger = make(name)
        return logger if isinstance(logger, logging.Logger) else logging.getLogger(name)

    def discover_tasks(self) -> None:
        """Import ``tasks`` of every installed app not in IGNORE_APPS, once.

        dlq's own task, cron's ``run_cron_entry``, is registered by ``DlqConfig.ready()``.
        """
        with self._lock:
            if self._discovered:
                return
            ignored = set(self.settings.IGNORE_APPS)
            for app_config in apps.get_app_configs():
                if app_config.name in ignored:
                    continue
                if module_has_submodule(app_config.module, "tasks"):
                    import_module(f"{app_config.name}.tasks")
            self._discovered = True


_MISSING = object()


def _django_setting_values() -> Mapping[str, object]:
    # Only our names and near misses are read: reading every setting would trip Django's
    # deprecation warnings for settings nobody uses.
    return {name: getattr(django_settings, name) for name in relevant_names(dir(django_settings))}


def _middleware(path: str) -> object:
    cls: Any = import_path(path, f"{PREFIX}MIDDLEWARE")
    if not callable(cls):
        raise ConfigurationError([Problem(f"{PREFIX}MIDDLEWARE", f"{path!r} is not a class")])
    return cls()


def get_runtime() -> DjangoRuntime:
    """The runtime ``DlqConfig.ready()`` installed."""
    runtime = current_runtime()
    if not isinstance(runtime, DjangoRuntime):
        raise NotReadyError("dlq's Django runtime was asked for")
    return runtime


def queue_settings() -> QueueSettings:
    """dlq's validated settings (with any ``--config`` file applied), typed for your editor."""
    return get_runtime().settings
