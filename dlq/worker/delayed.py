"""The runner's part in delayed jobs: making held jobs takeable once they are due.

A backend keeps delayed jobs (and retries) apart from its queue until their
``run_after`` (:class:`~dlq.core.protocols.SupportsDelay`). The supervisor asks each of
its queues' backends to promote the due ones every :data:`PROMOTE_EVERY_S`, through the
same bounded, budgeted calls as its lease renewals, so an idle worker blocked on the
queue starts a due job within that much of its time (plus the backend's own latency).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from dlq.core.protocols import SupportsDelay
from dlq.exceptions import BackendError
from dlq.worker.backend_calls import BackendCalls

__all__ = ["PROMOTE_EVERY_S", "DelayedPromoter"]

#: How often each queue's due jobs are promoted.
PROMOTE_EVERY_S = 0.25


class DelayedPromoter:
    def __init__(
        self,
        queues: Sequence[str],
        calls: BackendCalls,
        *,
        logger: logging.Logger,
        after_call: Callable[[], None],
        every_s: float = PROMOTE_EVERY_S,
    ) -> None:
        self._queues = queues
        self._calls = calls
        self._logger = logger
        self._after_call = after_call
        self._every_s = every_s
        self._next_at = 0.0
        self._failing: set[str] = set()

    def tick(self, now: float) -> None:
        if now < self._next_at:
            return
        self._next_at = now + self._every_s
        for queue in self._queues:
            if not self._calls.may_call:
                return  # the pass has waited on backends long enough: next pass
            backend = self._calls.backend(queue)
            if not isinstance(backend, SupportsDelay):
                continue
            try:
                with self._calls.counted():
                    backend.promote_due(queue)
            except BackendError as exc:
                if queue not in self._failing:
                    self._failing.add(queue)
                    self._logger.warning(
                        "Cannot move due delayed jobs of queue %s to it (%s); trying again",
                        queue,
                        exc,
                    )
            else:
                if queue in self._failing:
                    self._failing.discard(queue)
                    self._logger.info("Due delayed jobs of queue %s move again", queue)
            self._after_call()
