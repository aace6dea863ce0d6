"""The runner's supervising loop: one child process per worker slot, kept alive and in line.

One thread, one loop. Each pass it reads what the workers report (which job each runs
since when: the job board, :mod:`dlq.worker.board`; jobs with a timeout and exits: their
pipes), reaps the children that exited, SIGKILLs any whose job ran
past its ``timeout`` and acknowledges that job as ``TimedOut``, renews its slot leases
(killing the worker of a slot whose lease it cannot confirm in time), and starts (or
restarts, after a back-off if the slot is crash-looping) the workers that are due.
Staying single-threaded is deliberate: the runner forks its workers, and forking a
multi-threaded process can leave a lock held forever in the child. So even the runner's
metrics endpoint is polled by this loop, and the cron scheduler gets a process of its own.

Being single-threaded, the loop does nothing else while it waits on a backend: every
backend call it makes is bounded, budgeted per pass, and followed by a fresh look at
timeouts and leases (:mod:`dlq.worker.backend_calls`).

Graceful stop (SIGTERM or SIGINT): no new workers start; idle workers leave at once,
busy ones finish their job, except ``sigkill_on_stop`` jobs, which are killed at once;
``shutdown_deadline_s`` kills whatever still runs when it passes; a second signal kills
everything. :meth:`Supervisor.run` returns 0 when every child has exited, and whatever
happens (even an exception in the loop) it kills and reaps its children before it returns.
"""

from __future__ import annotations

import gc
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dlq.core.clock import utc_now
from dlq.core.records import RecordKeeper
from dlq.domain.envelope import Job
from dlq.domain.outcome import TimedOut
from dlq.exceptions import BackendError
from dlq.worker.backend_calls import BackendCalls
from dlq.worker.board import Board
from dlq.worker.channel import ChannelWriter
from dlq.worker.child import scheduler_main, worker_main
from dlq.worker.children import Child, ExitStatus, spawn
from dlq.worker.config import SupervisorOptions, WorkerEnvironment
from dlq.worker.delayed import DelayedPromoter
from dlq.worker.lease_keeper import LeaseKeeper
from dlq.worker.leases import make_leases
from dlq.worker.process import set_title
from dlq.worker.slots import CronState, ServedSlot, job_deadline, judge_exit
from dlq.worker.stopping import begin_stop, kill_at_deadline
from dlq.worker.wakeup import Waker

if TYPE_CHECKING:
    from dlq.worker.metrics import RunnerMetrics, SlotStats

__all__ = ["Supervisor"]


class Supervisor:
    def __init__(
        self,
        options: SupervisorOptions,
        env: WorkerEnvironment,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options = options
        self._env = env
        self._clock = clock
        self._logger = env.logger("dlq.runner")
        self._slots = [ServedSlot(slot, index) for index, slot in enumerate(options.slots, 1)]
        self._queues = sorted({slot.queue for slot in options.slots})
        self._cron = CronState() if options.scheduler is not None else None
        self._waker = Waker()
        self._board = Board(len(self._slots))
        self._signals_handled = 0
        self._stop_started_at: float | None = None
        self._deadline_passed = False
        self._metrics: RunnerMetrics | None = None
        self._frozen = False
        self._calls = BackendCalls(env.backend_for, logger=self._logger, clock=clock)
        self._leases = LeaseKeeper(
            self._slots,
            self._calls,
            logger=self._logger,
            clock=clock,
            after_call=self._looked_again,
        )
        self._delayed = DelayedPromoter(
            self._queues, self._calls, logger=self._logger, after_call=self._looked_again
        )

    @property
    def _stopping(self) -> bool:
        return self._stop_started_at is not None

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; returns the exit status (0 after a graceful stop)."""
        owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._waker.install()
        try:
            set_title(f"dlq runner ({len(self._slots)} workers)")
            if not self._calls.start_up(self._queues, wait=self._stopped_waiting):
                self._logger.info("Stopped before start-up was done; no worker was started")
                return 0
            leases = make_leases(
                self._options.slots,
                self._calls.backend,
                owner,
                ttl_s=self._options.lease_ttl_s,
                retry_s=self._options.lease_retry_s,
                logger=self._logger,
            )
            for state in self._slots:
                state.lease = leases.get(state.slot)
            self._start_metrics()
            # The first workers start now, not after the loop's first wait (a tick, 0.1 s,
            # of every start-up).
            self._start_due()
            while not (self._stopping and not self._children()):
                self._tick()
            self._logger.info("All worker processes have exited")
            return 0
        finally:
            self._kill_everything()
            self._leases.release_all()
            if self._metrics is not None:
                self._metrics.close()
            self._waker.close()
            self._board.close()

    def _stopped_waiting(self, seconds: float) -> bool:
        """Wait that long, or less if a stop signal comes; True if one came."""
        self._waker.wait(seconds)
        return bool(self._waker.stop_signals)

    def _tick(self) -> None:
        ready = self._waker.wait(self._sleep_s(self._clock()))
        self._calls.begin_pass()
        for fd in ready:
            if self._metrics is not None and fd == self._metrics.fileno():
                with self._calls.counted():  # a scrape reads queue lengths from backends
                    self._metrics.handle()
        now = self._clock()
        # Children first: a stop acts on what each worker runs now.
        self._read_children(now)
        if self._waker.stop_signals != self._signals_handled:
            self._on_stop_signal(now)
        self._reap(now)
        self._enforce_timeouts(now)
        self._leases.check(now)
        # Leases are renewed while stopping too: a worker finishing its job after SIGTERM
        # still occupies its slot.
        self._leases.renew()
        now = self._clock()
        if self._stopping:
            self._enforce_deadline(now)
        else:
            self._delayed.tick(now)
            self._start_due()

    def _looked_again(self) -> None:
        """After a backend call, which may have waited up to its deadline: act on what
        became due meanwhile."""
        now = self._clock()
        self._read_children(now)
        self._enforce_timeouts(now)
        self._leases.check(now)

    def _sleep_s(self, now: float) -> float:
        sleep = self._options.tick_s
        for state in self._slots:
            deadline = job_deadline(state.child)
            if deadline is not None:
                sleep = min(sleep, deadline - now)
        return max(0.0, sleep)

    def _start_metrics(self) -> None:
        if self._options.metrics is None:
            return
        from dlq.worker.metrics import serve_runner_metrics  # the optional prometheus extra

        self._metrics = serve_runner_metrics(
            self._options.metrics,
            self._options.slots,
            slot_stats=self._slot_stats,
            backend_for=self._calls.backend,
            logger=self._logger,
        )
        if self._metrics is not None:
            self._waker.register(self._metrics.fileno())

    def _slot_stats(self) -> Sequence[SlotStats]:
        from dlq.worker.metrics import SlotStats

        return [
            SlotStats(
                state.slot,
                state.restarts,
                state.timeouts,
                running=state.child is not None,
                busy=state.child is not None and state.child.job is not None,
            )
            for state in self._slots
        ]

    # -- stopping ----------------------------------------------------------------------

    def _on_stop_signal(self, now: float) -> None:
        first = self._signals_handled == 0
        self._signals_handled = self._waker.stop_signals
        if not first:
            self._logger.warning("Stop requested again: killing every worker now")
            for child in self._children():
                child.kill("stop", now)
            return
        self._stop_started_at = now
        set_title("dlq runner (stopping)")
        begin_stop(
            self._slots,
            self._cron,
            now=now,
            deadline_s=self._options.shutdown_deadline_s,
            logger=self._logger,
            release=self._leases.release,
        )

    def _enforce_deadline(self, now: float) -> None:
        deadline_s = self._options.shutdown_deadline_s
        started = self._stop_started_at
        if self._deadline_passed or deadline_s is None or started is None:
            return
        if now >= started + deadline_s:
            self._deadline_passed = True
            kill_at_deadline(
                self._slots, self._cron, now=now, deadline_s=deadline_s, logger=self._logger
            )

    # -- children ----------------------------------------------------------------------

    def _children(self) -> list[Child]:
        children = [state.child for state in self._slots if state.child is not None]
        if self._cron is not None and self._cron.child is not None:
            children.append(self._cron.child)
        return children

    def _read_children(self, now: float) -> None:
        for state in self._slots:
            child = state.child
            if child is None:
                continue
            child.read()
            if child.reader is not None and child.reader.eof:
                # Its end is closed: stop polling the pipe (it would always be "readable")
                # until the exit is reaped.
                self._waker.unregister(child.reader.fd)
            job = child.job
            if self._stopping and job and job.sigkill_on_stop and not child.kill_reason:
                # It started just as the stop began: it is killed like the others.
                child.kill("stop", now)

    def _enforce_timeouts(self, now: float) -> None:
        for state in self._slots:
            child = state.child
            deadline = job_deadline(child)
            if child is None or child.job is None or deadline is None:
                continue
            if now < deadline or child.kill_reason is not None:
                continue
            self._logger.error(
                "Job %s on worker %s timed out after %ss (it ran %.2fs); killing its process"
                " (pid %d)",
                child.job,
                state.slot,
                child.job.timeout_s,
                now - child.job.started_at,
                child.pid,
            )
            child.kill("timeout", now)

    def _reap(self, now: float) -> None:
        for state in self._slots:
            child = state.child
            if child is None or (status := child.poll()) is None:
                continue
            child.read()  # what it wrote before it died
            self._close_pipe(child)
            state.child = None
            self._after_exit(state, child, status, now)
        cron = self._cron
        if cron is not None and cron.child is not None:
            status = cron.child.poll()
            if status is not None:
                if not self._stopping:
                    delay = cron.backoff.crashed(cron.child.started_at, now)
                    self._logger.error(
                        "The cron scheduler exited (%s); restarting it in %.1fs", status, delay
                    )
                    cron.next_start_at = now + delay
                cron.child = None

    def _after_exit(self, state: ServedSlot, child: Child, status: ExitStatus, now: float) -> None:
        started = child.job  # a job it started and did not finish
        verdict = judge_exit(
            kill_reason=child.ended_for,
            stopping=self._stopping,
            status=status,
            running_job=started is not None,
            jobs_done=child.jobs_done,
        )
        if verdict == "timed_out":
            state.timeouts += 1
            payload = child.running_payload()
            if started is None:
                self._logger.info("The job on worker %s finished just as it timed out", state.slot)
            elif payload is None:
                self._logger.error(
                    "Cannot record that %s timed out on %s: its worker did not report it in"
                    " full; the backend treats it as a delivery that did not finish",
                    started,
                    state.slot,
                )
            else:
                # Before the slot restarts, so that its next worker finds the job dealt with.
                self._acknowledge(state, payload, TimedOut(float(started.timeout_s or 0)))
        elif verdict == "stopped":
            if started is not None:
                self._logger.warning(
                    "Worker %s was stopped (%s) while running %s", state.slot, status, started
                )
            else:
                self._logger.info("Worker %s has exited", state.slot)
            if state.lease is not None:
                self._leases.release(state.lease)
        elif verdict == "lease_lost":
            if started is not None:
                self._logger.warning(
                    "Worker %s was stopped (%s) while running %s, since its lease was lost:"
                    " the job counts as a delivery that did not finish",
                    state.slot,
                    status,
                    started,
                )
            # It starts again once its lease is this runner's (at once, if it is already).
        elif verdict == "recycled":
            state.backoff.exited_cleanly(child.started_at, now)
        elif verdict == "crashed":
            delay = state.backoff.crashed(child.started_at, now, jobs_done=child.jobs_done)
            during = f" while running {started}" if started is not None else ""
            self._logger.error(
                "Worker %s died (%s)%s; restarting it %s",
                state.slot,
                status,
                during,
                f"in {delay:.1f}s" if delay else "at once",
            )
            state.next_start_at = now + delay

    def _acknowledge(self, state: ServedSlot, job: Job, outcome: TimedOut) -> None:
        queue, number = state.slot.queue, state.slot.number
        try:
            with self._calls.counted():
                self._calls.backend(queue).acknowledge(queue, number, job, outcome)
        except BackendError as exc:
            self._logger.error(
                "Cannot confirm that %s was recorded as timed out on %s (%s); if it was not,"
                " the slot's next worker finds it started and unfinished, and the backend"
                " treats it as such",
                job,
                state.slot,
                exc,
            )
        except Exception:
            self._logger.exception(
                "Cannot record that %s timed out on %s; the backend decides what becomes of it",
                job,
                state.slot,
            )
        if job.store_result:
            with self._calls.counted():
                RecordKeeper(
                    self._calls.backend(queue),
                    queue,
                    worker_id=str(state.slot),
                    ttl_s=self._env.result_ttl_s,
                    clock=utc_now,
                    logger=self._logger,
                ).ended_elsewhere(job, outcome)
        self._looked_again()

    def _start_due(self) -> None:
        for state in self._slots:
            if state.child is not None or self._clock() < state.next_start_at:
                continue
            leased = self._leases.take(state)
            if leased is None:
                break  # no more calls in this pass: the next one, a tick from now
            if leased:
                self._start_worker(state, self._clock())
        now = self._clock()
        cron = self._cron
        scheduler = self._options.scheduler
        if cron and scheduler and cron.child is None and now >= cron.next_start_at:
            cron.child = self._spawn(
                lambda channel: scheduler_main(scheduler, self._env), now, with_channel=False
            )
            self._logger.info("Started the cron scheduler (pid %d)", cron.child.pid)

    def _start_worker(self, state: ServedSlot, now: float) -> None:
        state.starts += 1
        restarts, timeouts = state.restarts, state.timeouts

        def main(channel: ChannelWriter | None) -> int:
            if channel is None:  # spawn() makes one unless told not to
                raise RuntimeError("a worker needs a channel to its supervisor")
            return worker_main(
                state.slot,
                state.index,
                channel,
                self._board,
                self._env,
                self._options.worker,
                restarts=restarts,
                timeouts=timeouts,
            )

        self._board.reset(state.index)
        state.child = self._spawn(main, now, board_index=state.index)
        self._logger.info(
            "%s worker %s (pid %d)",
            "Restarted" if restarts else "Started",
            state.slot,
            state.child.pid,
        )

    def _spawn(
        self,
        main: Callable[[ChannelWriter | None], int],
        now: float,
        *,
        with_channel: bool = True,
        board_index: int = 0,
    ) -> Child:
        self._env.before_fork()
        # Backends dropped by before_fork() may sit in reference cycles, their sockets
        # open until the collector runs: run it now, or the child inherits them. Then
        # freeze what the runner holds (Django, the tasks), once: the children's
        # collectors leave those objects' pages alone and they stay shared with the
        # runner, and later collections here stay cheap.
        gc.collect()
        if not self._frozen:
            gc.freeze()
            self._frozen = True
        own_fds = self._waker.own_fds()
        if self._metrics is not None:
            own_fds.append(self._metrics.fileno())
        own_fds += [
            child.reader.fd
            for child in self._children()
            if child.reader is not None and not child.reader.closed
        ]
        child = spawn(
            main,
            now=now,
            close_fds=own_fds,
            logger=self._logger,
            with_channel=with_channel,
            board=self._board if board_index else None,
            board_index=board_index,
        )
        if child.reader is not None:
            self._waker.register(child.reader.fd)
        return child

    def _close_pipe(self, child: Child) -> None:
        if child.reader is not None:
            self._waker.unregister(child.reader.fd)
            child.reader.close()

    def _kill_everything(self) -> None:
        """No orphans: after a graceful stop there are none; after an error, kill them."""
        for child in self._children():
            self._logger.error("Killing worker process %d as the runner exits", child.pid)
            child.kill("stop", self._clock())
            child.wait()
            self._close_pipe(child)
        for state in self._slots:
            state.child = None
        if self._cron is not None:
            self._cron.child = None
