"""Durations and pause targets: what ``queue_pause --for`` and ``--until`` accept.

Upstream's ``queue_pause`` takes ``--for 1h2m3s`` (hours, minutes and seconds, each
optional, in that order) or ``--until 2026-01-01T00:00:00+0000`` (``strptime`` with
``%Y-%m-%dT%H:%M:%S%z``). dlq accepts everything upstream accepted and a little more:
days (``1d``), fractional seconds (``0.5s``), milliseconds (``250ms``), a bare number
of seconds, and ``Z`` or ``+00:00`` offsets. It refuses what upstream let through by
accident: an empty or zero duration (a pause that ends at once) and a time without an
offset (which the server would read in its own zone, not the operator's).

No function here reads the clock: :func:`pause_target` is given ``now``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from dlq.exceptions import DLQError

__all__ = [
    "DURATION_SYNTAX",
    "UNTIL_SYNTAX",
    "DurationError",
    "format_duration",
    "parse_duration",
    "parse_until",
    "pause_target",
]

#: How a duration is written, for error and ``--help`` messages.
DURATION_SYNTAX = (
    "a duration like '1h2m3s', '30s', '0.5s', '250ms' or '1d': units d, h, m, s and ms,"
    " in that order, each at most once, whole numbers except s and ms; a plain number"
    " means seconds"
)

#: How a time is written, for error and ``--help`` messages.
UNTIL_SYNTAX = (
    "an ISO 8601 time with a UTC offset, like '2026-01-01T00:00:00+00:00',"
    " '2026-01-01T00:00:00+0000' or '2026-01-01T00:00:00Z'"
)

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# `m(?!s)` keeps the minutes group from eating the 'm' of '250ms'.
_DURATION = re.compile(
    rf"(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m(?!s))?"
    rf"(?:(?P<s>{_NUMBER})s)?(?:(?P<ms>{_NUMBER})ms)?"
)
_PLAIN_SECONDS = re.compile(_NUMBER)
_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,6}))?)?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)

_US_PER = {"d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000}


class DurationError(DLQError, ValueError):
    """A pause duration or target time cannot be read, or does not lie in the future.

    A ``ValueError`` too, so argparse reports it as a bad value for the option.
    """


def parse_duration(text: str) -> timedelta:
    """The positive duration ``text`` spells, in the syntax of :data:`DURATION_SYNTAX`.

    Anything finer than a microsecond (``timedelta``'s resolution) is refused rather
    than rounded, so what is parsed is exactly what was written.
    """
    if _PLAIN_SECONDS.fullmatch(text):
        total_us = _microseconds(text, text, unit_us=1_000_000)
    else:
        match = _DURATION.fullmatch(text)
        # The pattern has only optional parts, so it also matches '' and must be checked.
        if match is None or not any(match.groupdict().values()):
            raise DurationError(f"invalid duration {text!r}: expected {DURATION_SYNTAX}")
        groups = match.groupdict()
        total_us = sum(int(groups[unit] or 0) * per for unit, per in _US_PER.items())
        total_us += _microseconds(groups["s"] or "0", text, unit_us=1_000_000)
        total_us += _microseconds(groups["ms"] or "0", text, unit_us=1_000)
    if total_us <= 0:
        raise DurationError(f"duration {text!r} is zero; it must be longer than that")
    try:
        return timedelta(microseconds=total_us)
    except OverflowError:
        raise DurationError(f"duration {text!r} is longer than Python can represent") from None


def format_duration(duration: timedelta) -> str:
    """``duration`` in the canonical spelling: ``1d2h3m4.5s``, ``0.25s``; zero is ``0s``.

    Zero units are left out and seconds carry any fraction, so for every positive
    duration ``parse_duration(format_duration(d)) == d``.
    """
    if duration < timedelta(0):
        raise DurationError(f"cannot format the negative duration {duration!r}")
    total_us = duration // timedelta(microseconds=1)
    parts = []
    for unit, per in _US_PER.items():
        count, total_us = divmod(total_us, per)
        if count:
            parts.append(f"{count}{unit}")
    seconds, micros = divmod(total_us, 1_000_000)
    if micros:
        parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "s")
    elif seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)


def parse_until(text: str) -> datetime:
    """The moment ``text`` names (see :data:`UNTIL_SYNTAX`), as an aware datetime in UTC.

    An offset is required: a naive time would be read in the server's zone, which is
    rarely the zone of whoever typed it. Parsed by hand rather than with
    ``datetime.fromisoformat``, which also takes week dates, basic formats and more,
    so that the accepted forms are exactly the documented ones on every Python.
    """
    match = _TIME.fullmatch(text)
    if match is None:
        raise DurationError(f"invalid time {text!r}: expected {UNTIL_SYNTAX}")
    offset = match["offset"]
    if offset is None:
        raise DurationError(
            f"time {text!r} has no UTC offset, so which moment it means depends on the"
            f" server's time zone; add one, e.g. '{text}+00:00' or '{text}Z'"
        )
    try:
        tz = _offset(offset)
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int((match["fraction"] or "0").ljust(6, "0")),
            tzinfo=tz,
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise DurationError(f"invalid time {text!r}: {exc}") from None


def pause_target(
    now: datetime,
    *,
    duration: timedelta | None = None,
    until: datetime | None = None,
) -> datetime:
    """When a pause asked for at ``now`` ends: ``now + duration``, or ``until``.

    Exactly one of ``duration`` and ``until`` is given (``--for`` and ``--until`` are
    mutually exclusive). Like upstream, a target that is not after ``now`` is refused,
    since such a pause would do nothing. Both times must be aware so that comparing
    them cannot depend on the machine's zone.
    """
    if now.utcoffset() is None:
        raise DurationError(f"now ({now.isoformat()}) must be an aware datetime")
    if duration is not None and until is None:
        target = now + duration
    elif until is not None and duration is None:
        if until.utcoffset() is None:
            raise DurationError(f"time {until.isoformat()} has no UTC offset")
        target = until
    else:
        raise DurationError("give exactly one of a duration (--for) and a time (--until)")
    target = target.astimezone(UTC)
    if target <= now:
        raise DurationError(
            f"refusing to pause until {target.isoformat()}, which is not after now"
            f" ({now.astimezone(UTC).isoformat()})"
        )
    return target


def _microseconds(number: str, text: str, *, unit_us: int) -> int:
    """``number`` units of ``unit_us`` microseconds each, counted exactly (no floats).

    Precision finer than a microsecond is an error. ``unit_us`` is a power of ten.
    """
    digits = len(str(unit_us)) - 1
    whole, _, fraction = number.partition(".")
    if len(fraction.rstrip("0")) > digits:
        raise DurationError(
            f"duration {text!r} is more precise than a microsecond; expected {DURATION_SYNTAX}"
        )
    return int(whole) * unit_us + int(fraction[:digits].ljust(digits, "0") or "0")


def _offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if minutes >= 60:
        raise ValueError(f"offset {text!r} has {minutes} minutes")
    # timezone() itself refuses offsets of 24 hours or more.
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
