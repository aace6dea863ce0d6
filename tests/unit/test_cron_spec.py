"""The cron spec: parsing each field, matching a minute and finding the next one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest
from cronsim import CronSim
from hypothesis import given
from hypothesis import strategies as st

from dlq.domain.cron import spec as cron
from dlq.domain.cron.spec import CronFieldError, CronSpec, format_field, parse_field
from dlq.exceptions import ConfigurationError, DLQError
from tests.strategies import cron_datetimes, cron_field_inputs, cron_field_sets, cron_fields

MINUTE = timedelta(minutes=1)
MONDAY = datetime(2024, 1, 1)  # 2024-01-01 was a Monday


@st.composite
def specs(draw: st.DrawFn) -> CronSpec:
    return CronSpec(
        minutes=draw(cron_field_sets("minutes")),
        hours=draw(cron_field_sets("hours")),
        days=draw(cron_field_sets("days")),
    )


def brute_matches(spec: CronSpec, when: datetime) -> bool:
    return (
        when.minute in spec.minutes and when.hour in spec.hours and when.isoweekday() in spec.days
    )


def to_cron_expression(spec: CronSpec) -> str:
    """The same spec in crontab syntax, where Sunday is 0 rather than 7."""

    def values(field: frozenset[int]) -> str:
        return ",".join(str(value) for value in sorted(field))

    weekdays = frozenset(day % 7 for day in spec.days)
    return f"{values(spec.minutes)} {values(spec.hours)} * * {values(weekdays)}"


def test_all_is_complete() -> None:
    defined_here = {
        name
        for name, value in vars(cron).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == cron.__name__
    }
    assert set(cron.__all__) == defined_here | {"FieldValue"}


# Parsing -------------------------------------------------------------------------------


@given(data=st.data(), name=cron_fields())
def test_parse_field_gives_the_set_the_text_means(data: st.DataObject, name: str) -> None:
    value, expected = data.draw(cron_field_inputs(name))
    assert parse_field(name, value) == expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("minutes", "*", set(range(60))),
        ("minutes", "0,30", {0, 30}),
        ("minutes", " 0 , 30 ", {0, 30}),
        ("minutes", "*/15", {0, 15, 30, 45}),
        ("minutes", "10-50/10", {10, 20, 30, 40, 50}),
        ("minutes", "5/10", {5, 15, 25, 35, 45, 55}),
        ("minutes", "*/100", {0}),
        ("minutes", "7-7", {7}),
        ("hours", "9-17", set(range(9, 18))),
        ("hours", "*,3", set(range(24))),
        ("days", "1-5", {1, 2, 3, 4, 5}),
        ("days", "*/2", {1, 3, 5, 7}),
        ("days", "7", {7}),
        ("minutes", 0, {0}),
        ("hours", [9, 13, 9], {9, 13}),
        ("days", (6, 7), {6, 7}),
    ],
)
def test_parse_field_examples(name: str, text: str | int | list[int], expected: set[int]) -> None:
    assert parse_field(name, text) == expected


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("minutes", "", "'' is empty"),
        ("minutes", "  ", "'  ' is empty"),
        ("minutes", "1,,2", "'1,,2' has an empty item"),
        ("minutes", "1,", "'1,' has an empty item"),
        ("minutes", "61", "'61' is out of range"),
        ("minutes", "0,61", "'61' in '0,61' is out of range"),
        ("minutes", "50-60", "'50-60' is out of range"),
        ("minutes", "60/5", "'60/5' is out of range"),
        ("hours", "24", "'24' is out of range"),
        ("days", "0", "'0' is out of range"),
        ("days", "8", "'8' is out of range"),
        ("hours", "5-1", "'5-1' is a range that runs backwards"),
        ("minutes", "*/0", "'*/0' has a step below 1"),
        ("minutes", "10-20/-5", "'10-20/-5' has a step below 1"),
        ("minutes", "abc", "'abc' is not a value, range or step"),
        ("minutes", "-1", "'-1' is not a value, range or step"),
        ("minutes", "1-2-3", "'1-2-3' is not a value, range or step"),
        ("minutes", "1//2", "'1//2' is not a value, range or step"),
        ("minutes", "*/", "'*/' is not a value, range or step"),
        ("minutes", "/5", "'/5' is not a value, range or step"),
        ("minutes", "1.5", "'1.5' is not a value, range or step"),
        ("minutes", "5_0", "'5_0' is not a value, range or step"),
        ("minutes", "\uff15", "'\uff15' is not a value, range or step"),
        ("minutes", "**", "'**' is not a value, range or step"),
        ("minutes", "1 2", "'1 2' is not a value, range or step"),
        ("minutes", -1, "-1 is out of range"),
        ("minutes", 60, "60 is out of range"),
        ("minutes", True, "True is not a string, an int or a list of ints"),
        ("minutes", 1.0, "1.0 is not a string, an int or a list of ints"),
        ("minutes", None, "None is not a string, an int or a list of ints"),
        ("minutes", {1, 2}, "{1, 2} is not a string, an int or a list of ints"),
        ("minutes", [], "[] is empty"),
        ("minutes", (), "() is empty"),
        ("minutes", [0, 60], "60 in [0, 60] is out of range"),
        ("minutes", [0, False], "False in [0, False] is not an int"),
        ("minutes", ["0"], "'0' in ['0'] is not an int"),
    ],
)
def test_parse_field_errors(name: str, value: object, reason: str) -> None:
    with pytest.raises(CronFieldError) as caught:
        parse_field(name, value)  # type: ignore[arg-type]  # bad types are the point
    error = caught.value
    assert (error.field, error.value, error.reason) == (name, value, reason)
    assert str(error) == f"{name}: {reason}; expected {error.expected}"
    assert len(error.problems) == 1
    assert error.problems[0].name == name


def test_error_message_says_what_is_expected() -> None:
    with pytest.raises(CronFieldError) as caught:
        parse_field("minutes", "61")
    assert str(caught.value) == (
        "minutes: '61' is out of range; expected * or values 0-59, ranges a-b, steps */n,"
        " a-b/n or a/n, separated by commas (or an int, or a list of ints)"
    )
    with pytest.raises(CronFieldError, match=r"days count 1 = Monday \.\.\. 7 = Sunday"):
        parse_field("days", "0")


def test_error_is_a_value_error_and_a_configuration_error() -> None:
    with pytest.raises(CronFieldError) as caught:
        parse_field("hours", "x")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ConfigurationError)
    assert isinstance(caught.value, DLQError)


def test_unknown_field_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown cron field 'seconds'"):
        parse_field("seconds", "*")


def test_parse_reports_the_bad_field_and_defaults_days() -> None:
    assert CronSpec.parse(minutes="0", hours="9").days == frozenset(range(1, 8))
    with pytest.raises(CronFieldError) as caught:
        CronSpec.parse(minutes="0", hours="9", days="1-8")
    assert caught.value.field == "days"


@pytest.mark.parametrize(
    ("minutes", "hours", "days", "field"),
    [
        (frozenset(), frozenset({0}), frozenset({1}), "minutes"),
        (frozenset({0}), frozenset({24}), frozenset({1}), "hours"),
        (frozenset({0}), frozenset({0}), frozenset({0}), "days"),
        (frozenset({0}), frozenset({0}), {1}, "days"),
    ],
)
def test_constructing_directly_checks_the_sets(
    minutes: frozenset[int], hours: frozenset[int], days: frozenset[int], field: str
) -> None:
    with pytest.raises(CronFieldError) as caught:
        CronSpec(minutes=minutes, hours=hours, days=days)
    assert caught.value.field == field


# Rendering -----------------------------------------------------------------------------


@given(data=st.data(), name=cron_fields())
def test_format_field_round_trips(data: st.DataObject, name: str) -> None:
    values = data.draw(cron_field_sets(name))
    text = format_field(name, values)
    assert parse_field(name, text) == values
    assert format_field(name, parse_field(name, text)) == text


@given(spec=specs())
def test_spec_round_trips_through_its_config(spec: CronSpec) -> None:
    assert CronSpec.parse(**spec.as_config()) == spec
    assert eval(repr(spec), {"CronSpec": CronSpec}) == spec


@pytest.mark.parametrize(
    ("name", "text", "canonical"),
    [
        ("minutes", "0-59", "*"),
        ("minutes", "0,15,30,45", "*/15"),
        ("minutes", "5/10", "5-55/10"),
        ("minutes", "10-50/10", "10-50/10"),
        ("minutes", "0,30", "0,30"),
        ("hours", "9,10,11,12,14,15", "9-12,14,15"),
        ("days", "1,2,3,4,5", "1-5"),
        ("days", "7,1,3,5", "*/2"),
        ("days", "1,3,5", "1-5/2"),
        ("hours", "0,12", "0,12"),
    ],
)
def test_format_field_examples(name: str, text: str, canonical: str) -> None:
    assert format_field(name, parse_field(name, text)) == canonical


def test_str_and_repr() -> None:
    spec = CronSpec.parse(minutes="0,30", hours="9-17", days="1-5")
    assert str(spec) == "minutes=0,30 hours=9-17 days=1-5"
    assert repr(spec) == "CronSpec.parse(minutes='0,30', hours='9-17', days='1-5')"


# Matching and stepping -----------------------------------------------------------------


@given(data=st.data(), when=cron_datetimes())
def test_matches_agrees_with_the_sets_the_text_means(data: st.DataObject, when: datetime) -> None:
    minutes, expected_minutes = data.draw(cron_field_inputs("minutes"))
    hours, expected_hours = data.draw(cron_field_inputs("hours"))
    days, expected_days = data.draw(cron_field_inputs("days"))
    spec = CronSpec.parse(minutes=minutes, hours=hours, days=days)
    assert spec.matches(when) == (
        when.minute in expected_minutes
        and when.hour in expected_hours
        and when.isoweekday() in expected_days
    )


@given(spec=specs(), when=cron_datetimes())
def test_next_after_is_the_first_matching_minute(spec: CronSpec, when: datetime) -> None:
    found = spec.next_after(when)
    assert found > when
    assert spec.matches(found)
    assert (found.second, found.microsecond, found.tzinfo) == (0, 0, when.tzinfo)
    assert found - when <= timedelta(days=7)
    # Scan every minute in between: at most a week of them.
    minute = when.replace(second=0, microsecond=0) + MINUTE
    while minute < found:
        assert not brute_matches(spec, minute), minute
        minute += MINUTE


@given(spec=specs(), when=cron_datetimes().map(lambda when: when.replace(tzinfo=None)))
def test_next_after_agrees_with_cronsim(spec: CronSpec, when: datetime) -> None:
    expected = CronSim(to_cron_expression(spec), when)
    assert list(islice(spec.fire_times(when, datetime.max), 5)) == list(islice(expected, 5))


@given(spec=specs(), after=cron_datetimes(), span=st.timedeltas(timedelta(0), timedelta(days=2)))
def test_fire_times_is_every_matching_minute_in_the_interval(
    spec: CronSpec, after: datetime, span: timedelta
) -> None:
    until = after + span
    expected = []
    minute = after.replace(second=0, microsecond=0) + MINUTE
    while minute <= until:
        if brute_matches(spec, minute):
            expected.append(minute)
        minute += MINUTE
    assert list(spec.fire_times(after, until)) == expected


def test_next_after_examples() -> None:
    weekday_mornings = CronSpec.parse(minutes="0,30", hours="9", days="1-5")
    friday_evening = datetime(2024, 1, 5, 18, 0)
    assert weekday_mornings.next_after(friday_evening) == datetime(2024, 1, 8, 9, 0)
    assert weekday_mornings.next_after(datetime(2024, 1, 8, 9, 0)) == datetime(2024, 1, 8, 9, 30)
    assert weekday_mornings.next_after(datetime(2024, 1, 8, 8, 59, 59, 999999)) == datetime(
        2024, 1, 8, 9, 0
    )
    sundays = CronSpec.parse(minutes=0, hours=0, days=7)
    assert sundays.next_after(datetime(2024, 1, 7, 0, 0)) == datetime(2024, 1, 14, 0, 0)
    every_minute = CronSpec.parse(minutes="*", hours="*")
    assert every_minute.next_after(datetime(2024, 12, 31, 23, 59, 30)) == datetime(2025, 1, 1)


def test_next_after_keeps_wall_clock_time_and_tzinfo() -> None:
    plus_five = timezone(timedelta(hours=5))
    spec = CronSpec.parse(minutes="15", hours="3")
    found = spec.next_after(datetime(2024, 1, 1, 4, 0, tzinfo=plus_five))
    assert found == datetime(2024, 1, 2, 3, 15, tzinfo=plus_five)
    assert found.tzinfo is plus_five


def test_matches_ignores_seconds() -> None:
    spec = CronSpec.parse(minutes="30", hours="12", days="1")
    assert spec.matches(MONDAY.replace(hour=12, minute=30, second=59, microsecond=1))
    assert not spec.matches(MONDAY.replace(hour=12, minute=31))
    assert not spec.matches((MONDAY + timedelta(days=1)).replace(hour=12, minute=30))


def test_fire_times_is_half_open() -> None:
    spec = CronSpec.parse(minutes="*/30", hours="*")
    start = MONDAY
    assert list(spec.fire_times(start, start + timedelta(hours=1))) == [
        start + timedelta(minutes=30),
        start + timedelta(hours=1),
    ]
    assert list(spec.fire_times(start, start)) == []


def test_fire_times_needs_matching_tzinfo() -> None:
    spec = CronSpec.parse(minutes="*", hours="*")
    with pytest.raises(ValueError, match="different tzinfo"):
        spec.fire_times(MONDAY, MONDAY.replace(tzinfo=timezone(timedelta(hours=1))))
