"""The cron scheduler loop: claims each due (entry, minute) and enqueues what it won.

What is due, and how daylight saving moves it, is pure and lives in
:mod:`dlq.domain.cron.due`; this module does the I/O, through protocols it is given.

Never skip a minute: a tick works through every minute that started in ``(previous
tick, now]``, so a tick that comes late (a busy thread, a GC pause, a suspended VM)
still covers the minutes it slept through (up to :data:`MAX_STALL_S` back). When no
scheduler ran at all (a deploy, a crash), a scheduler's first tick catches up the
minutes of the last ``catch_up_s`` seconds and no more.

Run a missed entry once: with ``coalesce`` (``LIGHTWEIGHT_QUEUE_CRON_COALESCE``, on by
default) the minutes an entry missed in one tick collapse into one job, enqueued at
once and stamped with the latest of them; without it, each minute is a job of its own.
In the usual tick, one minute long, both are the same.

Never double: every due (entry, minute) is first *claimed* through the backend of the
entry's queue (:class:`~dlq.core.protocols.SupportsClaim`: ``SET NX EX`` in Redis), under
the key ``cron:<entry id>:<UTC minute>``, one claim per minute. A job is enqueued only by
the scheduler that wins the claim of the minute it is stamped with, and the other
minutes it stands for are claimed too, so two schedulers (a deploy overlap, two runners
that both think they are machine 1, or ``CRON_ON_EVERY_MACHINE``) never enqueue a
minute twice, and never enqueue one that the other's job already stood for. A claim
lives ``catch_up_s`` plus :data:`CLAIM_MARGIN_S` seconds: at least half an hour longer
than any scheduler can consider its minute due, for clocks that disagree.

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
from dlq.domain.cron.due import DueRun, Firing, due_runs, require_aware
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

#: A running scheduler that stalls (a busy thread, a suspended VM) still covers the
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


class _ClaimFailed(Exception):
    """Claiming ``key`` raised (the cause): the tick stops, and the next one retries."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class CronScheduler:
    """Enqueues due cron entries, each (entry, minute) at most once across every scheduler.

    ``claims_for(queue)`` and ``history_for(queue)`` give the claim store and the
    history of an entry's queue (usually its backend); ``enqueue(firing)`` queues the
    job. ``coalesce``: see the module's docstring. Call :meth:`tick` with the time, or
    :meth:`run` to loop until stopped.
    """

    def __init__(
        self,
        entries: Sequence[CronEntry],
        *,
        tz: tzinfo,
        catch_up_s: int,
        claims_for: Callable[[str], SupportsClaim],
        enqueue: Callable[[Firing], None],
        coalesce: bool = True,
        history_for: Callable[[str], SupportsCronHistory | None] = _no_history,
        logger: logging.Logger | None = None,
    ) -> None:
        if catch_up_s < 0:
            raise ValueError(f"catch_up_s must be 0 or more, not {catch_up_s!r}")
        self.entries = tuple(entries)
        self.tz = tz
        self.catch_up_s = catch_up_s
        self.coalesce = coalesce
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
        runs = due_runs(self.entries, self.tz, self._after, now, coalesce=self.coalesce)
        fired: list[Firing] = []
        for index, run in enumerate(runs):
            try:
                firing = self._claim_and_enqueue(run)
            except _ClaimFailed as failed:
                # Retry from the earliest minute not yet wholly claimed. Runs already done
                # are covered again, harmlessly: their claims are this scheduler's now.
                self._logger.exception("Could not claim %s; will retry", failed.key)
                self._after = min(later.earliest for later in runs[index:]) - _JUST_BEFORE
                return fired
            if firing is not None:
                fired.append(firing)
        self._after = now
        return fired

    def _claim_and_enqueue(self, run: DueRun) -> Firing | None:
        """Claim the run's minutes, enqueueing it if this scheduler won the latest."""
        latest, *others = run.claims()
        claims = self._claim_store(run, latest)
        won = self._claim(claims, latest)
        enqueued = self._enqueue_run(run) if won else None
        if not won:
            self._logger.debug("%s is claimed already; not enqueued here", latest.claim_key)
        # Who wins these does not matter, only that no scheduler can enqueue them later.
        for firing in others:
            self._claim(claims, firing)
        return enqueued

    def _claim_store(self, run: DueRun, latest: Firing) -> SupportsClaim:
        try:
            return self._claims_for(run.entry.queue)
        except Exception as exc:
            raise _ClaimFailed(latest.claim_key) from exc

    def _claim(self, claims: SupportsClaim, firing: Firing) -> bool:
        try:
            return claims.claim(firing.claim_key, self.claim_ttl_s)
        except Exception as exc:
            raise _ClaimFailed(firing.claim_key) from exc

    def _enqueue_run(self, run: DueRun) -> Firing | None:
        firing = run.firing
        try:
            self._enqueue(firing)
        except Exception:
            # The claim stands, so no scheduler retries it: at most once, and said so.
            self._logger.exception(
                "Claimed %s but could not enqueue it; this minute is lost", firing.claim_key
            )
            return None
        if len(run.minutes) == 1:
            self._logger.info("Enqueued cron entry %s for %s", firing.entry.id, firing.minute)
        else:
            self._logger.info(
                "Enqueued cron entry %s once for %s, standing for the %d minutes it missed"
                " since %s",
                firing.entry.id,
                firing.minute,
                len(run.minutes),
                run.earliest,
            )
        self._record(firing)
        return firing

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
