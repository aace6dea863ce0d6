"""Forking, watching and reaping the supervisor's child processes.

A child is forked from the runner, so it starts with Django set up and every task
imported: a restart costs a fork, not a new interpreter (upstream re-executes
``manage.py`` for every worker it starts).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from dlq.domain.envelope import Job
from dlq.worker.board import Board, RunningJob
from dlq.worker.channel import ChannelReader, ChannelWriter, JobStarted
from dlq.worker.child import GUARDED_SIGNALS, enter_child

__all__ = ["EXIT_CRASHED", "Child", "ExitStatus", "KillReason", "spawn"]

#: Status of a child that failed with an exception (EX_SOFTWARE, as sysexits.h has it).
EXIT_CRASHED = 70

#: Why the supervisor killed a child, or asked it to leave; None when it did neither.
KillReason: TypeAlias = Literal["timeout", "stop", "deadline", "lease"]


@dataclass(frozen=True, slots=True)
class ExitStatus:
    code: int | None
    signal: int | None

    @classmethod
    def from_wait(cls, status: int) -> ExitStatus:
        if os.WIFSIGNALED(status):
            return cls(None, os.WTERMSIG(status))
        return cls(os.waitstatus_to_exitcode(status), None)

    @property
    def clean(self) -> bool:
        return self.code == 0

    def __str__(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"killed by {name}"
        return f"exit code {self.code}"


@dataclass
class Child:
    """A running child as the supervisor sees it."""

    pid: int
    #: None for a child that reports nothing (the cron scheduler).
    reader: ChannelReader | None
    #: When it was forked (supervisor's monotonic clock).
    started_at: float
    #: Where a worker child writes what it runs, and its record's index (None: no board).
    board: Board | None = None
    board_index: int = 0
    #: The job it is running, as of the last :meth:`read`.
    job: RunningJob | None = None
    #: The last job with a timeout it reported in full (see dlq.worker.channel).
    timed: JobStarted | None = None
    #: Jobs it has finished, as of the last :meth:`read`.
    jobs_done: int = 0
    kill_reason: KillReason | None = None
    killed_at: float | None = field(default=None)
    #: Why the supervisor asked it to leave after its job (SIGTERM), if it did.
    asked_to_leave: KillReason | None = None

    def read(self) -> None:
        """Take in what the child has reported and what its board record says now."""
        if self.reader is not None:
            for message in self.reader.read():
                if isinstance(message, JobStarted):
                    self.timed = message
        if self.board is not None:
            entry = self.board.read(self.board_index)
            self.job, self.jobs_done = entry.running, entry.jobs_done

    def running_payload(self) -> Job | None:
        """The running job as dequeued, when the child sent it whole (it has a timeout)."""
        if self.job is None or self.timed is None or self.timed.job.id != self.job.id:
            return None
        return self.timed.job

    def kill(self, reason: KillReason, now: float) -> None:
        """SIGKILL it; the first reason given is the one kept."""
        if self.kill_reason is None:
            self.kill_reason = reason
            self.killed_at = now
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def leave(self, reason: KillReason) -> None:
        """SIGTERM it (idle, it leaves at once; busy, after its job), for ``reason``."""
        if self.asked_to_leave is None:
            self.asked_to_leave = reason
        self.terminate()

    @property
    def ended_for(self) -> KillReason | None:
        """Why the supervisor ended it: killed, or else asked to leave."""
        return self.kill_reason or self.asked_to_leave

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def poll(self) -> ExitStatus | None:
        """Its exit status once it has exited (reaping it), else None."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return ExitStatus(None, None)
        if pid == 0:
            return None
        return ExitStatus.from_wait(status)

    def wait(self) -> ExitStatus:
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return ExitStatus(None, None)
        return ExitStatus.from_wait(status)


def spawn(
    main: Callable[[ChannelWriter | None], int],
    *,
    now: float,
    close_fds: Iterable[int],
    logger: logging.Logger,
    with_channel: bool = True,
    board: Board | None = None,
    board_index: int = 0,
) -> Child:
    """Fork a child that runs ``main`` and exits with its status; never returns in the child.

    ``close_fds`` are the runner's own descriptors (its wakeup pipe, the other children's
    pipes, its metrics socket), which the child must not keep open.
    """
    read_fd, write_fd = os.pipe() if with_channel else (-1, -1)
    parent_pid = os.getpid()
    # Blocked across the fork, so that a signal cannot reach the runner's handlers in
    # the child before the child has installed its own.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, GUARDED_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if with_channel:
            os.close(read_fd)
            os.close(write_fd)
        raise
    if pid == 0:  # pragma: no cover - runs in the child, measured by the process tests
        status = EXIT_CRASHED
        try:
            enter_child(parent_pid, [*close_fds, *([read_fd] if with_channel else [])])
            status = main(ChannelWriter(write_fd) if with_channel else None)
        except BaseException:
            logger.exception("Process %d failed", os.getpid())
        finally:
            _flush()
            os._exit(status)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    if with_channel:
        os.close(write_fd)
    return Child(
        pid,
        ChannelReader(read_fd) if with_channel else None,
        now,
        board=board,
        board_index=board_index,
    )


def _flush() -> None:
    # os._exit skips interpreter shutdown; write out what the child logged or printed.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
