"""The options a job runs with, ``queue``, ``timeout`` and ``sigkill_on_stop``: one rule each.

They are written in three places: ``@task(...)`` and ``.using(...)``
(:mod:`dlq.core.task`), cron entries (:mod:`dlq.domain.cron.entry`) and, for queue names,
the keys of ``LIGHTWEIGHT_QUEUE_WORKERS`` and ``_BACKEND_OVERRIDES``
(:mod:`dlq.core.settings`). Each place checks a value with the function here, so a value
is accepted or refused everywhere alike, and refused in the same words::

    'has space' is not valid: a queue name has no spaces, braces or glob characters (' ')

Why a queue name is so constrained: it is part of the Redis backends' keys, where braces
would break the ``{<queue>}`` hash tag and glob characters would have to be escaped in
every ``SCAN MATCH`` pattern; and a name with spaces cannot be typed back on a command
line as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Final

from pydantic import PlainValidator

from dlq.exceptions import Problem

__all__ = [
    "EXPECTED",
    "QUEUE_NAME_RULE",
    "QueueName",
    "SigkillOnStop",
    "Timeout",
    "option_problems",
    "queue_name_error",
    "sigkill_on_stop_error",
    "timeout_error",
]

#: What a queue name looks like.
QUEUE_NAME_RULE: Final = "a non-empty string without spaces, braces or glob characters"

#: What a valid value of each option looks like, as problems quote it.
EXPECTED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "queue": f"a queue name: {QUEUE_NAME_RULE}",
        "timeout": "None or seconds as an integer > 0",
        "sigkill_on_stop": "True or False",
    }
)

_FORBIDDEN = re.compile(r"[\s{}*?\[\]]")


def queue_name_error(value: object) -> str | None:
    """What is wrong with ``value`` as a queue name, or None if nothing is."""
    if not isinstance(value, str):
        return f"a queue name is a string, not {type(value).__name__}"
    if not value:
        return "a queue name is not empty"
    found = _FORBIDDEN.search(value)
    if found is not None:
        return f"a queue name has no spaces, braces or glob characters ({found.group()!r})"
    return None


def timeout_error(value: object) -> str | None:
    """What is wrong with ``value`` as a job's timeout, or None if nothing is."""
    if value is None:
        return None
    # bool is an int subclass, and 1.5 seconds would be truncated by upstream's workers.
    if type(value) is not int:
        return f"a timeout is None or whole seconds, not {type(value).__name__}"
    if value <= 0:
        return "a timeout is more than 0 seconds"
    return None


def sigkill_on_stop_error(value: object) -> str | None:
    """What is wrong with ``value`` as ``sigkill_on_stop``, or None if nothing is."""
    if type(value) is not bool:
        return f"sigkill_on_stop is True or False, not {type(value).__name__}"
    return None


_RULES: Final[Mapping[str, Callable[[object], str | None]]] = MappingProxyType(
    {"queue": queue_name_error, "timeout": timeout_error, "sigkill_on_stop": sigkill_on_stop_error}
)


def option_problems(
    where: str, *, queue: object, timeout: object, sigkill_on_stop: object
) -> list[Problem]:
    """A problem for each bad option, named ``<where> <option>``; empty when all are valid.

    Plain checks rather than a pydantic model: ``.using(...)`` runs this on every call
    through it, so it must cost next to nothing.
    """
    problems: list[Problem] = []
    for option, value in (
        ("queue", queue),
        ("timeout", timeout),
        ("sigkill_on_stop", sigkill_on_stop),
    ):
        error = _RULES[option](value)
        if error is not None:
            problems.append(
                Problem(
                    f"{where} {option}",
                    f"{value!r:.80} is not valid: {error}",
                    expected=EXPECTED[option],
                )
            )
    return problems


def _validator(check: Callable[[object], str | None]) -> PlainValidator:
    def validate(value: object) -> object:
        error = check(value)
        if error is not None:
            raise ValueError(error)  # pydantic reports it as "Value error, <error>"
        return value

    return PlainValidator(validate)


#: The same rules for pydantic models (settings, cron entries). The checks are the whole
#: validation: no coercion, so ``"60"`` is not a timeout and ``1`` is not a bool.
QueueName = Annotated[str, _validator(queue_name_error)]
Timeout = Annotated[int | None, _validator(timeout_error)]
SigkillOnStop = Annotated[bool, _validator(sigkill_on_stop_error)]
