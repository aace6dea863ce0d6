"""Running a Django-API task in a dlq worker: the registry's resolver and the wrapper.

A payload's ``path`` names a Django ``Task`` (``app.tasks.send_email``, the task's
``module_path``). :func:`resolve_django_task` is the resolver ``DlqConfig.ready()`` gives
the task registry: it answers for a path only when the object there is already imported
(workers import every app's ``tasks.py``, as for ``@dlq.task``; a path from a queue is
never imported), is a ``Task`` of Django 6 or of the backport, and its backend is a
:class:`~dlq.django_tasks.backend.DlqBackend`. Anything else stays unknown, so the job is
``Rejected`` and kept as a dead letter, exactly as for a path no ``@dlq.task`` has.

The answer is a dlq :class:`~dlq.core.task.Task` whose function runs the Django task as
Django's ``ImmediateBackend`` does: ``task_started`` before, ``task_finished`` after (with
the error when it raised), a ``TaskContext`` first when the task ``takes_context``, a
coroutine task run to completion (``Task.call`` does that), and the return value
normalised to JSON, a value that cannot be making the task fail. The exception is raised
again afterwards, so dlq's runner, middleware, timeouts, retries and metrics see the job as
they see any other.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from traceback import format_exception
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from dlq.core.context import current_job
from dlq.core.task import Task as DlqTask
from dlq.django_tasks.compat import Framework, framework_of
from dlq.django_tasks.options import BackendOptions

if TYPE_CHECKING:
    from dlq.django_tasks.backend import DlqBackend

__all__ = ["defined_tasks", "django_task_at", "dlq_task_for", "resolve_django_task", "worker_id"]

# One dlq Task per Django task object and backend options: built once, used for every run
# (the options change only with the TASKS setting; the registry keeps what a resolver found).
_WRAPPED: dict[tuple[int, BackendOptions], tuple[object, DlqTask[..., Any]]] = {}


def resolve_django_task(path: str) -> DlqTask[..., Any] | None:
    """The dlq task that runs the Django task at ``path``; None when there is none."""
    found = django_task_at(path)
    return None if found is None else dlq_task_for(found[0], found[1].options_model)


def django_task_at(path: str) -> tuple[Any, DlqBackend] | None:
    """The Django task at ``path`` (already imported) and its dlq backend; None if there is
    no such task, or its backend is not dlq's."""
    from dlq.django_tasks.backend import DlqBackend

    module_name, _, name = path.rpartition(".")
    module = sys.modules.get(module_name)  # never imported on a payload's word
    if module is None:
        return None
    candidate: Any = getattr(module, name, None)
    if framework_of(candidate) is None:
        return None
    try:
        backend = candidate.get_backend()
    except Exception:  # an alias TASKS no longer has: not ours to run
        return None
    if not isinstance(backend, DlqBackend) or candidate.module_path != path:
        return None
    return candidate, backend


def dlq_task_for(django_task: Any, options: BackendOptions) -> DlqTask[..., Any]:
    """The dlq task that runs ``django_task`` in a worker (kept for the next call).

    ``DlqBackend.enqueue`` makes jobs itself; the options that matter here are those a
    worker applies: ``ATOMIC`` (timeouts travel in the job)."""
    key = (id(django_task), options)
    found = _WRAPPED.get(key)
    if found is not None and found[0] is django_task:
        return found[1]
    framework = framework_of(django_task)
    if framework is None:
        raise TypeError(f"{django_task!r} is not a Task of Django's task API")
    wrapped: DlqTask[..., Any] = DlqTask(
        fn=_runner(django_task, framework),
        path=django_task.module_path,
        queue=django_task.queue_name,
        timeout=options.TIMEOUT,
        sigkill_on_stop=options.SIGKILL_ON_STOP,
        atomic=options.ATOMIC,
        # Whether a job keeps its record was decided when it was enqueued, and travels in
        # it; these two only matter to a caller of this dlq task's own enqueue (none).
        store_result=options.STORE_RESULTS,
        on_commit=False,
    )
    if len(_WRAPPED) > 4096:  # tasks are few; copies made by .using() are not kept forever
        _WRAPPED.clear()
    _WRAPPED[key] = (django_task, wrapped)
    return wrapped


def defined_tasks(alias: str) -> list[Any]:
    """The Django tasks of backend ``alias`` defined at module level in the modules of the
    installed apps imported so far (every app's ``tasks.py`` is, by the runtime)."""
    from django.apps import apps

    from dlq.conf import get_runtime

    get_runtime().discover_tasks()
    prefixes = tuple(config.name for config in apps.get_app_configs())
    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith(prefixes):
            continue
        for value in list(vars(module).values()):
            if framework_of(value) is not None and value.backend == alias:
                found.append(value)
    return found


def worker_id() -> str:
    """This worker process, as ``TaskResult.worker_ids`` names it: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _runner(django_task: Any, framework: Framework) -> Callable[..., Any]:
    """The function a worker calls for a job of ``django_task``."""

    def run_django_task(*args: Any, **kwargs: Any) -> Any:
        job = current_job()
        backend = django_task.get_backend()
        sender = type(backend)
        status = framework.TaskResultStatus
        started = timezone.now()
        task = django_task
        if job.queue != task.queue_name:  # enqueued through .using(queue_name=...)
            task = task.using(queue_name=job.queue)
        # Every run started so far, this one included: what TaskResult.attempts counts.
        runs = job.attempt + job.delivery - 1
        result = framework.TaskResult(
            task=task,
            id=job.id,
            status=status.RUNNING,
            enqueued_at=job.enqueued_at,
            started_at=started,
            last_attempted_at=started,
            finished_at=None,
            args=list(args),
            kwargs=kwargs,
            backend=task.backend,
            errors=[],
            worker_ids=[worker_id()] * runs,
        )
        framework.task_started.send(sender, task_result=result)
        try:
            if task.takes_context:
                value = task.call(framework.TaskContext(task_result=result), *args, **kwargs)
            else:
                value = task.call(*args, **kwargs)
            value = framework.normalize_json(value)
        except KeyboardInterrupt:  # as Django's ImmediateBackend: the user wants out
            raise
        except BaseException as exc:
            object.__setattr__(result, "finished_at", timezone.now())
            object.__setattr__(result, "status", status.FAILED)
            result.errors.append(
                framework.TaskError(
                    exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
                    traceback="".join(format_exception(exc)),
                )
            )
            framework.task_finished.send(sender, task_result=result)
            raise
        object.__setattr__(result, "finished_at", timezone.now())
        object.__setattr__(result, "status", status.SUCCESSFUL)
        object.__setattr__(result, "_return_value", value)
        framework.task_finished.send(sender, task_result=result)
        return value

    run_django_task.__qualname__ = run_django_task.__name__ = django_task.name
    run_django_task.__module__ = django_task.func.__module__
    return run_django_task
