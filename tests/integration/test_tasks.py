"""@task end to end through the in-memory and synchronous backends."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import override_settings

from dlq.backends.memory import InMemoryBackend
from dlq.conf import DjangoRuntime
from dlq.core.registry import TaskRegistry
from dlq.core.task import task
from dlq.domain.envelope import Job, decode_job
from dlq.domain.outcome import Failed, Rejected, Succeeded
from dlq.exceptions import ConfigurationError, TaskArgumentError
from tests.testapp import tasks
from tests.testapp.models import Record

pytestmark = pytest.mark.django_db(transaction=True)


def test_calling_a_task_enqueues_it(memory: InMemoryBackend) -> None:
    tasks.add(1, b=2)
    assert memory.length("default") == 1
    assert tasks.CALLS == []
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Succeeded)
    assert outcome.result == 3
    assert tasks.CALLS == [("add", (1, 2))]


def test_payload_keeps_upstreams_shape(memory: InMemoryBackend) -> None:
    tasks.add(1, b=2)
    job = memory.dequeue("default", 1, 0)
    assert job is not None
    data = json.loads(job.encode())
    assert (data["path"], data["args"], data["kwargs"]) == (
        "tests.testapp.tasks.add",
        [1],
        {"b": 2},
    )


def test_using_changes_options_for_that_call_only(memory: InMemoryBackend) -> None:
    tasks.add.using(queue="urgent", timeout=5, sigkill_on_stop=True)(1)
    tasks.add(2)
    urgent = memory.dequeue("urgent", 1, 0)
    assert urgent is not None
    assert (urgent.timeout, urgent.sigkill_on_stop) == (5, True)
    assert memory.length("default") == 1
    # The copy checks arguments with the checks already built for the task.
    assert tasks.add.using(queue="urgent").codec is tasks.add.codec


def test_upstream_call_time_keywords_are_honoured(memory: InMemoryBackend) -> None:
    tasks.untyped(  # type: ignore[call-arg]  # upstream's keywords: mypy refuses them, dlq honours them
        "x",
        django_lightweight_queue_queue="elsewhere",
        django_lightweight_queue_timeout=30,
        django_lightweight_queue_sigkill_on_stop=True,
    )
    job = memory.dequeue("elsewhere", 1, 0)
    assert job is not None
    assert (job.timeout, job.sigkill_on_stop, dict(job.kwargs)) == (30, True, {})


def test_bulk_enqueue_makes_one_backend_call_per_batch(
    memory: InMemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = memory.bulk_enqueue

    def counting(jobs: Sequence[Job], queue: str) -> None:
        calls.append(len(jobs))
        original(jobs, queue)

    monkeypatch.setattr(memory, "bulk_enqueue", counting)
    with tasks.add.bulk_enqueue(batch_size=3) as enqueue:
        for number in range(7):
            enqueue(number)
    assert calls == [3, 3, 1]
    assert [o.result for o in memory.run_queued("default") if isinstance(o, Succeeded)] == list(
        range(7)
    )


def test_bulk_enqueue_queue_override(memory: InMemoryBackend) -> None:
    with tasks.add.bulk_enqueue(queue_override="bulk") as enqueue:
        enqueue(1)
    assert memory.length("bulk") == 1


def test_rich_arguments_arrive_as_their_types(memory: InMemoryBackend) -> None:
    args = (
        datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        Decimal("1.10"),
        uuid.UUID(int=7),
        tasks.Colour.BLUE,
        tasks.Point(x=1, y=2),
        tasks.Window(date(2026, 1, 1), date(2026, 2, 1)),
    )
    tasks.rich(*args)
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Succeeded)
    assert [("rich", args)] == tasks.CALLS


def test_unencodable_argument_is_refused_and_nothing_queued(memory: InMemoryBackend) -> None:
    with pytest.raises(
        TaskArgumentError, match=r"tests.testapp.tasks.untyped: argument 'first' .*object"
    ):
        tasks.untyped(object())
    with pytest.raises(
        TaskArgumentError,
        match=r"argument 'first'\[1\] cannot be queued: the key 1 is not a string",
    ):
        tasks.untyped([{"ok": 1}, {1: "no"}])
    with pytest.raises(TaskArgumentError, match="argument 'amount'"):
        tasks.rich(
            datetime.now(UTC),
            "lots",  # type: ignore[arg-type]  # proving the runtime check
            uuid.uuid4(),
            tasks.Colour.RED,
            tasks.Point(x=1, y=1),
            tasks.Window(date.today(), date.today()),
        )
    with pytest.raises(TaskArgumentError, match="missing a required argument"):
        tasks.add()  # type: ignore[call-arg]  # proving the runtime check
    assert memory.length("default") == 0
    assert memory.length("other") == 0


def test_payload_naming_an_unregistered_path_is_refused(memory: InMemoryBackend) -> None:
    raw = b'{"path": "os.system", "args": ["touch /tmp/pwned"], "kwargs": {}}'
    memory._queues["default"].append(raw)
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Rejected)
    assert "'os.system' is not a registered task" in outcome.reason
    (dead,) = memory.dead_letters("default")
    assert b"os.system" in dead.raw
    assert dead.reason == outcome.reason


def test_upstream_format_payload_runs(memory: InMemoryBackend) -> None:
    memory._queues["default"].append(
        b'{"path": "tests.testapp.tasks.add", "args": [1], "kwargs": {"b": 2}, "timeout": null,'
        b' "sigkill_on_stop": false, "created_time": "2024-01-02 03:04:05.123456"}'
    )
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Succeeded)
    assert outcome.result == 3


def test_queued_arguments_that_do_not_fit_are_rejected(memory: InMemoryBackend) -> None:
    memory._queues["default"].append(
        b'{"path": "tests.testapp.tasks.add", "args": [1, 2, 3], "kwargs": {}}'
    )
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Rejected)
    assert "too many positional arguments" in outcome.reason


def test_queued_arguments_of_the_wrong_type_are_dead_letters_not_runs(
    memory: InMemoryBackend,
) -> None:
    # From an older deploy, an upstream enqueuer or a hand: "abc" for an int parameter.
    memory._queues["default"].append(
        b'{"path": "tests.testapp.tasks.add", "args": ["abc"], "kwargs": {"b": 2}}'
    )
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Rejected)
    assert outcome.reason == (
        "tests.testapp.tasks.add: queued argument 'a' = 'abc' does not fit its annotation int"
    )
    assert tasks.CALLS == []  # the task never ran
    (dead,) = memory.dead_letters("default")
    assert dead.reason == outcome.reason


def test_upstreams_untyped_tasks_take_whatever_was_queued(memory: InMemoryBackend) -> None:
    memory._queues["other"].append(
        b'{"path": "tests.testapp.tasks.untyped", "args": ["abc", {"any": [1.5, null]}],'
        b' "kwargs": {}}'
    )
    (outcome,) = memory.run_queued("other")
    assert isinstance(outcome, Succeeded)
    assert tasks.CALLS == [("untyped", ("abc", {"any": [1.5, None]}))]


def test_failure_is_an_outcome_not_an_exception(memory: InMemoryBackend) -> None:
    tasks.fails("boom")
    (outcome,) = memory.run_queued("default")
    assert isinstance(outcome, Failed)
    assert str(outcome.exception) == "boom"


def test_atomic_task_rolls_back_on_failure(memory: InMemoryBackend) -> None:
    tasks.write_then_fail("atomic")
    tasks.write_then_fail_not_atomic("plain")
    memory.run_queued("default")
    assert list(Record.objects.values_list("name", flat=True)) == ["plain"]


def test_synchronous_backend_runs_inline_through_the_shared_path(runtime: DjangoRuntime) -> None:
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND="django_lightweight_queue.backends.synchronous.SynchronousBackend"
    ):
        tasks.CALLS.clear()
        tasks.rich(
            datetime(2026, 1, 1, tzinfo=UTC),
            Decimal(1),
            uuid.UUID(int=1),
            tasks.Colour.RED,
            tasks.Point(x=0, y=0),
            tasks.Window(date(2026, 1, 1), date(2026, 1, 1)),
        )
        tasks.fails("inline")  # logged by the middleware, never raised into the caller
        tasks.write("sync")
    assert [name for name, _ in tasks.CALLS] == ["rich", "fails"]
    rich_args = tasks.CALLS[0][1]
    assert isinstance(rich_args, tuple)
    assert isinstance(rich_args[1], Decimal)
    assert Record.objects.filter(name="sync").exists()


def test_backend_overrides_route_one_queue(runtime: DjangoRuntime) -> None:
    with override_settings(
        LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES={"other": "dlq.backends.synchronous.SynchronousBackend"}
    ):
        tasks.CALLS.clear()
        tasks.untyped(1)
        assert tasks.CALLS == [("untyped", (1, None))]
        assert isinstance(runtime.backend_for("default"), InMemoryBackend)


def test_decorating_only_records() -> None:
    registry = TaskRegistry()

    @task(queue="q", registry=registry)
    def local(x: int) -> None: ...

    assert local.path in registry
    assert registry.get(local.path) is local


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": ""}, "queue"),
        ({"queue": "has space"}, "queue"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"sigkill_on_stop": "yes"}, "sigkill_on_stop"),
    ],
)
def test_bad_task_options_are_configuration_errors(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        task(registry=TaskRegistry(), **options)(lambda: None)  # type: ignore[arg-type]  # proving the runtime check


def test_job_ids_are_unique(memory: InMemoryBackend) -> None:
    for _ in range(50):
        tasks.add(1)
    ids = set()
    while (job := memory.dequeue("default", 1, 0)) is not None:
        ids.add(decode_job(job.encode()).id)
    assert len(ids) == 50


def test_dataclass_arguments_are_plain_json_in_the_queue(memory: InMemoryBackend) -> None:
    tasks.rich(
        datetime(2026, 1, 2, tzinfo=UTC),
        Decimal("2.5"),
        uuid.UUID(int=3),
        tasks.Colour.RED,
        tasks.Point(x=1, y=2),
        tasks.Window(date(2026, 1, 1), date(2026, 1, 2)),
    )
    job = memory.dequeue("default", 1, 0)
    assert job is not None
    assert job.args[3:] == ("red", {"x": 1, "y": 2}, {"start": "2026-01-01", "end": "2026-01-02"})
    assert dataclasses.is_dataclass(tasks.Window)
