"""Cron in Django: discovery, ``manage.py check``, the cron task, the runner's hook, the command.

``tests/testapp/cron.py`` is empty so that other tests see no entries; these tests set
its ``CONFIG`` with ``monkeypatch``. ``manage.py check`` and the runner read it afresh;
the configuration cron job ids are checked against is kept by the runtime, so the
``cron_config`` fixture makes the runtime forget it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from dlq import cron_jobs
from dlq.backends.memory import InMemoryBackend
from dlq.conf import DjangoRuntime, get_runtime
from dlq.cron_jobs import (
    LEGACY_TASK_PATH,
    CronEntryId,
    build_cron_runtime,
    build_scheduler,
    last_fired,
    load_cron_configuration,
    run_cron_entry,
)
from dlq.domain.cron.due import Firing
from dlq.domain.cron.entry import CronConfiguration
from dlq.domain.envelope import Job, decode_job
from dlq.domain.outcome import Failed, Rejected, Succeeded
from dlq.exceptions import ConfigurationError, TaskArgumentError
from tests.testapp import cron as testapp_cron
from tests.testapp.management.commands.cron_probe import PROBE_CALLS

pytestmark = pytest.mark.django_db(transaction=True)

PROBE = {
    "command": "cron_probe",
    "minutes": "0",
    "hours": "10",
    "queue": "reports",
    "timeout": 30,
    "sigkill_on_stop": True,
    "command_args": ["a", "b"],
    "command_kwargs": {"region": "eu", "count": 3},
}


@pytest.fixture
def cron_config(monkeypatch: pytest.MonkeyPatch, runtime: DjangoRuntime) -> Iterator[list[object]]:
    """The test app's CONFIG, empty; append entries to it (before anything enqueues)."""
    config: list[object] = []
    monkeypatch.setattr(testapp_cron, "CONFIG", config)
    runtime.forget_memos()
    PROBE_CALLS.clear()
    yield config
    PROBE_CALLS.clear()
    runtime.forget_memos()


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2024, 1, 1, hour, minute, second, tzinfo=UTC)


# Discovery


def test_entries_are_discovered_from_installed_apps(cron_config: list[object]) -> None:
    cron_config.append(PROBE)
    configuration = load_cron_configuration()
    (entry,) = configuration.entries
    assert (entry.app_label, entry.index, entry.command) == ("testapp", 0, "cron_probe")
    assert configuration.problems == configuration.unknown_commands == ()
    assert configuration.queues == ("reports",)


def test_the_default_configuration_has_no_entries_and_passes_check() -> None:
    assert load_cron_configuration().entries == ()
    out = StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


def test_the_worker_registry_holds_the_cron_task_under_its_path_and_its_old_one(
    runtime: DjangoRuntime,
) -> None:
    runtime.discover_tasks()
    assert run_cron_entry.path == "dlq.cron_jobs.run_cron_entry"
    assert runtime.registry.get(run_cron_entry.path) is run_cron_entry
    assert runtime.registry.get("dlq.cron.run_cron_entry") is run_cron_entry
    assert [task.path for task in runtime.registry].count(run_cron_entry.path) == 1


# manage.py check


def check_fails(check_id: str, *fragments: str) -> None:
    with pytest.raises(SystemCheckError) as caught:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    message = str(caught.value)
    assert check_id in message
    for fragment in fragments:
        assert fragment in message


VALID = {"command": "cron_probe", "minutes": "*", "hours": "*"}


@pytest.mark.parametrize(
    ("entry", "fragments"),
    [
        (
            {**VALID, "queu": "x"},
            ["CONFIG[0]: (dlq.E005) 'queu' is not a cron entry key", "'queue'"],
        ),
        ({**VALID, "minutes": "61"}, ["CONFIG[0].minutes: (dlq.E005) '61' is out of range"]),
        ({**VALID, "days": "mon"}, ["CONFIG[0].days: (dlq.E005) 'mon' is not a value"]),
        ({**VALID, "hours": "25-3"}, ["CONFIG[0].hours: (dlq.E005) '25-3' is out of range"]),
        ({"minutes": "*", "hours": "*"}, ["CONFIG[0].command: (dlq.E005) is required"]),
        ({**VALID, "timeout": "60"}, ["CONFIG[0].timeout: (dlq.E005) '60' is not valid"]),
        ({**VALID, "sigkill_on_stop": "no"}, ["CONFIG[0].sigkill_on_stop: (dlq.E005)"]),
        ({**VALID, "command_args": "abc"}, ["CONFIG[0].command_args: (dlq.E005)"]),
        ({**VALID, "command_kwargs": [1]}, ["CONFIG[0].command_kwargs: (dlq.E005)"]),
    ],
)
def test_check_reports_a_bad_entry_naming_app_index_and_field(
    cron_config: list[object], entry: dict[str, object], fragments: list[str]
) -> None:
    cron_config.extend([VALID, entry])
    check_fails(
        "dlq.E005", "tests.testapp.cron.CONFIG[1]", *(f.replace("[0]", "[1]") for f in fragments)
    )


def test_check_reports_a_command_that_does_not_exist(cron_config: list[object]) -> None:
    cron_config.append({**VALID, "command": "cron_prob"})
    check_fails(
        "dlq.E006",
        "tests.testapp.cron.CONFIG[0].command: (dlq.E006) 'cron_prob' is not a management command",
        "did you mean 'cron_probe'?",
    )


@pytest.mark.parametrize("config", ["cron_probe", {"command": "cron_probe"}, 3])
def test_check_reports_config_that_is_not_a_sequence(
    monkeypatch: pytest.MonkeyPatch, config: object
) -> None:
    monkeypatch.setattr(testapp_cron, "CONFIG", config)
    check_fails("dlq.E005", "tests.testapp.cron.CONFIG: (dlq.E005)", "is not a list or tuple")


def test_check_reports_a_cron_module_without_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(testapp_cron, "CONFIG")
    check_fails("dlq.E005", "tests.testapp.cron: (dlq.E005) defines no CONFIG")


def test_check_reports_an_unknown_time_zone() -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_CRON_TIMEZONE="Mars/Olympus"):
        check_fails("dlq.E007", "'Mars/Olympus' is not a known time zone")


def test_check_warns_when_a_cron_queues_backend_cannot_claim(cron_config: list[object]) -> None:
    cron_config.append(VALID)
    overrides = {"cron": "dlq.backends.debug_web.DebugWebBackend"}
    out = StringIO()
    with override_settings(LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES=overrides):
        call_command("check", stdout=out, stderr=out)
    assert "dlq.W002" in out.getvalue()


def test_every_problem_is_reported_at_start_up(
    cron_config: list[object], runtime: DjangoRuntime
) -> None:
    cron_config.extend([{**VALID, "minutes": "99"}, {**VALID, "command": "nope"}])
    with pytest.raises(ConfigurationError) as caught:
        build_cron_runtime(runtime)
    assert [problem.name for problem in caught.value.problems] == [
        "tests.testapp.cron.CONFIG[0].minutes",
        "tests.testapp.cron.CONFIG[1].command",
    ]


# The cron task


def test_a_cron_job_runs_its_command_with_the_entrys_options(
    cron_config: list[object], memory: InMemoryBackend, runtime: DjangoRuntime
) -> None:
    cron_config.append(PROBE)
    scheduler = build_scheduler(runtime)
    scheduler.tick(at(9, 59, 30))
    scheduler.tick(at(10, 0, 1))
    assert memory.length("reports") == 1
    job = memory.dequeue("reports", 1, 0)
    assert job is not None
    (entry,) = scheduler.entries
    assert job.path == "dlq.cron_jobs.run_cron_entry"
    assert json.loads(job.encode())["args"] == [entry.id, "2024-01-01T10:00:00Z"]
    assert (job.timeout, job.sigkill_on_stop) == (30, True)
    memory.acknowledge("reports", 1, job, runtime.run_job(job, "reports"))
    assert PROBE_CALLS == [(["a", "b"], {"region": "eu", "count": 3})]
    assert last_fired(runtime) == [(entry, at(10, 0))]


def test_a_cron_job_whose_command_fails_is_failed(
    cron_config: list[object], memory: InMemoryBackend
) -> None:
    cron_config.append({**VALID, "command_args": ["--count", "not a number"]})
    (entry,) = load_cron_configuration().entries
    run_cron_entry.using(queue="cron")(CronEntryId(entry.id), at(10, 0))
    (outcome,) = memory.run_queued("cron")
    assert isinstance(outcome, Failed)


def test_a_job_queued_under_the_old_task_path_still_runs(
    cron_config: list[object], memory: InMemoryBackend, runtime: DjangoRuntime
) -> None:
    """As an older dlq wrote it, naming ``dlq.cron.run_cron_entry``."""
    cron_config.append(PROBE)
    (entry,) = load_cron_configuration().entries
    payload = json.dumps(
        {
            "path": LEGACY_TASK_PATH,
            "args": [entry.id, "2024-01-01T10:00:00Z"],
            "kwargs": {},
            "timeout": 30,
            "sigkill_on_stop": True,
            "created_time": "2024-01-01 10:00:00.123456",
            "id": "0123456789abcdef0123456789abcdef",
            "attempts": 0,
        }
    )
    memory.enqueue(decode_job(payload), "reports")
    (outcome,) = memory.run_queued("reports")
    assert isinstance(outcome, Succeeded), outcome
    assert PROBE_CALLS == [(["a", "b"], {"region": "eu", "count": 3})]


def test_cron_job_ids_are_checked_against_a_configuration_loaded_once(
    cron_config: list[object],
    memory: InMemoryBackend,
    runtime: DjangoRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cron_config.append(VALID)
    (entry,) = load_cron_configuration().entries
    loads: list[bool] = []
    load = cron_jobs.load_cron_configuration

    def counting(*, check_commands: bool = True) -> CronConfiguration:
        loads.append(check_commands)
        return load(check_commands=check_commands)

    monkeypatch.setattr(cron_jobs, "load_cron_configuration", counting)
    for _ in range(3):
        run_cron_entry(CronEntryId(entry.id), at(10, 0))  # checked when enqueued...
    assert [type(outcome) for outcome in memory.run_queued("cron")] == [Succeeded] * 3  # ...and run
    assert loads == [False]
    with override_settings(LIGHTWEIGHT_QUEUE_CRON_CATCH_UP_S=60):  # settings changed: reload
        run_cron_entry(CronEntryId(entry.id), at(10, 1))
    assert loads == [False, False]


def test_a_payload_naming_an_entry_not_configured_is_rejected(
    cron_config: list[object], memory: InMemoryBackend
) -> None:
    cron_config.append(VALID)
    forged = Job.create(
        "dlq.cron.run_cron_entry",
        ["testapp:cron_probe:00000000", "2024-01-01T10:00:00Z"],
        {},
        now=at(10, 0),
    )
    memory.enqueue(forged, "cron")
    (outcome,) = memory.run_queued("cron")
    assert isinstance(outcome, Rejected)
    assert "is not an entry of the current cron configuration" in outcome.reason
    assert memory.dead_letter_count("cron") == 1
    assert PROBE_CALLS == []


def test_upstreams_cron_payload_naming_a_command_is_rejected(memory: InMemoryBackend) -> None:
    legacy = Job.create(
        "django_lightweight_queue.cron_scheduler.execute",
        ["flush"],
        {"interactive": False},
        now=at(10, 0),
    )
    memory.enqueue(legacy, "cron")
    (outcome,) = memory.run_queued("cron")
    assert isinstance(outcome, Rejected)


def test_enqueueing_an_entry_not_configured_queues_nothing(
    cron_config: list[object], memory: InMemoryBackend
) -> None:
    with pytest.raises(TaskArgumentError, match="not an entry"):
        run_cron_entry(CronEntryId("testapp:nope:12345678"), at(10, 0))
    assert memory.length("cron") == 0


def test_a_backend_without_claims_falls_back_to_this_process(
    cron_config: list[object], runtime: DjangoRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    cron_config.append(VALID)
    fired: list[Firing] = []
    overrides = {"cron": "dlq.backends.debug_web.DebugWebBackend"}
    with (
        override_settings(LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES=overrides),
        caplog.at_level(logging.WARNING),
    ):
        scheduler = build_scheduler(runtime, enqueue=fired.append)
        scheduler.tick(at(10, 0, 30))
        scheduler.tick(at(10, 1, 30))
    assert [firing.minute for firing in fired][-2:] == [at(10, 0), at(10, 1)]
    assert "cannot claim minutes" in caplog.text


# The runner's hook


def test_machine_one_of_a_pool_schedules(cron_config: list[object], runtime: DjangoRuntime) -> None:
    cron_config.append(PROBE)
    cron = build_cron_runtime(runtime, machine=1)
    assert cron.queues == ("reports",)
    assert cron.scheduler_loop is not None
    stop = threading.Event()
    stop.set()
    cron.scheduler_loop(stop)  # returns at once when stopped


def test_other_machines_imply_queues_but_do_not_schedule(
    cron_config: list[object], runtime: DjangoRuntime
) -> None:
    cron_config.append(PROBE)
    assert build_cron_runtime(runtime, machine=2) == (("reports",), None)
    assert build_cron_runtime(runtime, machine=1, only_queue="default") == (("reports",), None)
    assert build_cron_runtime(runtime, machine=1, only_queue="cron_scheduler").scheduler_loop


def test_every_pooled_machine_schedules_when_configured(
    cron_config: list[object], runtime: DjangoRuntime
) -> None:
    cron_config.append(PROBE)
    with override_settings(LIGHTWEIGHT_QUEUE_CRON_ON_EVERY_MACHINE=True):
        assert build_cron_runtime(runtime, machine=3).scheduler_loop is not None
        assert build_cron_runtime(runtime, exact_configuration=True) == ((), None)


def test_without_entries_there_is_nothing_to_run(runtime: DjangoRuntime) -> None:
    assert build_cron_runtime(runtime, machine=1) == ((), None)


def test_exactly_configured_runners_never_schedule(
    cron_config: list[object], runtime: DjangoRuntime
) -> None:
    cron_config.append(PROBE)
    assert build_cron_runtime(runtime, exact_configuration=True) == ((), None)


# queue_configuration


def test_queue_configuration_lists_entries_with_their_next_fire_time(
    cron_config: list[object],
) -> None:
    cron_config.append(PROBE)
    (entry,) = load_cron_configuration().entries
    out = StringIO()
    with override_settings(LIGHTWEIGHT_QUEUE_CRON_TIMEZONE="Europe/London"):
        call_command("queue_configuration", stdout=out)
    text = out.getvalue()
    assert "reports: 1 worker(s) (implied by cron entries)" in text
    assert "Cron (times in Europe/London" in text
    assert f"{entry.id} (app testapp, cron.py CONFIG[0])" in text
    assert "command: cron_probe args=['a', 'b'] kwargs={'region': 'eu', 'count': 3}" in text
    assert "schedule: minutes=0 hours=10 days=*" in text
    assert "queue: reports, timeout: 30, sigkill_on_stop: True" in text
    assert "next: " in text
    assert " 10:00 GMT" in text or " 10:00 BST" in text


def test_queue_status_shows_when_each_entry_last_fired(
    cron_config: list[object], memory: InMemoryBackend
) -> None:
    cron_config.append(PROBE)
    (entry, never) = last_fired(get_runtime())[0]
    assert never is None
    out = StringIO()
    call_command("queue_status", stdout=out)
    assert f"{entry.id} (cron_probe, queue reports): last fired never seen" in out.getvalue()
    memory.record_fired(entry.id, at(10, 0))
    out = StringIO()
    call_command("queue_status", "--json", stdout=out)
    (reported,) = json.loads(out.getvalue())["cron"]
    assert reported == {
        "entry": entry.id,
        "command": "cron_probe",
        "queue": "reports",
        "last_fired": "2024-01-01T10:00:00+00:00",
    }
