"""The cron scheduler: which (entry, minute) pairs are due, and a loop that enqueues each once.

Never skip a minute: a tick enqueues every minute that started in ``(previous tick,
now]``, so a tick that comes late (a busy thread, a GC pause, a suspended VM) still
fires the minutes it slept through (up to :data:`MAX_STALL_S` back). When no scheduler
ran at all (a deploy, a crash), a scheduler's first tick catches up the minutes of the
last ``catch_up_s`` seconds and no more.

Never double: every (entry, minute) is first *claimed* through the backend of the
entry's queue (:class:`~dlq.core.protocols.SupportsClaim`: ``SET NX EX`` in Redis), under
the key ``cron:<entry id>:<UTC minute>``. Only the scheduler that wins the claim
enqueues, so two schedulers (a deploy overlap, two runners that both think they are
machine 1, or ``CRON_ON_EVERY_MACHINE``) enqueue each pair once. A claim lives
``catch_up_s`` plus :data:`CLAIM_MARGIN_S` seconds: at least half an hour longer than
any scheduler can consider its minute due, for clocks that disagree.

Time zones: schedules are read in ``tz`` wall-clock time, and minutes are named by their
UTC start. Each UTC minute *stands for* the local minutes in :func:`wall_window`: its own
local minute, normally. The first minute after a spring-forward gap also stands for the
local minutes the gap skipped, so an entry that matches any of them fires once, then.
A minute that repeats local time already passed (after a fall-back) stands for none, so
an entry fires in the first pass of a repeated hour and not in the second.

Time is a parameter: the pure functions take it, the loop is given a clock, a sleep
and a stop event. Nothing here knows Django; the Django layer (``dlq.cron``) builds a
scheduler from the configuration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from dlq.core.protocols import Clock, SupportsClaim, SupportsCronHistory
from dlq.domain.cron import CronSpec
from dlq.domain.cron_entry import CronEntry

__all__ = [
    "CLAIM_MARGIN_S",
    "CRON_QUEUE_NAME",
    "MAX_STALL_S",
    "CronScheduler",
    "Firing",
    "due_firings",
    "next_fire_time",
    "takes_part_in_cron",
    "wall_window",
]

#: The pseudo-queue that ``queue_runner --only-queue`` names to run just the scheduler
#: (upstream's name, kept so existing deployments work unchanged).
CRON_QUEUE_NAME: Final = "cron_scheduler"

#: How much longer than the catch-up window a claim lives.
CLAIM_MARGIN_S: Final = 3600

#: A running scheduler that stalls (a busy thread, a suspended VM) still enqueues the
#: minutes it slept through, up to this far back (or ``catch_up_s``, if longer). It is
#: less than the claims' life by at least half an hour, so a late scheduler never finds
#: the claim of a minute another scheduler enqueued already gone.
MAX_STALL_S: Final = 1800

_MINUTE: Final = timedelta(minutes=1)
_GAP_SEARCH_LIMIT: Final = 48 * 60  # minutes; real gaps last an hour or two


@dataclass(frozen=True, slots=True)
class Firing:
    """``entry`` is due for the minute starting at ``minute`` (aware, UTC)."""

    entry: CronEntry
    minute: datetime

    @property
    def claim_key(self) -> str:
        return f"cron:{self.entry.id}:{self.minute.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def takes_part_in_cron(
    *,
    machine: int,
    exact_configuration: bool,
    on_every_machine: bool,
    only_queue: str | None = None,
) -> bool:
    """Whether a runner schedules cron.

    As upstream: machine 1 of a pool does, an ``--exact-configuration`` runner never
    does, and ``--only-queue`` runs the scheduler only when it names
    :data:`CRON_QUEUE_NAME`. ``CRON_ON_EVERY_MACHINE`` lets every pooled runner take
    part; claims keep each minute to one enqueue.
    """
    if exact_configuration:
        return False
    if only_queue is not None and only_queue != CRON_QUEUE_NAME:
        return False
    return on_every_machine or machine == 1


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
    _require_aware(when)
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


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{when!r} is naive; the scheduler works with aware datetimes")


def _no_history(queue: str) -> SupportsCronHistory | None:
    return None


class CronScheduler:
    """Enqueues due cron entries, each (entry, minute) once across every scheduler.

    ``claims_for(queue)`` and ``history_for(queue)`` give the claim store and the
    history of an entry's queue (usually its backend); ``enqueue(firing)`` queues the
    job. Call :meth:`tick` with the time, or :meth:`run` to loop until stopped.
    """

    def __init__(
        self,
        entries: Sequence[CronEntry],
        *,
        tz: tzinfo,
        catch_up_s: int,
        claims_for: Callable[[str], SupportsClaim],
        enqueue: Callable[[Firing], None],
        history_for: Callable[[str], SupportsCronHistory | None] = _no_history,
        logger: logging.Logger | None = None,
    ) -> None:
        if catch_up_s < 0:
            raise ValueError(f"catch_up_s must be 0 or more, not {catch_up_s!r}")
        self.entries = tuple(entries)
        self.tz = tz
        self.catch_up_s = catch_up_s
        self._claims_for = claims_for
        self._enqueue = enqueue
        self._history_for = history_for
        self._logger = logger or logging.getLogger("dlq.cron")
        self._after: datetime | None = None

    @property
    def claim_ttl_s(self) -> int:
        return self.catch_up_s + CLAIM_MARGIN_S

    def tick(self, now: datetime) -> list[Firing]:
        """Enqueue what is due up to ``now``; returns the firings this scheduler enqueued."""
        _require_aware(now)
        if self._after is None:  # starting: catch up what no scheduler may have enqueued
            self._after = now - timedelta(seconds=self.catch_up_s)
        floor = now - timedelta(seconds=max(self.catch_up_s, MAX_STALL_S))
        if self._after < floor:
            self._logger.warning(
                "Cron scheduler stalled: minutes up to %s are more than %ss ago and are"
                " not enqueued",
                floor,
                max(self.catch_up_s, MAX_STALL_S),
            )
            self._after = floor
        if now <= self._after:
            return []  # the clock went backwards; those minutes were done already
        fired: list[Firing] = []
        for firing in due_firings(self.entries, self.tz, self._after, now):
            try:
                claims = self._claims_for(firing.entry.queue)
                claimed = claims.claim(firing.claim_key, self.claim_ttl_s)
            except Exception:
                # Nothing was claimed: retry from this minute on the next tick.
                self._logger.exception("Could not claim %s; will retry", firing.claim_key)
                self._after = firing.minute - timedelta(microseconds=1)
                return fired
            if not claimed:
                self._logger.debug("%s was enqueued by another scheduler", firing.claim_key)
                continue
            try:
                self._enqueue(firing)
            except Exception:
                # The claim stands, so no scheduler retries it: at most once, and said so.
                self._logger.exception(
                    "Claimed %s but could not enqueue it; this minute is lost", firing.claim_key
                )
                continue
            self._logger.info("Enqueued cron entry %s for %s", firing.entry.id, firing.minute)
            self._record(firing)
            fired.append(firing)
        self._after = now
        return fired

    def _record(self, firing: Firing) -> None:
        try:
            history = self._history_for(firing.entry.queue)
            if history is not None:
                history.record_fired(firing.entry.id, firing.minute)
        except Exception:
            self._logger.exception("Could not record that %s fired", firing.entry.id)

    def run(
        self,
        stop: threading.Event,
        *,
        clock: Clock,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        """Tick until ``stop`` is set, waking just after each minute starts.

        ``sleep`` defaults to ``stop.wait``, so setting ``stop`` ends the loop at once.
        An error in a tick is logged and the loop goes on.
        """
        pause = stop.wait if sleep is None else sleep
        self._logger.info(
            "Cron scheduler started: %d entries, time zone %s", len(self.entries), self.tz
        )
        while not stop.is_set():
            try:
                self.tick(clock())
            except Exception:
                self._logger.exception("Cron scheduler tick failed")
            pause(_seconds_to_next_minute(clock()))
        self._logger.info("Cron scheduler stopped")


def _seconds_to_next_minute(now: datetime) -> float:
    # A little past the boundary, so the tick sees the new minute as started.
    return 60.0 - now.second - now.microsecond / 1_000_000 + 0.05
