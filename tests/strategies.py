"""Hypothesis strategies shared by every test tier, kept in one place.

Each area appends its own clearly headed section below; add its public names to
``__all__`` as well.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

__all__ = [
    "aware_datetimes",
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
# Cron specs (dlq.domain.cron)
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
