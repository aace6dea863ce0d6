"""The cron scheduler loop: claims each due (entry, minute) and enqueues those it won.

What is due, and how daylight saving moves it, is pure and lives in
:mod:`dlq.domain.cron.due`; this module does the I/O, through protocols it is given.

Never skip a minute: a tick works through every minute that started in ``(previous
tick, now]``, so a tick that comes late (a busy thread, a GC pause, a suspended VM)
still fires the minutes it slept through (up to :data:`MAX_STALL_S` back). When no
scheduler ran at all (a deploy, a crash), a scheduler's first tick catches up the
minutes of the last ``catch_up_s`` seconds and no more.

Never double: every (entry, minute) is first *claimed* through the backend of the
entry's queue (:class:`~dlq.core.protocols.SupportsClaim`: ``SET NX EX`` in Redis), under
the key ``cron:<entry id>:<UTC minute>``. Only the scheduler that wins the claim
enqueues, so two schedulers (a deploy overlap, two runners that both think they are
machine 1, or ``CRON_ON_EVERY_MACHINE``) enqueue each pair once. A claim lives
``catch_up_s`` plus :data:`CLAIM_MARGIN_S` seconds: at least half an hour longer than
any scheduler can consider its minute due, for clocks that disagree.

Time is a parameter: a tick takes ``now``, the loop is given a clock, a sleep and a stop
event. Nothing here knows Django; :mod:`dlq.cron_jobs` builds a scheduler from the
configuration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dlq.core.protocols import Clock, SupportsClaim, SupportsCronHistory
from dlq.core.settings import PREFIX, QueueSettings
from dlq.domain.cron.due import Firing, due_firings, require_aware
from dlq.domain.cron.entry import CronEntry
from dlq.exceptions import ConfigurationError, Problem

__all__ = [
    "CLAIM_MARGIN_S",
    "CRON_QUEUE_NAME",
    "MAX_STALL_S",
    "CronScheduler",
    "cron_timezone",
    "takes_part_in_cron",
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

_JUST_BEFORE: Final = timedelta(microseconds=1)


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


def cron_timezone(settings: QueueSettings) -> ZoneInfo:
    """``CRON_TIMEZONE`` as a zone; :class:`ConfigurationError` if there is no such zone."""
    name = settings.CRON_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            [
                Problem(
                    f"{PREFIX}CRON_TIMEZONE",
                    f"{name!r} is not a known time zone ({type(exc).__name__})",
                    expected="an IANA time zone name such as 'UTC' or 'Europe/London'"
                    " (install the tzdata package where the system has none)",
                )
            ]
        ) from None


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
        require_aware(now)
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
                self._after = firing.minute - _JUST_BEFORE
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
