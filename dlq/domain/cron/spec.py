"""When a cron entry fires: its three time fields, parsed, matched and stepped through.

A django-lightweight-queue cron entry names the minutes, hours and days it runs on::

    {"command": "send_digest", "minutes": "0,30", "hours": "9-17", "days": "1-5"}

Each field is written the same way:

``*``
    every value of the field.
``7``
    one value. Minutes are 0-59, hours 0-23 and days 1-7 as
    :meth:`datetime.isoweekday` counts them (1 = Monday ... 7 = Sunday).
``9-17``
    a range, both ends included; a range that runs backwards (``17-9``) is an error.
``*/15``, ``10-50/10``, ``5/10``
    a step: every n-th value of ``*`` or of a range, starting at its lower end.
    ``a/n`` is short for ``a-max/n``, as in Vixie cron, so ``5/10`` in minutes means
    5, 15, ..., 55. The step must be at least 1.
``0, 30``
    any of the above, separated by commas; spaces around items are ignored.

Upstream accepts only ``*`` and lists of values. dlq also accepts a Python ``int``
(``"minutes": 0``) and a list or tuple of ints (``"hours": [9, 13]``).

Everything here works in wall-clock time: a :class:`~datetime.datetime` is read as
the minute, hour and weekday it shows, in whatever ``tzinfo`` it carries (or none).
Moving across a daylight-saving change (a skipped or repeated hour) is the caller's
business; :meth:`CronSpec.next_after` may return a wall-clock time that does not
exist, or exists twice (it is given ``fold=0``), in the zone of its argument.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeAlias

from dlq.exceptions import ConfigurationError, Problem

__all__ = ["CronFieldError", "CronSpec", "FieldValue", "format_field", "parse_field"]

#: What a field may be given as: text, one int, or a list or tuple of ints.
FieldValue: TypeAlias = str | int | Sequence[int]

#: The inclusive bounds of each field.
_BOUNDS: dict[str, tuple[int, int]] = {"minutes": (0, 59), "hours": (0, 23), "days": (1, 7)}

# One comma-separated item: ``*`` or ``a`` or ``a-b``, then an optional ``/step``.
# The step admits a sign so that ``*/-5`` is reported as a bad step, not as garbage.
_ITEM = re.compile(
    r"(?:(?P<star>\*)|(?P<low>[0-9]+)(?:-(?P<high>[0-9]+))?)(?:/(?P<step>-?[0-9]+))?"
)


class CronFieldError(ConfigurationError, ValueError):
    """One time field of a cron entry cannot be parsed.

    ``field`` is ``minutes``, ``hours`` or ``days``, ``value`` the value as given,
    ``reason`` what is wrong with it and ``expected`` what the field accepts. The single
    entry of ``problems`` holds the same, so a settings loader can rename it (say to
    ``app.cron[2].minutes``) with :func:`dataclasses.replace` and add its source.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        self.expected = _expected(field)
        super().__init__([Problem(name=field, message=reason, expected=self.expected)])


def _expected(field: str) -> str:
    low, high = _BOUNDS[field]
    text = (
        f"* or values {low}-{high}, ranges a-b, steps */n, a-b/n or a/n, separated by commas"
        " (or an int, or a list of ints)"
    )
    if field == "days":
        text += "; days count 1 = Monday ... 7 = Sunday"
    return text


def parse_field(name: str, text: FieldValue) -> frozenset[int]:
    """The values that the field ``name`` written as ``text`` stands for.

    Raises :class:`CronFieldError` if ``text`` is empty, out of range or not cron syntax,
    and :class:`ValueError` if ``name`` is not ``minutes``, ``hours`` or ``days``.
    """
    if name not in _BOUNDS:
        raise ValueError(f"unknown cron field {name!r}; expected one of {', '.join(_BOUNDS)}")
    low, high = _BOUNDS[name]
    if isinstance(text, str):
        return _parse_text(name, text, low, high)
    # bool is an int subclass, but ``"minutes": True`` is surely a mistake.
    if isinstance(text, int) and not isinstance(text, bool):
        items: Sequence[object] = [text]
    elif isinstance(text, (list, tuple)):
        items = text
    else:
        raise CronFieldError(name, text, f"{text!r} is not a string, an int or a list of ints")
    if not items:
        raise CronFieldError(name, text, f"{text!r} is empty")
    values: set[int] = set()
    for item in items:
        where = "" if item is text else f" in {text!r}"
        if not isinstance(item, int) or isinstance(item, bool):
            raise CronFieldError(name, text, f"{item!r}{where} is not an int")
        if not low <= item <= high:
            raise CronFieldError(name, text, f"{item!r}{where} is out of range")
        values.add(item)
    return frozenset(values)


def _parse_text(name: str, text: str, low: int, high: int) -> frozenset[int]:
    if not text.strip():
        raise CronFieldError(name, text, f"{text!r} is empty")
    values: set[int] = set()
    for raw in text.split(","):
        item = raw.strip()
        where = "" if item == text else f" in {text!r}"
        if not item:
            raise CronFieldError(name, text, f"{text!r} has an empty item")
        found = _ITEM.fullmatch(item)
        if found is None:
            raise CronFieldError(name, text, f"{item!r}{where} is not a value, range or step")
        step = int(found["step"] or "1")
        if step < 1:
            raise CronFieldError(name, text, f"{item!r}{where} has a step below 1")
        if found["star"]:
            start, stop = low, high
        else:
            start = int(found["low"])
            # ``a`` alone is one value, but ``a/n`` runs to the top of the field.
            stop = int(found["high"] or (found["low"] if found["step"] is None else high))
        if not (low <= start <= high and low <= stop <= high):
            raise CronFieldError(name, text, f"{item!r}{where} is out of range")
        if stop < start:
            raise CronFieldError(name, text, f"{item!r}{where} is a range that runs backwards")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def format_field(name: str, values: Collection[int]) -> str:
    """The canonical text for ``values`` of the field ``name``; :func:`parse_field` inverts it.

    All values give ``*``; an evenly spaced run gives ``*/n`` (when it starts at the
    bottom of the field and reaches as far up as it can) or ``a-b/n``; anything else
    is a list in which runs of three or more consecutive values are written ``a-b``.
    """
    parse_field(name, list(values))  # the same checks, and the same error, as parsing
    low, high = _BOUNDS[name]
    ordered = sorted(set(values))
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) >= 3:
        start, step = ordered[0], ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(start, ordered[-1] + 1, step)):
            if start == low and ordered[-1] + step > high:
                return f"*/{step}"
            return f"{start}-{ordered[-1]}/{step}"
    parts: list[str] = []
    run_start = ordered[0]
    for previous, current in zip(ordered, [*ordered[1:], None], strict=True):
        if current == previous + 1:
            continue
        if previous - run_start >= 2:
            parts.append(f"{run_start}-{previous}")
        else:
            parts.extend(str(value) for value in range(run_start, previous + 1))
        if current is not None:
            run_start = current
    return ",".join(parts)


@dataclass(frozen=True, slots=True, repr=False)
class CronSpec:
    """The minutes, hours and weekdays (1 = Monday ... 7 = Sunday) a cron entry fires on.

    Build one with :meth:`parse`; constructing it directly checks the sets the same way.
    Every set holds at least one value, so a spec fires at least once a week.
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]

    def __post_init__(self) -> None:
        for name in _BOUNDS:
            values = getattr(self, name)
            if not isinstance(values, frozenset):
                raise CronFieldError(name, values, f"{values!r} is not a frozenset")
            parse_field(name, sorted(values))

    @classmethod
    def parse(cls, *, minutes: FieldValue, hours: FieldValue, days: FieldValue = "*") -> CronSpec:
        """Parse the three fields of an upstream cron entry.

        ``minutes`` and ``hours`` have no default because upstream requires them, and
        firing every minute by omission is rarely meant; ``days`` defaults to ``*``
        as upstream. The first bad field raises :class:`CronFieldError`.
        """
        return cls(
            minutes=parse_field("minutes", minutes),
            hours=parse_field("hours", hours),
            days=parse_field("days", days),
        )

    def as_config(self) -> dict[str, str]:
        """The canonical text of each field, as the keys of an upstream cron entry."""
        return {name: format_field(name, getattr(self, name)) for name in _BOUNDS}

    def __str__(self) -> str:
        return " ".join(f"{name}={text}" for name, text in self.as_config().items())

    def __repr__(self) -> str:
        arguments = ", ".join(f"{name}={text!r}" for name, text in self.as_config().items())
        return f"CronSpec.parse({arguments})"

    def matches(self, when: datetime) -> bool:
        """Whether the minute that ``when`` falls in is one the spec fires on."""
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.isoweekday() in self.days
        )

    def next_after(self, when: datetime) -> datetime:
        """The first minute strictly after ``when`` that matches, in wall-clock time.

        The result has zero seconds and microseconds and the ``tzinfo`` of ``when``.
        It skips whole days and hours that cannot match, so it costs at most eight
        days of a few comparisons each.
        """
        start = when.replace(second=0, microsecond=0, fold=0) + timedelta(minutes=1)
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        # Offset 7 is the start's weekday again with no lower bound, which always matches.
        for offset in range(8):
            day: date = start.date() + timedelta(days=offset)
            if day.isoweekday() not in self.days:
                continue
            floor_hour, floor_minute = (start.hour, start.minute) if offset == 0 else (0, 0)
            for hour in hours[bisect_left(hours, floor_hour) :]:
                first = bisect_left(minutes, floor_minute if hour == floor_hour else 0)
                if first < len(minutes):
                    return datetime.combine(day, time(hour, minutes[first]), tzinfo=when.tzinfo)
        raise AssertionError(f"unreachable: {self!r} found no minute within a week")

    def fire_times(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Every matching minute in ``(after, until]``, in order, in ``after``'s wall-clock time.

        ``after`` and ``until`` must carry equal ``tzinfo`` (or both none), so that
        they compare as wall-clock times too; otherwise :class:`ValueError` is raised.
        """
        if after.tzinfo != until.tzinfo:
            raise ValueError(
                f"after and until have different tzinfo ({after.tzinfo!r}, {until.tzinfo!r})"
            )
        return self._fire_times(after, until)

    def _fire_times(self, after: datetime, until: datetime) -> Iterator[datetime]:
        when = self.next_after(after)
        while when <= until:
            yield when
            when = self.next_after(when)
