"""System checks for cron: ``manage.py check`` (and every command) reports a bad ``cron.py``.

Ids: ``dlq.E005`` a mistake in a ``cron.py`` (it cannot be imported, has no ``CONFIG``, or
an entry has an unknown key or a bad value), ``dlq.E006`` an entry whose command no
installed app provides, ``dlq.E007`` an unknown ``CRON_TIMEZONE``, ``dlq.W002`` a cron
queue whose backend cannot claim minutes (two schedulers could both enqueue one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core import checks

from dlq.backends import import_path
from dlq.conf import get_runtime
from dlq.cron import cron_timezone, load_cron_configuration
from dlq.exceptions import ConfigurationError, Problem

__all__ = ["check_cron"]


def check_cron(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    configuration = load_cron_configuration()
    messages = [_error(problem, "dlq.E005") for problem in configuration.problems]
    messages.extend(_error(problem, "dlq.E006") for problem in configuration.unknown_commands)
    try:
        settings = get_runtime().settings
    except ConfigurationError:
        return messages  # dlq.E001 reports the settings
    try:
        cron_timezone(settings)
    except ConfigurationError as exc:
        messages.extend(_error(problem, "dlq.E007") for problem in exc.problems)
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


def _error(problem: Problem, check_id: str) -> checks.CheckMessage:
    return checks.Error(problem.detail, hint=problem.hint or None, obj=problem.name, id=check_id)
