"""A runner's hold on one worker slot, so that two runners never serve it at once.

Upstream has no such thing: a runner killed with SIGKILL left its workers running, and
its replacement started a second worker for each slot. Here a runner takes a lease on a
slot (``SupportsSlotLease``) before starting its worker, renews it while the worker runs,
and releases it once the worker has exited. A runner that dies stops renewing; its
workers die with it (parent-death signal), and the lease expires.

The timeline of one lease, with the runner's defaults (``ttl_s`` 10 s)::

    0 s     a renewal is sent, and confirmed (the store's expiry is 10 s after it arrives)
    2 s     the next renewal is due (every ttl_s / 5); one that fails is tried again
            every 0.5 s (ttl_s / 20, or ``retry_s`` if shorter), the last time just
            before 5 s
    5 s     no renewal confirmed since 0 s: the runner gives the slot up and kills its
            worker (ttl_s / 2; the supervisor looks after every backend call and at least
            every tick, so by 6 s at most, see below)
    10 s    the lease lapses in the store: another runner may take the slot

Why the kill always comes first: every call the supervisor makes to a backend is bounded
(:mod:`dlq.worker.backend_calls`): one attempt, no retries, each wait cut so that a call
on a network that answers nothing fails within ``CALL_DEADLINE_S`` (1 s), and within
4 x that (4 s) even when a server answers every step of a new connection's handshake just
in time (the arithmetic for Redis is in :mod:`dlq.backends.redis.bounded`). The supervisor
checks its leases before and after every call, so it kills a worker at most one call
after the 5 s mark: by 6 s when the network answers nothing, by 9 s at worst, before the
store's 10 s. The lease's end is counted from the moment *before* the call that set it
was sent, so the runner gives the slot up no later than the store does even when that
call took long to arrive.

The backend is looked up for each call rather than kept: the runner asks the Django
layer for it afresh, since that layer drops its backends before each fork.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal, TypeAlias

from dlq.core.protocols import Backend, SupportsSlotLease
from dlq.domain.allocation import WorkerSlot

__all__ = ["Renewal", "Settled", "SlotLease", "make_leases"]

#: What a renewal came to: ``renewed`` (or not due), ``failed`` (no answer: try again
#: soon), ``refused`` (the lease is not this runner's in the store: settle_refusal()).
Renewal: TypeAlias = Literal["renewed", "failed", "refused"]
#: What a refused renewal meant: ``lost`` (another runner holds the slot now, or that
#: cannot be told: kill its worker), ``retaken`` (the lease had vanished from the store
#: and nobody held it; this runner holds it again: restart its worker after its job, in
#: case another runner served the slot meanwhile).
Settled: TypeAlias = Literal["lost", "retaken"]


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
    """One slot's lease as this runner sees it; the supervisor decides when to call
    (:mod:`dlq.worker.lease_keeper`), and kills the slot's worker once :meth:`confirmed`
    turns False.

    Its calls, and their worst cases through a bounded backend (one attempt each, no
    retries, ``CALL_DEADLINE_S`` = 1 s: :mod:`dlq.worker.backend_calls`); the first
    figure is for a network that answers nothing, the one in brackets for a server that
    answers every step of a new connection just in time (4 x the deadline). Either ends
    before what depends on it: a call under way when the slot is given up (5 s after the
    last confirmed renewal) ends by 6 s (9 s), before the lease can lapse at 10 s.

    * :meth:`acquire` (``acquire_slot``): one attempt per ``retry_s`` while the slot is not
      held, <= 1 s (4 s);
    * :meth:`renew` (``renew_slot``): one attempt, <= 1 s (4 s); when the store refuses
      it, :meth:`settle_refusal` (``acquire_slot``) tells a lease another runner took from
      one that vanished, a call of its own, <= 1 s (4 s), the supervisor looking at its
      workers and leases in between;
    * :meth:`release` (``release_slot``): one attempt, <= 1 s (4 s); a release that fails
      is harmless, the lease lapses on its own.
    """

    #: A renewal is due this share of the time to live after the last one was sent.
    RENEW_EVERY = 0.2
    #: A renewal that failed is tried again this share of the time to live later.
    RETRY_EVERY = 0.05
    #: The slot is given up when no renewal was confirmed for this share of the time to
    #: live: early enough that a call in progress then ends before the lease can lapse.
    GIVE_UP_AFTER = 0.5
    #: How often a runner waiting for a slot, or failing to reach the store, says so again.
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
        #: When (before it was sent) the last renewal or acquisition that succeeded went out.
        self._confirmed_at = 0.0
        self._next_call_at = 0.0
        self._waiting_since: float | None = None
        self._wait_logged_at = 0.0
        self._given_up_at: float | None = None
        self._complained_at: float | None = None

    # -- what the supervisor asks ----------------------------------------------------------

    def due(self, now: float) -> bool:
        """A call is due: a renewal while held, another try for the slot while not."""
        return now >= self._next_call_at

    def confirmed(self, now: float) -> bool:
        """Held, and confirmed recently enough that the slot may still be served."""
        return self.held and now < self.give_up_at

    @property
    def give_up_at(self) -> float:
        return self._confirmed_at + self._ttl_s * self.GIVE_UP_AFTER

    @property
    def lapses_at(self) -> float:
        """The earliest the store may let the lease lapse (another runner may take it)."""
        return self._confirmed_at + self._ttl_s

    def unconfirmed_for_s(self, now: float) -> float:
        return now - self._confirmed_at

    # -- the calls -------------------------------------------------------------------------

    def acquire(self, now: float) -> bool:
        """Try for the slot when a try is due; True once it is ours. ``now`` is read just
        before the call."""
        if self.held:
            return True
        if now < self._next_call_at:
            return False
        self._next_call_at = now + self._retry_s
        try:
            got = self._backend().acquire_slot(
                self.slot.queue, self.slot.number, self._owner, self._ttl_s
            )
        except Exception as exc:
            self._complain(now, "Cannot take the lease on worker slot %s: %s", exc)
            return False
        self._complained_at = None
        if got:
            self._hold(now)
            if self._given_up_at is not None:
                self._logger.warning(
                    "Worker slot %s is leased to this runner again, %.1fs after it gave the"
                    " slot up (no other runner took it meanwhile); starting its worker",
                    self.slot,
                    now - self._given_up_at,
                )
            elif self._waiting_since is not None:
                self._logger.warning(
                    "Worker slot %s is free after %.1fs; this runner serves it now",
                    self.slot,
                    now - self._waiting_since,
                )
            self._given_up_at = self._waiting_since = None
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
        self._given_up_at = None  # another runner serves it now: that is the news
        return False

    def renew(self, now: float) -> Renewal:
        """Renew when due (``now`` read just before the call)."""
        if not self.held or now < self._next_call_at:
            return "renewed"
        try:
            backend = self._backend()
            renewed = backend.renew_slot(
                self.slot.queue, self.slot.number, self._owner, self._ttl_s
            )
        except Exception as exc:
            self._next_call_at = self._retry_at(now)
            self._logger.warning(
                "Cannot renew the lease on worker slot %s (%.1fs since the last confirmed"
                " renewal; this runner gives the slot up at %.1fs): %s",
                self.slot,
                self.unconfirmed_for_s(now),
                self._ttl_s * self.GIVE_UP_AFTER,
                exc,
            )
            return "failed"
        if renewed:
            self._hold(now)
            return "renewed"
        self.held = False  # not ours in the store: what became of it, settle_refusal() finds
        return "refused"

    def settle_refusal(self, now: float) -> Settled:
        """After a refused renewal: did another runner take the lease, or did it vanish
        (lost by a failover to a replica that had not seen the last renewal, or a flush)
        with nobody holding it? Asking for it tells the two apart, and takes it back in
        the second case (``now`` read just before the call)."""
        try:
            retaken = self._backend().acquire_slot(
                self.slot.queue, self.slot.number, self._owner, self._ttl_s
            )
        except Exception as exc:
            self._next_call_at = now + self._retry_s
            self._logger.error(
                "The lease on worker slot %s is no longer this runner's (the store refused"
                " its renewal), and whether another runner holds it cannot be told (%s);"
                " killing this runner's worker for it",
                self.slot,
                exc,
            )
            return "lost"
        if retaken:
            self._logger.error(
                "The lease on worker slot %s had vanished from the store %.1fs before it"
                " was due to lapse, and no other runner held it (a failover to a replica"
                " that had not seen the last renewal, or a flush); this runner holds it"
                " again, and restarts the slot's worker once its job is done, in case"
                " another runner served the slot meanwhile",
                self.slot,
                max(0.0, self.lapses_at - now),
            )
            self._hold(now)
            return "retaken"
        self._next_call_at = now + self._retry_s
        self._logger.error(
            "Lost the lease on worker slot %s: another runner holds it now;"
            " killing this runner's worker for it",
            self.slot,
        )
        return "lost"

    def give_up(self, now: float) -> None:
        """Stop counting the slot as held: its lease could not be confirmed in time (the
        supervisor says so, and kills the worker)."""
        self.held = False
        self._given_up_at = now
        self._next_call_at = now  # ask for it again at once

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self._backend().release_slot(self.slot.queue, self.slot.number, self._owner)
        except Exception as exc:
            # It expires by itself; another runner waits at most its time to live.
            self._logger.warning("Cannot release the lease on worker slot %s: %s", self.slot, exc)

    def _retry_at(self, now: float) -> float:
        """When to try a failed renewal again: soon, and once more just before the slot is
        given up (a call then still ends before the lease can lapse; see above)."""
        retry_at = now + min(self._retry_s, self._ttl_s * self.RETRY_EVERY)
        last_chance = self.give_up_at - self._ttl_s * self.RETRY_EVERY / 5
        return last_chance if now < last_chance < retry_at else retry_at

    def _hold(self, sent_at: float) -> None:
        # ``sent_at`` was read before the call, so the store's own expiry is later.
        self.held = True
        self._confirmed_at = sent_at
        self._next_call_at = sent_at + self._ttl_s * self.RENEW_EVERY

    def _complain(self, now: float, message: str, exc: Exception) -> None:
        # A store out of reach for long would otherwise be reported every retry_s.
        if self._complained_at is None or now - self._complained_at >= self.WAIT_LOG_EVERY_S:
            self._logger.warning(message, self.slot, exc)
            self._complained_at = now
