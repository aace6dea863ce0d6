"""Retry policies: how many times a task that raised runs again, and after how long.

Pure: the jitter's randomness is passed in, so a test can pin it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off: ``base_s * factor ** (retry - 1)`` seconds before retry number
    ``retry`` (1 for the first), capped at ``max_s`` and then, with ``jitter``, spread
    uniformly over its lower half (so a burst of failures does not retry in step), never
    below ``min_s``.
    """

    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 3600.0
    min_s: float = 0.0
    jitter: bool = True

    def problems(self) -> list[str]:
        found = []
        if not self.base_s > 0:
            found.append(f"base_s must be above 0, not {self.base_s!r}")
        if not self.factor >= 1:
            found.append(f"factor must be at least 1, not {self.factor!r}")
        if not 0 <= self.min_s <= self.max_s:
            found.append(
                f"min_s and max_s must satisfy 0 <= min_s <= max_s, not {self.min_s!r} and"
                f" {self.max_s!r}"
            )
        return found

    def delay_s(self, retry: int, random: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``random()`` in [0, 1)."""
        exponent = min(retry - 1, 64)  # beyond that every factor >= 2 is past any cap
        delay = min(self.max_s, self.base_s * self.factor**exponent)
        if self.jitter:
            delay = delay / 2 + delay / 2 * random()
        return max(self.min_s, delay)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries``: how many times a failed run is retried (0: never, upstream's way);
    ``retry_on``: the exception classes that are retried (others fail at once);
    ``backoff``: the wait before each retry. ``dlq.Retry`` raised by the task is always
    retried while retries are left, after the delay it names."""

    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    backoff: Backoff = field(default_factory=Backoff)

    def problems(self) -> list[tuple[str, str, str]]:
        """``(option, what is wrong, what is expected)`` for each bad option."""
        found = []
        retries: object = self.retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            found.append(("retries", f"{retries!r} is not valid", "a whole number, 0 or more"))
        retry_on: object = self.retry_on
        if not isinstance(retry_on, tuple) or not all(
            isinstance(kind, type) and issubclass(kind, BaseException) for kind in retry_on
        ):
            found.append(
                ("retry_on", f"{retry_on!r:.80} is not valid", "a tuple of exception classes")
            )
        backoff: object = self.backoff
        if not isinstance(backoff, Backoff):
            found.append(("backoff", f"{backoff!r:.80} is not valid", "a dlq.Backoff"))
        else:
            found.extend(
                ("backoff", problem, "base_s > 0, factor >= 1, 0 <= min_s <= max_s")
                for problem in backoff.problems()
            )
        return found

    def retries_left(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) may be followed by another."""
        return attempt <= self.retries

    def catches(self, exception: BaseException) -> bool:
        return isinstance(exception, self.retry_on)
