"""The one validated settings model, and the pure function that builds it.

Values come from two layers: Django's settings, then (optionally) a ``--config`` file
whose values win. Every name keeps django-lightweight-queue's ``LIGHTWEIGHT_QUEUE_``
prefix; the model's fields drop it (``settings.REDIS_PORT``).
"""

from __future__ import annotations

import difflib
import re
import runpy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from dlq.core.redis_url import check_redis_url
from dlq.domain.job_options import QUEUE_NAME_RULE, QueueName
from dlq.exceptions import ConfigurationError, Problem

__all__ = [
    "BACKEND_ALIASES",
    "DJANGO_SOURCE",
    "MIDDLEWARE_ALIASES",
    "PREFIX",
    "QueueSettings",
    "SettingsSource",
    "build_settings",
    "load_config_file",
    "relevant_names",
]

PREFIX: Final = "LIGHTWEIGHT_QUEUE_"
DJANGO_SOURCE: Final = "Django settings"

_UPSTREAM = "django_lightweight_queue"
BACKEND_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        f"{_UPSTREAM}.backends.synchronous.SynchronousBackend": "dlq.backends.synchronous.SynchronousBackend",
        f"{_UPSTREAM}.backends.redis.RedisBackend": "dlq.backends.redis.RedisBackend",
        f"{_UPSTREAM}.backends.reliable_redis.ReliableRedisBackend": "dlq.backends.reliable_redis.ReliableRedisBackend",
        f"{_UPSTREAM}.backends.debug_web.DebugWebBackend": "dlq.backends.debug_web.DebugWebBackend",
    }
)
MIDDLEWARE_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {f"{_UPSTREAM}.middleware.logging.LoggingMiddleware": "dlq.core.middleware.LoggingMiddleware"}
)

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def _dotted(value: str) -> str:
    if not _DOTTED.match(value):
        raise ValueError(f"{value!r} is not a dotted path like 'package.module.Name'")
    return value


def _backend(value: str) -> str:
    return _dotted(BACKEND_ALIASES.get(value, value))


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _middleware(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_dotted(MIDDLEWARE_ALIASES.get(path, path)) for path in value)


def _redis_url(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        check_redis_url(value.get_secret_value())  # its errors never quote a secret
    return value


Port = Annotated[StrictInt, Field(ge=1, le=65535)]


class QueueSettings(BaseModel):
    """dlq's settings, validated; read them as attributes, never change them.

    Each field's description is what a valid value looks like; errors quote it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    WORKERS: Annotated[
        Mapping[QueueName, Annotated[StrictInt, Field(ge=0)]], AfterValidator(_frozen_mapping)
    ] = Field(
        default_factory=dict,
        description=f"a dict of queue name ({QUEUE_NAME_RULE}) to a number of workers (an integer >= 0)",
    )
    BACKEND: Annotated[StrictStr, AfterValidator(_backend)] = Field(
        default="dlq.backends.synchronous.SynchronousBackend",
        description="the dotted path of a backend class",
    )
    LOGGER_FACTORY: StrictStr | Callable[[str], Any] = Field(
        default="logging.getLogger",
        description="a callable taking a logger name, or its dotted path",
    )
    BACKEND_OVERRIDES: Annotated[
        Mapping[QueueName, Annotated[StrictStr, AfterValidator(_backend)]],
        AfterValidator(_frozen_mapping),
    ] = Field(
        default_factory=dict,
        description=f"a dict of queue name ({QUEUE_NAME_RULE}) to a backend's dotted path",
    )
    MIDDLEWARE: Annotated[tuple[StrictStr, ...], AfterValidator(_middleware)] = Field(
        default=("dlq.core.middleware.LoggingMiddleware",),
        description="a list or tuple of middleware classes' dotted paths",
    )
    IGNORE_APPS: tuple[StrictStr, ...] = Field(
        default=(), description="a list or tuple of app names as written in INSTALLED_APPS"
    )
    REDIS_HOST: StrictStr = Field(default="127.0.0.1", description="a host name or address")
    REDIS_PORT: Port = Field(default=6379, description="a TCP port, an integer from 1 to 65535")
    REDIS_PASSWORD: SecretStr | None = Field(default=None, description="a string or None")
    REDIS_DATABASE: StrictInt = Field(default=0, ge=0, description="a database number >= 0")
    REDIS_PREFIX: StrictStr = Field(default="", description="a string put before every key")
    REDIS_URL: Annotated[SecretStr | None, AfterValidator(_redis_url)] = Field(
        default=None,
        description="None, or a redis://, rediss://, unix:// or redis+sentinel://host:port[,host:port]/service[/db] URL (it wins over REDIS_HOST etc.)",
    )
    DATABASE_ALIAS: StrictStr = Field(
        default="default",
        min_length=1,
        description="a key of Django's DATABASES: where the database backend keeps its jobs",
    )
    ENABLE_PROMETHEUS: StrictBool = Field(default=False, description="True or False")
    PROMETHEUS_START_PORT: Port = Field(
        default=9300, description="a TCP port, an integer from 1 to 65535"
    )
    PROMETHEUS_BIND_ADDRESS: StrictStr = Field(
        default="127.0.0.1", description="the address metrics servers listen on"
    )
    ATOMIC_JOBS: StrictBool = Field(default=True, description="True or False")
    MAX_DELIVERIES: StrictInt = Field(
        default=5,
        ge=1,
        description="an integer >= 1: deliveries of one job before it is dead-lettered",
    )
    STORE_RESULTS: StrictBool = Field(
        default=False,
        description="True or False: keep every task's status and return value (a task's"
        " store_result= wins)",
    )
    RESULT_TTL_S: StrictInt = Field(
        default=86400,
        ge=1,
        description="an integer >= 1: seconds a finished job's record is kept",
    )
    ENQUEUE_ON_COMMIT: StrictBool | Annotated[StrictStr, Field(min_length=1)] = Field(
        default=False,
        description="False, True (enqueue when the default database's transaction commits)"
        " or a key of Django's DATABASES naming whose transaction to wait for",
    )
    JOBS_PER_WORKER: StrictInt = Field(
        default=1000, ge=1, description="an integer >= 1: jobs a worker runs before it is recycled"
    )
    WORKER_MEMORY_LIMIT_MB: StrictInt | None = Field(
        default=None, ge=1, description="None, or megabytes of RSS above which a worker recycles"
    )
    SHUTDOWN_DEADLINE_S: StrictInt | float | None = Field(
        default=None,
        ge=0,
        description="None, or seconds after SIGTERM when jobs still running are killed",
    )
    CRON_TIMEZONE: StrictStr = Field(default="UTC", description="an IANA time zone name")
    CRON_CATCH_UP_S: StrictInt = Field(
        default=300,
        ge=0,
        description="an integer >= 0: how far back missed cron minutes are caught up",
    )
    CRON_COALESCE: StrictBool = Field(
        default=True,
        description="True or False: the minutes a cron entry missed run once, for the latest"
        " of them (False: once for each)",
    )
    CRON_ON_EVERY_MACHINE: StrictBool = Field(
        default=False,
        description="True or False: every pooled runner schedules cron (each minute still once)",
    )

    def backend_path_for(self, queue: str) -> str:
        return self.BACKEND_OVERRIDES.get(queue, self.BACKEND)

    def redacted(self) -> dict[str, object]:
        """The settings by full name, secrets hidden, for display."""
        return {PREFIX + name: getattr(self, name) for name in type(self).model_fields}


_FIELDS: Final = tuple(QueueSettings.model_fields)
_FULL_NAMES: Final = tuple(PREFIX + name for name in _FIELDS)
_SECRETS: Final = frozenset({"REDIS_PASSWORD", "REDIS_URL"})


@dataclass(frozen=True)
class SettingsSource:
    """Named values from one place; ``label`` says where (``Django settings`` or a path)."""

    label: str
    values: Mapping[str, object]


def build_settings(
    django: Mapping[str, object], config: SettingsSource | None = None
) -> QueueSettings:
    """Merge Django's settings and an optional ``--config`` file into one valid model.

    ``django`` maps upper-case setting names to values (any names: only ours and near
    misses are looked at). Raises :class:`ConfigurationError` listing every problem.
    """
    sources = [SettingsSource(DJANGO_SOURCE, django)]
    if config is not None:
        sources.append(config)
    problems: list[Problem] = []
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    for source in sources:
        problems.extend(_unknown_names(source))
        for full_name, value in source.values.items():
            if full_name in _FULL_NAMES:
                short = full_name.removeprefix(PREFIX)
                values[short] = value
                origin[short] = source.label
    try:
        settings = QueueSettings.model_validate(values)
    except ValidationError as exc:
        problems.extend(_value_problems(exc, values, origin))
    if problems:
        raise ConfigurationError(problems)
    return settings


def relevant_names(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are dlq settings or look like misspelt ones."""
    return [name for name in names if name in _FULL_NAMES or _looks_like_ours(name)]


def _looks_like_ours(name: str) -> bool:
    if not name.isupper():
        return False
    return name.startswith("LIGHTWEIGHT") or bool(
        difflib.get_close_matches(name, _FULL_NAMES, n=1, cutoff=0.9)
    )


def _unknown_names(source: SettingsSource) -> Iterable[Problem]:
    for name in source.values:
        if name in _FULL_NAMES or not _looks_like_ours(name):
            continue
        close = difflib.get_close_matches(name, _FULL_NAMES, n=1, cutoff=0.75)
        yield Problem(
            name=name,
            message="is not a dlq setting",
            source=source.label,
            hint=f"did you mean {close[0]}?" if close else f"valid names start with {PREFIX}",
        )


def _value_problems(
    exc: ValidationError, values: Mapping[str, object], origin: Mapping[str, str]
) -> Iterable[Problem]:
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0])
        name = PREFIX + field
        for part in error["loc"][1:]:
            if part != "[key]" and not str(part).startswith("function-"):
                name += f"[{part!r}]"
        value = "<hidden>" if field in _SECRETS else repr(error.get("input", values.get(field)))
        description = QueueSettings.model_fields[field].description or ""
        message = error["msg"].removeprefix("Value error, ")
        yield Problem(
            name=name,
            message=f"{value} is not valid: {message}",
            source=origin.get(field, DJANGO_SOURCE),
            expected=description,
        )


def load_config_file(path: str | Path) -> SettingsSource:
    """Run a ``--config`` Python file and take its upper-case names.

    Raises :class:`ConfigurationError` naming the file when it cannot be read or run.
    """
    label = str(path)
    try:
        namespace = runpy.run_path(label)
    except FileNotFoundError:
        raise ConfigurationError(
            [Problem("--config", f"the file {label!r} does not exist", expected="a Python file")]
        ) from None
    except Exception as exc:  # any error in user code is reported, not raised from deep inside
        raise ConfigurationError(
            [
                Problem(
                    "--config",
                    f"running {label!r} failed: {type(exc).__name__}: {exc}",
                    expected="a Python file that assigns LIGHTWEIGHT_QUEUE_* names",
                )
            ]
        ) from exc
    return SettingsSource(
        label, {name: value for name, value in namespace.items() if name.isupper()}
    )
