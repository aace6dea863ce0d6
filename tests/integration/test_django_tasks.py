"""Django's task API on dlq (``dlq.django_tasks.DlqBackend``), through Django's API only.

The tasks (tests/testapp/api_tasks.py) import nothing of dlq. In this process they run on
the in-memory backend (``dlq.testing.run_queued`` runs them as a worker would), each one
also through Django's own ``ImmediateBackend`` ("immediate" in tests/settings.py) to
compare what Django's API shows of them; tests/integration/test_django_tasks_runner.py
runs them in real ``queue_runner`` processes on Redis and on the databases.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings
from django.utils import timezone

from dlq.backends.memory import InMemoryBackend
from dlq.django_tasks import DlqBackend
from dlq.django_tasks.compat import Framework, framework_of, frameworks
from dlq.domain.envelope import Job
from dlq.domain.outcome import Rejected
from dlq.exceptions import CapabilityError
from dlq.testing import in_memory_queues, run_queued
from tests.testapp import api_tasks, backport_tasks

API = frameworks()[0]


@pytest.fixture
def memory() -> Iterator[InMemoryBackend]:
    with in_memory_queues() as backend:
        yield backend


def immediately(task: Any) -> Any:
    return task.using(backend="immediate")


def through_dlq(task: Any, *args: Any, **kwargs: Any) -> Any:
    """Enqueue through dlq, run what waits as a worker would, and read the result back."""
    result = task.enqueue(*args, **kwargs)
    run_queued()
    result.refresh()
    return result


# -- what Django's API shows: the same as on Django's reference backend ----------------


CASES: list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]] = [
    ("keywords", api_tasks.add, (2,), {"b": 3}),
    ("round trip", api_tasks.echo, ((1, 2), b"bytes", {"k": (3, None)}), {"x": [1.5, True]}),
    ("raises", api_tasks.fails, ("boom",), {}),
    ("coroutine", api_tasks.add_async, (4, 5), {}),
    ("not JSON back", api_tasks.unserialisable, (), {}),
    ("backport Task", backport_tasks.multiply, (6, 7), {}),
]


@pytest.mark.parametrize(("name", "task", "args", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_a_task_ends_as_on_djangos_immediate_backend(
    memory: InMemoryBackend, name: str, task: Any, args: Any, kwargs: Any
) -> None:
    reference = immediately(task).enqueue(*args, **kwargs)
    ours = through_dlq(task, *args, **kwargs)

    assert ours.status == reference.status
    assert ours.is_finished
    assert ours.args == reference.args
    assert ours.kwargs == reference.kwargs
    assert ours.attempts == reference.attempts == 1
    assert ours.backend == "default"
    assert [e.exception_class_path for e in ours.errors] == [
        e.exception_class_path for e in reference.errors
    ]
    assert [e.exception_class for e in ours.errors] == [e.exception_class for e in reference.errors]
    if reference.status == API.TaskResultStatus.SUCCESSFUL or reference.status == "SUCCESSFUL":
        assert ours.return_value == reference.return_value
    else:
        with pytest.raises(ValueError, match="Task failed"):
            ours.return_value  # noqa: B018  # the property raises
        assert (
            ours.errors[0].traceback.splitlines()[-1]
            == (reference.errors[0].traceback.splitlines()[-1])
        )
    assert ours.enqueued_at is not None
    assert ours.started_at is not None
    assert ours.finished_at is not None
    assert ours.finished_at >= ours.started_at
    # The result is of the API its task came from (a backport Task on Django 6 gets the
    # backport's TaskResult, whose refresh() finds the backport's backend).
    framework = framework_of(task)
    assert framework is not None
    assert type(ours) is framework.TaskResult


def test_the_result_is_ready_until_a_worker_runs_it(memory: InMemoryBackend) -> None:
    result = api_tasks.add.enqueue(1, 2)

    assert result.status == "READY"
    assert result.id
    fetched = api_tasks.add.get_result(result.id)
    assert (fetched.id, fetched.status, fetched.args) == (result.id, "READY", [1, 2])
    assert fetched.task.func is api_tasks.add.func
    with pytest.raises(ValueError, match="not finished"):
        fetched.return_value  # noqa: B018

    run_queued()
    fetched.refresh()
    assert (fetched.status, fetched.return_value) == ("SUCCESSFUL", 3)
    assert fetched.worker_ids
    assert fetched.attempts == 1


def test_a_task_goes_to_the_dlq_queue_of_its_queue_name(memory: InMemoryBackend) -> None:
    api_tasks.echo.enqueue(1)
    api_tasks.add.using(queue_name="other").enqueue(1)

    waiting = {name: [job.path for job in memory.waiting(name)] for name in memory.queues()}

    assert waiting == {
        "other": ["tests.testapp.api_tasks.echo", "tests.testapp.api_tasks.add"],
    }


def test_the_context_carries_the_result_and_its_attempt(memory: InMemoryBackend) -> None:
    result = through_dlq(api_tasks.with_context, "t")
    reference = immediately(api_tasks.with_context).enqueue("t")

    assert result.return_value == {"token": "t", "id": result.id, "attempt": 1}
    assert reference.return_value["attempt"] == 1


def test_run_after_holds_the_task_back(memory: InMemoryBackend) -> None:
    later = timezone.now() + dt.timedelta(hours=1)
    result = api_tasks.add.using(run_after=later).enqueue(1, 1)

    assert run_queued() == []
    result.refresh()
    assert result.status == "READY"
    assert memory.delayed_count("default") == 1

    run_queued(delayed=True)  # as if its time had come
    result.refresh()
    assert (result.status, result.return_value) == ("SUCCESSFUL", 2)


def test_an_unknown_id_does_not_exist(memory: InMemoryBackend) -> None:
    with pytest.raises(API.ResultDoesNotExist, match="no dlq job record has the id 'nope'"):
        api_tasks.add.get_result("nope")


def test_async_enqueue_and_results(memory: InMemoryBackend) -> None:
    async def go() -> Any:
        result = await api_tasks.add.aenqueue(5, 6)
        return result, await api_tasks.add.aget_result(result.id)

    result, fetched = asyncio.run(go())

    assert fetched.id == result.id
    assert fetched.status == "READY"


def test_an_argument_that_is_not_json_is_refused_as_django_refuses_it(
    memory: InMemoryBackend,
) -> None:
    with pytest.raises(TypeError) as reference:
        immediately(api_tasks.echo).enqueue({1, 2})
    with pytest.raises(TypeError) as ours:
        api_tasks.echo.enqueue({1, 2})

    assert str(ours.value) == str(reference.value)
    assert memory.queues() == []


# -- signals ---------------------------------------------------------------------------


def test_signals_fire_where_djangos_docs_say(memory: InMemoryBackend) -> None:
    seen: list[tuple[str, type, str, str]] = []

    def receiver(kind: str) -> Callable[..., None]:
        def receive(sender: type, task_result: Any, **kwargs: Any) -> None:
            seen.append((kind, sender, task_result.id, str(task_result.status)))

        return receive

    receivers = {kind: receiver(kind) for kind in ("enqueued", "started", "finished")}
    API.task_enqueued.connect(receivers["enqueued"])
    API.task_started.connect(receivers["started"])
    API.task_finished.connect(receivers["finished"])
    try:
        result = api_tasks.fails.enqueue("x")
        assert seen == [("enqueued", DlqBackend, result.id, "READY")]
        run_queued()
    finally:
        API.task_enqueued.disconnect(receivers["enqueued"])
        API.task_started.disconnect(receivers["started"])
        API.task_finished.disconnect(receivers["finished"])

    assert seen[1:] == [
        ("started", DlqBackend, result.id, "RUNNING"),
        ("finished", DlqBackend, result.id, "FAILED"),
    ]


# -- validate_task: Django's errors, in Django's words --------------------------------


def _make(framework: Framework, backend: str, func: Callable[..., Any], **options: Any) -> Any:
    return framework.Task(func=func, backend=backend, **options)


def _nested() -> Callable[..., None]:
    def inner() -> None: ...

    return inner


def _no_context(token: str) -> None: ...


def _plain(token: str) -> None: ...


INVALID: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("not module level", _nested(), {}),
    ("context without a context argument", _no_context, {"takes_context": True}),
    ("unknown queue", _plain, {"queue_name": "nowhere"}),
    ("naive run_after", _plain, {"run_after": dt.datetime(2030, 1, 1)}),
]


@pytest.mark.parametrize(("name", "func", "options"), INVALID, ids=[c[0] for c in INVALID])
def test_validate_task_refuses_what_djangos_backends_refuse(
    name: str, func: Callable[..., Any], options: dict[str, Any]
) -> None:
    any_invalid = tuple(framework.InvalidTask for framework in frameworks())
    for framework in frameworks():
        # (The backport's Task on Django 6 meets Django's own DummyBackend, and its error.)
        with pytest.raises(any_invalid) as reference:
            _make(framework, "dummy", func, **options)
        with pytest.raises(framework.InvalidTask) as ours:
            _make(framework, "default", func, **options)
        assert str(ours.value) == str(reference.value)


def test_a_priority_is_refused_since_no_dlq_backend_orders_by_it() -> None:
    for framework in frameworks():
        with pytest.raises(framework.InvalidTask, match="does not support setting priority"):
            _make(framework, "default", _plain, priority=5)


def test_results_follow_the_backend_unless_asked_for(memory: InMemoryBackend) -> None:
    bare = {"LIGHTWEIGHT_QUEUE_BACKEND": "tests.testapp.backends.BareBackend"}
    with override_settings(**bare):
        backend = api_tasks.add.get_backend()
        assert backend.supports_get_result is False
        assert backend.supports_defer is False
        result = api_tasks.add.enqueue(1, 2)  # queued, with no record asked of the store
        assert result.status == "READY"
        with pytest.raises(API.ResultDoesNotExist):
            api_tasks.add.get_result(result.id)
    with (
        override_settings(TASKS=_with_options(STORE_RESULTS=True), **bare),
        pytest.raises(CapabilityError, match="BareBackend"),
    ):
        api_tasks.add.enqueue(1, 2)
    with override_settings(TASKS=_with_options(STORE_RESULTS=False)):
        backend = api_tasks.add.get_backend()
        assert backend.supports_get_result is False
        result = api_tasks.add.enqueue(1, 2)
        run_queued()
        with pytest.raises(API.ResultDoesNotExist):
            result.refresh()


def _with_options(**options: object) -> dict[str, object]:
    return {
        "default": {
            "BACKEND": "dlq.django_tasks.DlqBackend",
            "QUEUES": ["default", "other"],
            "OPTIONS": options,
        }
    }


def test_what_the_backend_supports() -> None:
    backend = api_tasks.add.get_backend()

    assert isinstance(backend, DlqBackend)
    assert (backend.supports_defer, backend.supports_async_task) == (True, True)
    assert (backend.supports_get_result, backend.supports_priority) == (True, False)


# -- only tasks defined in code run ------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "os.system",  # a callable, imported, but no task
        "tests.testapp.api_tasks.note",  # a plain function beside the tasks
        "tests.testapp.api_tasks.on_immediate",  # a Django task of another backend
        "tests.testapp.never_imported.task",  # a module nothing imported
    ],
)
def test_a_payload_naming_anything_else_is_a_dead_letter(
    memory: InMemoryBackend, path: str
) -> None:
    memory.enqueue(Job.create(path, ["echo hi"], {}, now=timezone.now()), "default")

    [outcome] = run_queued()

    assert isinstance(outcome, Rejected)
    assert path in outcome.reason
    [letter] = memory.dead_letters("default")
    assert path in letter.reason


def test_framework_of_tells_django_tasks_from_anything_else() -> None:
    assert framework_of(api_tasks.add) is frameworks()[0]
    assert framework_of(backport_tasks.multiply) is not None
    assert framework_of(api_tasks.note) is None


# -- manage.py check ---------------------------------------------------------------------


def _messages(tasks: dict[str, Any], **settings: Any) -> list[checks.CheckMessage]:
    with override_settings(TASKS=tasks, **settings):  # each task API forgets its backends
        return [m for m in checks.run_checks() if m.id and m.id.startswith("dlq.")]


def _texts(messages: list[checks.CheckMessage]) -> str:
    return "\n".join(f"{m.id} {m.msg} {m.hint}" for m in messages)


def test_check_reports_wrong_options_and_queue_names() -> None:
    tasks = {
        "default": {
            "BACKEND": "dlq.django_tasks.DlqBackend",
            "QUEUES": ["default", "bad queue!"],
            "OPTIONS": {"TIMEOT": 5, "ATOMIC": "yes"},
        }
    }
    texts = _texts(_messages(tasks, LIGHTWEIGHT_QUEUE_WORKERS={"default": 1}))

    assert "dlq.E030 TASKS['default']['OPTIONS']['TIMEOT'] is not an option" in texts
    assert "did you mean 'TIMEOUT'?" in texts
    assert "dlq.E030 TASKS['default']['OPTIONS']['ATOMIC'] = 'yes' is not valid" in texts
    assert "dlq.E031 TASKS['default']['QUEUES'] queue: 'bad queue!'" in texts


def test_check_warns_of_a_queue_no_worker_serves() -> None:
    tasks = {"default": {"BACKEND": "dlq.django_tasks.DlqBackend", "QUEUES": ["default", "mail"]}}
    messages = _messages(tasks, LIGHTWEIGHT_QUEUE_WORKERS={"default": 1})

    assert [m.id for m in messages] == ["dlq.W030"]
    assert "TASKS['default']['QUEUES'] names 'mail', which LIGHTWEIGHT_QUEUE_WORKERS" in str(
        messages[0].msg
    )


def test_check_reports_queues_whose_backend_cannot_keep_results_or_defer(
    memory: InMemoryBackend,
) -> None:
    """Results asked for (STORE_RESULTS True) where the backend keeps none, and a task with
    run_after on such a backend; left to its default, STORE_RESULTS follows the backend."""
    # A task defined with run_after, in a module of an installed app.
    probe = types.ModuleType("tests.testapp.deferred_probe")
    probe.__dict__["later"] = api_tasks.add.using(run_after=timezone.now() + dt.timedelta(days=1))
    sys.modules[probe.__name__] = probe
    bare = "tests.testapp.backends.BareBackend"
    try:
        messages = _messages(
            {
                "default": {
                    "BACKEND": "dlq.django_tasks.DlqBackend",
                    "QUEUES": ["default"],
                    "OPTIONS": {"STORE_RESULTS": True},
                }
            },
            LIGHTWEIGHT_QUEUE_WORKERS={"default": 1},
            LIGHTWEIGHT_QUEUE_BACKEND=bare,
        )
    finally:
        del sys.modules[probe.__name__]
    texts = _texts(messages)

    assert sorted(m.id or "" for m in messages) == ["dlq.E032", "dlq.E033"], texts
    assert "queue 'default' uses BareBackend, which cannot keep results" in texts
    assert (
        "tests.testapp.api_tasks.add has run_after, and its queue 'default' uses"
        " BareBackend, which cannot hold a job until then"
    ) in texts


def test_check_is_quiet_for_a_good_configuration() -> None:
    tasks = {"default": {"BACKEND": "dlq.django_tasks.DlqBackend", "QUEUES": ["default"]}}

    assert _messages(tasks, LIGHTWEIGHT_QUEUE_WORKERS={"default": 1}) == []
