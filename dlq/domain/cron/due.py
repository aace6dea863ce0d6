"""Which cron entries are due for which minutes, across daylight-saving changes.

Minutes are named by their UTC start (aware datetimes); schedules are read in the
wall-clock time of a zone ``tz``. Everything here is pure: the scheduler
(:mod:`dlq.core.scheduler`) passes in the interval it is working through.

Daylight saving. Each UTC minute *stands for* the local minutes in :func:`wall_window`:
its own local minute, normally. The first minute after a spring-forward gap also stands
for the local minutes the gap skipped, so an entry that matches any of them fires once,
then. A minute that repeats local time already passed (after a fall-back) stands for
none, so an entry fires in the first pass of a repeated hour and not in the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from dlq.domain.cron.entry import CronEntry
from dlq.domain.cron.spec import CronSpec

__all__ = [
    "Firing",
    "due_firings",
    "next_fire_time",
    "require_aware",
    "wall_window",
]

_MINUTE: Final = timedelta(minutes=1)
_GAP_SEARCH_LIMIT: Final = 48 * 60  # minutes; real gaps last an hour or two


@dataclass(frozen=True, slots=True)
class Firing:
    """``entry`` is due for the minute starting at ``minute`` (aware, UTC)."""

    entry: CronEntry
    minute: datetime

    @property
    def claim_key(self) -> str:
        """The name under which a scheduler claims this (entry, minute) in a backend."""
        return f"cron:{self.entry.id}:{self.minute.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def _wall(instant: datetime, tz: tzinfo) -> datetime:
    """The naive local minute that ``instant`` falls in."""
    return instant.astimezone(tz).replace(second=0, microsecond=0, fold=0, tzinfo=None)


def _repeats(instant: datetime, tz: tzinfo) -> bool:
    """Whether ``instant`` shows a local time that an earlier instant already showed."""
    local = instant.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def wall_window(minute: datetime, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """The naive local minutes ``(after, until]`` that the UTC ``minute`` stands for.

    Normally one minute: ``until`` is ``minute`` in local time. After a spring-forward
    gap it also holds the skipped local minutes. None for a minute that repeats local
    time after a fall-back (its local minutes were stood for the first time round).
    """
    if _repeats(minute, tz):
        return None
    until = _wall(minute, tz)
    after = _wall(minute - _MINUTE, tz)
    if after >= until:  # local time went backwards without a fold; treat as a repeat
        return None
    return after, until


def _fires(spec: CronSpec, window: tuple[datetime, datetime]) -> bool:
    after, until = window
    if until - after == _MINUTE:
        return spec.matches(until)
    return spec.next_after(after) <= until


def _first_minute_after(when: datetime) -> datetime:
    require_aware(when)
    return when.astimezone(UTC).replace(second=0, microsecond=0) + _MINUTE


def due_firings(
    entries: Sequence[CronEntry], tz: tzinfo, after: datetime, until: datetime
) -> list[Firing]:
    """Every (entry, minute) due for a minute starting in ``(after, until]``, in order.

    Minutes are UTC minute starts; entries within a minute keep their order. Costs one
    step per minute in the interval, so callers bound it (the scheduler by its catch-up
    window).
    """
    minute = _first_minute_after(after)
    end = until.astimezone(UTC)
    firings: list[Firing] = []
    while minute <= end:
        window = wall_window(minute, tz)
        if window is not None:
            firings.extend(Firing(entry, minute) for entry in entries if _fires(entry.spec, window))
        minute += _MINUTE
    return firings


def next_fire_time(spec: CronSpec, tz: tzinfo, after: datetime) -> datetime:
    """The start (UTC) of the first minute after ``after`` at which ``spec`` fires in ``tz``.

    Agrees with :func:`due_firings`: it is the first minute that function would give
    for ``spec``, without stepping through every minute in between.
    """
    minute = _first_minute_after(after)
    window = wall_window(minute, tz)
    while window is None:  # inside a repeated hour: step to its end
        minute += _MINUTE
        window = wall_window(minute, tz)
    wanted = spec.next_after(window[0])
    first = wanted.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wanted:
        return first  # the local minute exists; fold=0 is its first occurrence
    # ``wanted`` lies in a gap: the minute after the gap stands for it. Both readings of a
    # missing local time land on either side of the gap, so search between them.
    candidate = min(first, wanted.replace(tzinfo=tz, fold=1).astimezone(UTC))
    for _ in range(_GAP_SEARCH_LIMIT):
        window = wall_window(candidate, tz)
        if window is not None and window[0] < wanted <= window[1]:
            return candidate
        candidate += _MINUTE
    raise AssertionError(f"unreachable: no minute stands for {wanted} in {tz}")


def require_aware(when: datetime) -> None:
    """Raise :class:`ValueError` if ``when`` is naive: cron works with aware datetimes."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{when!r} is naive; the scheduler works with aware datetimes")
