"""Which cron entries are due for which minutes, across daylight-saving changes; and catch-up.

Minutes are named by their UTC start (aware datetimes); schedules are read in the
wall-clock time of a zone ``tz``. Everything here is pure: the scheduler
(:mod:`dlq.core.scheduler`) passes in the interval it is working through.

Daylight saving. Each UTC minute *stands for* the local minutes in :func:`wall_window`:
its own local minute, normally. The first minute after a spring-forward gap also stands
for the local minutes the gap skipped, so an entry that matches any of them fires once,
then. A minute that repeats local time already passed (after a fall-back) stands for
none, so an entry fires in the first pass of a repeated hour and not in the second.

Catch-up. The minutes due in one interval become :class:`DueRun` objects, each one
enqueue. With ``coalesce`` (the default setting) an entry's minutes collapse into one
run stamped with the latest of them, as APScheduler's ``coalesce=True`` and Celery beat
do: an every-minute entry missed for half an hour runs once, not thirty times. Without
it, every minute is a run of its own. Either way every minute is claimed (see
:meth:`DueRun.claims`), so no other scheduler enqueues it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from dlq.domain.cron.entry import CronEntry
from dlq.domain.cron.spec import CronSpec

__all__ = [
    "DueRun",
    "Firing",
    "due_firings",
    "due_runs",
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


@dataclass(frozen=True, slots=True)
class DueRun:
    """One enqueue of ``entry``, standing for its due ``minutes`` (ascending, at least one).

    The job is stamped with the latest minute (:attr:`firing`).
    """

    entry: CronEntry
    minutes: tuple[datetime, ...]

    def __post_init__(self) -> None:
        if not self.minutes:
            raise ValueError(f"a run of {self.entry.id} stands for no minute")

    @property
    def firing(self) -> Firing:
        """What is enqueued: the entry, for the latest of its minutes."""
        return Firing(self.entry, self.minutes[-1])

    @property
    def earliest(self) -> datetime:
        return self.minutes[0]

    def claims(self) -> list[Firing]:
        """Every minute to claim, the latest (the one enqueued) first.

        Only the scheduler that wins the latest minute enqueues; the others are claimed
        so that no other scheduler enqueues them later. Two schedulers catching up the
        same minutes at once both try the latest first, so one run happens, not two.
        """
        return [Firing(self.entry, minute) for minute in reversed(self.minutes)]


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


def due_runs(
    entries: Sequence[CronEntry],
    tz: tzinfo,
    after: datetime,
    until: datetime,
    *,
    coalesce: bool,
) -> list[DueRun]:
    """The enqueues that the minutes in ``(after, until]`` call for.

    With ``coalesce``: one run per entry that has any due minute, in the entries' order,
    standing for all of them. Without: one run per :func:`due_firings` item, in its
    order (by minute). Either way the runs' minutes are exactly the due firings.
    """
    firings = due_firings(entries, tz, after, until)
    if not coalesce:
        return [DueRun(firing.entry, (firing.minute,)) for firing in firings]
    # Grouped by entry object, not by CronEntry.id: two entries may share an id (same
    # command and arguments) and still differ in queue or timeout.
    minutes: dict[int, list[datetime]] = {}
    for firing in firings:
        minutes.setdefault(id(firing.entry), []).append(firing.minute)
    return [DueRun(entry, tuple(minutes[id(entry)])) for entry in entries if id(entry) in minutes]


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
