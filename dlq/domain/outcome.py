"""What became of one run of a job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Failed", "Outcome", "Rejected", "Succeeded", "TimedOut"]


@dataclass(frozen=True, slots=True)
class Succeeded:
    result: object
    duration_s: float


@dataclass(frozen=True, slots=True)
class Failed:
    """The task (or a middleware before it) raised ``exception``."""

    exception: BaseException
    duration_s: float


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


Outcome: TypeAlias = Succeeded | Failed | Rejected | TimedOut
