"""A runner's hold on one worker slot, so that two runners never serve it at once.

Upstream has no such thing: a runner killed with SIGKILL left its workers running, and
its replacement started a second worker for each slot. Here a runner takes a lease on a
slot (``SupportsSlotLease``) before starting its worker, renews it every third of its
time to live, and releases it once the worker has exited. A runner that dies stops
renewing; its workers die with it (parent-death signal), and the lease expires.

The backend is looked up for each call rather than kept: the runner asks the Django
layer for it afresh, since that layer drops its backends before each fork. The supervisor
asks :meth:`SlotLease.maintain` on every tick whether it may go on
serving. It may not once a renewal is refused (another runner holds the slot now) or
once the lease may have expired because renewals failed (the store was unreachable):
the lease's end is counted from *before* the call that set it, so the runner gives the
slot up no later than the store does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from dlq.core.protocols import Backend, SupportsSlotLease
from dlq.domain.allocation import WorkerSlot

__all__ = ["SlotLease", "make_leases"]


def make_leases(
    slots: Sequence[WorkerSlot],
    backend_for: Callable[[str], Backend],
    owner: str,
    *,
    ttl_s: float,
    retry_s: float,
    logger: logging.Logger,
) -> dict[WorkerSlot, SlotLease]:
    """A lease for each slot whose backend can lease; says which backends cannot."""
    leases = {}
    for queue in sorted({slot.queue for slot in slots}):
        backend = backend_for(queue)
        if not isinstance(backend, SupportsSlotLease):
            logger.warning(
                "The backend %s.%s of queue %s cannot lease worker slots: nothing stops"
                " another runner from serving the same slots",
                type(backend).__module__,
                type(backend).__qualname__,
                queue,
            )
            continue

        def leasing(queue: str = queue) -> SupportsSlotLease:
            backend = backend_for(queue)
            if not isinstance(backend, SupportsSlotLease):
                raise TypeError(f"the backend of queue {queue!r} stopped supporting leases")
            return backend

        for slot in slots:
            if slot.queue == queue:
                leases[slot] = SlotLease(
                    slot, owner, leasing, ttl_s=ttl_s, retry_s=retry_s, logger=logger
                )
    return leases


class SlotLease:
    #: How long before the lease's end a runner that cannot renew gives the slot up.
    SAFETY_MARGIN_S = 1.0
    #: How often a runner waiting for a slot repeats that it is waiting.
    WAIT_LOG_EVERY_S = 60.0

    def __init__(
        self,
        slot: WorkerSlot,
        owner: str,
        backend: Callable[[], SupportsSlotLease],
        *,
        ttl_s: float,
        retry_s: float,
        logger: logging.Logger,
    ) -> None:
        self.slot = slot
        self._backend = backend
        self._owner = owner
        self._ttl_s = ttl_s
        self._retry_s = retry_s
        self._logger = logger
        self.held = False
        self._valid_until = 0.0
        self._renew_at = 0.0
        self._next_attempt_at = 0.0
        self._waiting_since: float | None = None
        self._wait_logged_at = 0.0

    def acquire(self, now: float) -> bool:
        """Try for the slot when a try is due; True once it is ours."""
        if self.held:
            return True
        if now < self._next_attempt_at:
            return False
        self._next_attempt_at = now + self._retry_s
        try:
            got = self._backend().acquire_slot(
                self.slot.queue, self.slot.number, self._owner, self._ttl_s
            )
        except Exception as exc:
            self._logger.warning("Cannot take the lease on worker slot %s: %s", self.slot, exc)
            return False
        if got:
            self._hold(now)
            if self._waiting_since is not None:
                self._logger.warning(
                    "Worker slot %s is free after %.1fs; this runner serves it now",
                    self.slot,
                    now - self._waiting_since,
                )
                self._waiting_since = None
            return True
        if self._waiting_since is None or now - self._wait_logged_at >= self.WAIT_LOG_EVERY_S:
            self._logger.warning(
                "Worker slot %s is served by another runner (its lease is held);"
                " waiting for the slot, asking every %.1fs",
                self.slot,
                self._retry_s,
            )
            self._wait_logged_at = now
            if self._waiting_since is None:
                self._waiting_since = now
        return False

    def maintain(self, now: float) -> bool:
        """Renew when due; False when the slot may no longer be served from here."""
        if not self.held:
            return False
        if now >= self._renew_at:
            try:
                renewed = self._backend().renew_slot(
                    self.slot.queue, self.slot.number, self._owner, self._ttl_s
                )
            except Exception as exc:
                self._logger.warning("Cannot renew the lease on worker slot %s: %s", self.slot, exc)
                # Try again soon, but not on every tick.
                self._renew_at = now + min(self._retry_s, self._ttl_s / 10)
            else:
                if not renewed:
                    self.held = False
                    self._logger.error(
                        "Lost the lease on worker slot %s: another runner holds it;"
                        " stopping this runner's worker for it",
                        self.slot,
                    )
                    return False
                self._hold(now)
        if now >= self._valid_until - min(self.SAFETY_MARGIN_S, self._ttl_s / 4):
            self.held = False
            self._logger.error(
                "The lease on worker slot %s could not be renewed in time;"
                " stopping this runner's worker for it",
                self.slot,
            )
            return False
        return True

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self._backend().release_slot(self.slot.queue, self.slot.number, self._owner)
        except Exception as exc:
            # It expires by itself; another runner waits at most its time to live.
            self._logger.warning("Cannot release the lease on worker slot %s: %s", self.slot, exc)

    def _hold(self, sent_at: float) -> None:
        # ``sent_at`` was read before the call, so the store's own expiry is later.
        self.held = True
        self._valid_until = sent_at + self._ttl_s
        self._renew_at = sent_at + self._ttl_s / 3
