"""``DlqBackend``: Django's task API (``django.tasks``, or the backport) on dlq's queues.

::

    TASKS = {"default": {"BACKEND": "dlq.django_tasks.DlqBackend",
                         "QUEUES": ["default", "emails"], "OPTIONS": {"TIMEOUT": 60}}}

A task enqueued through it becomes a dlq job on the dlq queue of its ``queue_name``,
stored by that queue's dlq backend (``LIGHTWEIGHT_QUEUE_BACKEND``/``BACKEND_OVERRIDES``),
and ``queue_runner``'s workers run it beside ``@dlq.task`` jobs (see
:mod:`dlq.django_tasks.running`). The job id is the ``TaskResult`` id; results are dlq's
job records (:mod:`dlq.django_tasks.results`).

What it supports, as Django's flags say: ``supports_defer`` (dlq holds a job until its
``run_after``), ``supports_async_task`` (a coroutine runs to completion in the worker),
``supports_get_result`` (when every queue's backend keeps results, and
``OPTIONS["STORE_RESULTS"]`` is not False). Not
``supports_priority``: no dlq backend orders jobs by priority (a Redis list and the
database's claim index are first in, first out), so a task with a priority other than the
default is refused by ``validate_task``, as Django's own backends without priority do.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from django.core import checks

from dlq.conf import DjangoRuntime, get_runtime
from dlq.core.protocols import SupportsDelay, SupportsResults
from dlq.core.records import enqueue_job
from dlq.core.results import record_from
from dlq.django_tasks.compat import BaseTaskBackend, Framework, framework_of, frameworks
from dlq.django_tasks.options import BackendOptions, option_problems, parse_options
from dlq.django_tasks.results import task_result
from dlq.django_tasks.running import defined_tasks, django_task_at
from dlq.domain.envelope import Job
from dlq.domain.job_options import option_problems as queue_problems
from dlq.domain.job_record import JobRecord

__all__ = ["DlqBackend"]


class DlqBackend(BaseTaskBackend):
    """A ``TASKS`` backend whose tasks run in dlq's ``queue_runner``."""

    supports_async_task = True
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        # Task objects already validated at an enqueue (Django's backends validate at every
        # one): by id, with the task itself and the dlq settings object of the time, since
        # supports_defer follows the dlq backends. Validating took 33 us a call under the
        # profiler (inspect, Protocol checks): more than the rest of enqueue.
        self._validated: dict[int, tuple[object, object]] = {}
        # Per queue, with the dlq settings object it was found under: whether its dlq
        # backend keeps results (for STORE_RESULTS None, read at every enqueue).
        self._keeps_results: dict[str, tuple[object, bool]] = {}

    @cached_property
    def options_model(self) -> BackendOptions:
        """``OPTIONS``, validated when first needed (``check()`` reports mistakes earlier)."""
        return parse_options(self.alias, self.options)

    # Django declares these as class attributes; here they follow the dlq backends of the
    # queues (and OPTIONS), read when Django asks (validate_task, for a task with run_after).
    @property
    def supports_defer(self) -> bool:  # type: ignore[override]  # a property for an attribute
        """Every queue's dlq backend holds a job until its ``run_after``."""
        return not self.queues_lacking(SupportsDelay)

    @property
    def supports_get_result(self) -> bool:  # type: ignore[override]  # a property for an attribute
        """Results are kept (``STORE_RESULTS``) by every queue's dlq backend."""
        return self.options_model.STORE_RESULTS is not False and not self.queues_lacking(
            SupportsResults
        )

    def _stores_results(self, queue: str, runtime: DjangoRuntime) -> bool:
        """Whether a job enqueued on ``queue`` now keeps its record (``STORE_RESULTS``)."""
        wanted = self.options_model.STORE_RESULTS
        if wanted is not None:
            return wanted
        settings = runtime.settings
        known = self._keeps_results.get(queue)
        if known is None or known[0] is not settings:
            known = (settings, isinstance(runtime.backend_for(queue), SupportsResults))
            self._keeps_results[queue] = known
        return known[1]

    def queues_lacking(self, capability: type) -> list[str]:
        """This backend's queues whose dlq backend lacks ``capability`` (a Protocol)."""
        runtime = get_runtime()
        return sorted(q for q in self.queues if not isinstance(runtime.backend_for(q), capability))

    # -- the API ---------------------------------------------------------------------

    def validate_task(self, task: Any) -> None:
        framework = _framework(task)
        try:
            super().validate_task(task)
        except Exception as exc:
            # The base class raises its own framework's error; a task of the other one (the
            # backport's Task on Django 6) gets its framework's, as its own backends would.
            if isinstance(exc, framework.InvalidTask) or not _is_invalid_task(exc):
                raise
            raise framework.InvalidTask(str(exc)) from None

    def _validate_once(self, task: Any, settings: object) -> None:
        """:meth:`validate_task`, unless this very task was validated under these dlq
        settings (kept here, not in validate_task: a Task validates itself when defined,
        at import, when dlq's settings need not be read yet)."""
        seen = self._validated.get(id(task))
        if seen is None or seen[0] is not task or seen[1] is not settings:
            self.validate_task(task)
            if len(self._validated) >= 4096:  # tasks are few; .using() copies come and go
                self._validated.clear()
            self._validated[id(task)] = (task, settings)

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        runtime = get_runtime()
        self._validate_once(task, runtime.settings)
        framework = _framework(task)
        options = self.options_model
        now = runtime.now()
        # Made first: its __post_init__ normalises the arguments to JSON as Django does
        # (tuples to lists, bytes to str), raising TypeError for a value that is not,
        # before anything is queued. The job carries them as they are then.
        result = framework.TaskResult(
            task=task,
            id="",
            status=framework.TaskResultStatus.READY,
            enqueued_at=now,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        # The job is made here rather than through a dlq Task's enqueue: the arguments are
        # JSON already, and skipping that layer's checks and handle keeps this path within
        # a few microseconds of @dlq.task's (bench/db_run.py --systems dlq,dlqapi).
        job = Job.create(
            task.module_path,
            result.args,
            result.kwargs,
            now=now,
            timeout=options.TIMEOUT,
            sigkill_on_stop=options.SIGKILL_ON_STOP,
            run_after=task.run_after,
            store_result=self._stores_results(task.queue_name, runtime),
        )
        queue = task.queue_name
        # At once, as Django's API promises (LIGHTWEIGHT_QUEUE_ENQUEUE_ON_COMMIT is for
        # @dlq.task): on the database backend the job joins the caller's transaction
        # anyway; elsewhere, transaction.on_commit(lambda: task.enqueue(...)) as Django's
        # docs say.
        enqueue_job(runtime.backend_for(queue), job, queue, runtime.settings.RESULT_TTL_S)
        object.__setattr__(result, "id", job.id)
        framework.task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> Any:
        record = self._record(result_id)
        if record is None:
            raise _does_not_exist(f"no dlq job record has the id {result_id!r}")
        # The record's path came from a queue: it is looked up among the tasks modules
        # the workers import too, never imported itself.
        get_runtime().discover_tasks()
        found = django_task_at(record.path)
        framework = None if found is None else framework_of(found[0])
        if found is None or framework is None:
            raise _does_not_exist(
                f"job {result_id!r} ran {record.path!r}, which is not a Django task of a"
                " dlq backend in this process"
            )
        return task_result(record, found[0], framework, self.alias)

    def _record(self, job_id: str) -> JobRecord | None:
        """The job's record, from the dlq backends of this backend's queues (each store
        asked once, however many queues share it)."""
        runtime = get_runtime()
        return record_from((runtime.backend_for(queue) for queue in sorted(self.queues)), job_id)

    # -- manage.py check --------------------------------------------------------------

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """``dlq.E030`` an option, ``dlq.E031`` a queue name, ``dlq.E032`` results asked of
        a backend that keeps none, ``dlq.E033`` a task with ``run_after`` on a backend that
        cannot hold it, ``dlq.W030`` a queue no worker serves (``dlq.W031``: the queues'
        backends could not be built, which dlq's own checks explain)."""
        where = f"TASKS[{self.alias!r}]"
        messages: list[checks.CheckMessage] = [
            checks.Error(problem, hint=hint, obj=where, id="dlq.E030")
            for problem, hint in option_problems(self.alias, self.options)
        ]
        for queue in sorted(self.queues):
            for problem in queue_problems(
                f"{where}['QUEUES']", queue=queue, timeout=None, sigkill_on_stop=False
            ):
                messages.append(
                    checks.Error(str(problem), hint=problem.hint or None, obj=where, id="dlq.E031")
                )
        if messages:
            return messages  # the rest reads the options and builds the queues' backends
        try:
            messages.extend(self._check_capabilities(where))
        except Exception as exc:  # a dlq setting is wrong: dlq's own checks say which
            return [
                checks.Warning(
                    f"{where}: its queues' dlq backends could not be built ({exc})",
                    obj=where,
                    id="dlq.W031",
                )
            ]
        messages.extend(self._check_workers(where))
        return messages

    def _check_capabilities(self, where: str) -> list[checks.CheckMessage]:
        messages: list[checks.CheckMessage] = []
        runtime = get_runtime()
        if self.options_model.STORE_RESULTS is True:
            for queue in self.queues_lacking(SupportsResults):
                name = type(runtime.backend_for(queue)).__name__
                messages.append(
                    checks.Error(
                        f"{where}: queue {queue!r} uses {name}, which cannot keep results,"
                        " and OPTIONS['STORE_RESULTS'] is True: every enqueue would fail",
                        hint="leave OPTIONS['STORE_RESULTS'] out (results where the backend"
                        " keeps them), or move the queue to a backend that keeps results",
                        obj=where,
                        id="dlq.E032",
                    )
                )
        cannot_defer = set(self.queues_lacking(SupportsDelay))
        for task in defined_tasks(self.alias):
            if task.run_after is not None and task.queue_name in cannot_defer:
                name = type(runtime.backend_for(task.queue_name)).__name__
                messages.append(
                    checks.Error(
                        f"{task.module_path} has run_after, and its queue {task.queue_name!r}"
                        f" uses {name}, which cannot hold a job until then",
                        hint="move the queue to a backend that supports delayed jobs",
                        obj=where,
                        id="dlq.E033",
                    )
                )
        return messages

    def _check_workers(self, where: str) -> list[checks.CheckMessage]:
        try:
            settings = get_runtime().settings
        except Exception:  # dlq's own checks report a settings error
            return []
        # Only once WORKERS names some queue: without it, no queue has workers yet (tests,
        # a project being set up), and saying so of each would be noise.
        idle = sorted(queue for queue in self.queues if not settings.WORKERS.get(queue))
        if not idle or not settings.WORKERS:
            return []
        return [
            checks.Warning(
                f"{where}['QUEUES'] names {', '.join(map(repr, idle))}, which"
                " LIGHTWEIGHT_QUEUE_WORKERS gives no workers: tasks enqueued there wait"
                " until a queue_runner is started for them",
                hint="add the queue to LIGHTWEIGHT_QUEUE_WORKERS, or run"
                " `manage.py queue_runner --only <queue>` for it",
                obj=where,
                id="dlq.W030",
            )
        ]


def _framework(task: object) -> Framework:
    framework = framework_of(task)
    if framework is None:
        raise TypeError(
            f"{task!r} is not a Task of django.tasks or of the django-tasks backport:"
            " dlq's task backend runs only those"
        )
    return framework


def _is_invalid_task(exc: Exception) -> bool:
    return any(isinstance(exc, framework.InvalidTask) for framework in frameworks())


def _does_not_exist(message: str) -> Exception:
    # Django's own exception when it is installed (Task.get_result callers catch it).
    return frameworks()[0].ResultDoesNotExist(message)
