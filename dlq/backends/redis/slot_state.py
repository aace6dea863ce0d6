"""The state a process keeps per worker slot, and the knobs of the Redis backends."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from dlq.backends.redis.connection import BLOCK_CAP_S
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.recovery import Move
from dlq.domain.envelope import Job

__all__ = ["NEVER", "Held", "Slot", "Tuning"]

NEVER = float("-inf")


@dataclass(frozen=True)
class Tuning:
    """Knobs of the Redis backends; the defaults suit jobs from microseconds to hours."""

    max_batch: int = 256
    fresh_s: float = 0.05
    paused_poll_s: float = 0.25
    block_cap_s: float = BLOCK_CAP_S
    page_size: int = 1000

    @property
    def pause_grace_s(self) -> float:
        """How long ``pause()`` and ``clear()`` wait before returning (see the module doc)."""
        return self.fresh_s + 0.02


@dataclass(frozen=True, slots=True)
class Held:
    job: Job  # as handed out: attempts is the delivery's number
    raw: bytes  # the payload as it sits in the processing list
    marker: bytes


class Slot:
    def __init__(self, queue: str, worker_number: int, keys: Keys) -> None:
        self.queue, self.worker_number = queue, worker_number
        self.queue_key = keys.queue(queue)
        self.processing = keys.processing(queue, worker_number)
        self.pause = keys.pause(queue)
        self.started = keys.started(queue, worker_number)
        self.settle_keys = [
            self.processing,
            self.queue_key,
            keys.dead(queue),
            keys.lease(queue, worker_number),
            self.started,
        ]
        self.buffer: deque[Held] = deque()
        self.checked_at = NEVER
        self.current: Held | None = None
        self.acked_marker = b""
        self.want = 0
        self.ema_s = 0.0
        self.handed_at = 0.0
        self.owed: list[Move] = []  # to make good once the connection is back
        self.remark = False

    def holding(self) -> Counter[bytes]:
        """The payloads its processing list should hold: the buffer and the current job."""
        held = Counter(item.raw for item in self.buffer)
        if self.current is not None:
            held[self.current.raw] += 1
        return held
