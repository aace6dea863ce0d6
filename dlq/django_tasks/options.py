"""The ``OPTIONS`` of a ``TASKS`` entry whose ``BACKEND`` is dlq's, validated.

``TASKS = {"default": {"BACKEND": "dlq.django_tasks.DlqBackend", "QUEUES": [...],
"OPTIONS": {...}}}``. Django passes ``OPTIONS`` through as a plain dict; a misspelt key or
a wrong value is reported by ``manage.py check`` (``DlqBackend.check``) with the alias, the
key, the value and what was expected, and raises the same message if the backend is used
anyway.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["BackendOptions", "option_problems", "parse_options"]


class BackendOptions(BaseModel):
    """What each option does; the defaults are those of Django's own backends."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Run each task inside ``transaction.atomic()``. Django's reference backends do not,
    #: so neither does dlq's unless asked (dlq's ``LIGHTWEIGHT_QUEUE_ATOMIC_JOBS`` is for
    #: ``@dlq.task`` functions).
    ATOMIC: bool = False
    #: Seconds after which a running task is killed (dlq's ``timeout``); None: never.
    TIMEOUT: int | None = Field(default=None, gt=0)
    #: Kill a running task at once when its worker is stopped, instead of letting it end.
    SIGKILL_ON_STOP: bool = False
    #: Keep each task's result for ``get_result``/``refresh()``. None (the default): where
    #: the queue's dlq backend can keep results (``SupportsResults``). True: always, and
    #: ``manage.py check`` says which queue's backend cannot. False: never, which saves a
    #: backend write per enqueue and two per run.
    STORE_RESULTS: bool | None = None


_KNOWN = tuple(BackendOptions.model_fields)


def option_problems(alias: str, options: object) -> list[tuple[str, str | None]]:
    """``(problem, hint)`` for each mistake in a ``TASKS[alias]["OPTIONS"]``."""
    if not isinstance(options, Mapping):
        return [(f"TASKS[{alias!r}]['OPTIONS'] is {options!r}, expected a dict", None)]
    try:
        BackendOptions.model_validate(dict(options))
    except ValidationError as exc:
        found: list[tuple[str, str | None]] = []
        for error in exc.errors(include_url=False):
            key = str(error["loc"][0]) if error["loc"] else "OPTIONS"
            where = f"TASKS[{alias!r}]['OPTIONS'][{key!r}]"
            if error["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, _KNOWN, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(_KNOWN)}"
                found.append((f"{where} is not an option of dlq's task backend", hint))
            else:
                found.append(
                    (f"{where} = {error.get('input')!r} is not valid: {error['msg']}", None)
                )
        return found
    return []


def parse_options(alias: str, options: object) -> BackendOptions:
    """The validated options; ``ValueError`` naming every mistake when they are wrong."""
    problems = option_problems(alias, options)
    if problems or not isinstance(options, Mapping):
        raise ValueError("; ".join(text for text, _ in problems))
    return BackendOptions.model_validate(dict(options))
