"""What a process keeps about each worker slot it serves: the slot's ledger.

The slot's processing list in Redis is the truth; the ledger is this process's account of
it: the jobs it reserved and has not handed out (the buffer, oldest first), the one its
worker is running, and what it still owes Redis after a connection was lost.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from dlq.backends.redis.keys import Keys
from dlq.backends.redis.recovery import Move
from dlq.domain.envelope import Job

__all__ = ["NEVER", "Held", "SlotLedger"]

NEVER = float("-inf")


@dataclass(frozen=True, slots=True)
class Held:
    job: Job  # as handed out: attempts is the delivery's number
    raw: bytes  # the payload as it sits in the processing list
    marker: bytes


class SlotLedger:
    """One worker slot's jobs as this process holds them, and the keys they live under."""

    def __init__(self, queue: str, worker_number: int, keys: Keys) -> None:
        self.queue, self.worker_number = queue, worker_number
        self.queue_key = keys.queue(queue)
        self.processing = keys.processing(queue, worker_number)
        self.pause = keys.pause(queue)
        self.started = keys.started(queue, worker_number)
        #: KEYS of script MOVE for this slot.
        self.move_keys = [
            self.processing,
            self.queue_key,
            keys.dead(queue),
            keys.lease(queue, worker_number),
            self.started,
            keys.delayed(queue),
        ]
        self.buffer: deque[Held] = deque()
        #: When (monotonic) the pause was last checked for the buffered jobs.
        self.checked_at = NEVER
        self.current: Held | None = None
        self.acked_marker = b""
        # Batch sizing: jobs wanted in the next fetch, and the mean time between hand-outs.
        self.want = 0
        self.ema_s = 0.0
        self.handed_at = 0.0
        #: Moves whose commands may not have run (their connection was lost): redone,
        #: harmlessly if they had run, once the connection is back.
        self.redo: list[Move] = []
        #: The started marker may not have reached Redis: set it again with the redo.
        self.resend_marker = False
        #: A blocking pop's reply was never read (a stop cut its wait short): it may have
        #: moved a job into the processing list that the buffer does not show.
        self.pop_interrupted = False

    def holding(self) -> Counter[bytes]:
        """The payloads its processing list should hold: the buffer and the current job."""
        held = Counter(item.raw for item in self.buffer)
        if self.current is not None:
            held[self.current.raw] += 1
        return held
