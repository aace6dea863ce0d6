"""What a dispatcher keeps straight about its pipelined line, apart from handing out jobs.

Acknowledgements go out without waiting for their replies
(:meth:`~dlq.backends.redis.line.Line.defer`), so until the next reply is read they are
only *sent*. When the line is lost (:class:`~dlq.backends.redis.line.LineLost`, or its
``losses`` count moved), or a reply shows it out of step, whatever was sent since the
last reply read may or may not have run: it is noted in each slot's ledger (``redo``,
``resend_marker``) and redone, with script ``MOVE``, which is harmless if it had run,
before the slot's next command. Connection failures are retried with exponential
back-off, logged at powers of two.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import NoReturn

from redis.exceptions import RedisError

from dlq.backends.redis.connection import (
    RedisTarget,
    as_int,
    backend_error,
    backoff_s,
    redact,
)
from dlq.backends.redis.keys import Keys
from dlq.backends.redis.ledger import SlotLedger
from dlq.backends.redis.line import Line, LineLost
from dlq.backends.redis.recovery import Move, move_args
from dlq.backends.redis.scripts import MOVE, Arg, LuaScript
from dlq.backends.redis.tuning import Tuning

__all__ = ["Bookkeeping"]


class Bookkeeping:
    """The line, the ledgers of the slots it serves, and what was sent on it unconfirmed."""

    def __init__(
        self, target: RedisTarget, keys: Keys, *, logger: logging.Logger, tuning: Tuning
    ) -> None:
        self._target, self._keys, self._log, self._tuning = target, keys, logger, tuning
        self._line = Line(target, socket_timeout=tuning.read_timeout_s)
        self._slots: dict[tuple[str, int], SlotLedger] = {}
        self._sent: list[tuple[SlotLedger, bytes]] = []  # acknowledgements whose replies are owed
        self._dirty = False
        self._failures = 0
        self._retry_at = 0.0
        self._losses = 0  # the line's losses accounted for

    def _slot(self, queue: str, worker_number: int) -> SlotLedger:
        slot = self._slots.get((queue, worker_number))
        if slot is None:
            slot = self._slots[queue, worker_number] = SlotLedger(queue, worker_number, self._keys)
        return slot

    def _call(self, *args: Arg) -> object:
        reply = self._line.call(*args)
        self._confirmed()
        return reply

    def _script(self, script: LuaScript, keys: list[str], args: Sequence[Arg]) -> object:
        reply = self._line.script(script, keys, args)
        self._confirmed()
        return reply

    def _confirmed(self) -> None:
        if self._line.losses != self._losses:
            # The line discarded a connection without a LineLost reaching us (an exception
            # cut the discard short): what was sent before it may be lost.
            self._unsure()
        self._sent.clear()
        self._failures = 0
        for error in self._line.errors:
            self._log.error("Redis refused a queue bookkeeping command: %s", error)
        self._line.errors.clear()

    def _unsure(self) -> None:
        """Commands sent since the last reply read may or may not have run: redo them."""
        self._losses = self._line.losses
        for slot, raw in self._sent:
            slot.redo.append(Move(raw))
        self._sent.clear()
        for slot in self._slots.values():
            slot.resend_marker = slot.current is not None
        self._dirty = True

    def _lost(self, exc: LineLost) -> None:
        self._unsure()
        self._failures += 1
        delay = backoff_s(self._failures)
        self._retry_at = time.monotonic() + delay
        level = logging.WARNING if self._failures & (self._failures - 1) == 0 else logging.DEBUG
        self._log.log(
            level,
            "lost the connection to Redis at %s (%s, %d in a row); retrying in %.2fs",
            self._target.location,
            redact(str(exc), self._target.secrets),
            self._failures,
            delay,
        )

    def _fail(self, exc: RedisError, doing: str) -> NoReturn:
        error = backend_error(exc, self._target, doing)
        raise error from error.__cause__

    def _out_of_step(self) -> None:
        """A reply was not what its command returns: whatever the line's count says, its
        replies cannot be trusted. Start afresh, treating what was sent as unsure."""
        self._line.drop()
        self._unsure()

    def _move(
        self,
        slot: SlotLedger,
        moves: list[Move],
        stay: Counter[bytes],
        *,
        drop_marker: bool = False,
    ) -> int:
        args = move_args(moves, stay, guard=False, drop_marker=drop_marker)
        return as_int(self._script(MOVE, slot.move_keys, args))

    def _redo_unsure(self) -> None:
        for slot in self._slots.values():
            if slot.redo:
                self._move(slot, slot.redo, slot.holding())
                slot.redo = []
            if slot.resend_marker and slot.current is not None:
                self._call("SET", slot.started, slot.current.marker)
            slot.resend_marker = False
        self._dirty = False

    def flush(self) -> None:
        """Read owed replies, so another connection of this process sees their effect."""
        if self._line.owed and self._line.lock.acquire(blocking=False):
            try:
                self._line.read_owed()
                self._confirmed()
            except LineLost as exc:
                self._lost(exc)
            finally:
                self._line.lock.release()
