"""The dashboard's actions on a queue: built from a form, described, then performed.

Each action is built (:func:`build_action`) from the queue it acts on, that queue's
backend and the form's few fields, which it validates; its :meth:`~QueueAction.describe`
says, with the queue's current numbers, what performing it will do (the confirmation
page shows that), and :meth:`~QueueAction.perform` does it and says what was done (the
message the user sees and the admin's log keeps).

None of them can run code or choose what runs: the queue is one the configuration
names (the views refuse any other), the only other inputs are a duration and a dead
letter's job id, and requeueing moves dead letters that exist back onto their own
queue, where workers run them only if they name a registered task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import ClassVar, Final, Literal, get_args

from dlq.core.protocols import Backend, SupportsClear, SupportsDeadLetters, SupportsPause
from dlq.dashboard.display import NOT_AVAILABLE, format_time
from dlq.domain.durations import DURATION_SYNTAX, DurationError, format_duration, parse_duration
from dlq.status import backend_label

__all__ = [
    "ACTION_NAMES",
    "ActionError",
    "ActionName",
    "Clear",
    "Pause",
    "Purge",
    "QueueAction",
    "Requeue",
    "RequeueAll",
    "Resume",
    "build_action",
]

ActionName = Literal["pause", "resume", "requeue", "requeue-all", "purge", "clear"]
ACTION_NAMES: Final[tuple[str, ...]] = get_args(ActionName)

#: The longest job id the requeue form takes (dlq's ids are 32 characters).
_MAX_JOB_ID = 200


class ActionError(Exception):
    """The action cannot be done as asked; ``message`` says why, to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QueueAction(ABC):
    """One action on one queue. ``deletes``: it removes jobs (logged as a deletion)."""

    name: ClassVar[ActionName]
    title: ClassVar[str]
    button: ClassVar[str]
    deletes: ClassVar[bool] = False

    def __init__(self, queue: str) -> None:
        self.queue = queue

    def fields(self) -> Mapping[str, str]:
        """The form fields that carry this action from its confirmation to its POST."""
        return {}

    @abstractmethod
    def describe(self, now: datetime) -> str:
        """What :meth:`perform` will do, in a sentence or two; reads the backend."""

    @abstractmethod
    def perform(self, now: datetime) -> str:
        """Do it; returns what was done. Backend failures raise ``DLQError``."""


class Pause(QueueAction):
    name = "pause"
    title = "Pause"
    button = "Yes, pause it"

    def __init__(self, queue: str, backend: SupportsPause, duration: timedelta) -> None:
        super().__init__(queue)
        self.backend = backend
        self.duration = duration

    def fields(self) -> Mapping[str, str]:
        return {"duration": format_duration(self.duration)}

    def _until(self, now: datetime) -> datetime:
        try:
            return now + self.duration
        except OverflowError:
            raise ActionError(
                f"a pause of {format_duration(self.duration)} ends after the year 9999"
            ) from None

    def describe(self, now: datetime) -> str:
        until = self._until(now)
        return (
            f"Pause queue {self.queue} for {format_duration(self.duration)}: no job of it"
            f" starts until {format_time(until)} (counted from when you confirm), or until"
            " it is resumed. Jobs already running carry on, and new jobs are still queued."
        )

    def perform(self, now: datetime) -> str:
        until = self._until(now)
        try:
            self.backend.pause(self.queue, until)
        except ValueError as exc:  # the backend found the end already past
            raise ActionError(f"the pause was not set ({exc}); give a longer duration") from exc
        return (
            f"Paused queue {self.queue} for {format_duration(self.duration)},"
            f" until {format_time(until)}."
        )


class Resume(QueueAction):
    name = "resume"
    title = "Resume"
    button = "Yes, resume it"

    def __init__(self, queue: str, backend: SupportsPause) -> None:
        super().__init__(queue)
        self.backend = backend

    def describe(self, now: datetime) -> str:
        until = self.backend.paused_until(self.queue)
        if until is None:
            return f"Queue {self.queue} is not paused; resuming it changes nothing."
        return (
            f"End the pause of queue {self.queue} now (it is paused until"
            f" {format_time(until)}): its workers start taking jobs again."
        )

    def perform(self, now: datetime) -> str:
        until = self.backend.paused_until(self.queue)
        self.backend.resume(self.queue)
        if until is None:
            return f"Queue {self.queue} was not paused; it is running."
        return f"Resumed queue {self.queue} (it was paused until {format_time(until)})."


class Requeue(QueueAction):
    name = "requeue"
    title = "Requeue a dead letter"
    button = "Yes, requeue it"

    def __init__(self, queue: str, backend: SupportsDeadLetters, job_id: str) -> None:
        super().__init__(queue)
        self.backend = backend
        self.job_id = job_id

    def fields(self) -> Mapping[str, str]:
        return {"job_id": self.job_id}

    def describe(self, now: datetime) -> str:
        return (
            f"Put the dead letter of job {self.job_id} back on queue {self.queue}, with its"
            " delivery count reset, to run again as it was queued."
        )

    def perform(self, now: datetime) -> str:
        if self.backend.requeue_dead_letters(self.queue, {self.job_id}) == 0:
            raise ActionError(
                f"queue {self.queue} has no dead letter of job {self.job_id} that can be"
                " requeued (already requeued or purged, or its payload is not a job)"
            )
        return f"Requeued the dead letter of job {self.job_id} on queue {self.queue}."


class RequeueAll(QueueAction):
    name = "requeue-all"
    title = "Requeue every dead letter"
    button = "Yes, requeue them all"

    def __init__(self, queue: str, backend: SupportsDeadLetters) -> None:
        super().__init__(queue)
        self.backend = backend

    def describe(self, now: datetime) -> str:
        count = self.backend.dead_letter_count(self.queue)
        return (
            f"Put all {count:,} dead letter(s) of queue {self.queue} back on the queue, each"
            " with its delivery count reset. Those whose payload is not a job stay."
        )

    def perform(self, now: datetime) -> str:
        count = self.backend.requeue_dead_letters(self.queue)
        left = self.backend.dead_letter_count(self.queue)
        stayed = f"; {left:,} remain" if left else ""
        return f"Requeued {count:,} dead letter(s) on queue {self.queue}{stayed}."


class Purge(QueueAction):
    name = "purge"
    title = "Purge dead letters"
    button = "Yes, delete them"
    deletes = True

    def __init__(self, queue: str, backend: SupportsDeadLetters) -> None:
        super().__init__(queue)
        self.backend = backend

    def describe(self, now: datetime) -> str:
        count = self.backend.dead_letter_count(self.queue)
        return (
            f"Delete all {count:,} dead letter(s) of queue {self.queue}. They cannot be"
            " requeued afterwards: this cannot be undone."
        )

    def perform(self, now: datetime) -> str:
        count = self.backend.purge_dead_letters(self.queue)
        return f"Deleted {count:,} dead letter(s) of queue {self.queue}."


class Clear(QueueAction):
    name = "clear"
    title = "Clear"
    button = "Yes, clear it"
    deletes = True

    def __init__(self, queue: str, backend: SupportsClear, waiting: int) -> None:
        super().__init__(queue)
        self.backend = backend
        self.waiting = waiting

    def describe(self, now: datetime) -> str:
        return (
            f"Remove all {self.waiting:,} job(s) waiting in queue {self.queue}, and those"
            " its workers have reserved but not started. Jobs already running are not"
            " affected. This cannot be undone."
        )

    def perform(self, now: datetime) -> str:
        removed = self.backend.clear(self.queue)
        return f"Cleared queue {self.queue}: removed {removed:,} job(s)."


def _missing(backend: Backend, title: str, capability: str) -> ActionError:
    return ActionError(
        f"{title}: {NOT_AVAILABLE} ({backend_label(backend)} does not implement {capability})"
    )


def build_action(name: str, queue: str, backend: Backend, form: Mapping[str, str]) -> QueueAction:
    """The action ``name`` on ``queue`` with the ``form``'s fields, checked; ActionError
    (naming what is wrong) for an unknown action, a missing capability or a bad field.

    May read the backend (``clear`` counts the waiting jobs), so ``DLQError`` too.
    """
    if name in ("pause", "resume"):
        if not isinstance(backend, SupportsPause):
            raise _missing(backend, "Pausing", SupportsPause.__name__)
        if name == "resume":
            return Resume(queue, backend)
        text = form.get("duration", "").strip()
        try:
            return Pause(queue, backend, parse_duration(text))
        except DurationError as exc:
            raise ActionError(
                f"duration: {exc}" if text else f"duration: give {DURATION_SYNTAX}"
            ) from None
    if name in ("requeue", "requeue-all", "purge"):
        if not isinstance(backend, SupportsDeadLetters):
            raise _missing(backend, "Dead letters", SupportsDeadLetters.__name__)
        if name == "requeue-all":
            return RequeueAll(queue, backend)
        if name == "purge":
            return Purge(queue, backend)
        job_id = form.get("job_id", "")
        if not job_id or len(job_id) > _MAX_JOB_ID or not job_id.isprintable():
            raise ActionError(
                f"job_id: expected the job id of a dead letter (printable, 1 to {_MAX_JOB_ID}"
                " characters)"
            )
        return Requeue(queue, backend, job_id)
    if name == "clear":
        if not isinstance(backend, SupportsClear):
            raise _missing(backend, "Clearing", SupportsClear.__name__)
        return Clear(queue, backend, backend.length(queue))
    raise ActionError(f"unknown action {name!r}: expected one of {', '.join(ACTION_NAMES)}")
