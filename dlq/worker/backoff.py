"""How long a crashed worker slot waits before its process is started again.

Pure: every method takes ``now`` (monotonic seconds), so the maths is testable without
sleeping. A worker that crashes once is restarted at once (a slot back at work in
milliseconds is the point of forking); one that crashes again and again waits 0.1 s,
0.2 s, 0.4 s ... up to 30 s, so a task that kills its process or a backend that is down
cannot spin the CPU. A worker that then stays up for a healthy minute is forgiven, and
its next crash restarts it at once again, and so is one that finished a job before it
crashed. Recycling (after ``JOBS_PER_WORKER`` jobs or above the memory
ceiling) and timeout kills are not crashes and do not go through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RestartBackoff"]


@dataclass
class RestartBackoff:
    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 30.0
    healthy_after_s: float = 60.0
    #: Consecutive crashes not yet forgiven by a healthy run.
    crashes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s or self.factor < 1 or self.healthy_after_s < 0:
            raise ValueError(
                "a back-off needs 0 < initial_s <= max_s, factor >= 1 and healthy_after_s >= 0"
                f" (got initial_s={self.initial_s}, max_s={self.max_s}, factor={self.factor},"
                f" healthy_after_s={self.healthy_after_s})"
            )

    def delay_s(self, crashes: int) -> float:
        """The wait before the restart that follows the ``crashes``-th crash in a row.

        None for the first; ``initial_s`` for the second, then ``factor`` times more
        each time, up to ``max_s``.
        """
        if crashes < 2:
            return 0.0
        # Cap the exponent before raising to it, so a long crash loop cannot overflow.
        exponent = min(crashes - 2, 64)
        return float(min(self.max_s, self.initial_s * self.factor**exponent))

    def crashed(self, started_at: float, now: float, *, jobs_done: int = 0) -> float:
        """A process started at ``started_at`` crashed at ``now``: the delay before the next.

        A process that had been up for ``healthy_after_s``, or that finished a job
        (``jobs_done``) before it crashed, starts a new count: the slot makes progress,
        so a poison job now and then among good ones never builds up a long wait.
        """
        if jobs_done > 0 or now - started_at >= self.healthy_after_s:
            self.crashes = 0
        self.crashes += 1
        return self.delay_s(self.crashes)

    def exited_cleanly(self, started_at: float, now: float) -> None:
        """A process recycled itself: forget the crash count if it had been up long enough."""
        if now - started_at >= self.healthy_after_s:
            self.crashes = 0
