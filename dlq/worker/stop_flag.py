"""A worker's stop request: a flag a signal handler may set, and a descriptor to wait on.

Setting it from a signal handler is safe (a plain assignment and one ``os.write``); it
raises nothing into whatever the process was doing. A backend waiting for a job waits
on :meth:`StopFlag.fileno` beside its own socket, so a stop that lands at any moment,
even just before the wait begins, ends the wait at once: the byte written stays in the
pipe, and the descriptor stays readable.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["StopFlag"]


class StopFlag:
    """Implements :class:`dlq.core.protocols.StopSignal`."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._set = False

    def set(self) -> None:
        """Ask to stop; safe to call from a signal handler, and more than once."""
        if not self._set:
            self._set = True
            with contextlib.suppress(BlockingIOError):
                os.write(self._write_fd, b"x")

    def is_set(self) -> bool:
        return self._set

    def fileno(self) -> int:
        return self._read_fd

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
