"""What runs inside a process the supervisor forked: one worker slot, or the cron scheduler.

The process inherits the runner's imported Django, settings and tasks (that is the point
of forking: no start-up to pay again), but must not inherit its connections, signal
handlers or duties. :func:`enter_child` makes it a clean child; then :func:`worker_main`
or :func:`scheduler_main` runs and returns an exit status. The caller turns that into
``os._exit`` so that nothing of the runner's own stack ever runs in the child.

Signals, as a child sees them:

SIGTERM (sent by the supervisor on a graceful stop)
    while waiting for a job: leave at once; while running one: finish it, then leave.
    The handler only sets a :class:`~dlq.worker.stop_flag.StopFlag`, which the backend's
    wait watches: nothing is ever raised into a job or into backend I/O.
SIGINT
    ignored: Ctrl-C reaches every process of the terminal's group, and the supervisor
    turns it into the graceful stop above.
the runner's death
    SIGKILL from the kernel (Linux's parent-death signal), so no job outlives the runner
    that leased its slot; elsewhere a watchdog thread notices and does the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType

from dlq.core.clock import utc_now
from dlq.core.protocols import Backend, SupportsRelease
from dlq.core.records import RecordKeeper
from dlq.domain.allocation import WorkerSlot
from dlq.domain.envelope import Job
from dlq.domain.outcome import Outcome, Succeeded
from dlq.worker.board import Board
from dlq.worker.channel import ChannelWriter, JobStarted, WorkerExiting
from dlq.worker.config import Scheduler, WorkerEnvironment, WorkerOptions
from dlq.worker.loop import WorkerLoop
from dlq.worker.process import rss_mb, set_parent_death_signal, set_title
from dlq.worker.stop_flag import StopFlag

__all__ = ["EXIT_OK", "GUARDED_SIGNALS", "enter_child", "scheduler_main", "worker_main"]

EXIT_OK = 0

#: Signals the supervisor blocks around fork(); the child unblocks them once its own
#: handlers are in place, so none reaches a handler that belongs to the runner.
GUARDED_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGCHLD})


def enter_child(parent_pid: int, close_fds: Iterable[int]) -> None:
    """Make a freshly forked process a child of its own (called with GUARDED_SIGNALS blocked)."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGALRM, signal.SIGUSR1):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    if not set_parent_death_signal(signal.SIGKILL):
        _watch_parent(parent_pid)
    if os.getppid() != parent_pid:
        # The runner died between fork() and prctl(): the kernel will not tell us.
        os._exit(EXIT_OK)


def _watch_parent(parent_pid: int) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="dlq-parent-watch", daemon=True).start()


def worker_main(
    slot: WorkerSlot,
    index: int,
    channel: ChannelWriter,
    board: Board,
    env: WorkerEnvironment,
    options: WorkerOptions,
    *,
    restarts: int = 0,
    timeouts: int = 0,
) -> int:
    """Serve ``slot`` until stopped or due for recycling; returns the exit status.

    ``index`` is the slot's position in the runner (its metrics port offset and its
    record on ``board``).
    """
    stop = StopFlag()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    runner_pid = os.getppid()
    env.after_fork()
    name = f"{slot.queue}/{slot.number}"
    logger = env.logger("dlq.worker")
    set_title(f"dlq worker {name} starting")
    backend = env.backend_for(slot.queue)
    observe = _metrics(slot, index, options, logger, restarts=restarts, timeouts=timeouts)
    touchfile = None if options.touchfile is None else options.touchfile.replace("%s", slot.queue)

    def on_start(job: Job) -> None:
        now = time.monotonic()
        if JobStarted.needed_for(job):
            channel.send(JobStarted(job, now))
        board.started(index, job, now)
        # The task's path only: a job's arguments may hold personal data, and every user
        # of the machine can read process titles.
        set_title(f"dlq worker {name} running {job.path}")

    def on_finish(job: Job, outcome: Outcome) -> None:
        board.finished(index)

    def after_job(job: Job, outcome: Outcome) -> None:
        if observe is not None:
            observe(job, outcome)
        if touchfile is not None and isinstance(outcome, Succeeded):
            _touch(touchfile, logger)
        env.after_job(job, outcome)

    loop = WorkerLoop(
        backend,
        slot.queue,
        slot.number,
        env.run_job,
        logger=logger,
        max_jobs=options.jobs_per_worker,
        memory_limit_mb=options.memory_limit_mb,
        rss_mb=rss_mb,
        idle_timeout_s=options.idle_timeout_s,
        stop=stop,
        # The parent-death signal's fallback, between jobs (the watchdog covers the rest).
        should_stop=lambda: os.getppid() != runner_pid,
        on_idle=lambda: set_title(f"dlq worker {name} idle"),
        on_start=on_start,
        on_finish=on_finish,
        after_job=after_job,
        records=RecordKeeper(
            backend,
            slot.queue,
            worker_id=f"{socket.gethostname()}:{os.getpid()}:{name}",
            ttl_s=env.result_ttl_s,
            clock=utc_now,
            logger=logger,
        ),
    )
    signal.signal(signal.SIGTERM, on_term)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, GUARDED_SIGNALS)
    logger.debug("Worker %s started (pid %d)", name, os.getpid())
    reason = loop.run()
    channel.send(WorkerExiting(reason, loop.jobs_done))
    set_title(f"dlq worker {name} exiting")
    # From here on a second SIGTERM must not interrupt the hand-back below.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _give_back(backend, slot, logger)
    logger.debug("Worker %s exits (%s) after %d jobs", name, reason, loop.jobs_done)
    return EXIT_OK


def _metrics(
    slot: WorkerSlot,
    index: int,
    options: WorkerOptions,
    logger: logging.Logger,
    *,
    restarts: int,
    timeouts: int,
) -> Callable[[Job, Outcome], None] | None:
    if options.metrics is None:
        return None
    from dlq.worker.metrics import WorkerMetrics  # the optional prometheus extra

    metrics = WorkerMetrics(slot, timeouts=timeouts, restarts=restarts)
    port = options.metrics.start_port + index
    try:
        metrics.serve(options.metrics.bind_address, port)
    except OSError as exc:
        # Metrics are worth a warning, not a worker: keep serving jobs without them.
        logger.warning("Worker %s cannot serve metrics on port %d: %s", slot, port, exc)
    return metrics.observe


def _touch(path: str, logger: logging.Logger) -> None:
    try:
        Path(path).touch()
    except OSError as exc:
        # A liveness file that cannot be written is the operator's alarm, not a crash loop.
        logger.warning("Cannot touch %s: %s", path, exc)


def _give_back(backend: Backend, slot: WorkerSlot, logger: logging.Logger) -> None:
    """Return jobs this process prefetched but did not start, if the backend prefetches."""
    if not isinstance(backend, SupportsRelease):
        return  # it hands out one job at a time: nothing to give back
    try:
        backend.release(slot.queue, slot.number)
        backend.close()
    except Exception:
        logger.exception("Worker %s could not give back its prefetched jobs", slot)


def scheduler_main(scheduler: Scheduler, env: WorkerEnvironment) -> int:
    """Run the cron scheduler until SIGTERM; returns the exit status."""
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    env.after_fork()
    set_title("dlq cron scheduler")
    signal.signal(signal.SIGTERM, on_term)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, GUARDED_SIGNALS)
    scheduler(stop)
    return EXIT_OK
