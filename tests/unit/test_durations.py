"""Pause durations and targets: upstream's syntax still works, and nothing is rounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.domain import durations
from dlq.domain.durations import (
    DurationError,
    format_duration,
    parse_duration,
    parse_until,
    pause_target,
)
from dlq.exceptions import DLQError
from tests.strategies import aware_datetimes, positive_durations

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


# -- parse_duration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # upstream's own forms
        ("1h2m3s", timedelta(hours=1, minutes=2, seconds=3)),
        ("30s", timedelta(seconds=30)),
        ("2m", timedelta(minutes=2)),
        ("1h", timedelta(hours=1)),
        ("1h3s", timedelta(hours=1, seconds=3)),
        ("90m", timedelta(minutes=90)),
        # dlq's additions
        ("1d", timedelta(days=1)),
        ("2d12h", timedelta(days=2, hours=12)),
        ("0.5s", timedelta(milliseconds=500)),
        ("250ms", timedelta(milliseconds=250)),
        ("1m250ms", timedelta(minutes=1, milliseconds=250)),
        ("1s0.5ms", timedelta(seconds=1, microseconds=500)),
        ("0.000001s", timedelta(microseconds=1)),
        ("1.500000000s", timedelta(seconds=1.5)),
        ("30", timedelta(seconds=30)),
        ("0.25", timedelta(milliseconds=250)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "invalid duration ''"),
        ("1h 2m", "invalid duration '1h 2m'"),
        (" 30s", "invalid duration"),
        ("1m1h", "in that order"),
        ("1h1h", "at most once"),
        ("1.5h", "whole numbers except s and ms"),
        ("1H", "invalid duration"),
        ("-5s", "invalid duration"),
        ("1e3", "invalid duration"),
        (".5s", "invalid duration"),
        ("5.s", "invalid duration"),
        ("ms", "invalid duration"),
        ("\uff19s", "invalid duration"),  # a full-width digit is not an ASCII digit
        ("30s\n", "invalid duration"),
        ("0", "is zero"),
        ("0h0m0s", "is zero"),
        ("0.0000001s", "more precise than a microsecond"),
        ("0.0001ms", "more precise than a microsecond"),
        ("9999999999d", "longer than Python can represent"),
    ],
)
def test_parse_duration_errors_name_the_text_and_syntax(text: str, complaint: str) -> None:
    with pytest.raises(DurationError, match=complaint) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, DLQError)


# -- format_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(hours=1, minutes=2, seconds=3), "1h2m3s"),
        (timedelta(milliseconds=250), "0.25s"),
        (timedelta(days=1, seconds=0.5), "1d0.5s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(microseconds=1), "0.000001s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration(duration: timedelta, expected: str) -> None:
    assert format_duration(duration) == expected


def test_format_duration_refuses_negative() -> None:
    with pytest.raises(DurationError, match="negative"):
        format_duration(timedelta(seconds=-1))


@given(positive_durations())
def test_format_then_parse_round_trips(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


@given(positive_durations())
def test_the_canonical_form_is_a_fixed_point(duration: timedelta) -> None:
    text = format_duration(duration)
    assert format_duration(parse_duration(text)) == text


@given(
    st.integers(0, 400),
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(0, 999_999),
    st.booleans(),
)
def test_parse_adds_up_the_units(
    days: int, hours: int, minutes: int, seconds: int, micros: int, as_ms: bool
) -> None:
    expected = timedelta(
        days=days, hours=hours, minutes=minutes, seconds=seconds, microseconds=micros
    )
    if as_ms:
        sub = f"{seconds}s{micros // 1000}.{micros % 1000:03d}ms"
    else:
        sub = f"{seconds}.{micros:06d}s"
    text = f"{days}d{hours}h{minutes}m{sub}"
    if expected > timedelta(0):
        assert parse_duration(text) == expected
    else:
        with pytest.raises(DurationError):
            parse_duration(text)


@given(st.text(alphabet="0123456789dhms.: -xZ", max_size=12))
def test_parse_duration_only_ever_raises_duration_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except DurationError:
        return
    assert result > timedelta(0)


# -- parse_until ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00+0000",  # upstream's strptime format
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00Z",
        "2026-01-01t00:00:00z",
        "2026-01-01 00:00:00+00:00",  # what upstream's queue_pause prints
        "2026-01-01T00:00+00:00",
        "2026-01-01T01:30:00+0130",
        "2025-12-31T19:00:00-05:00",
        "2026-01-01T00:00:00.000+00:00",
    ],
)
def test_parse_until_accepts_iso_8601_with_an_offset(text: str) -> None:
    result = parse_until(text)
    assert result == datetime(2026, 1, 1, tzinfo=UTC)
    assert result.tzinfo is UTC


def test_parse_until_keeps_fractions() -> None:
    assert parse_until("2026-01-01T00:00:00.25Z") == datetime(2026, 1, 1, 0, 0, 0, 250_000, UTC)


@pytest.mark.parametrize("text", ["2026-01-01T00:00:00", "2026-01-01 00:00"])
def test_parse_until_refuses_naive_times_and_says_why(text: str) -> None:
    with pytest.raises(DurationError, match="no UTC offset") as info:
        parse_until(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "expected an ISO 8601 time with a UTC offset"),
        ("tomorrow", "expected an ISO 8601 time with a UTC offset"),
        ("2026-01-01", "expected an ISO 8601 time"),
        ("2026-01-01T00:00:00+00", "expected an ISO 8601 time"),
        ("2026-01-01T00:00:00+00:00:00", "expected an ISO 8601 time"),
        ("2026-13-01T00:00:00Z", "month"),
        ("2026-02-30T00:00:00Z", "day"),
        ("2026-01-01T24:00:00Z", "hour"),
        ("2026-01-01T00:00:00+2400", "offset"),
        ("2026-01-01T00:00:00+0060", "offset"),
        ("0000-01-01T00:00:00Z", "year"),
    ],
)
def test_parse_until_errors(text: str, complaint: str) -> None:
    with pytest.raises(DurationError, match=complaint) as info:
        parse_until(text)
    assert repr(text) in str(info.value)


@given(aware_datetimes())
def test_isoformat_round_trips(moment: datetime) -> None:
    assert parse_until(moment.isoformat()) == moment
    assert parse_until(moment.isoformat(" ")) == moment


@given(aware_datetimes())
def test_upstream_strptime_format_round_trips(moment: datetime) -> None:
    whole = moment.replace(microsecond=0)
    assert parse_until(whole.strftime("%Y-%m-%dT%H:%M:%S%z")) == whole


# -- pause_target ---------------------------------------------------------------------------


def test_pause_target_for_a_duration() -> None:
    assert pause_target(NOW, duration=timedelta(hours=1)) == NOW + timedelta(hours=1)


def test_pause_target_until_a_time_is_in_utc() -> None:
    until = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=1)))
    target = pause_target(NOW, until=until)
    assert target == until
    assert target.tzinfo is UTC


@given(aware_datetimes(), positive_durations(max_days=1000))
def test_pause_target_is_after_now(now: datetime, duration: timedelta) -> None:
    assert pause_target(now, duration=duration) > now


@pytest.mark.parametrize("until", [NOW, NOW - timedelta(seconds=1)])
def test_pause_target_refuses_the_past(until: datetime) -> None:
    with pytest.raises(DurationError, match="not after now"):
        pause_target(NOW, until=until)


def test_pause_target_needs_exactly_one_of_duration_and_until() -> None:
    with pytest.raises(DurationError, match="exactly one"):
        pause_target(NOW)
    with pytest.raises(DurationError, match="exactly one"):
        pause_target(NOW, duration=timedelta(1), until=NOW + timedelta(1))


def test_pause_target_refuses_naive_times() -> None:
    with pytest.raises(DurationError, match="aware"):
        pause_target(NOW.replace(tzinfo=None), duration=timedelta(1))
    with pytest.raises(DurationError, match="no UTC offset"):
        pause_target(NOW, until=datetime(2027, 1, 1))


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(durations).items()
        if not name.startswith("_")
        # Constants have no __module__; the module's own are its upper-case strings.
        and (
            getattr(value, "__module__", None) == durations.__name__
            or (name.isupper() and isinstance(value, str))
        )
    }
    assert public == set(durations.__all__)
