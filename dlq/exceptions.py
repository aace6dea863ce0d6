"""Every error dlq raises on purpose derives from :class:`DLQError`.

The tree::

    DLQError
    ├── ConfigurationError      a setting, --config file, cron entry or flag is wrong
    │   ├── NotReadyError       dlq was used before Django set it up
    │   └── CronFieldError      a cron time field cannot be parsed (dlq.domain.cron.spec)
    ├── AllocationError         --machine/--of or worker counts cannot split (dlq.domain.allocation)
    ├── DurationError           a pause duration or time cannot be parsed (dlq.domain.durations)
    ├── PayloadError            a queued payload cannot be decoded into a job
    │   └── UnknownTaskError    a payload names a path that is not a registered task
    ├── TaskArgumentError       a task was called with arguments that cannot be queued or decoded
    ├── ReturnValueError        a task that keeps its result returned a value that is not JSON
    ├── Retry                   raised by a task: run me again, after ``delay``
    ├── NoCurrentJobError       dlq.current_job() was called outside a running job
    ├── JobFailedError          a job whose result was asked for failed (dlq.core.results)
    ├── JobWaitTimeout          JobHandle.wait() ran out of time (also a TimeoutError)
    └── BackendError            a backend failed to talk to its store (wraps the cause)
        └── CapabilityError     a backend was asked for something it does not support

``CronFieldError``, ``AllocationError``, ``DurationError`` and ``JobFailedError`` live beside the pure code that
raises them, and are also ValueErrors, so argument parsers report them as bad values.
Adapter failures are raised ``from`` the library error that caused them, so the
original traceback is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "BackendError",
    "CapabilityError",
    "ConfigurationError",
    "DLQError",
    "JobWaitTimeout",
    "NoCurrentJobError",
    "NotReadyError",
    "PayloadError",
    "Problem",
    "Retry",
    "ReturnValueError",
    "TaskArgumentError",
    "UnknownTaskError",
]


class DLQError(Exception):
    """The root of every error dlq raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, said so that a person can fix it.

    ``name`` is what is wrong (a setting, ``app.cron[2].minutes``, a flag), ``source``
    where it came from (``Django settings``, a file's path), ``expected`` what would be
    right and ``hint`` an optional suggestion (``did you mean ...?``).
    """

    name: str
    message: str
    source: str = ""
    expected: str = ""
    hint: str = ""

    @property
    def detail(self) -> str:
        """Everything but the name and the hint."""
        text = self.message
        if self.source:
            text += f" (from {self.source})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}" + (f"; {self.hint}" if self.hint else "")


class ConfigurationError(DLQError):
    """One or more problems with the configuration; ``problems`` lists each of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class NotReadyError(ConfigurationError):
    """dlq was used before ``django.setup()`` installed its runtime."""

    def __init__(self, what: str) -> None:
        super().__init__(
            [
                Problem(
                    name="dlq",
                    message=f"{what} before dlq was set up",
                    expected="'dlq' in INSTALLED_APPS and django.setup() called first",
                )
            ]
        )


class PayloadError(DLQError):
    """A queued payload cannot be turned into a job; ``raw`` keeps its bytes."""

    def __init__(self, reason: str, raw: bytes | str = b"") -> None:
        self.reason = reason
        self.raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
        super().__init__(reason)


class UnknownTaskError(PayloadError):
    """A payload names a path that no ``@task`` registered; it is never imported."""

    def __init__(self, path: str, raw: bytes | str = b"") -> None:
        self.path = path
        super().__init__(
            f"{path!r} is not a registered task: define it with @task in a tasks.py of an"
            " installed app (or in a module such a tasks.py imports)",
            raw,
        )


class TaskArgumentError(DLQError, TypeError):
    """A task's arguments do not fit its signature or cannot be encoded as JSON."""


class ReturnValueError(DLQError, TypeError):
    """A task whose result is kept returned a value that cannot be written as JSON."""


class Retry(DLQError):  # raised by a task, read as a request: "retry"
    """Raise from a task to run it again after ``delay`` (a timedelta or seconds; None:
    the task's back-off), counted against its ``retries`` like any retried exception."""

    def __init__(self, delay: timedelta | float | None = None, reason: str = "") -> None:
        if isinstance(delay, timedelta):
            delay = delay.total_seconds()
        if delay is not None and not delay >= 0:
            raise ValueError(f"Retry(delay=...) must be 0 or more seconds, not {delay!r}")
        self.delay_s = delay
        self.reason = reason
        super().__init__(reason or "retry requested by the task")


class NoCurrentJobError(DLQError, LookupError):
    """``dlq.current_job()`` was called outside a job a worker (or the test helpers) runs."""


class JobWaitTimeout(DLQError, TimeoutError):
    """``JobHandle.wait(timeout=...)`` returned before the job finished."""


class BackendError(DLQError):
    """A backend could not talk to its store."""


class CapabilityError(BackendError):
    """A backend was asked for an operation it does not implement."""

    def __init__(self, backend: str, capability: str) -> None:
        self.backend = backend
        self.capability = capability
        super().__init__(f"the backend {backend} does not support {capability}")
