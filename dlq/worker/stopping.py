"""What a graceful stop does to each child of the runner.

SIGTERM (or SIGINT) to the runner: an idle worker is sent SIGTERM and leaves at once (its
wait for a job is interrupted); a busy one is sent SIGTERM and leaves after its job,
unless the job is ``sigkill_on_stop``, which is killed at once. A slot without a worker
gives its lease up now; the others when their worker has exited. The deadline, when one
is set, kills whatever still runs when it passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from dlq.worker.leases import SlotLease
from dlq.worker.slots import CronState, ServedSlot

__all__ = ["begin_stop", "kill_at_deadline"]


def begin_stop(
    slots: Sequence[ServedSlot],
    cron: CronState | None,
    *,
    now: float,
    deadline_s: float | None,
    logger: logging.Logger,
    release: Callable[[SlotLease], None],
) -> None:
    """``release`` gives a lease up (the supervisor's way: a backend call it accounts for)."""
    busy = sum(1 for state in slots if state.child and state.child.job)
    logger.info(
        "Stopping: %d workers running a job finish it unless it is sigkill_on_stop%s",
        busy,
        "" if deadline_s is None else f" (deadline {deadline_s}s)",
    )
    for state in slots:
        worker = state.child
        if worker is None:
            if state.lease is not None:
                release(state.lease)
        elif worker.job is not None and worker.job.sigkill_on_stop:
            logger.info("Killing %s on %s: it is sigkill_on_stop", worker.job, state.slot)
            worker.kill("stop", now)
        else:
            # Idle, it leaves at once; busy, it finishes the job first.
            worker.terminate()
    if cron is not None and cron.child is not None:
        cron.child.terminate()


def kill_at_deadline(
    slots: Sequence[ServedSlot],
    cron: CronState | None,
    *,
    now: float,
    deadline_s: float,
    logger: logging.Logger,
) -> None:
    for state in slots:
        if state.child is not None:
            what = f" and its job {state.child.job}" if state.child.job else ""
            logger.warning(
                "Shutdown deadline of %ss passed: killing worker %s%s", deadline_s, state.slot, what
            )
            state.child.kill("deadline", now)
    if cron is not None and cron.child is not None:
        cron.child.kill("deadline", now)
