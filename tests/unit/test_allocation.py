"""The pool split: every worker runs exactly once across the pool, as upstream splits it."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.domain import allocation
from dlq.domain.allocation import (
    AllocationError,
    WorkerSlot,
    all_slots,
    exact_slots,
    implied_queues,
    slots_for_machine,
)
from dlq.exceptions import DLQError
from tests.strategies import machine_pools, queue_names, worker_counts


def _pool(workers: dict[str, int], of: int) -> list[tuple[WorkerSlot, ...]]:
    return [slots_for_machine(workers, machine, of) for machine in range(1, of + 1)]


# -- the upstream README's example ------------------------------------------------------


@pytest.mark.parametrize("machine", [1, 2, 3])
def test_readme_three_workers_over_three_machines_gives_one_each(machine: int) -> None:
    assert len(slots_for_machine({"queue1": 3}, machine, 3)) == 1


def test_readme_exact_configuration_runs_every_worker_here() -> None:
    assert exact_slots({"queue1": 2}) == (WorkerSlot("queue1", 1), WorkerSlot("queue1", 2))


# -- upstream's exact mapping -------------------------------------------------------------


def test_slot_counted_j_goes_to_machine_j_mod_m_plus_one() -> None:
    # Upstream counts slots from 1 and hands slot j to machine j % M + 1, so the round
    # robin starts at machine 2 and machine 1 (which also runs cron) comes last.
    workers = {"queue1": 3}
    assert slots_for_machine(workers, 1, 3) == (WorkerSlot("queue1", 3),)
    assert slots_for_machine(workers, 2, 3) == (WorkerSlot("queue1", 1),)
    assert slots_for_machine(workers, 3, 3) == (WorkerSlot("queue1", 2),)


def test_queues_are_counted_in_name_order_across_queues() -> None:
    workers = {"b": 2, "a": 1}  # a.1, b.1, b.2 counted 1, 2, 3
    assert slots_for_machine(workers, 1, 2) == (WorkerSlot("b", 1),)
    assert slots_for_machine(workers, 2, 2) == (WorkerSlot("a", 1), WorkerSlot("b", 2))


def test_a_single_machine_pool_runs_everything() -> None:
    workers = {"x": 2, "y": 1}
    assert slots_for_machine(workers, 1, 1) == all_slots(workers)


def test_machine_one_gets_nothing_when_the_pool_outnumbers_the_workers() -> None:
    assert slots_for_machine({"q": 2}, 1, 4) == ()
    assert slots_for_machine({"q": 2}, 2, 4) == (WorkerSlot("q", 1),)


def test_only_queue_filters_before_counting() -> None:
    workers = {"a": 1, "b": 2}
    # Without the filter b.1 is counted 2nd (machine 1); with it, 1st (machine 2).
    assert slots_for_machine(workers, 1, 2) == (WorkerSlot("b", 1),)
    assert slots_for_machine(workers, 2, 2, only_queue="b") == (WorkerSlot("b", 1),)
    assert slots_for_machine(workers, 1, 2, only_queue="b") == (WorkerSlot("b", 2),)
    assert slots_for_machine(workers, 1, 1, only_queue="missing") == ()


def test_all_slots_orders_by_queue_then_number() -> None:
    assert all_slots({"z": 1, "a": 2, "m": 0}) == (
        WorkerSlot("a", 1),
        WorkerSlot("a", 2),
        WorkerSlot("z", 1),
    )


def test_worker_slot_is_a_frozen_ordered_value() -> None:
    slot = WorkerSlot("q", 2)
    assert slot == WorkerSlot("q", 2)
    assert WorkerSlot("a", 9) < WorkerSlot("b", 1) < WorkerSlot("b", 2)
    assert str(slot) == "q.2"
    assert len({slot, WorkerSlot("q", 2)}) == 1
    with pytest.raises(AttributeError):
        slot.number = 3  # type: ignore[misc]  # proving the dataclass is frozen


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "of", "named"),
    [(0, 3, "--machine 0"), (4, 3, "--machine 4"), (-1, 1, "--machine -1"), (1, 0, "--of 0")],
)
def test_bad_pool_arguments_are_named(machine: int, of: int, named: str) -> None:
    with pytest.raises(AllocationError, match=named) as info:
        slots_for_machine({"q": 1}, machine, of)
    assert f"machine={machine}, of={of}" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, DLQError)


def test_negative_worker_count_is_refused() -> None:
    with pytest.raises(AllocationError, match="'q' has -1 workers"):
        all_slots({"q": -1})


def test_worker_numbers_start_at_one() -> None:
    with pytest.raises(AllocationError, match="start at 1"):
        WorkerSlot("q", 0)


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(allocation).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == allocation.__name__
    }
    assert public == set(allocation.__all__)


# -- properties ---------------------------------------------------------------------------


@given(worker_counts(), machine_pools())
def test_every_slot_runs_exactly_once_across_the_pool(workers: dict[str, int], of: int) -> None:
    assigned = Counter(slot for machine in _pool(workers, of) for slot in machine)
    assert assigned == Counter(all_slots(workers))
    assert set(assigned.values()) <= {1}


@given(worker_counts(), machine_pools())
def test_machines_differ_by_at_most_one_slot(workers: dict[str, int], of: int) -> None:
    sizes = [len(machine) for machine in _pool(workers, of)]
    assert max(sizes) - min(sizes) <= 1


@given(worker_counts(), machine_pools(), st.data())
def test_split_ignores_dict_order(workers: dict[str, int], of: int, data: st.DataObject) -> None:
    shuffled = dict(data.draw(st.permutations(list(workers.items()))))
    machine = data.draw(st.integers(min_value=1, max_value=of))
    assert slots_for_machine(shuffled, machine, of) == slots_for_machine(workers, machine, of)
    assert all_slots(shuffled) == all_slots(workers)


@given(worker_counts(), machine_pools(), st.data())
def test_each_machine_keeps_the_global_order(
    workers: dict[str, int], of: int, data: st.DataObject
) -> None:
    machine = data.draw(st.integers(min_value=1, max_value=of))
    slots = slots_for_machine(workers, machine, of)
    assert list(slots) == sorted(slots)


@given(worker_counts(), queue_names(), machine_pools())
def test_only_queue_splits_that_queue_over_the_whole_pool(
    workers: dict[str, int], queue: str, of: int
) -> None:
    pool = [slots_for_machine(workers, m, of, only_queue=queue) for m in range(1, of + 1)]
    assert sorted(slot for machine in pool for slot in machine) == [
        slot for slot in all_slots(workers) if slot.queue == queue
    ]


@given(worker_counts(), st.lists(queue_names(), max_size=5))
def test_implied_queues_add_one_worker_and_leave_the_input_alone(
    workers: dict[str, int], cron_queues: list[str]
) -> None:
    before = dict(workers)
    result = implied_queues(workers, cron_queues)
    assert workers == before
    assert result is not workers
    for queue, count in before.items():
        assert result[queue] == count  # configured counts, even 0, win
    for queue in cron_queues:
        assert result[queue] == before.get(queue, 1)
    assert set(result) == set(before) | set(cron_queues)


def test_implied_queues_example() -> None:
    assert implied_queues({"default": 4, "cron": 0}, ["cron", "reports", "reports"]) == {
        "default": 4,
        "cron": 0,
        "reports": 1,
    }
