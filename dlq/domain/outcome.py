"""What became of one run of a job."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

__all__ = [
    "Failed",
    "GaveUp",
    "Outcome",
    "Rejected",
    "Retrying",
    "Succeeded",
    "TimedOut",
    "class_path",
    "failure_reason",
]


@dataclass(frozen=True, slots=True)
class Succeeded:
    """``stored``: the return value as JSON, for a job that keeps its result (else None)."""

    result: object
    duration_s: float
    stored: object = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The task (or a middleware before it) raised ``exception``."""

    exception: BaseException
    duration_s: float


@dataclass(frozen=True, slots=True)
class Retrying:
    """The task raised ``exception`` and has retries left: queue it again, held back until
    ``run_after`` (UTC), as :meth:`~dlq.domain.envelope.Job.retried` makes it."""

    exception: BaseException
    duration_s: float
    run_after: datetime


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The task raised ``exception`` on its last allowed attempt (``attempt``, 1-based):
    backends that keep dead letters keep it as one, with :func:`failure_reason`."""

    exception: BaseException
    duration_s: float
    attempt: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """The job was never started: its payload names no task or its arguments do not fit.

    Running it again cannot help, so backends that keep dead letters put it there.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The supervisor killed the job after ``timeout_s`` seconds."""

    timeout_s: float


Outcome: TypeAlias = Succeeded | Failed | Retrying | GaveUp | Rejected | TimedOut


def class_path(exception: BaseException) -> str:
    """``module.QualName`` of the exception's class, as Django's task results name it."""
    kind = type(exception)
    return f"{kind.__module__}.{kind.__qualname__}"


def failure_reason(outcome: GaveUp) -> str:
    """A dead letter's reason for a job that used up its retries: the attempts, the
    exception's class and message, then its traceback."""
    exc = outcome.exception
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return f"failed on attempt {outcome.attempt}, its last: {class_path(exc)}: {exc}\n{trace}"
