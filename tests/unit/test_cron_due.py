"""Which minutes are due, across daylight-saving changes, and how missed minutes collapse.

All pure (:mod:`dlq.domain.cron.due`): time is an argument, nothing is claimed or enqueued.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from dlq.domain.cron.due import Firing, due_firings, next_fire_time, wall_window
from dlq.domain.cron.entry import CronEntry
from dlq.domain.cron.spec import CronSpec
from tests.strategies import CRON_DST_CHANGES, cron_field_sets, instants_near_dst
from tests.unit.cron_support import at, entry

UTC_ZONE = ZoneInfo("UTC")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


# Daylight saving


def fired_minutes(
    target: CronEntry, tz: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    return [firing.minute for firing in due_firings([target], tz, start, end)]


def test_the_listed_clock_changes_are_real() -> None:
    for name, instant in CRON_DST_CHANGES:
        zone = ZoneInfo(name)
        before = (instant - timedelta(minutes=1)).astimezone(zone).utcoffset()
        assert before != instant.astimezone(zone).utcoffset(), (name, instant)


def test_london_spring_forward_fires_skipped_minutes_once_at_the_next_valid_minute() -> None:
    # 2024-03-31: 01:00 GMT becomes 02:00 BST at 01:00 UTC; local 01:00-01:59 never happens.
    day = (at(0, 0, month=3, day=31), at(23, 59, month=3, day=31))
    gap_end = at(1, 0, month=3, day=31)
    assert fired_minutes(entry(minutes="30", hours="1"), LONDON, *day) == [gap_end]
    assert fired_minutes(entry(minutes="*", hours="1"), LONDON, *day) == [gap_end]
    assert fired_minutes(entry(minutes="0", hours="1,2"), LONDON, *day) == [gap_end]
    assert fired_minutes(entry(minutes="0", hours="2"), LONDON, *day) == [gap_end]
    # An entry every minute never misses one: one firing per real minute.
    span = (at(0, 0, month=3, day=31), at(3, 0, month=3, day=31))
    assert len(fired_minutes(entry(), LONDON, *span)) == 180


def test_london_fall_back_fires_a_repeated_minute_once() -> None:
    # 2024-10-27: 02:00 BST becomes 01:00 GMT at 01:00 UTC; local 01:00-01:59 happens twice.
    day = (at(0, 0, month=10, day=27), at(23, 59, month=10, day=27))
    assert fired_minutes(entry(minutes="30", hours="1"), LONDON, *day) == [
        at(0, 30, month=10, day=27)  # 01:30 BST, the first time round
    ]
    # The repeated hour's minutes fire only the first time, so an every-minute entry
    # is quiet for the second pass.
    span = (at(0, 0, month=10, day=27), at(3, 0, month=10, day=27))
    assert len(fired_minutes(entry(), LONDON, *span)) == 120


def test_new_york_spring_forward_and_fall_back() -> None:
    # 2024-03-10: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    spring = (at(0, 0, month=3, day=9), at(23, 59, month=3, day=11))
    assert fired_minutes(entry(minutes="30", hours="2"), NEW_YORK, *spring) == [
        at(7, 30, month=3, day=9),  # 02:30 EST the day before
        at(7, 0, month=3, day=10),  # skipped: 03:00 EDT, the next valid minute
        at(6, 30, month=3, day=11),  # 02:30 EDT
    ]
    # 2024-11-03: 02:00 EDT becomes 01:00 EST at 06:00 UTC.
    autumn = (at(0, 0, month=11, day=3), at(23, 59, month=11, day=3))
    assert fired_minutes(entry(minutes="30", hours="1"), NEW_YORK, *autumn) == [
        at(5, 30, month=11, day=3)  # 01:30 EDT; 01:30 EST (06:30 UTC) does not fire
    ]


@settings(max_examples=150)
@given(instants_near_dst())
def test_local_minutes_are_each_stood_for_by_exactly_one_utc_minute(
    zone_and_start: tuple[str, datetime],
) -> None:
    """The windows of consecutive UTC minutes tile local time: no gap, no overlap."""
    name, start = zone_and_start
    zone = ZoneInfo(name)
    minute = start.replace(second=0, microsecond=0)
    previous_until: datetime | None = None
    for _ in range(6 * 60):
        window = wall_window(minute, zone)
        if window is not None:
            after, until = window
            assert after < until
            if previous_until is not None:
                assert after == previous_until
            previous_until = until
        minute += timedelta(minutes=1)


@settings(max_examples=80)
@given(
    instants_near_dst(timedelta(hours=30)),
    cron_field_sets("minutes"),
    cron_field_sets("hours"),
    cron_field_sets("days"),
)
def test_next_fire_time_is_the_first_due_firing(
    zone_and_after: tuple[str, datetime],
    minutes: frozenset[int],
    hours: frozenset[int],
    days: frozenset[int],
) -> None:
    name, after = zone_and_after
    zone = ZoneInfo(name)
    spec = CronSpec(minutes=minutes, hours=hours, days=days)
    target = CronEntry.model_validate(
        {
            "app_label": "app",
            "index": 0,
            "command": "job",
            "minutes": sorted(minutes),
            "hours": sorted(hours),
            "days": sorted(days),
        }
    )
    upcoming = next_fire_time(spec, zone, after)
    assert upcoming > after
    assert due_firings([target], zone, after, upcoming) == [Firing(target, upcoming)]


@settings(max_examples=60)
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    cron_field_sets("minutes"),
    cron_field_sets("hours"),
)
def test_in_utc_firings_are_the_specs_fire_times(
    start: datetime, minutes: frozenset[int], hours: frozenset[int]
) -> None:
    start = start.replace(tzinfo=UTC)
    end = start + timedelta(hours=6)
    target = CronEntry.model_validate(
        {
            "app_label": "app",
            "index": 0,
            "command": "job",
            "minutes": sorted(minutes),
            "hours": sorted(hours),
        }
    )
    assert fired_minutes(target, UTC_ZONE, start, end) == list(target.spec.fire_times(start, end))
