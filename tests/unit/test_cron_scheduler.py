"""The scheduler, driven by a fake clock: never skips a minute, never enqueues one twice.

These tests run it with ``coalesce=False`` (``LIGHTWEIGHT_QUEUE_CRON_COALESCE = False``),
where every due minute is a job of its own, so they can say exactly which minutes were
enqueued; in a tick one minute long, which most of them use, coalescing changes nothing.
``test_cron_catch_up.py`` tests what coalescing does to longer ticks.

No test sleeps: time is a parameter of every function and the loop's clock and sleep
are fakes.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlq.backends.memory import InMemoryBackend
from dlq.core.protocols import SupportsClaim, SupportsCronHistory
from dlq.core.scheduler import CLAIM_MARGIN_S, MAX_STALL_S, CronScheduler, takes_part_in_cron
from dlq.domain.cron.due import Firing, due_firings
from dlq.domain.cron.entry import CronEntry
from tests.strategies import cron_field_sets
from tests.unit.cron_support import FakeClock, Recorder, at, entry

UTC_ZONE = ZoneInfo("UTC")


def scheduler(
    entries: list[CronEntry],
    *,
    catch_up_s: int = 300,
    claims: SupportsClaim | None = None,
    recorder: Recorder | None = None,
    tz: ZoneInfo = UTC_ZONE,
    coalesce: bool = False,
) -> tuple[CronScheduler, Recorder]:
    store = claims or InMemoryBackend(FakeClock(at(0, 0)))
    record = recorder or Recorder()
    made = CronScheduler(
        entries,
        tz=tz,
        catch_up_s=catch_up_s,
        claims_for=lambda queue: store,
        enqueue=record,
        coalesce=coalesce,
    )
    return made, record


# Stalls, restarts and the catch-up window


def test_a_stall_across_second_0_still_fires_the_minute() -> None:
    sched, record = scheduler([entry()], catch_up_s=0)
    assert sched.tick(at(10, 0, 58.5)) == []
    # Upstream fired only when it woke in second 0; this tick wakes at second 3.
    assert [f.minute for f in sched.tick(at(10, 1, 3))] == [at(10, 1)]
    assert sched.tick(at(10, 1, 4)) == []
    sched.tick(at(10, 3, 59.9))  # a longer stall: both minutes it slept through
    assert record.minutes == [at(10, 1), at(10, 2), at(10, 3)]


def test_a_minute_fires_once_however_often_it_is_ticked() -> None:
    sched, record = scheduler([entry(minutes="0", hours="10")], catch_up_s=0)
    sched.tick(at(9, 59, 59))
    for second in range(0, 60, 3):
        sched.tick(at(10, 0, second))
    assert record.minutes == [at(10, 0)]


def test_start_catches_up_the_window_and_no_more() -> None:
    sched, record = scheduler([entry()], catch_up_s=180)
    sched.tick(at(10, 5, 30))
    assert record.minutes == [at(10, 3), at(10, 4), at(10, 5)]


def test_restart_inside_the_window_catches_up_once() -> None:
    claims = InMemoryBackend(FakeClock(at(0, 0)))
    every_minute, at_ten_two = entry(), entry(minutes="2", hours="10", command="other")
    first, first_record = scheduler([every_minute, at_ten_two], claims=claims)
    for second in range(0, 90, 20):
        first.tick(at(10, 0) + timedelta(seconds=second))
    # It dies at 10:01:20; a new scheduler starts at 10:04:10, inside the window.
    second_sched, second_record = scheduler([every_minute, at_ten_two], claims=claims)
    second_sched.tick(at(10, 4, 10))
    assert second_record.minutes == [at(10, 2), at(10, 2), at(10, 3), at(10, 4)]
    assert {f.entry.command for f in second_record.firings if f.minute == at(10, 2)} == {
        "job",
        "other",
    }
    # And a third, moments later, finds nothing left to catch up.
    third, third_record = scheduler([every_minute, at_ten_two], claims=claims)
    third.tick(at(10, 4, 40))
    assert third_record.firings == []
    fired = Counter((f.entry.id, f.minute) for f in first_record.firings + second_record.firings)
    assert set(fired.values()) == {1}


def test_minutes_missed_beyond_the_window_are_not_caught_up() -> None:
    claims = InMemoryBackend(FakeClock(at(0, 0)))
    first, _ = scheduler([entry()], catch_up_s=120, claims=claims)
    first.tick(at(10, 0, 30))
    # It dies; the next scheduler starts 20 minutes later.
    second, second_record = scheduler([entry()], catch_up_s=120, claims=claims)
    second.tick(at(10, 20, 30))
    assert second_record.minutes == [at(10, 19), at(10, 20)]


def test_a_running_scheduler_catches_up_a_stall_longer_than_the_window() -> None:
    sched, record = scheduler([entry()], catch_up_s=0)
    sched.tick(at(10, 0, 30))
    sched.tick(at(10, 20, 30))  # stalled 20 minutes (a suspended VM, say)
    assert record.minutes == [at(10, minute) for minute in range(1, 21)]


def test_a_stall_beyond_the_limit_is_cut_and_said(caplog: pytest.LogCaptureFixture) -> None:
    sched, record = scheduler([entry()], catch_up_s=0)
    sched.tick(at(10, 0, 30))
    with caplog.at_level(logging.WARNING, logger="dlq.cron"):
        sched.tick(at(12, 0, 30))
    assert len(record.minutes) == MAX_STALL_S // 60
    assert record.minutes[0] == at(11, 31)
    assert "stalled" in caplog.text
    assert sched.claim_ttl_s - MAX_STALL_S >= 1800  # claims outlive the stall limit


def test_a_clock_that_goes_back_fires_nothing_twice() -> None:
    sched, record = scheduler([entry()], catch_up_s=0)
    sched.tick(at(10, 0, 30))
    sched.tick(at(10, 2, 30))
    sched.tick(at(10, 1, 30))  # NTP stepped the clock back
    sched.tick(at(10, 3, 1))
    assert record.minutes == [at(10, 1), at(10, 2), at(10, 3)]


def test_naive_times_are_refused() -> None:
    sched, _ = scheduler([entry()])
    with pytest.raises(ValueError, match="naive"):
        sched.tick(datetime(2024, 1, 1, 10, 0))


@settings(max_examples=60)
@given(
    offsets=st.lists(st.integers(min_value=1, max_value=299_000), min_size=1, max_size=40),
    minutes=cron_field_sets("minutes"),
)
def test_any_tick_pattern_within_the_window_fires_exactly_the_due_minutes(
    offsets: list[int], minutes: frozenset[int]
) -> None:
    """However ticks fall (early, late, bunched), the union is one pass over the interval."""
    target = CronEntry.model_validate(
        {"app_label": "app", "index": 0, "command": "job", "minutes": sorted(minutes), "hours": "*"}
    )
    sched, record = scheduler([target], catch_up_s=300)
    start = now = at(10, 0, 12.5)
    sched.tick(start)
    for gap_ms in offsets:  # each gap is shorter than the catch-up window
        now += timedelta(milliseconds=gap_ms)
        sched.tick(now)
    assert record.firings == due_firings([target], UTC_ZONE, start - timedelta(seconds=300), now)


# Two schedulers sharing one claim store


@settings(max_examples=60)
@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=90_000)), max_size=60))
def test_two_schedulers_sharing_claims_enqueue_each_minute_once(
    ticks: list[tuple[bool, int]],
) -> None:
    claims = InMemoryBackend(FakeClock(at(0, 0)))
    entries = [entry(), entry(minutes="*/2", command="even"), entry(minutes="5", command="five")]
    record = Recorder()
    a, _ = scheduler(entries, claims=claims, recorder=record)
    b, _ = scheduler(entries, claims=claims, recorder=record)
    start = at(10, 0, 7)
    a.tick(start)
    b.tick(start)
    now = {True: start, False: start}
    for use_a, gap_ms in ticks:
        now[use_a] += timedelta(milliseconds=gap_ms)
        (a if use_a else b).tick(now[use_a])
    expected = due_firings(entries, UTC_ZONE, start - timedelta(seconds=300), max(now.values()))
    fired = Counter((firing.entry.id, firing.minute) for firing in record.firings)
    assert set(fired.values()) <= {1}  # none twice
    assert sorted(fired) == sorted((firing.entry.id, firing.minute) for firing in expected)


def test_claims_live_longer_than_the_window() -> None:
    sched, _ = scheduler([entry()], catch_up_s=300)
    assert sched.claim_ttl_s == 300 + CLAIM_MARGIN_S
    assert Firing(entry(), at(10, 0)).claim_key == "cron:" + entry().id + ":2024-01-01T10:00Z"


# Failures


class FlakyClaims:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.store = InMemoryBackend(FakeClock(at(0, 0)))

    def claim(self, key: str, ttl_s: int) -> bool:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Redis went away")
        return self.store.claim(key, ttl_s)


def test_a_failed_claim_is_retried_on_the_next_tick(caplog: pytest.LogCaptureFixture) -> None:
    sched, record = scheduler([entry()], catch_up_s=0, claims=FlakyClaims(failures=1))
    sched.tick(at(10, 0, 30))
    with caplog.at_level(logging.ERROR, logger="dlq.cron"):
        assert sched.tick(at(10, 1, 1)) == []
    assert "will retry" in caplog.text
    sched.tick(at(10, 1, 2))
    assert record.minutes == [at(10, 1)]


def test_a_failed_enqueue_is_logged_and_not_repeated(caplog: pytest.LogCaptureFixture) -> None:
    def broken(firing: Firing) -> None:
        raise ConnectionError("Redis went away")

    sched = CronScheduler(
        [entry()],
        tz=UTC_ZONE,
        catch_up_s=0,
        claims_for=lambda queue: InMemoryBackend(FakeClock(at(0, 0))),
        enqueue=broken,
        coalesce=False,
    )
    sched.tick(at(10, 0, 30))
    with caplog.at_level(logging.ERROR, logger="dlq.cron"):
        assert sched.tick(at(10, 1, 1)) == []
    assert "this minute is lost" in caplog.text


def test_last_fired_is_recorded_in_the_history() -> None:
    backend = InMemoryBackend(FakeClock(at(0, 0)))
    assert isinstance(backend, SupportsCronHistory)
    hourly = entry(minutes="0")
    sched = CronScheduler(
        [hourly],
        tz=UTC_ZONE,
        catch_up_s=0,
        claims_for=lambda queue: backend,
        enqueue=Recorder(),
        history_for=lambda queue: backend,
        coalesce=False,
    )
    assert backend.last_fired([hourly.id]) == {}
    for minutes in range(0, 121, 20):
        sched.tick(at(9, 30) + timedelta(minutes=minutes))
    assert backend.last_fired([hourly.id, "other"]) == {hourly.id: at(11, 0)}


# The loop


def test_the_loop_ticks_until_stopped_with_injected_clock_and_sleep() -> None:
    clock = FakeClock(at(10, 0, 20))
    stop = threading.Event()
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        # Oversleep by 7s each time, as a busy machine might.
        clock.now += timedelta(seconds=seconds + 7)
        if clock.now >= at(10, 10):
            stop.set()

    sched, record = scheduler([entry()], catch_up_s=0)
    sched.run(stop, clock=clock, sleep=sleep)
    assert record.minutes == [at(10, minute) for minute in range(1, 10)]
    assert all(0 < nap <= 60.05 for nap in naps)


def test_the_loop_survives_a_failing_tick(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(at(10, 0, 20))
    stop = threading.Event()
    ticks = 0

    def sleep(seconds: float) -> None:
        nonlocal ticks
        ticks += 1
        clock.now += timedelta(seconds=seconds)
        if ticks == 3:
            stop.set()

    def naive_now() -> datetime:
        return clock.now if ticks else clock.now.replace(tzinfo=None)

    sched, record = scheduler([entry()], catch_up_s=0)
    with caplog.at_level(logging.ERROR, logger="dlq.cron"):
        sched.run(stop, clock=naive_now, sleep=sleep)
    assert "tick failed" in caplog.text
    assert record.minutes  # later ticks went on


def test_setting_stop_ends_a_loop_that_waits_on_it() -> None:
    stop = threading.Event()
    sched, _ = scheduler([entry()])
    thread = threading.Thread(target=sched.run, args=(stop,), kwargs={"clock": lambda: at(10, 0)})
    thread.start()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


# Who schedules


@pytest.mark.parametrize(
    ("machine", "exact", "every", "only_queue", "expected"),
    [
        (1, False, False, None, True),
        (2, False, False, None, False),
        (2, False, True, None, True),
        (1, True, False, None, False),
        (1, True, True, None, False),
        (1, False, False, "cron_scheduler", True),
        (1, False, False, "default", False),
        (3, False, True, "cron_scheduler", True),
    ],
)
def test_who_takes_part_in_cron(
    machine: int, exact: bool, every: bool, only_queue: str | None, expected: bool
) -> None:
    assert (
        takes_part_in_cron(
            machine=machine,
            exact_configuration=exact,
            on_every_machine=every,
            only_queue=only_queue,
        )
        is expected
    )
