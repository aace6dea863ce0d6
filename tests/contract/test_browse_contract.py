"""The contract of the dashboard's reads: ``SupportsBrowse`` and ``SupportsLeaseInspection``.

Runs over every backend kind of ``tests/backends.py`` (the ``backend`` fixture of
``conftest.py``), where the backend declares the capability.
"""

from __future__ import annotations

import pytest

from dlq.core.protocols import (
    Backend,
    SupportsBrowse,
    SupportsDeadLetters,
    SupportsLeaseInspection,
    SupportsSlotLease,
)
from dlq.domain.envelope import decode_job
from dlq.domain.outcome import Rejected, Succeeded
from tests.contract.test_backend_contract import QUEUE, job


def browsable(backend: Backend) -> SupportsBrowse:
    if not isinstance(backend, SupportsBrowse):
        pytest.skip("no browsing")
    return backend


def numbers(payloads: object) -> list[object]:
    assert isinstance(payloads, list | tuple)
    return [decode_job(raw).args[0] for raw in payloads]


def test_waiting_pages_list_jobs_in_the_order_workers_take_them(backend: Backend) -> None:
    pages = browsable(backend)
    backend.enqueue(job(1), QUEUE)
    backend.bulk_enqueue([job(2), job(3), job(4)], QUEUE)
    backend.enqueue(job(5), QUEUE)
    assert numbers(pages.waiting_page(QUEUE, 0, 10)) == [1, 2, 3, 4, 5]
    assert numbers(pages.waiting_page(QUEUE, 0, 2)) == [1, 2]
    assert numbers(pages.waiting_page(QUEUE, 2, 2)) == [3, 4]
    assert numbers(pages.waiting_page(QUEUE, 4, 2)) == [5]
    assert list(pages.waiting_page(QUEUE, 5, 2)) == []
    assert list(pages.waiting_page(QUEUE, 0, 0)) == []
    assert list(pages.waiting_page("elsewhere", 0, 10)) == []
    # The page's head is the job the next dequeue gets, and a taken job leaves the pages.
    taken = backend.dequeue(QUEUE, 1, 0.05)
    assert taken is not None
    assert taken.args[0] == 1
    backend.acknowledge(QUEUE, 1, taken, Succeeded(None, 0.0))
    assert numbers(pages.waiting_page(QUEUE, 0, 10))[:1] == [2]


def test_waiting_pages_are_the_payloads_as_queued(backend: Backend) -> None:
    pages = browsable(backend)
    original = job(7)
    backend.enqueue(original, QUEUE)
    (raw,) = pages.waiting_page(QUEUE, 0, 1)
    decoded = decode_job(raw)
    assert (decoded.id, decoded.path, decoded.args, decoded.attempts) == (
        original.id,
        original.path,
        original.args,
        0,
    )


def test_dead_letter_pages_are_newest_first(backend: Backend) -> None:
    pages = browsable(backend)
    if not isinstance(backend, SupportsDeadLetters):
        pytest.skip("no dead letters")
    for number in (1, 2, 3):
        backend.enqueue(job(number, "os.system"), QUEUE)
        taken = backend.dequeue(QUEUE, 1, 0.05)
        assert taken is not None
        backend.acknowledge(QUEUE, 1, taken, Rejected(f"refused {number}"))
    # A backend may say more around the reason ("rejected: ..."), never less.
    reasons = [d.reason for d in pages.dead_letter_page(QUEUE, 0, 10)]
    assert len(reasons) == 3
    for reason, number in zip(reasons, (3, 2, 1), strict=True):
        assert f"refused {number}" in reason
    (second,) = pages.dead_letter_page(QUEUE, 1, 1)
    assert "refused 2" in second.reason
    assert second.job_id is not None
    assert decode_job(second.raw).id == second.job_id
    assert list(pages.dead_letter_page(QUEUE, 3, 10)) == []
    assert list(pages.dead_letter_page("elsewhere", 0, 10)) == []


def test_slot_leases_name_the_live_leases(backend: Backend) -> None:
    if not isinstance(backend, SupportsLeaseInspection):
        pytest.skip("no lease inspection")
    assert isinstance(backend, SupportsSlotLease)
    assert backend.slot_leases(QUEUE) == {}
    assert backend.acquire_slot(QUEUE, 1, "runner-a", 30)
    assert backend.acquire_slot(QUEUE, 3, "runner-b", 30)
    assert backend.acquire_slot("elsewhere", 2, "runner-c", 30)
    assert dict(backend.slot_leases(QUEUE)) == {1: "runner-a", 3: "runner-b"}
    backend.release_slot(QUEUE, 1, "runner-a")
    assert dict(backend.slot_leases(QUEUE)) == {3: "runner-b"}
