"""Catch-up with coalescing (the default): the minutes an entry missed run once, for the latest.

A fresh scheduler catching up ``catch_up_s``, and a running one waking from a stall,
enqueue each entry at most once per tick, stamped with the latest minute it missed and
never a minute later than now; every missed minute is still claimed, so no other
scheduler enqueues it again. Two schedulers claiming at once, in any interleaving,
never enqueue a minute the other claimed.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import SupportsClaim
from dlq.core.scheduler import MAX_STALL_S, CronScheduler
from dlq.domain.cron.due import DueRun, Firing, due_firings, due_runs
from dlq.domain.cron.entry import CronEntry
from tests.strategies import cron_entries
from tests.unit.cron_support import FakeClock, Recorder, at, entry

UTC_ZONE = ZoneInfo("UTC")


def scheduler(
    entries: Sequence[CronEntry],
    *,
    catch_up_s: int = 300,
    claims: SupportsClaim | None = None,
    recorder: Recorder | None = None,
    coalesce: bool = True,
) -> tuple[CronScheduler, Recorder]:
    store = claims or InMemoryBackend(FakeClock(at(0, 0)))
    record = recorder or Recorder()
    made = CronScheduler(
        entries,
        tz=UTC_ZONE,
        catch_up_s=catch_up_s,
        claims_for=lambda queue: store,
        enqueue=record,
        coalesce=coalesce,
    )
    return made, record


def unclaimed(claims: SupportsClaim, firings: Sequence[Firing]) -> list[Firing]:
    """The firings whose minute nobody has claimed (claiming them now, harmlessly)."""
    return [firing for firing in firings if claims.claim(firing.claim_key, 60)]


# The cases the issue describes


def test_coalescing_is_the_default() -> None:
    claims = InMemoryBackend(FakeClock(at(0, 0)))
    made = CronScheduler(
        [entry()], tz=UTC_ZONE, catch_up_s=300, claims_for=lambda queue: claims, enqueue=Recorder()
    )
    assert made.coalesce is True


def test_a_fresh_start_runs_an_every_minute_entry_once_for_the_latest_minute() -> None:
    claims = InMemoryBackend(FakeClock(at(0, 0)))
    sched, record = scheduler([entry()], claims=claims)
    fired = sched.tick(at(10, 5, 30))
    assert [(f.entry.command, f.minute) for f in fired] == [("job", at(10, 5))]
    assert record.minutes == [at(10, 5)]
    # 10:01 to 10:04 were claimed too: a scheduler without coalescing finds none left.
    every_minute, every_record = scheduler([entry()], claims=claims, coalesce=False)
    every_minute.tick(at(10, 5, 40))
    assert every_record.firings == []


def test_a_stalled_scheduler_runs_each_entry_once_on_waking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hourly, every_minute, never = entry(minutes="0"), entry(command="often"), entry("0", "3")
    sched, record = scheduler([hourly, every_minute, never], catch_up_s=0)
    sched.tick(at(9, 30, 5))
    with caplog.at_level(logging.INFO, logger="dlq.cron"):
        sched.tick(at(10, 0, 20))  # stalled half an hour
    assert [(f.entry.command, f.minute) for f in record.firings] == [
        ("job", at(10, 0)),
        ("often", at(10, 0)),
    ]
    assert "standing for the 30 minutes it missed since 2024-01-01 09:31:00" in caplog.text


def test_a_stall_beyond_the_limit_still_runs_once_and_says_what_it_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sched, record = scheduler([entry()], catch_up_s=0)
    sched.tick(at(10, 0, 30))
    with caplog.at_level(logging.WARNING, logger="dlq.cron"):
        sched.tick(at(12, 0, 30))
    assert record.minutes == [at(12, 0)]
    assert "stalled" in caplog.text


def test_a_tick_of_one_minute_is_the_same_with_and_without_coalescing() -> None:
    every, _ = scheduler(
        [entry(), entry(minutes="*/2", command="even")], catch_up_s=0, coalesce=False
    )
    once, _ = scheduler([entry(), entry(minutes="*/2", command="even")], catch_up_s=0)
    for second in range(0, 600, 13):
        now = at(10, 0) + timedelta(seconds=second)
        assert every.tick(now) == once.tick(now)


def test_two_schedulers_catching_up_the_same_minutes_enqueue_once() -> None:
    claims = InMemoryBackend(FakeClock(at(0, 0)))
    record = Recorder()
    first, _ = scheduler([entry()], claims=claims, recorder=record)
    second, _ = scheduler([entry()], claims=claims, recorder=record)
    first.tick(at(10, 5, 30))
    second.tick(at(10, 5, 31))
    assert record.minutes == [at(10, 5)]


class FlakyClaims:
    """Claims that raise for the keys in ``failing``, once each."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.store = InMemoryBackend(FakeClock(at(0, 0)))

    def claim(self, key: str, ttl_s: int) -> bool:
        if key in self.failing:
            self.failing.discard(key)
            raise ConnectionError("Redis went away")
        return self.store.claim(key, ttl_s)


@pytest.mark.parametrize("failing_minute", [5, 3])  # the latest (enqueued) one, or another
def test_a_failed_claim_is_retried_and_the_entry_still_runs_once(failing_minute: int) -> None:
    every_minute = entry()
    key = Firing(every_minute, at(10, failing_minute)).claim_key
    claims = FlakyClaims({key})
    sched, record = scheduler([every_minute, entry(minutes="4", command="other")], claims=claims)
    sched.tick(at(10, 5, 30))
    sched.tick(at(10, 5, 40))  # the retry: every minute is claimed, none enqueued twice
    assert Counter((f.entry.command, f.minute) for f in record.firings) == {
        ("job", at(10, 5)): 1,
        ("other", at(10, 4)): 1,
    }
    assert unclaimed(claims, due_firings([every_minute], UTC_ZONE, at(10, 0, 30), at(10, 5))) == []


# Pure: which runs a window calls for


def test_due_runs_collapse_each_entrys_minutes_in_the_entries_order() -> None:
    even, every = entry(minutes="*/2", command="even"), entry()
    runs = due_runs([even, every], UTC_ZONE, at(10, 0, 30), at(10, 4, 30), coalesce=True)
    assert runs == [
        DueRun(even, (at(10, 2), at(10, 4))),
        DueRun(every, (at(10, 1), at(10, 2), at(10, 3), at(10, 4))),
    ]
    assert runs[0].firing == Firing(even, at(10, 4))
    assert [firing.minute for firing in runs[0].claims()] == [at(10, 4), at(10, 2)]
    one_each = due_runs([even, every], UTC_ZONE, at(10, 0, 30), at(10, 4, 30), coalesce=False)
    assert [run.firing for run in one_each] == due_firings(
        [even, every], UTC_ZONE, at(10, 0, 30), at(10, 4, 30)
    )


def test_a_run_stands_for_at_least_one_minute() -> None:
    with pytest.raises(ValueError, match="no minute"):
        DueRun(entry(), ())


# Properties


def window_after(previous: datetime | None, now: datetime, catch_up_s: int) -> datetime:
    """Where a tick at ``now`` starts: the previous tick, bounded by how far back it looks."""
    start = now - timedelta(seconds=catch_up_s) if previous is None else previous
    return max(start, now - timedelta(seconds=max(catch_up_s, MAX_STALL_S)))


@settings(max_examples=80)
@given(
    entries=cron_entries(),
    catch_up_s=st.integers(min_value=0, max_value=3600),
    start=st.integers(min_value=0, max_value=86_399_000),
    stalls_ms=st.lists(st.integers(min_value=1, max_value=3 * 3600 * 1000), max_size=4),
)
def test_any_stall_runs_each_entry_at_most_once_for_its_latest_missed_minute(
    entries: list[CronEntry], catch_up_s: int, start: int, stalls_ms: list[int]
) -> None:
    claims = InMemoryBackend(FakeClock(at(0, 0)))
    sched, _ = scheduler(entries, catch_up_s=catch_up_s, claims=claims)
    now = at(0, 0) + timedelta(milliseconds=start)
    previous: datetime | None = None
    for gap_ms in [0, *stalls_ms]:  # a fresh start, then ticks after any stall
        now += timedelta(milliseconds=gap_ms)
        fired = sched.tick(now)
        due = due_firings(entries, UTC_ZONE, window_after(previous, now, catch_up_s), now)
        latest = {firing.entry.id: firing.minute for firing in due}  # due is in minute order
        assert sorted(firing.entry.id for firing in fired) == sorted(latest)  # once each
        assert all(firing.minute == latest[firing.entry.id] <= now for firing in fired)
        assert unclaimed(claims, due) == []  # every missed minute is claimed
        previous = now


class TurnTaking:
    """A claim store two schedulers share from two threads, claiming in a drawn order.

    ``order`` says whose claim lands next (0 or 1); when it names a scheduler that has
    finished its tick, or runs out, whoever asks goes. ``owner`` records who won each key.
    """

    def __init__(self, order: Sequence[int]) -> None:
        self._store = InMemoryBackend(FakeClock(at(0, 0)))
        self._order = deque(order)
        self._turn = threading.Condition()
        self._done = [False, False]
        self.owner: dict[str, int] = {}

    def claims_of(self, who: int) -> SupportsClaim:
        store = self

        class Claims:
            def claim(self, key: str, ttl_s: int) -> bool:
                return store.claim(who, key, ttl_s)

        return Claims()

    def claim(self, who: int, key: str, ttl_s: int) -> bool:
        with self._turn:
            while self._order and self._order[0] != who and not self._done[self._order[0]]:
                if not self._turn.wait(timeout=10):
                    raise AssertionError("the other scheduler never claimed")
            if self._order and self._order[0] == who:
                self._order.popleft()
            won = self._store.claim(key, ttl_s)
            if won:
                self.owner[key] = who
            self._turn.notify_all()
            return won

    def finished(self, who: int) -> None:
        with self._turn:
            self._done[who] = True
            self._turn.notify_all()

    def begin(self) -> None:
        with self._turn:
            self._done = [False, False]


def two_schedulers(
    entries: Sequence[CronEntry], claims: TurnTaking, catch_up_s: int = 300
) -> list[CronScheduler]:
    return [
        CronScheduler(
            entries,
            tz=UTC_ZONE,
            catch_up_s=catch_up_s,
            claims_for=lambda queue, who=who: claims.claims_of(who),  # type: ignore[misc]  # bound per scheduler
            enqueue=Recorder(),
        )
        for who in (0, 1)
    ]


def tick_together(
    schedulers: Sequence[CronScheduler], claims: TurnTaking, nows: Sequence[datetime]
) -> list[list[Firing]]:
    """Each scheduler ticks at its ``now`` in a thread of its own; what each enqueued."""
    claims.begin()
    fired: list[list[Firing]] = [[], []]

    def tick(who: int) -> None:
        try:
            fired[who] = schedulers[who].tick(nows[who])
        finally:
            claims.finished(who)

    threads = [threading.Thread(target=tick, args=(who,)) for who in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return fired


#: Whose claim lands next, for a while: long enough to interleave a few catch-ups.
CLAIM_ORDERS = st.lists(st.integers(min_value=0, max_value=1), min_size=8, max_size=100)


@settings(max_examples=100)
@given(entries=cron_entries(), now_s=st.integers(min_value=0, max_value=86_399), order=CLAIM_ORDERS)
def test_two_schedulers_catching_up_the_same_minutes_at_once_run_each_entry_once(
    entries: list[CronEntry], now_s: int, order: list[int]
) -> None:
    """Both try the latest minute first, so one of them wins it and only that one enqueues."""
    claims = TurnTaking(order)
    now = at(0, 0, 0.5) + timedelta(seconds=now_s)
    # Half an hour back, so most entries have several minutes to catch up.
    fired = tick_together(two_schedulers(entries, claims, catch_up_s=1800), claims, [now, now])
    due = due_firings(entries, UTC_ZONE, now - timedelta(seconds=1800), now)
    latest = {firing.entry.id: firing.minute for firing in due}
    together = fired[0] + fired[1]
    assert sorted(firing.entry.id for firing in together) == sorted(latest)
    assert all(firing.minute == latest[firing.entry.id] for firing in together)


@settings(max_examples=60)
@given(
    entries=cron_entries(),
    nows_s=st.tuples(
        st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=600)
    ),
    stalls_s=st.tuples(
        st.integers(min_value=0, max_value=7200), st.integers(min_value=0, max_value=7200)
    ),
    order=CLAIM_ORDERS,
)
def test_two_schedulers_in_any_interleaving_never_enqueue_a_minute_the_other_claimed(
    entries: list[CronEntry],
    nows_s: tuple[int, int],
    stalls_s: tuple[int, int],
    order: list[int],
) -> None:
    claims = TurnTaking(order)
    schedulers = two_schedulers(entries, claims)
    start = at(10, 0, 0.5)
    firsts = [start + timedelta(seconds=s) for s in nows_s]
    seconds = [first + timedelta(seconds=s) for first, s in zip(firsts, stalls_s, strict=True)]
    everything: list[Firing] = []
    for nows in (firsts, seconds):  # both start fresh, then both wake from a stall
        fired = tick_together(schedulers, claims, nows)
        everything += fired[0] + fired[1]
        for who in (0, 1):
            assert len({f.entry.id for f in fired[who]}) == len(fired[who])  # once per tick
            assert all(f.minute <= nows[who] for f in fired[who])
            assert all(claims.owner[f.claim_key] == who for f in fired[who])  # its own claim
    assert set(Counter((f.entry.id, f.minute) for f in everything).values()) <= {1}
    # Every minute either scheduler was due to cover is claimed by one of them.
    for first, second in zip(firsts, seconds, strict=True):
        covered = [
            *due_firings(entries, UTC_ZONE, window_after(None, first, 300), first),
            *due_firings(entries, UTC_ZONE, window_after(first, second, 300), second),
        ]
        assert all(firing.claim_key in claims.owner for firing in covered)
