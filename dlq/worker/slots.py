"""What the supervisor keeps for each worker slot, and what a worker's exit means.

:func:`judge_exit` is the one place that decides, from why and how a worker process
ended, whether the slot restarts now, after a back-off, or not at all; it is pure, so
the rules are unit-tested without processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from dlq.domain.allocation import WorkerSlot
from dlq.worker.backoff import RestartBackoff
from dlq.worker.children import Child, ExitStatus, KillReason
from dlq.worker.leases import SlotLease

__all__ = ["CronState", "ServedSlot", "Verdict", "job_deadline", "judge_exit"]

#: ``timed_out``: its job overran and was killed; acknowledge the job, restart at once.
#: ``lease_lost``: killed because another runner may hold the slot; wait for the lease.
#: ``stopped``: the runner is stopping; nothing restarts.
#: ``recycled``: it left on its own after its share of jobs or memory; restart at once.
#: ``crashed``: anything else; restart after the back-off.
Verdict: TypeAlias = Literal["timed_out", "lease_lost", "stopped", "recycled", "crashed"]


def judge_exit(
    *,
    kill_reason: KillReason | None,
    stopping: bool,
    status: ExitStatus,
    running_job: bool,
    jobs_done: int,
) -> Verdict:
    if kill_reason == "timeout":
        return "timed_out"
    if kill_reason == "lease":
        return "lease_lost"
    if stopping:
        return "stopped"
    # A clean exit mid-job (a task calling os._exit(0)) or before any job (nothing to
    # recycle for) is not a recycle: treating it as one could spin without a back-off.
    if status.clean and not running_job and jobs_done > 0:
        return "recycled"
    return "crashed"


@dataclass
class ServedSlot:
    """A worker slot this runner serves: its process, lease, back-off and counts."""

    slot: WorkerSlot
    #: Position in this runner's slot list, from 1: the worker's metrics port offset.
    index: int
    #: None when the backend cannot lease slots.
    lease: SlotLease | None = None
    child: Child | None = None
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    next_start_at: float = 0.0
    starts: int = 0
    timeouts: int = 0

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)


@dataclass
class CronState:
    child: Child | None = None
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    next_start_at: float = 0.0


def job_deadline(child: Child | None) -> float | None:
    """When the child's current job overruns; None if it runs none, or one without a timeout."""
    if child is None or child.job is None or not child.job.timeout_s:
        # A timeout of 0 means none, as upstream (where alarm(0) cancels the alarm).
        return None
    return child.job.started_at + child.job.timeout_s
