"""The state a process keeps per worker slot, and the knobs of the database backend."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from dlq.domain.envelope import Job

__all__ = ["NEVER", "Held", "Owed", "Slot", "Tuning"]

NEVER = float("-inf")


@dataclass(frozen=True)
class Tuning:
    """Knobs of the database backend; the defaults suit jobs from microseconds to hours."""

    max_batch: int = 256
    fresh_s: float = 0.05
    paused_poll_s: float = 0.25
    #: The longest single idle wait; a dequeue's own timeout is usually shorter.
    idle_cap_s: float = 5.0
    page_size: int = 1000

    @property
    def pause_grace_s(self) -> float:
        return self.fresh_s + 0.02


@dataclass(frozen=True, slots=True)
class Held:
    job: Job  # as handed out: attempts is the delivery's number
    row: int


#: A write owed to the database: ("bury", row, job id, reason), ("requeue", row, None,
#: payload) or ("retry", row, due time as a parameter, payload).
Owed = tuple[Literal["bury", "requeue", "retry"], int, Any, str]


@dataclass
class Slot:
    queue: str
    number: int
    slot_id: int | None = None
    recovered: bool = False
    resync: bool = False
    buffer: deque[Held] = field(default_factory=deque)
    current: Held | None = None
    finished: list[int] = field(default_factory=list)
    owed: list[Owed] = field(default_factory=list)
    checked_at: float = NEVER
    want: int = 0
    ema_s: float = 0.0
    handed_at: float = 0.0
