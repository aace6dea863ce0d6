"""What the cron unit tests share: entries, times and stand-ins for a clock and enqueueing."""

from __future__ import annotations

from datetime import UTC, datetime

from dlq.domain.cron.due import Firing
from dlq.domain.cron.entry import CronEntry, parse_cron_config

__all__ = ["FakeClock", "Recorder", "at", "entry"]


def entry(minutes: str = "*", hours: str = "*", days: str = "*", command: str = "job") -> CronEntry:
    raw = {"command": command, "minutes": minutes, "hours": hours, "days": days}
    (parsed,) = parse_cron_config([raw], app_label="app", where="app.cron.CONFIG").entries
    return parsed


def at(hour: int, minute: int, second: float = 0, *, day: int = 1, month: int = 1) -> datetime:
    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    return datetime(2024, month, day, hour, minute, whole, micro, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """Stands in for enqueueing: remembers every firing."""

    def __init__(self) -> None:
        self.firings: list[Firing] = []

    def __call__(self, firing: Firing) -> None:
        self.firings.append(firing)

    @property
    def minutes(self) -> list[datetime]:
        return [firing.minute for firing in self.firings]
