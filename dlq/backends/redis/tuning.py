"""The knobs of the Redis backends, and the one place a socket timeout is derived from them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BLOCK_CAP_S", "READ_MARGIN_S", "Tuning", "read_timeout_s"]

#: The longest a single blocking pop waits; a dequeue with a longer timeout blocks again.
BLOCK_CAP_S = 5.0
#: How much longer than its longest blocking pop a connection waits for a reply before it
#: counts the server as gone (a black-holed server never answers, nor closes the socket).
READ_MARGIN_S = 5.0


def read_timeout_s(block_cap_s: float) -> float:
    """The socket read timeout of a connection whose blocking pops last up to ``block_cap_s``:
    longer than any of them, short enough to notice a dead server."""
    return block_cap_s + READ_MARGIN_S


@dataclass(frozen=True)
class Tuning:
    """Knobs of the Redis backends; the defaults suit jobs from microseconds to hours."""

    max_batch: int = 256
    fresh_s: float = 0.05
    paused_poll_s: float = 0.25
    block_cap_s: float = BLOCK_CAP_S
    page_size: int = 1000

    @property
    def pause_grace_s(self) -> float:
        """How long ``pause()`` and ``clear()`` wait before returning (see
        :mod:`dlq.backends.redis.dispatch`)."""
        return self.fresh_s + 0.02

    @property
    def read_timeout_s(self) -> float:
        """The socket read timeout of a worker's connection (:func:`read_timeout_s`)."""
        return read_timeout_s(self.block_cap_s)
