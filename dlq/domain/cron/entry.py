"""One entry of an app's ``cron.py``, validated: which command runs, when, and how.

An app's ``cron.py`` defines ``CONFIG``, a list or tuple of dicts with upstream's keys::

    CONFIG = (
        {"command": "send_digest", "minutes": "0", "hours": "9", "days": "1-5",
         "queue": "emails", "timeout": 600, "sigkill_on_stop": True,
         "command_args": ["--verbose"], "command_kwargs": {"region": "eu"}},
    )

``command``, ``minutes`` and ``hours`` are required, as upstream requires them (its
matcher fails on a missing one); the other keys have upstream's defaults. The time
fields are written as :mod:`dlq.domain.cron.spec` describes; ``queue``, ``timeout`` and
``sigkill_on_stop`` follow the rules of :mod:`dlq.domain.job_options`, as ``@task``'s
do. :func:`parse_cron_config` turns one app's ``CONFIG`` into :class:`CronEntry`
objects and a :class:`Problem` for every mistake, named
``<module>.CONFIG[<index>].<key>`` so the reader can find it. A
:class:`CronConfiguration` holds the entries of every installed app.

An entry's :attr:`CronEntry.id` is ``<app label>:<command>:<fingerprint>``, the
fingerprint a hash of the command and its arguments. The id, not the entry's position,
is what queued payloads, claims and "last fired" records name, so reordering
``CONFIG`` or editing a schedule during a rolling deploy neither refuses queued jobs
nor lets old and new schedulers each enqueue the same minute. Two entries of one app
that run the same command with the same arguments share an id: they run at most once
in a minute that both match.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Annotated, Final, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    StrictStr,
    ValidationError,
)

from dlq.domain.cron.spec import CronFieldError, CronSpec, FieldValue, format_field, parse_field
from dlq.domain.job_options import EXPECTED as OPTION_EXPECTED
from dlq.domain.job_options import QueueName, SigkillOnStop, Timeout
from dlq.exceptions import ConfigurationError, Problem

__all__ = ["ENTRY_KEYS", "CronConfiguration", "CronEntry", "ParsedCronConfig", "parse_cron_config"]

#: The keys an entry may have, in the order they are displayed.
ENTRY_KEYS: Final = (
    "command",
    "minutes",
    "hours",
    "days",
    "queue",
    "timeout",
    "sigkill_on_stop",
    "command_args",
    "command_kwargs",
)

_EXPECTED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "command": "the name of a management command, as `manage.py help` lists it",
        **{name: CronFieldError(name, None, "").expected for name in ("minutes", "hours", "days")},
        **OPTION_EXPECTED,
        "command_args": "a list or tuple of JSON values (strings, numbers, booleans, None...)",
        "command_kwargs": "a dict of option names (strings) to JSON values",
    }
)


def _time_field(name: str) -> BeforeValidator:
    def parse(value: object) -> frozenset[int]:
        try:
            # parse_field checks the type itself and says what is wrong with it.
            return parse_field(name, cast(FieldValue, value))
        except CronFieldError as exc:
            raise ValueError(exc.reason) from None

    return BeforeValidator(parse)


def _list_or_tuple(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    # A string would otherwise be splatted into call_command one character at a time.
    raise ValueError(f"a {type(value).__name__} is not a list or tuple")


def _frozen(value: Mapping[str, JsonValue]) -> Mapping[str, JsonValue]:
    return MappingProxyType(dict(value))


def _empty_mapping() -> Mapping[str, JsonValue]:
    return MappingProxyType({})


class CronEntry(BaseModel):
    """One validated cron entry, and where it was configured (``app_label``, ``index``).

    Build them with :func:`parse_cron_config`. ``minutes``, ``hours`` and ``days`` are
    the sets of values the fields stand for; :attr:`spec` matches times against them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_label: StrictStr
    index: Annotated[StrictInt, Field(ge=0)]
    command: Annotated[StrictStr, Field(pattern=r"^\S+$")]
    minutes: Annotated[frozenset[int], _time_field("minutes")]
    hours: Annotated[frozenset[int], _time_field("hours")]
    days: Annotated[frozenset[int], _time_field("days")] = frozenset(range(1, 8))
    queue: QueueName = "cron"
    timeout: Timeout = None
    sigkill_on_stop: SigkillOnStop = False
    command_args: Annotated[tuple[JsonValue, ...], BeforeValidator(_list_or_tuple)] = ()
    command_kwargs: Annotated[Mapping[str, JsonValue], AfterValidator(_frozen)] = Field(
        default_factory=_empty_mapping
    )

    @cached_property
    def spec(self) -> CronSpec:
        return CronSpec(minutes=self.minutes, hours=self.hours, days=self.days)

    @cached_property
    def id(self) -> str:
        """``<app label>:<command>:<8 hex digits>``; see the module's docstring."""
        canonical = json.dumps(
            [self.command, list(self.command_args), dict(self.command_kwargs)],
            sort_keys=True,
            separators=(",", ":"),
        )
        fingerprint = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
        return f"{self.app_label}:{self.command}:{fingerprint}"

    @property
    def schedule(self) -> str:
        """The canonical text of the time fields: ``minutes=0 hours=9 days=1-5``."""
        return " ".join(
            f"{name}={format_field(name, getattr(self, name))}"
            for name in ("minutes", "hours", "days")
        )

    def __str__(self) -> str:
        return f"{self.id} ({self.schedule})"


@dataclass(frozen=True)
class ParsedCronConfig:
    """The valid entries of one ``CONFIG`` and a problem for each mistake in it."""

    entries: tuple[CronEntry, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class CronConfiguration:
    """Every valid entry of every installed app, and what is wrong with the rest.

    ``problems`` are mistakes in a ``cron.py`` (check ``dlq.E005``); ``unknown_commands``
    name entries whose command no installed app provides (``dlq.E006``).
    """

    entries: tuple[CronEntry, ...]
    problems: tuple[Problem, ...] = ()
    unknown_commands: tuple[Problem, ...] = ()

    @cached_property
    def _by_id(self) -> Mapping[str, CronEntry]:
        # The first entry wins when two share an id, as the scheduler's claims do.
        by_id: dict[str, CronEntry] = {}
        for entry in self.entries:
            by_id.setdefault(entry.id, entry)
        return by_id

    def get(self, entry_id: str) -> CronEntry | None:
        """The entry with this id, or None."""
        return self._by_id.get(entry_id)

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues the entries enqueue onto, each once, in order of first use."""
        return tuple(dict.fromkeys(entry.queue for entry in self.entries))

    def require_valid(self) -> None:
        """Raise :class:`ConfigurationError` listing every problem, if there are any."""
        if self.problems or self.unknown_commands:
            raise ConfigurationError([*self.problems, *self.unknown_commands])


def parse_cron_config(
    config: object, *, app_label: str, where: str, source: str = ""
) -> ParsedCronConfig:
    """Validate one app's ``CONFIG``; never raises for a mistake in it.

    ``where`` names ``CONFIG`` in problems (say ``shop.cron.CONFIG``) and ``source`` is
    the file it came from. An entry with any problem is left out of ``entries``.
    """
    if isinstance(config, (str, bytes)) or not isinstance(config, Sequence):
        problem = Problem(
            where,
            f"{config!r:.80} is not a list or tuple of entries",
            source=source,
            expected="a list or tuple of dicts with the keys " + ", ".join(ENTRY_KEYS),
        )
        return ParsedCronConfig((), (problem,))
    entries: list[CronEntry] = []
    problems: list[Problem] = []
    for index, raw in enumerate(config):
        found = _parse_entry(raw, app_label=app_label, index=index, where=f"{where}[{index}]")
        if isinstance(found, CronEntry):
            entries.append(found)
        else:
            problems.extend(Problem(p.name, p.message, source, p.expected, p.hint) for p in found)
    return ParsedCronConfig(tuple(entries), tuple(problems))


def _parse_entry(
    raw: object, *, app_label: str, index: int, where: str
) -> CronEntry | list[Problem]:
    if not isinstance(raw, Mapping):
        return [
            Problem(
                where,
                f"{raw!r:.80} is not a dict",
                expected="a dict with the keys " + ", ".join(ENTRY_KEYS),
            )
        ]
    problems = [_unknown_key(key, where) for key in raw if key not in ENTRY_KEYS]
    known = {key: value for key, value in raw.items() if key in ENTRY_KEYS}
    try:
        entry = CronEntry.model_validate({**known, "app_label": app_label, "index": index})
    except ValidationError as exc:
        problems.extend(_value_problems(exc, where))
    else:
        if not problems:
            return entry
    return problems


def _unknown_key(key: object, where: str) -> Problem:
    close = difflib.get_close_matches(str(key), ENTRY_KEYS, n=1, cutoff=0.6)
    return Problem(
        where,
        f"{key!r} is not a cron entry key",
        expected="keys among " + ", ".join(ENTRY_KEYS),
        hint=f"did you mean {close[0]!r}?" if close else "",
    )


def _value_problems(exc: ValidationError, where: str) -> list[Problem]:
    problems: list[Problem] = []
    reported: set[str] = set()
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0])
        if key in reported:  # a union reports each arm; one line per key is enough
            continue
        reported.add(key)
        name = f"{where}.{key}"
        if error["type"] == "missing":
            hint = (
                f"write '*' to run every {key[:-1]} (upstream requires this key too)"
                if key in ("minutes", "hours")
                else ""
            )
            problems.append(Problem(name, "is required", expected=_EXPECTED[key], hint=hint))
            continue
        message = error["msg"].removeprefix("Value error, ")
        if key in ("minutes", "hours", "days") and error["type"] == "value_error":
            # The parser's reason already quotes the value (and the item within it).
            problems.append(Problem(name, message, expected=_EXPECTED[key]))
            continue
        inner = "".join(f"[{part!r}]" for part in error["loc"][1:] if part != "[key]")
        problems.append(
            Problem(
                name,
                f"{error.get('input')!r:.80}{' at ' + inner if inner else ''} is not valid:"
                f" {message}",
                expected=_EXPECTED.get(key, ""),
            )
        )
    return problems
