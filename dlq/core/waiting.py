"""Waiting that a worker's stop cuts short: for backends that poll or idle."""

from __future__ import annotations

import select
import time

from dlq.core.protocols import StopSignal

__all__ = ["wait_for_stop"]


def wait_for_stop(stop: StopSignal | None, timeout_s: float) -> bool:
    """Sleep up to ``timeout_s``, less if ``stop`` is set meanwhile; True if it is set."""
    if stop is None:
        if timeout_s > 0:
            time.sleep(timeout_s)
        return False
    if stop.is_set():
        return True
    if timeout_s > 0:
        select.select([stop.fileno()], [], [], timeout_s)
    return stop.is_set()
