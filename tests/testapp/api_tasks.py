"""Tasks written against Django's task API only: no dlq import here.

Django 6's ``django.tasks`` where it exists, the ``django-tasks`` backport otherwise
(Django 5.2); :mod:`tests.testapp.backport_tasks` defines some with the backport on every
Django, to show dlq's backend takes both. ``tests/testapp/tasks.py`` imports this module,
so workers have these tasks as they have the ``@dlq.task`` ones.

The process tests read what ran in ``<DLQ_TEST_RECORDS>/django_api.jsonl``: each task, and
each of Django's task signals, notes itself there when that variable is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_tasks import TaskContext, TaskResult, task
    from django_tasks.signals import task_enqueued, task_finished, task_started
else:
    try:
        from django.tasks import TaskContext, TaskResult, task
        from django.tasks.signals import task_enqueued, task_finished, task_started
    except ImportError:  # Django 5.2: the backport
        from django_tasks import TaskContext, TaskResult, task
        from django_tasks.signals import task_enqueued, task_finished, task_started


def note(kind: str, **values: Any) -> None:
    """One line in ``django_api.jsonl`` (nothing when no lab asked for records)."""
    directory = os.environ.get("DLQ_TEST_RECORDS")
    if not directory:
        return
    line = json.dumps({"kind": kind, "pid": os.getpid(), **values}) + "\n"
    fd = os.open(f"{directory}/django_api.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@task
def add(a: int, b: int = 0) -> int:
    note("add", a=a, b=b)
    return a + b


@task(queue_name="other")
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Returns its arguments as it received them: the round trip of Django's API."""
    note("echo", args=list(args))
    return {"args": args, "kwargs": kwargs}


@task
def fails(message: str) -> None:
    note("fails", message=message)
    raise ValueError(message)


@task(takes_context=True)
def with_context(context: TaskContext, token: str) -> dict[str, Any]:
    result = context.task_result
    note("with_context", token=token, id=result.id, attempt=context.attempt)
    return {"token": token, "id": result.id, "attempt": context.attempt}


@task
async def add_async(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    note("add_async", a=a, b=b)
    return a + b


@task
def unserialisable() -> object:
    """Returns a set: not JSON, so the task fails (as on Django's own backends)."""
    return {1, 2}


@task
def sleeps(token: str, sleep_s: float) -> None:
    note("sleeps", token=token)
    time.sleep(sleep_s)


@task
def noop() -> None:
    """Does nothing: what the benchmark drains."""


def _note_signal(kind: str) -> Any:
    def receiver(sender: type, task_result: TaskResult[Any], **kwargs: Any) -> None:
        note(
            kind,
            sender=sender.__name__,
            id=task_result.id,
            status=str(task_result.status),
            path=task_result.task.module_path,
            errors=[error.exception_class_path for error in task_result.errors],
        )

    return receiver


# Held here: Django's signals keep weak references to their receivers.
_RECEIVERS = {kind: _note_signal(kind) for kind in ("enqueued", "started", "finished")}
task_enqueued.connect(_RECEIVERS["enqueued"], dispatch_uid="tests.enqueued")
task_started.connect(_RECEIVERS["started"], dispatch_uid="tests.started")
task_finished.connect(_RECEIVERS["finished"], dispatch_uid="tests.finished")


@task(backend="immediate")
def on_immediate(command: str) -> None:
    """A Django task whose backend is not dlq's: a worker refuses a job naming it."""
