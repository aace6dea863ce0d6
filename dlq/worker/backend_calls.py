"""The supervising loop's calls to backends: each bounded, a budget per pass, checks after.

The loop enforces job timeouts and kills workers whose slot lease it cannot confirm; while
it waits on a backend it does neither. Issue #15 found a runner cut off from Redis sitting
40 s in one lease renewal (redis-py retrying 5 times over a 10 s socket timeout) while
another runner took over its slot and ran the same job. So:

1. **Every call has a deadline**, ``CALL_DEADLINE_S``: the loop calls the backend's bounded
   view (:class:`~dlq.core.protocols.SupportsCallDeadline`), whose calls are tried once
   and end within the deadline when the store does not answer (Redis:
   :mod:`dlq.backends.redis.bounded`). A backend without one is used as it is, with a
   warning if it leases slots.
2. **A budget per pass**: the periodic calls (lease renewals, asking for a slot) start only
   while the pass has waited less than ``PASS_BUDGET_S`` on backends; the rest wait for
   the next pass, a tick later. The one-off calls (start-up, recording a timed-out job,
   releasing a lease, a metrics scrape) are made regardless, and counted. Start-up,
   before any worker runs, is tried again with back-off until it works.
3. **The supervisor looks again after every call**: at its workers' jobs and its leases,
   so a job past its timeout or a lease it can no longer confirm is acted on at most
   one call late.

Hence, when the store does not answer, a job is killed at most ``CALL_DEADLINE_S`` plus a
tick (0.1 s) after its timeout: within the README's "timeout plus two seconds". The lease
arithmetic is in :mod:`dlq.worker.leases`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from dlq.core.protocols import Backend, SupportsCallDeadline, SupportsSlotLease
from dlq.exceptions import BackendError

__all__ = ["CALL_DEADLINE_S", "PASS_BUDGET_S", "BackendCalls"]

#: How long one backend call of the supervisor may wait on a store that does not answer.
CALL_DEADLINE_S = 1.0
#: Periodic calls start only while a pass of the loop has waited less than this on backends.
PASS_BUDGET_S = 1.0
#: A start-up that failed (the store out of reach) is tried again after 0.5 s, doubling up
#: to this.
STARTUP_RETRY_CAP_S = 30.0


class BackendCalls:
    """The supervisor's way to its backends: bounded views, and the time each pass spent."""

    def __init__(
        self,
        backend_for: Callable[[str], Backend],
        *,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        deadline_s: float = CALL_DEADLINE_S,
        budget_s: float = PASS_BUDGET_S,
    ) -> None:
        self._backend_for = backend_for
        self._logger = logger
        self._clock = clock
        self.deadline_s = deadline_s
        self._budget_s = budget_s
        self._spent_s = 0.0
        self._warned: set[str] = set()

    def backend(self, queue: str) -> Backend:
        """``queue``'s backend, bounded when it can be. Asked for afresh every time, never
        kept: the Django layer drops its backends before each fork, so that no connection
        is shared with a child."""
        backend = self._backend_for(queue)
        if isinstance(backend, SupportsCallDeadline):
            return backend.with_call_deadline(self.deadline_s)
        if isinstance(backend, SupportsSlotLease) and queue not in self._warned:
            self._warned.add(queue)
            self._logger.warning(
                "The backend %s.%s of queue %s cannot bound how long its calls wait: a slow"
                " or unreachable store can hold up this runner's lease renewals and job"
                " timeouts",
                type(backend).__module__,
                type(backend).__qualname__,
                queue,
            )
        return backend

    def start_up(self, queues: Iterable[str], *, wait: Callable[[float], bool]) -> bool:
        """Each queue's backend start-up, tried again (and said so) until it is done; False
        when ``wait(seconds)``, which waits between tries, says a stop came first."""
        failures = 0
        for queue in queues:
            self._logger.info("Running start-up for queue %s", queue)
            while True:
                try:
                    self.backend(queue).startup(queue)
                except BackendError as exc:
                    failures += 1
                    delay = min(STARTUP_RETRY_CAP_S, 0.5 * 2 ** min(failures - 1, 10))
                    self._logger.warning(
                        "Cannot run start-up for queue %s (%s); trying again in %.1fs",
                        queue,
                        exc,
                        delay,
                    )
                    if wait(delay):
                        return False
                    continue
                failures = 0
                break
        return True

    def begin_pass(self) -> None:
        self._spent_s = 0.0

    @property
    def may_call(self) -> bool:
        """Whether a periodic call may start in this pass."""
        return self._spent_s < self._budget_s

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Count the time spent in the block against this pass's budget."""
        started = self._clock()
        try:
            yield
        finally:
            self._spent_s += self._clock() - started
