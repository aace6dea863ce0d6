"""Which worker processes a runner starts: the maths behind ``--machine N --of M``.

``LIGHTWEIGHT_QUEUE_WORKERS`` describes a *pool*: ``{'queue1': 3}`` means three
``queue1`` workers across every machine together, not three on each. A pooled runner
must therefore take its share without talking to the others, so the split has to be a
pure function of the configuration that every machine computes identically.

django-lightweight-queue's ``PooledMachine`` lists every ``(queue, number)`` pair with
queues in name order and numbers from 1, counts them from 1, and gives the slot counted
``j`` to machine ``j % M + 1``. That is a round robin which *starts at machine 2*:
machine 1, the one that also runs cron, gets slots M, 2M, ... and so never has more
workers than any other. :func:`slots_for_machine` keeps that exact mapping, so a pool
mixing dlq and upstream runners (or one mid-migration) starts each worker once.

``--exact-configuration`` skips the split (:func:`exact_slots`), and queues named only
by cron entries get one worker in the pool (:func:`implied_queues`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dlq.exceptions import DLQError

__all__ = [
    "AllocationError",
    "WorkerSlot",
    "all_slots",
    "exact_slots",
    "implied_queues",
    "slots_for_machine",
]


class AllocationError(DLQError, ValueError):
    """The pool arguments or worker counts cannot describe a split.

    A ``ValueError`` too, so argument parsers that catch ``ValueError`` report it as a
    bad option value.
    """


@dataclass(frozen=True, slots=True, order=True)
class WorkerSlot:
    """One worker process of the pool: the ``number``-th (from 1) worker of ``queue``.

    Ordered by ``(queue, number)``, the order upstream enumerates them in.
    """

    queue: str
    number: int

    def __post_init__(self) -> None:
        if self.number < 1:
            raise AllocationError(
                f"worker number {self.number} for queue {self.queue!r} is invalid;"
                " worker numbers start at 1"
            )

    def __str__(self) -> str:
        # Upstream names a worker's log file '<queue>.<number>'; keep that spelling.
        return f"{self.queue}.{self.number}"


def all_slots(workers: Mapping[str, int]) -> tuple[WorkerSlot, ...]:
    """Every slot the pool runs, queues by name and numbers from 1.

    Sorting makes the order (and so the split) the same on every machine, whatever
    order the settings' dict happens to have. A count of 0 gives no slots, as upstream.
    """
    _check_counts(workers)
    return tuple(
        WorkerSlot(queue, number)
        for queue in sorted(workers)
        for number in range(1, workers[queue] + 1)
    )


def exact_slots(workers: Mapping[str, int]) -> tuple[WorkerSlot, ...]:
    """The slots an ``--exact-configuration`` runner starts: all of them, on this machine."""
    return all_slots(workers)


def slots_for_machine(
    workers: Mapping[str, int],
    machine: int,
    of: int,
    *,
    only_queue: str | None = None,
) -> tuple[WorkerSlot, ...]:
    """The slots machine ``machine`` (from 1) of a pool of ``of`` machines runs.

    The slot counted ``j`` (from 1, in :func:`all_slots` order) goes to machine
    ``j % of + 1``, exactly as upstream, so machines 1..``of`` together run every slot
    once and no two differ by more than one slot.

    ``only_queue`` (``queue_runner --only-queue``) first drops the other queues and then
    counts, as upstream does, so the named queue's workers are spread over the whole
    pool rather than only over the machines the full split would have put them on.
    """
    _check_pool(machine, of)
    slots = all_slots(workers)
    if only_queue is not None:
        slots = tuple(slot for slot in slots if slot.queue == only_queue)
    return tuple(slot for j, slot in enumerate(slots, start=1) if j % of + 1 == machine)


def implied_queues(workers: Mapping[str, int], cron_queues: Iterable[str]) -> Mapping[str, int]:
    """``workers`` plus one worker for each cron queue that has no count configured.

    A cron entry enqueues onto its queue; without a worker there its commands would pile
    up unseen, so upstream adds one. A configured count, even 0, is left as it is: that
    is an explicit choice. Returns a new mapping; ``workers`` is not changed (upstream
    mutated its settings here, which is what this module exists to avoid).
    """
    result = dict(workers)
    for queue in cron_queues:
        result.setdefault(queue, 1)
    return result


def _check_counts(workers: Mapping[str, int]) -> None:
    for queue, count in workers.items():
        if count < 0:
            raise AllocationError(
                f"queue {queue!r} has {count} workers; a worker count must be 0 or more"
            )


def _check_pool(machine: int, of: int) -> None:
    if of < 1:
        raise AllocationError(
            f"--of {of} is invalid: a pool needs at least 1 machine (got machine={machine},"
            f" of={of})"
        )
    if not 1 <= machine <= of:
        raise AllocationError(
            f"--machine {machine} is invalid for a pool of {of}: machines are numbered"
            f" 1 to {of} (got machine={machine}, of={of})"
        )
