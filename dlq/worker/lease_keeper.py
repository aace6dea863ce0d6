"""The supervisor's part that keeps its slots' leases: checks, renewals, takes, releases.

:class:`~dlq.worker.leases.SlotLease` knows one lease's times and makes its calls; the
keeper decides, for every slot the runner serves, when to make them (within the pass's
budget, :mod:`dlq.worker.backend_calls`) and what becomes of the slot's worker: killed
when its lease cannot be confirmed in time or another runner holds it, asked to leave
after its job when the lease had vanished and was taken back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from dlq.worker.backend_calls import BackendCalls
from dlq.worker.leases import SlotLease
from dlq.worker.slots import ServedSlot

__all__ = ["LeaseKeeper"]


def _nothing() -> None:
    pass


class LeaseKeeper:
    """Keeps the leases of ``slots`` (those whose backend leases; the others have none)."""

    def __init__(
        self,
        slots: Sequence[ServedSlot],
        calls: BackendCalls,
        *,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        after_call: Callable[[], None] = _nothing,
    ) -> None:
        self._slots = slots
        self._calls = calls
        self._logger = logger
        self._clock = clock
        #: Run after every backend call (the supervisor looks at its workers again).
        self.after_call = after_call

    def check(self, now: float) -> None:
        """Give up every lease that could not be confirmed in time, killing its worker."""
        for state in self._slots:
            lease = state.lease
            if lease is None or not lease.held or lease.confirmed(now):
                continue
            lease.give_up(now)
            child = state.child
            if child is None:
                self._logger.error(
                    "Cannot confirm the lease on worker slot %s: no renewal confirmed for"
                    " %.1fs; giving the slot up",
                    state.slot,
                    lease.unconfirmed_for_s(now),
                )
                continue
            self._logger.error(
                "Cannot confirm the lease on worker slot %s: no renewal confirmed for %.1fs;"
                " killing its worker (pid %d%s) now, %.1fs before another runner may take"
                " the slot",
                state.slot,
                lease.unconfirmed_for_s(now),
                child.pid,
                f", running {child.job}" if child.job is not None else "",
                lease.lapses_at - now,
            )
            child.kill("lease", now)

    def renew(self) -> None:
        """Renew the leases that are due, as far as this pass's budget allows."""
        for state in self._slots:
            lease = state.lease
            if lease is None or not lease.held or not lease.due(self._clock()):
                continue
            if not self._calls.may_call:
                return  # the next pass, a tick from now
            with self._calls.counted():
                renewal = lease.renew(self._clock())
            self.after_call()
            if renewal != "refused":
                continue
            # Settled now, whatever the budget: the worker runs on until it is.
            with self._calls.counted():
                settled = lease.settle_refusal(self._clock())
            child = state.child
            if child is not None and settled == "lost":
                child.kill("lease", self._clock())
            elif child is not None and settled == "retaken":
                # The slot is this runner's again; its worker leaves after its job and
                # starts afresh, in case another runner served the slot meanwhile.
                child.leave("lease")
            self.after_call()

    def take(self, state: ServedSlot) -> bool | None:
        """Whether the slot may start its worker: True when its lease is held (or it has
        none), False when not (yet), None when this pass may not call any more."""
        lease = state.lease
        if lease is None or lease.held:
            return True
        if not lease.due(self._clock()):
            return False
        if not self._calls.may_call:
            return None
        with self._calls.counted():
            acquired = lease.acquire(self._clock())
        self.after_call()
        return acquired

    def release(self, lease: SlotLease) -> None:
        if lease.held:
            with self._calls.counted():
                lease.release()
            self.after_call()

    def release_all(self) -> None:
        """Every worker has exited: nothing left to look after between the calls."""
        for state in self._slots:
            if state.lease is not None:
                state.lease.release()
