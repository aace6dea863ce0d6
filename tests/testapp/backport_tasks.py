"""A task made with the ``django-tasks`` backport's own ``Task`` class on every Django: on
Django 6 it sits beside ``django.tasks`` ones (:mod:`tests.testapp.api_tasks`), and dlq's
backend runs both. (The backport's ``@task`` makes whatever ``task_class`` the backend
names, Django 6's on Django 6, so the class is called directly here.)"""

from __future__ import annotations

from typing import Any

from django_tasks.base import Task

from tests.testapp.api_tasks import note


def _multiply(a: int, b: int) -> int:
    note("multiply", a=a, b=b)
    return a * b


# Named as the module attribute that holds the task: the path a job of it carries.
_multiply.__name__ = _multiply.__qualname__ = "multiply"
multiply: Task[Any, int] = Task(func=_multiply)
