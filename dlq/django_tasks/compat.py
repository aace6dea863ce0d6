"""Which ``django.tasks`` this process has: Django 6's own, the backport, or both.

Django 6.0 ships ``django.tasks``; on Django 5.2 the same API comes from the
``django-tasks`` backport package (``django_tasks``). Both can be installed at once (the
backport runs on Django 6 too), and a project may define some tasks with either: a
:class:`Framework` is one of them, its classes and signals gathered so that a result is
always made of the classes of the framework its task came from (a backport ``Task``'s
``refresh()`` must find a backport ``TaskResult``, and the backport's signals must fire for
it). Nothing is imported until first asked for: dlq works without either installed.
"""

from __future__ import annotations

import dataclasses
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Typed against the backport, which the dev extra installs on every Django: Django 6's
    # own django.tasks has the same names and fields.
    from django_tasks.backends.base import BaseTaskBackend as BaseTaskBackend
else:
    try:
        from django.tasks.backends.base import BaseTaskBackend
    except ImportError:  # Django 5.2: the backport, or no task API at all
        try:
            from django_tasks.backends.base import BaseTaskBackend
        except ImportError:
            BaseTaskBackend = object

__all__ = ["BaseTaskBackend", "Framework", "framework_of", "frameworks", "has_task_api"]


@dataclasses.dataclass(frozen=True)
class Framework:
    """One implementation of Django's task API: the classes and signals dlq uses."""

    #: ``django.tasks`` or ``django_tasks``.
    name: str
    Task: type[Any]
    TaskResult: type[Any]
    TaskResultStatus: Any
    TaskError: type[Any]
    TaskContext: type[Any]
    task_enqueued: Any
    task_started: Any
    task_finished: Any
    InvalidTask: type[Exception]
    ResultDoesNotExist: type[Exception]
    task_backends: Any
    #: Arguments and return values as Django stores them (tuples become lists, ...).
    normalize_json: Any


_FOUND: list[Framework] = []
_LOOKED = [False]


def frameworks() -> tuple[Framework, ...]:
    """Every implementation installed, Django's own first."""
    if not _LOOKED[0]:
        for name, invalid, json_module in (
            ("django.tasks", "InvalidTask", "django.utils.json"),
            ("django_tasks", "InvalidTaskError", "django_tasks.utils"),
        ):
            try:
                package = import_module(name)
                base = import_module(f"{name}.base")
                signals = import_module(f"{name}.signals")
                exceptions = import_module(f"{name}.exceptions")
                normalize_json = import_module(json_module).normalize_json
            except ImportError:
                continue
            _FOUND.append(
                Framework(
                    name=name,
                    Task=base.Task,
                    TaskResult=base.TaskResult,
                    TaskResultStatus=base.TaskResultStatus,
                    TaskError=base.TaskError,
                    TaskContext=base.TaskContext,
                    task_enqueued=signals.task_enqueued,
                    task_started=signals.task_started,
                    task_finished=signals.task_finished,
                    InvalidTask=getattr(exceptions, invalid),
                    ResultDoesNotExist=exceptions.TaskResultDoesNotExist,
                    task_backends=package.task_backends,
                    normalize_json=normalize_json,
                )
            )
        _LOOKED[0] = True
    return tuple(_FOUND)


def has_task_api() -> bool:
    return bool(frameworks())


def framework_of(task: object) -> Framework | None:
    """The implementation ``task`` is a ``Task`` of; None for anything else."""
    for framework in frameworks():
        if isinstance(task, framework.Task):
            return framework
    return None
