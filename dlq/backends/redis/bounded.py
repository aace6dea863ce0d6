"""The runner's own calls to Redis: each ends within its deadline, and none is retried.

A runner's supervising loop renews slot leases, enforces job timeouts and kills workers
whose lease it cannot confirm; a call that waits on Redis holds all of that up. Its
calls therefore go through a bounded view of the backend
(``backend.with_call_deadline(deadline_s)``, :class:`~dlq.core.protocols.SupportsCallDeadline`),
whose connections are made by :meth:`RedisTarget.bounded
<dlq.backends.redis.connection.RedisTarget.bounded>`:

* no retries: redis-py's ``Retry`` with 0 retries on every connection, and on every
  sentinel's client (redis-py's own default for those retries with back-off for seconds);
* no health-check ``PING`` before a command;
* every wait cut to ``deadline_s / n``, where ``n`` counts the waits a call can spend on a
  network that answers nothing: connecting and the first reply (``n = 2``), plus
  connecting to and hearing from each sentinel asked where the master is (2 per sentinel).
  With the runner's deadline of 1 s: 0.5 s per wait for a plain server; 0.125 s with
  three sentinels.

So on a partitioned network, where nothing answers, a call fails within ``deadline_s``:
its first unanswered wait ends it (on an open connection the reply; on a new one the
connect, or the first reply after it; with Sentinel, each sentinel in turn, then the
master). A server that does answer, slowly, can stretch one call over more waits: a new
connection's handshake (``AUTH``, redis-py's two ``CLIENT SETINFO``, ``SELECT``: 4 replies)
and a script sent by hash then loaded after ``NOSCRIPT`` (3 replies) make, with the
connect, 8 waits of ``deadline_s / 2``: 4 x ``deadline_s`` at most. With ``S`` sentinels
each asked in turn (connect, up to 3 handshake replies, the answer: 5 waits each), it is
``5S + 8`` waits of ``deadline_s / (2S + 2)``, less than 4 x ``deadline_s`` again.
:class:`~dlq.worker.leases.SlotLease` gives a lease up early enough for that too.

Acknowledging here (the runner records a job it killed as ``TimedOut``) is confirmed or
raised: :class:`ConfirmingDispatcher`.
"""

from __future__ import annotations

from collections import Counter

from redis.exceptions import RedisError

from dlq.backends.redis.connection import backend_error
from dlq.backends.redis.dispatch import Dispatcher
from dlq.backends.redis.ledger import Held, SlotLedger
from dlq.backends.redis.line import LineLost
from dlq.backends.redis.recovery import marker_of
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome

__all__ = ["ConfirmingDispatcher"]


class ConfirmingDispatcher(Dispatcher):
    """A dispatcher for a process that does not serve the slot: the runner, acknowledging
    a job it killed.

    A worker's acknowledgement leaves without waiting, and is redone when its connection
    was lost before the reply came, with the worker's next command. The runner has no
    next command for the slot: its :meth:`acknowledge` waits for the reply and raises
    :class:`~dlq.exceptions.BackendError` when none comes, leaving nothing to redo. Whether
    the command ran is then unknown; if it did not, the job stays marked as started in
    the slot, and the slot's next worker treats it as a delivery that did not finish.
    """

    def acknowledge(self, queue: str, worker_number: int, job: Job, outcome: Outcome) -> None:
        if job.raw is None:
            raise ValueError(f"cannot acknowledge {job}: it was not dequeued (it has no payload)")
        with self._line.lock:
            # A ledger of its own, kept nowhere: this process holds none of the slot's jobs,
            # so closing it must give nothing back (nor drop the worker's started marker).
            slot = SlotLedger(queue, worker_number, self._keys)
            held = Held(job, job.raw, marker_of(job.raw))
            move = self._finish(slot, held, outcome)
            try:
                self._move(slot, [move], Counter())
            except LineLost as exc:
                error = backend_error(exc.cause, self._target, f"acknowledging {job}")
                raise error from error.__cause__
            except RedisError as exc:
                self._fail(exc, f"acknowledging {job}")
