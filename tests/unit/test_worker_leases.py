"""A slot lease's timeline, on the in-memory store and a clock the test turns.

The store is dlq's own in-memory backend; "unreachable" wraps it so that every call
raises, as a bounded call to a partitioned Redis does (tests/integration/
test_runner_partition.py does the same against a real one, through a frozen proxy).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from dlq.backends.memory import InMemoryBackend
from dlq.domain.allocation import WorkerSlot
from dlq.exceptions import BackendError
from dlq.worker.backend_calls import CALL_DEADLINE_S, BackendCalls
from dlq.worker.config import SupervisorOptions
from dlq.worker.leases import SlotLease

SLOT = WorkerSlot("q", 2)
TTL_S = 10.0


class Clock:
    """One time for the runner's monotonic clock and the store's wall clock."""

    def __init__(self) -> None:
        self.s = 1000.0

    def monotonic(self) -> float:
        return self.s

    def utc(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.s)


class Store:
    """The in-memory backend, which can be cut off."""

    def __init__(self, clock: Clock) -> None:
        self.backend = InMemoryBackend(clock.utc)
        self.reachable = True

    def __call__(self) -> InMemoryBackend:
        if not self.reachable:
            raise BackendError("Redis at redis://x:6379/0 failed: TimeoutError")
        return self.backend


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Store:
    return Store(clock)


def lease(store: Store, owner: str = "runner-a") -> SlotLease:
    return SlotLease(
        SLOT, owner, store, ttl_s=TTL_S, retry_s=1.0, logger=logging.getLogger("test.leases")
    )


def test_renewed_every_fifth_of_its_life(clock: Clock, store: Store) -> None:
    held = lease(store)
    assert held.acquire(clock.s)

    clock.s += 1.9
    assert not held.due(clock.s)
    clock.s += 0.1
    assert held.due(clock.s)
    assert held.renew(clock.s) == "renewed"
    assert held.confirmed(clock.s + 4.9)


def test_given_up_at_half_its_life_without_a_confirmed_renewal(clock: Clock, store: Store) -> None:
    held = lease(store)
    sent_at = clock.s
    held.acquire(sent_at)
    store.reachable = False

    for _ in range(4):
        clock.s += 1.0
        if held.due(clock.s):
            assert held.renew(clock.s) == "failed"

    assert held.confirmed(sent_at + 4.99)
    assert not held.confirmed(sent_at + 5.0)
    # Counted from before the call that set it: the store's expiry cannot come sooner.
    assert held.lapses_at == sent_at + TTL_S
    # The margin left holds one more call, even one stretched to four deadlines.
    assert held.lapses_at - (sent_at + 5.0) > 4 * CALL_DEADLINE_S


def test_a_failed_renewal_is_tried_again_soon_and_just_before_giving_up(
    clock: Clock, store: Store
) -> None:
    held = lease(store)
    sent_at = clock.s
    held.acquire(sent_at)
    store.reachable = False
    clock.s += 2.0
    assert held.renew(clock.s) == "failed"
    assert not held.due(clock.s + 0.49)
    assert held.due(clock.s + 0.5)

    clock.s = sent_at + 4.7
    assert held.renew(clock.s) == "failed"
    assert held.due(sent_at + 4.9)  # a last try, still before giving up at 5 s
    assert held.confirmed(sent_at + 4.9)


def test_a_refused_renewal_with_another_holder_is_lost(clock: Clock, store: Store) -> None:
    held = lease(store)
    held.acquire(clock.s)
    store.backend.release_slot(SLOT.queue, SLOT.number, "runner-a")
    assert store.backend.acquire_slot(SLOT.queue, SLOT.number, "runner-b", TTL_S)

    clock.s += 2.0
    assert held.renew(clock.s) == "refused"
    assert not held.held
    assert held.settle_refusal(clock.s) == "lost"
    assert not held.held


def test_a_lease_that_vanished_is_taken_back_and_said_so(
    clock: Clock, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    held = lease(store)
    held.acquire(clock.s)
    store.backend.release_slot(SLOT.queue, SLOT.number, "runner-a")  # a flush, a failover

    clock.s += 2.0
    with caplog.at_level(logging.ERROR, logger="test.leases"):
        assert held.renew(clock.s) == "refused"
        assert held.settle_refusal(clock.s) == "retaken"
    assert held.held
    assert held.confirmed(clock.s)
    assert "had vanished from the store" in caplog.text
    assert "another runner holds it" not in caplog.text


def test_after_giving_up_the_slot_is_taken_back_when_free(
    clock: Clock, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    held = lease(store)
    held.acquire(clock.s)
    store.reachable = False
    clock.s += 5.0
    held.give_up(clock.s)
    assert held.due(clock.s)
    assert not held.acquire(clock.s)

    clock.s += 10.0  # the lease lapsed in the store meanwhile
    store.reachable = True
    with caplog.at_level(logging.WARNING, logger="test.leases"):
        assert held.acquire(clock.s)
    assert "leased to this runner again, 10.0s after it gave the slot up" in caplog.text
    assert "served by another runner" not in caplog.text


def test_a_pass_stops_calling_once_it_has_waited_its_budget(clock: Clock) -> None:
    calls = BackendCalls(
        lambda queue: InMemoryBackend(clock.utc),
        logger=logging.getLogger("test.leases"),
        clock=clock.monotonic,
        budget_s=1.0,
    )

    def may_call() -> bool:
        return calls.may_call

    calls.begin_pass()
    with calls.counted():
        clock.s += 0.6
    assert may_call()
    with calls.counted():
        clock.s += 0.5
    assert not may_call()
    calls.begin_pass()
    assert may_call()


def test_a_lease_too_short_for_a_call_between_giving_up_and_lapsing_is_refused() -> None:
    with pytest.raises(ValueError, match="too little time"):
        SupervisorOptions(slots=(SLOT,), lease_ttl_s=8.0)
    SupervisorOptions(slots=(SLOT,), lease_ttl_s=10.0)
