"""Cron for Django: each installed app's ``cron.py``, the task that runs an entry, the scheduler.

- :func:`load_cron_configuration` imports ``<app>.cron`` of every installed app (all of
  them, as upstream; ``IGNORE_APPS`` applies to ``tasks.py`` only) and validates its
  ``CONFIG`` (see :mod:`dlq.domain.cron.entry`), collecting every problem.
  :func:`cron_configuration` is the same, loaded once per runtime and kept until the
  settings change: the cron task's argument is checked against it at every enqueue and
  every decode.
- :data:`run_cron_entry` is the task a cron job is queued as. Its payload names the
  entry's id and the minute, never a command; a worker looks the id up in the
  configuration it has now, so a payload naming anything else is refused (``Rejected``,
  kept as a dead letter) and nothing in a queue can choose which command runs. Jobs
  queued under its old path, ``dlq.cron.run_cron_entry``, run too.
- :func:`build_cron_runtime` is what ``queue_runner`` calls: the queues cron entries
  imply, and the scheduler loop when this runner takes part.

The pure parts (entries, due minutes, daylight saving) are :mod:`dlq.domain.cron`; the
scheduler loop is :mod:`dlq.core.scheduler`; ``manage.py check`` reports a bad
``cron.py`` through :mod:`dlq.checks`. ``DlqConfig.ready()`` imports this module, which
is what puts :data:`run_cron_entry` in the task registry.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import import_module
from typing import Any, Final, NamedTuple

from django.apps import apps
from django.core.management import call_command, get_commands
from django.utils.module_loading import module_has_submodule
from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from dlq.backends.claims import ClaimTable
from dlq.conf import DjangoRuntime, get_runtime
from dlq.core.clock import utc_now
from dlq.core.protocols import Clock, SupportsClaim, SupportsCronHistory
from dlq.core.scheduler import CronScheduler, cron_timezone, takes_part_in_cron
from dlq.core.task import task
from dlq.domain.cron.due import Firing
from dlq.domain.cron.entry import CronConfiguration, CronEntry, parse_cron_config
from dlq.exceptions import Problem

__all__ = [
    "LEGACY_TASK_PATH",
    "CronEntryId",
    "CronRuntime",
    "build_cron_runtime",
    "build_scheduler",
    "cron_configuration",
    "last_fired",
    "load_cron_configuration",
    "run_cron_entry",
]

#: Where the cron task was defined before this module had its name: jobs queued by an
#: older dlq (still in a queue, or enqueued by a runner not yet upgraded) name it.
LEGACY_TASK_PATH: Final = "dlq.cron.run_cron_entry"

_MISSING = object()


def load_cron_configuration(*, check_commands: bool = True) -> CronConfiguration:
    """Discover and validate every installed app's ``cron.py``; never raises for a mistake.

    Nothing is cached: each call reads the modules' ``CONFIG`` as it is now (what
    ``manage.py check`` and a starting runner want); see :func:`cron_configuration`.
    """
    entries: list[CronEntry] = []
    problems: list[Problem] = []
    unknown: list[Problem] = []
    commands: Mapping[str, object] = get_commands() if check_commands else {}
    for app_config in apps.get_app_configs():
        if not module_has_submodule(app_config.module, "cron"):
            continue
        module_name = f"{app_config.name}.cron"
        try:
            module = import_module(module_name)
        except Exception as exc:  # any error in user code is reported, not raised
            problems.append(
                Problem(module_name, f"cannot be imported: {type(exc).__name__}: {exc}")
            )
            continue
        source = str(getattr(module, "__file__", "") or module_name)
        config = getattr(module, "CONFIG", _MISSING)
        if config is _MISSING:
            problems.append(
                Problem(
                    module_name,
                    "defines no CONFIG",
                    source=source,
                    expected="CONFIG, a list or tuple of cron entries (dicts)",
                )
            )
            continue
        where = f"{module_name}.CONFIG"
        parsed = parse_cron_config(config, app_label=app_config.label, where=where, source=source)
        entries.extend(parsed.entries)
        problems.extend(parsed.problems)
        if check_commands:
            unknown.extend(
                _unknown_command(entry, f"{where}[{entry.index}].command", source, commands)
                for entry in parsed.entries
                if entry.command not in commands
            )
    return CronConfiguration(tuple(entries), tuple(problems), tuple(unknown))


def _unknown_command(
    entry: CronEntry, name: str, source: str, commands: Mapping[str, object]
) -> Problem:
    close = difflib.get_close_matches(entry.command, list(commands), n=1, cutoff=0.7)
    return Problem(
        name,
        f"{entry.command!r} is not a management command of any installed app",
        source=source,
        expected="a command that `manage.py help` lists",
        hint=f"did you mean {close[0]!r}?" if close else "",
    )


def _load_entries() -> CronConfiguration:
    # Commands are not checked: a worker needs the entries, and check/start-up the rest.
    return load_cron_configuration(check_commands=False)


def cron_configuration(runtime: DjangoRuntime | None = None) -> CronConfiguration:
    """The configuration, loaded once for ``runtime`` (default: the installed one).

    Kept until the runtime is reset (a ``LIGHTWEIGHT_QUEUE_*`` setting or
    ``INSTALLED_APPS`` changed), so cron job ids are checked without importing and
    validating every app's ``cron.py`` each time. Command names are not checked here.
    """
    return (runtime or get_runtime()).memo(_load_entries)


class CronEntryId(str):
    """The id of an entry in the cron configuration; validating one looks it up.

    It is the type of :data:`run_cron_entry`'s ``entry`` parameter, so dlq's argument
    codec checks it both when the job is enqueued and before it runs: an id that is not
    configured is a :class:`~dlq.exceptions.TaskArgumentError`, and a worker rejects the
    job (the outcome ``Rejected``, kept as a dead letter) without running anything.
    Refusing there rather than raising inside the task is deliberate: the job never
    started, middleware never saw it, and retrying cannot help.
    """

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls._configured,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def _configured(cls, value: str) -> CronEntryId:
        configuration = cron_configuration()
        if configuration.get(value) is None:
            broken = " (the configuration has errors)" if configuration.problems else ""
            raise ValueError(f"{value!r} is not an entry of the current cron configuration{broken}")
        return cls(value)


@task(queue="cron", aliases=(LEGACY_TASK_PATH,))
def run_cron_entry(entry: CronEntryId, fire_time: datetime) -> None:
    """Run the management command of the configured cron entry ``entry``.

    ``fire_time`` is the minute it was scheduled for; it is logged, not passed on.
    """
    found = cron_configuration().get(entry)
    if found is None:  # the configuration changed between decoding and now
        raise LookupError(f"{entry!r} is no longer in the cron configuration")
    logging.getLogger("dlq.cron").info(
        "Running cron entry %s scheduled for %s", found.id, fire_time.isoformat()
    )
    call_command(found.command, *found.command_args, **found.command_kwargs)


def _enqueue(firing: Firing) -> None:
    entry = firing.entry
    run_cron_entry.using(
        queue=entry.queue, timeout=entry.timeout, sigkill_on_stop=entry.sigkill_on_stop
    )(CronEntryId(entry.id), firing.minute)


def build_scheduler(
    runtime: DjangoRuntime,
    configuration: CronConfiguration | None = None,
    *,
    enqueue: Callable[[Firing], None] = _enqueue,
) -> CronScheduler:
    """A scheduler for ``runtime``'s settings and backends; raises if anything is invalid.

    Claims and "last fired" records go to the backend of each entry's queue. A backend
    without ``claim`` (an upstream backend class) gets claims in this process only, with
    a warning: two schedulers could then both enqueue a minute.
    """
    configuration = configuration or load_cron_configuration()
    configuration.require_valid()
    settings = runtime.settings
    logger = runtime.logger("dlq.cron")
    local_claims = ClaimTable(utc_now)
    warned: set[str] = set()

    def claims_for(queue: str) -> SupportsClaim:
        backend = runtime.backend_for(queue)
        if isinstance(backend, SupportsClaim):
            return backend
        if queue not in warned:
            warned.add(queue)
            logger.warning(
                "The backend of cron queue %r cannot claim minutes; if more than one"
                " scheduler runs, its entries may be enqueued twice",
                queue,
            )
        return local_claims

    def history_for(queue: str) -> SupportsCronHistory | None:
        backend = runtime.backend_for(queue)
        return backend if isinstance(backend, SupportsCronHistory) else None

    return CronScheduler(
        configuration.entries,
        tz=cron_timezone(settings),
        catch_up_s=settings.CRON_CATCH_UP_S,
        coalesce=settings.CRON_COALESCE,
        claims_for=claims_for,
        enqueue=enqueue,
        history_for=history_for,
        logger=logger,
    )


class CronRuntime(NamedTuple):
    """What a runner needs for cron: implied queues, and the scheduler loop if it runs one.

    ``scheduler_loop(stop)`` blocks until ``stop`` is set; run it in a thread.
    """

    queues: tuple[str, ...]
    scheduler_loop: Callable[[threading.Event], None] | None


def build_cron_runtime(
    runtime: DjangoRuntime,
    *,
    machine: int = 1,
    exact_configuration: bool = False,
    only_queue: str | None = None,
    clock: Clock = utc_now,
) -> CronRuntime:
    """Cron for one ``queue_runner``; raises :class:`ConfigurationError` if cron is invalid.

    A pooled runner gets the queues its cron entries name (pass them to
    :func:`dlq.domain.allocation.implied_queues` on every machine, so all machines split
    the same pool); an ``--exact-configuration`` runner gets none and never schedules,
    as upstream. Which pooled runners schedule: see
    :func:`dlq.core.scheduler.takes_part_in_cron`.
    """
    if exact_configuration:
        return CronRuntime((), None)
    configuration = load_cron_configuration()
    configuration.require_valid()
    if not configuration.entries:
        return CronRuntime((), None)
    if not takes_part_in_cron(
        machine=machine,
        exact_configuration=exact_configuration,
        on_every_machine=runtime.settings.CRON_ON_EVERY_MACHINE,
        only_queue=only_queue,
    ):
        return CronRuntime(configuration.queues, None)
    scheduler = build_scheduler(runtime, configuration)

    def scheduler_loop(stop: threading.Event) -> None:
        scheduler.run(stop, clock=clock)

    return CronRuntime(configuration.queues, scheduler_loop)


def last_fired(
    runtime: DjangoRuntime, configuration: CronConfiguration | None = None
) -> list[tuple[CronEntry, datetime | None]]:
    """Each entry with the minute it last fired for, or None when unknown.

    None also when the entry's backend keeps no history (``SupportsCronHistory``).
    """
    configuration = configuration or load_cron_configuration(check_commands=False)
    result: list[tuple[CronEntry, datetime | None]] = []
    for entry in configuration.entries:
        backend = runtime.backend_for(entry.queue)
        history = backend.last_fired([entry.id]) if isinstance(backend, SupportsCronHistory) else {}
        result.append((entry, history.get(entry.id)))
    return result
