"""System checks: ``manage.py check`` (and every command) reports a bad configuration.

Settings (:func:`check_settings`): ``dlq.E001`` a setting's name or value, ``dlq.E002`` a
backend path, ``dlq.E003`` a middleware path, ``dlq.E004`` the logger factory,
``dlq.E008`` an ``ENQUEUE_ON_COMMIT`` alias that is not a database, ``dlq.W001`` an
ignored app that is not installed.

Cron (:func:`check_cron`): ``dlq.E005`` a mistake in a ``cron.py`` (it cannot be
imported, has no ``CONFIG``, or an entry has an unknown key or a bad value), ``dlq.E006``
an entry whose command no installed app provides, ``dlq.E007`` an unknown
``CRON_TIMEZONE``, ``dlq.W002`` a cron queue whose backend cannot claim minutes (two
schedulers could both enqueue one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.core import checks

from dlq.backends import import_path
from dlq.conf import get_runtime
from dlq.core.scheduler import cron_timezone
from dlq.core.settings import PREFIX, QueueSettings
from dlq.cron_jobs import load_cron_configuration
from dlq.exceptions import ConfigurationError, Problem

__all__ = ["CRON_TAG", "SETTINGS_TAG", "TAG", "check_cron", "check_settings"]

#: Every dlq check carries this tag (``manage.py check --tag dlq``) and one of the two
#: below, so that a command can run the checks of what it uses and no others.
TAG = "dlq"
#: Settings, backends, middleware, the logger factory (this module).
SETTINGS_TAG = "dlq_settings"
#: The cron configuration (:func:`check_cron`).
CRON_TAG = "dlq_cron"

_BACKEND_METHODS = ("enqueue", "bulk_enqueue", "dequeue", "length")


def check_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    try:
        settings = get_runtime().settings
    except ConfigurationError as exc:
        return [
            _error(problem.name, problem.detail, problem.hint, "dlq.E001")
            for problem in exc.problems
        ]
    return [
        *_check_backends(settings),
        *_check_importable(settings.MIDDLEWARE, f"{PREFIX}MIDDLEWARE", "dlq.E003"),
        *_check_logger_factory(settings),
        *_check_ignored_apps(settings),
        *_check_commit_alias(settings),
    ]


def _check_commit_alias(settings: QueueSettings) -> list[checks.CheckMessage]:
    alias = settings.ENQUEUE_ON_COMMIT
    if not isinstance(alias, str) or alias in django_settings.DATABASES:
        return []
    known = ", ".join(repr(name) for name in django_settings.DATABASES) or "none"
    return [
        _error(
            f"{PREFIX}ENQUEUE_ON_COMMIT",
            f"{alias!r} is not a key of DATABASES (its keys: {known})",
            "write True for the default database, or the alias whose commits to wait for",
            "dlq.E008",
        )
    ]


def _check_backends(settings: QueueSettings) -> list[checks.CheckMessage]:
    paths = {f"{PREFIX}BACKEND": settings.BACKEND}
    paths.update(
        {
            f"{PREFIX}BACKEND_OVERRIDES[{queue!r}]": path
            for queue, path in settings.BACKEND_OVERRIDES.items()
        }
    )
    errors: list[checks.CheckMessage] = []
    for setting, path in paths.items():
        try:
            cls = import_path(path, setting)
        except ConfigurationError as exc:
            errors.extend(_error(setting, p.detail, p.hint, "dlq.E002") for p in exc.problems)
            continue
        missing = [name for name in _BACKEND_METHODS if not hasattr(cls, name)]
        if missing:
            errors.append(
                _error(
                    setting,
                    f"{path!r} is not a backend (it has no {', '.join(missing)})",
                    "use one of dlq.backends.*, or a class implementing dlq.core.protocols.Backend",
                    "dlq.E002",
                )
            )
    return errors


def _check_importable(
    paths: Sequence[str], setting: str, check_id: str
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for path in paths:
        try:
            import_path(path, setting)
        except ConfigurationError as exc:
            errors.extend(_error(setting, p.detail, p.hint, check_id) for p in exc.problems)
    return errors


def _check_logger_factory(settings: QueueSettings) -> list[checks.CheckMessage]:
    factory = settings.LOGGER_FACTORY
    setting = f"{PREFIX}LOGGER_FACTORY"
    if not isinstance(factory, str):
        return []
    try:
        resolved = import_path(factory, setting)
    except ConfigurationError as exc:
        return [_error(setting, p.detail, p.hint, "dlq.E004") for p in exc.problems]
    if callable(resolved):
        return []
    return [_error(setting, f"{factory!r} is not callable", "", "dlq.E004")]


def _check_ignored_apps(settings: QueueSettings) -> list[checks.CheckMessage]:
    installed = {config.name for config in apps.get_app_configs()}
    return [
        checks.Warning(
            f"{PREFIX}IGNORE_APPS names {name!r}, which is not in INSTALLED_APPS",
            hint="write app names exactly as INSTALLED_APPS does",
            id="dlq.W001",
        )
        for name in settings.IGNORE_APPS
        if name not in installed
    ]


def _error(name: str, message: str, hint: str, check_id: str) -> checks.CheckMessage:
    return checks.Error(message, hint=hint or None, obj=name, id=check_id)


def check_cron(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    configuration = load_cron_configuration()
    messages = [_problem(problem, "dlq.E005") for problem in configuration.problems]
    messages.extend(_problem(problem, "dlq.E006") for problem in configuration.unknown_commands)
    try:
        settings = get_runtime().settings
    except ConfigurationError:
        return messages  # dlq.E001 reports the settings
    try:
        cron_timezone(settings)
    except ConfigurationError as exc:
        messages.extend(_problem(problem, "dlq.E007") for problem in exc.problems)
    for queue in configuration.queues:
        path = settings.backend_path_for(queue)
        try:
            cls = import_path(path, "")
        except ConfigurationError:
            continue  # dlq.E002 reports it
        if not callable(getattr(cls, "claim", None)):
            messages.append(
                checks.Warning(
                    f"the backend {path} of cron queue {queue!r} cannot claim minutes, so two"
                    " schedulers (a deploy overlap, CRON_ON_EVERY_MACHINE) could both"
                    " enqueue one",
                    hint="use a dlq backend, or run one scheduler only",
                    obj=f"cron queue {queue!r}",
                    id="dlq.W002",
                )
            )
    return messages


def _problem(problem: Problem, check_id: str) -> checks.CheckMessage:
    return _error(problem.name, problem.detail, problem.hint, check_id)
