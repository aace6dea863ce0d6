"""How the supervisor's single thread sleeps, and what wakes it.

It waits (``poll``) on its children's pipes, its metrics socket and a self-pipe that
signals write to (``signal.set_wakeup_fd``): SIGCHLD when a child exits, SIGTERM and
SIGINT to stop. Signal handlers only count; the loop acts on the counts, outside any
handler, so no work ever happens at an arbitrary point of the loop.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeAlias

__all__ = ["STOP_SIGNALS", "Waker"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Waker:
    def __init__(self) -> None:
        # poll() rather than epoll: it holds no descriptor of its own for a child to inherit.
        self._selector: selectors.BaseSelector = (
            selectors.PollSelector()
            if hasattr(selectors, "PollSelector")
            else selectors.SelectSelector()
        )
        self._pipe: tuple[int, int] | None = None
        self._previous_handlers: dict[signal.Signals, _Handler] = {}
        self._previous_wakeup_fd = -1
        #: How many SIGTERM/SIGINT have arrived.
        self.stop_signals = 0

    def install(self) -> None:
        """Take over SIGTERM, SIGINT and SIGCHLD until :meth:`close` (main thread only)."""
        read_fd, write_fd = os.pipe()
        for fd in (read_fd, write_fd):
            os.set_blocking(fd, False)
        self._pipe = (read_fd, write_fd)
        self._selector.register(read_fd, selectors.EVENT_READ)
        self._previous_handlers = {
            signum: signal.getsignal(signum) for signum in (*STOP_SIGNALS, signal.SIGCHLD)
        }
        self._previous_wakeup_fd = signal.set_wakeup_fd(write_fd)
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_stop)
        # A handler that does nothing, so that a child's exit wakes the loop at once.
        signal.signal(signal.SIGCHLD, _ignore)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signals += 1

    def register(self, fd: int) -> None:
        self._selector.register(fd, selectors.EVENT_READ)

    def unregister(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):  # already forgotten
            self._selector.unregister(fd)

    def wait(self, timeout_s: float) -> list[int]:
        """Sleep up to ``timeout_s``; the registered descriptors that are ready to read."""
        ready = []
        for key, _ in self._selector.select(timeout_s):
            if self._pipe is not None and key.fd == self._pipe[0]:
                _drain(key.fd)
            else:
                ready.append(key.fd)
        return ready

    def own_fds(self) -> list[int]:
        """Descriptors a forked child must close."""
        return [] if self._pipe is None else list(self._pipe)

    def close(self) -> None:
        """Give the signals back as they were."""
        if self._pipe is None:
            return
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._selector.close()
        for fd in self._pipe:
            os.close(fd)
        self._pipe = None


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _ignore(signum: int, frame: FrameType | None) -> None:
    pass
