"""Hypothesis strategies shared by every test tier, kept in one place.

Each area appends its own clearly headed section below; add its public names to
``__all__`` as well.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from dlq.domain.cron.entry import CronEntry, parse_cron_config

__all__ = [
    "aware_datetimes",
    "json_values",
    "machine_pools",
    "positive_durations",
    "queue_names",
    "worker_counts",
]


# ---------------------------------------------------------------------------
# Allocation and durations (dlq.domain.allocation, dlq.domain.durations)
# ---------------------------------------------------------------------------


def queue_names() -> st.SearchStrategy[str]:
    """Queue names as settings spell them: short, with the odd dot, dash or underscore."""
    return st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
        min_size=1,
        max_size=12,
    )


def worker_counts(max_queues: int = 6, max_workers: int = 8) -> st.SearchStrategy[dict[str, int]]:
    """``LIGHTWEIGHT_QUEUE_WORKERS``-shaped mappings; a count of 0 is allowed, as upstream."""
    return st.dictionaries(
        queue_names(), st.integers(min_value=0, max_value=max_workers), max_size=max_queues
    )


def machine_pools(max_machines: int = 10) -> st.SearchStrategy[int]:
    """The ``--of`` of a pool: how many machines share the workers."""
    return st.integers(min_value=1, max_value=max_machines)


def positive_durations(max_days: int = 10_000) -> st.SearchStrategy[timedelta]:
    """Durations a pause could last: at least a microsecond, up to ``max_days`` days."""
    return st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=max_days))


@st.composite
def _fixed_offsets(draw: st.DrawFn) -> timezone:
    minutes = draw(st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1))
    return timezone(timedelta(minutes=minutes))


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Aware datetimes with whole-minute offsets (as ISO 8601 writes them), 4-digit years."""
    return st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=_fixed_offsets(),
    )


# ---------------------------------------------------------------------------
# Cron specs (dlq.domain.cron.spec)
# ---------------------------------------------------------------------------

__all__ += ["cron_datetimes", "cron_field_inputs", "cron_field_sets", "cron_fields"]

# Written out again rather than imported, so that the strategies check the module.
_CRON_BOUNDS = {"minutes": (0, 59), "hours": (0, 23), "days": (1, 7)}


def cron_fields() -> st.SearchStrategy[str]:
    """The name of one time field of a cron entry."""
    return st.sampled_from(sorted(_CRON_BOUNDS))


def cron_field_sets(name: str) -> st.SearchStrategy[frozenset[int]]:
    """Any non-empty set of values the field ``name`` can hold."""
    low, high = _CRON_BOUNDS[name]
    return st.frozensets(st.integers(min_value=low, max_value=high), min_size=1)


@st.composite
def _cron_item(draw: st.DrawFn, name: str) -> tuple[str, frozenset[int]]:
    low, high = _CRON_BOUNDS[name]
    value = st.integers(min_value=low, max_value=high)
    step = draw(st.integers(min_value=1, max_value=high + 5))
    kind = draw(st.sampled_from(["*", "*/n", "a", "a-b", "a-b/n", "a/n"]))
    a, b = sorted((draw(value), draw(value)))
    if kind == "*":
        return "*", frozenset(range(low, high + 1))
    if kind == "*/n":
        return f"*/{step}", frozenset(range(low, high + 1, step))
    if kind == "a":
        return str(a), frozenset({a})
    if kind == "a-b":
        return f"{a}-{b}", frozenset(range(a, b + 1))
    if kind == "a-b/n":
        return f"{a}-{b}/{step}", frozenset(range(a, b + 1, step))
    return f"{a}/{step}", frozenset(range(a, high + 1, step))


@st.composite
def _cron_text(draw: st.DrawFn, name: str) -> tuple[str | int | list[int], frozenset[int]]:
    items = draw(st.lists(_cron_item(name), min_size=1, max_size=4))
    spaces = st.sampled_from(["", " ", "  ", "\t"])
    text = ",".join(draw(spaces) + item + draw(spaces) for item, _ in items)
    return text, frozenset().union(*(values for _, values in items))


def cron_field_inputs(name: str) -> st.SearchStrategy[tuple[str | int | list[int], frozenset[int]]]:
    """A valid value for the field ``name`` in any accepted form, with the set it means.

    Text mixes ``*``, values, ranges and steps with stray spaces; the set is worked out
    here independently of the parser.
    """
    low, high = _CRON_BOUNDS[name]
    value = st.integers(min_value=low, max_value=high)
    ints: st.SearchStrategy[tuple[str | int | list[int], frozenset[int]]] = value.map(
        lambda v: (v, frozenset({v}))
    )
    lists: st.SearchStrategy[tuple[str | int | list[int], frozenset[int]]] = st.lists(
        value, min_size=1, max_size=8
    ).map(lambda vs: (vs, frozenset(vs)))
    return st.one_of(_cron_text(name), ints, lists)


def cron_datetimes() -> st.SearchStrategy[datetime]:
    """Naive or fixed-offset datetimes, seconds and all, far from the ends of the calendar."""
    return st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 12, 31),
        timezones=st.one_of(st.none(), _fixed_offsets()),
    )


# ---------------------------------------------------------------------------
# Cron entries, due minutes and the scheduler (dlq.domain.cron, dlq.core.scheduler)
# ---------------------------------------------------------------------------

__all__ += [
    "CRON_DST_CHANGES",
    "cron_entries",
    "cron_entry_configs",
    "cron_zone_names",
    "instants_near_dst",
]

#: Zones with daylight saving: whole hours (London, New York), half an hour (Lord Howe).
_CRON_ZONES = ("UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe")

_UTC = timezone(timedelta(0))

#: (zone, UTC instant of a clock change in 2024). The tests check each really is one.
CRON_DST_CHANGES: tuple[tuple[str, datetime], ...] = (
    ("Europe/London", datetime(2024, 3, 31, 1, 0, tzinfo=_UTC)),
    ("Europe/London", datetime(2024, 10, 27, 1, 0, tzinfo=_UTC)),
    ("America/New_York", datetime(2024, 3, 10, 7, 0, tzinfo=_UTC)),
    ("America/New_York", datetime(2024, 11, 3, 6, 0, tzinfo=_UTC)),
    ("Australia/Lord_Howe", datetime(2024, 4, 6, 15, 0, tzinfo=_UTC)),
    ("Australia/Lord_Howe", datetime(2024, 10, 5, 15, 30, tzinfo=_UTC)),
)


def cron_zone_names() -> st.SearchStrategy[str]:
    """IANA names of zones with and without daylight saving."""
    return st.sampled_from(_CRON_ZONES)


def instants_near_dst(
    spread: timedelta = timedelta(hours=3),
) -> st.SearchStrategy[tuple[str, datetime]]:
    """A zone and an aware UTC instant within ``spread`` of one of its clock changes."""
    return st.tuples(
        st.sampled_from(CRON_DST_CHANGES),
        st.timedeltas(min_value=-spread, max_value=spread),
    ).map(lambda pair: (pair[0][0], pair[0][1] + pair[1]))


@st.composite
def cron_entry_configs(draw: st.DrawFn) -> dict[str, object]:
    """A valid upstream-style cron entry dict; optional keys are present or left out."""
    entry: dict[str, object] = {"command": draw(st.sampled_from(["cron_probe", "check"]))}
    entry["minutes"] = draw(cron_field_inputs("minutes"))[0]
    entry["hours"] = draw(cron_field_inputs("hours"))[0]
    optional: dict[str, st.SearchStrategy[object]] = {
        "days": cron_field_inputs("days").map(lambda pair: pair[0]),
        "queue": queue_names(),
        "timeout": st.none() | st.integers(min_value=1, max_value=86_400),
        "sigkill_on_stop": st.booleans(),
        "command_args": st.lists(st.text(max_size=6) | st.integers(), max_size=3),
        "command_kwargs": st.dictionaries(
            st.sampled_from(["region", "count"]), st.text(max_size=6) | st.integers(), max_size=2
        ),
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            entry[key] = draw(values)
    return entry


# ---------------------------------------------------------------------------
# Redis backends (dlq.backends.redis, dlq.backends.reliable_redis)
# ---------------------------------------------------------------------------

import json  # noqa: E402  # this section's own imports, kept with it
from datetime import UTC  # noqa: E402
from typing import Literal  # noqa: E402

from dlq.domain.envelope import Job, decode_job  # noqa: E402
from dlq.exceptions import PayloadError  # noqa: E402

__all__ += ["QUEUED_REGISTERED_PATH", "malformed_payloads", "queued_payloads", "upstream_payloads"]

#: The one task path the Redis property tests treat as registered.
QUEUED_REGISTERED_PATH = "tests.testapp.tasks.add"

_JSON_ARGS = st.lists(
    st.integers(-(2**31), 2**31) | st.text(max_size=8) | st.booleans(), max_size=3
)


def upstream_payloads(path: str = QUEUED_REGISTERED_PATH) -> st.SearchStrategy[bytes]:
    """Payloads as django-lightweight-queue 4.x writes them: no ``id``, no ``attempts``."""
    return st.builds(
        lambda args, timeout, micros: json.dumps(
            {
                "path": path,
                "args": args,
                "kwargs": {},
                "timeout": timeout,
                "sigkill_on_stop": False,
                "created_time": f"2024-01-02 03:04:05.{micros:06d}",
            }
        ).encode(),
        _JSON_ARGS,
        st.none() | st.integers(1, 3600),
        st.integers(0, 999_999),
    )


def _undecodable(raw: bytes) -> bool:
    try:
        decode_job(raw)
    except PayloadError:
        return True
    return False


def malformed_payloads() -> st.SearchStrategy[bytes]:
    """Bytes no job decodes from: garbage, JSON of the wrong shape, wrong field types."""
    wrong_shape = st.sampled_from(
        [b"[]", b"null", b"{}", b'{"path": 1, "args": [], "kwargs": {}}', b'{"path": "a.b"}']
    )
    return (st.binary(max_size=40) | wrong_shape).filter(_undecodable)


def queued_payloads() -> st.SearchStrategy[tuple[Literal["run", "reject", "bury"], bytes]]:
    """A payload and what a worker should make of it: run it, reject it (no such task,
    so a dead letter), or find it undecodable (a dead letter on sight)."""
    now = datetime(2026, 1, 2, tzinfo=UTC)
    runnable = st.builds(
        lambda args: Job.create(QUEUED_REGISTERED_PATH, args, {}, now=now).encode(), _JSON_ARGS
    )
    unknown = st.builds(
        lambda args: Job.create("no.such.task", args, {}, now=now).encode(), _JSON_ARGS
    )
    return st.one_of(
        st.tuples(st.just("run"), runnable | upstream_payloads()),
        st.tuples(st.just("reject"), unknown | upstream_payloads("no.such.task")),
        st.tuples(st.just("bury"), malformed_payloads()),
    )


@st.composite
def cron_entries(draw: st.DrawFn, max_size: int = 3) -> list[CronEntry]:
    """One to ``max_size`` entries with any minutes and hours (every day), distinct ids.

    Hours are drawn from all 24 half the time and from a few otherwise, so both entries
    due every few minutes and entries due once a day or less turn up.
    """
    count = draw(st.integers(min_value=1, max_value=max_size))
    entries = []
    for index in range(count):
        hours = draw(st.just(frozenset(range(24))) | cron_field_sets("hours"))
        raw = {
            "command": f"job{index}",
            "minutes": sorted(draw(cron_field_sets("minutes"))),
            "hours": sorted(hours),
        }
        parsed = parse_cron_config([raw], app_label="app", where="app.cron.CONFIG")
        entries.append(parsed.entries[0])
    return entries


# ---------------------------------------------------------------------------
# The pipelined line (dlq.backends.redis.line)
# ---------------------------------------------------------------------------

from dataclasses import dataclass  # noqa: E402

__all__ += ["LineStep", "line_steps"]


@dataclass(frozen=True)
class LineStep:
    """One thing done to a line: ``action`` (send, defer or call a command, read what is
    owed, kill the connection from the server's side, a blocking command that a stop cuts
    short), whether the server refuses the command, and the bytecode at which an exception
    interrupts the step (None: not interrupted)."""

    action: Literal["send", "defer", "call", "read_owed", "kill", "blocking"]
    refused: bool
    interrupt_at: int | None


def line_steps(max_size: int = 25) -> st.SearchStrategy[list[LineStep]]:
    """Scripts of steps for a line, every kind interleaved with every other."""
    step = st.builds(
        LineStep,
        st.sampled_from(["send", "defer", "call", "read_owed", "kill", "blocking"]),
        st.booleans(),
        st.none() | st.none() | st.integers(1, 120),
    )
    return st.lists(step, max_size=max_size)


# ---------------------------------------------------------------------------
# Task arguments (dlq.core.arguments, dlq.core.argument_types)
# ---------------------------------------------------------------------------


from dlq.domain.envelope import JSONValue  # noqa: E402  # this section's own import


def json_values(max_leaves: int = 8) -> st.SearchStrategy[JSONValue]:
    """Any JSON value, as a queued payload's arguments hold them once decoded."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )
