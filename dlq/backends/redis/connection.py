"""Connections to Redis for both backends, built from the settings; secrets kept out of sight.

``REDIS_URL`` (``redis://``, ``rediss://`` for TLS, ``unix://``, with an optional ACL user
name, or ``redis+sentinel://``/``rediss+sentinel://`` for a Sentinel deployment, see
:mod:`.sentinel`) wins over ``REDIS_HOST``/``PORT``/``PASSWORD``; ``REDIS_DATABASE`` is the
database unless the URL names one. Every socket has a timeout longer than the longest
blocking pop (:func:`~dlq.backends.redis.tuning.read_timeout_s`), so a dead or black-holed
server is noticed rather than waited on for ever, and TCP keep-alive is on.

Two kinds of connection:

* a redis-py client with a pool, for operations (pause, clear, dead letters, ...), whose
  commands are retried with exponential back-off when the connection drops;
* a :class:`~dlq.backends.redis.line.Line`, one dedicated connection for a hot path
  (enqueueing, or a worker's dequeue and acknowledge), which sends commands without
  waiting for their replies.

:meth:`RedisTarget.bounded` makes both kinds for the runner's own calls instead: every wait
cut short and nothing retried (:mod:`.bounded` has the arithmetic).

Errors are re-raised as :class:`~dlq.exceptions.BackendError` naming the server without
its password; when a library message contains a secret, the cause is dropped as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast
from urllib.parse import quote, urlencode

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.retry import Retry
from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

from dlq.backends.redis.sentinel import SentinelService
from dlq.backends.redis.tuning import BLOCK_CAP_S, read_timeout_s
from dlq.core.redis_url import SENTINEL_SCHEMES, parse_sentinel_url
from dlq.core.settings import QueueSettings
from dlq.exceptions import BackendError, ConfigurationError, Problem

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_IDLE_S",
    "SOCKET_TIMEOUT_S",
    "RedisTarget",
    "as_bytes",
    "as_bytes_list",
    "as_int",
    "backend_error",
    "backoff_s",
    "redact",
]

#: Socket read timeout: longer than any blocking pop, short enough to notice a dead server.
SOCKET_TIMEOUT_S = read_timeout_s(BLOCK_CAP_S)
CONNECT_TIMEOUT_S = 5.0
#: A line idle longer than this reconnects before its next command instead of trusting it.
MAX_IDLE_S = 30.0
_BACKOFF = ExponentialBackoff(cap=2.0, base=0.05)


def backoff_s(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive connection failures (0.1 s up to 2 s)."""
    return float(_BACKOFF.compute(failures))


def as_int(value: object) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, str)):
        try:
            return int(value)
        except ValueError:
            pass
    # The type only: a reply out of step could be a job's payload, which may hold
    # personal data.
    raise BackendError(f"unexpected reply from Redis: {type(value).__name__}, not an integer")


def as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise BackendError(f"unexpected reply from Redis: {type(value).__name__}, not a string")


def as_bytes_list(value: object) -> list[bytes]:
    if not isinstance(value, list):
        raise BackendError(f"unexpected reply from Redis: {type(value).__name__}, not a list")
    return [as_bytes(item) for item in value]


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class RedisTarget:
    """How to reach the server: the connection class and its options (secrets included).

    ``location`` names the server without secrets; ``secrets`` are the strings that must
    never appear in a message. ``sentinel`` is set for a Sentinel deployment, whose
    connections find the master through it; ``step_s`` for a bounded target
    (:meth:`bounded`).
    """

    connection_class: type[AbstractConnection]
    options: Mapping[str, Any] = field(repr=False)
    location: str
    secrets: tuple[str, ...] = field(repr=False)
    sentinel: SentinelService | None = None
    #: Set by :meth:`bounded`: the longest any one wait (connecting, a reply) may last.
    step_s: float | None = None

    @classmethod
    def from_settings(cls, settings: QueueSettings) -> RedisTarget:
        options: dict[str, Any] = {
            "db": settings.REDIS_DATABASE,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
        }
        secrets: list[str] = []
        if settings.REDIS_URL is not None:
            url = settings.REDIS_URL.get_secret_value()
            if url.partition("://")[0] in SENTINEL_SCHEMES:
                return cls._sentinel_target(url, options)
            try:
                parsed = cast("dict[str, Any]", parse_url(url))  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            except ValueError:
                raise ConfigurationError(
                    [
                        Problem(
                            "LIGHTWEIGHT_QUEUE_REDIS_URL",
                            "<hidden> cannot be parsed",
                            expected="a URL like redis://[user:password@]host[:port][/db],"
                            " rediss://... or unix:///path/to/socket[?db=0]",
                        )
                    ]
                ) from None
            connection_class = parsed.pop("connection_class", Connection)
            options.update(parsed)
            secrets += _secret_forms(parsed.get("password"))
        else:
            connection_class = Connection
            options.update(host=settings.REDIS_HOST, port=settings.REDIS_PORT)
            if settings.REDIS_PASSWORD is not None:
                options["password"] = settings.REDIS_PASSWORD.get_secret_value()
                secrets.append(settings.REDIS_PASSWORD.get_secret_value())
        if not isinstance(connection_class, type) or not issubclass(
            connection_class, AbstractConnection
        ):
            connection_class = Connection
        if settings.REDIS_URL is not None:
            _check_options(connection_class, options)
        return cls(connection_class, options, _location(connection_class, options), tuple(secrets))

    @classmethod
    def _sentinel_target(cls, url: str, options: dict[str, Any]) -> RedisTarget:
        try:
            parts = parse_sentinel_url(url)
        except ValueError as exc:  # settings validation refuses these first
            raise ConfigurationError(
                [Problem("LIGHTWEIGHT_QUEUE_REDIS_URL", f"<hidden> is not valid: {exc}")]
            ) from None
        # The options redis-py reads from a URL's query (TLS files, protocol, ...), read the
        # same way as for a rediss:// URL; the server's address comes from the sentinels.
        scheme = "rediss" if parts.tls else "redis"
        try:
            parsed = cast(
                "dict[str, Any]",
                parse_url(f"{scheme}://localhost/?{urlencode(parts.options)}"),  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            )
        except ValueError as exc:  # e.g. "Invalid value for 'protocol'": the options hold no secret
            raise ConfigurationError(
                [Problem("LIGHTWEIGHT_QUEUE_REDIS_URL", f"<hidden> is not valid: {exc}")]
            ) from None
        tls = {key: value for key, value in parsed.items() if key.startswith("ssl")}
        for key in ("host", "port", "connection_class", "db"):
            parsed.pop(key, None)
        options.update(parsed)
        if parts.db is not None:
            options["db"] = parts.db
        if parts.username:
            options["username"] = parts.username
        if parts.password:
            options["password"] = parts.password
        sentinel_options: dict[str, Any] = {"socket_keepalive": True, **tls}
        if parts.tls:
            sentinel_options["ssl"] = True
        if parts.sentinel_username:
            sentinel_options["username"] = parts.sentinel_username
        if parts.sentinel_password:
            sentinel_options["password"] = parts.sentinel_password
        connection_class = SentinelManagedSSLConnection if parts.tls else SentinelManagedConnection
        _check_options(connection_class, {"connection_pool": None, **options})
        return cls(
            connection_class,
            options,
            replace(parts, db=options["db"]).location,
            tuple(secret for value in parts.secrets for secret in _secret_forms(value)),
            sentinel=SentinelService(parts.sentinels, parts.service, sentinel_options),
        )

    @property
    def unanswered_waits(self) -> int:
        """How many waits one call can spend on a network that answers nothing: connecting
        and the first reply, and as much for each sentinel asked where the master is."""
        return 2 + (2 * len(self.sentinel.sentinels) if self.sentinel is not None else 0)

    def bounded(self, deadline_s: float) -> RedisTarget:
        """This target, for calls that each end within ``deadline_s`` when the network
        answers nothing: every wait (connecting, a reply, a sentinel's answer) lasts at most
        ``deadline_s`` / :attr:`unanswered_waits`, and no call is retried."""
        if deadline_s <= 0:
            raise ValueError(f"a call deadline must be positive, not {deadline_s}")
        step = deadline_s / self.unanswered_waits
        options = dict(self.options)
        options["socket_connect_timeout"] = step
        sentinel = self.sentinel.with_timeout(step) if self.sentinel is not None else None
        return replace(self, options=options, sentinel=sentinel, step_s=step)

    def connection_options(
        self, *, socket_timeout: float, retry: Retry, protocol: Literal[2, 3] | None = None
    ) -> dict[str, Any]:
        """Options for a connection; ``protocol`` overrides the RESP version the URL asks for."""
        options = dict(self.options)
        options.update(
            socket_timeout=socket_timeout if self.step_s is None else self.step_s, retry=retry
        )
        if protocol is not None:
            options["protocol"] = protocol
        if not issubclass(self.connection_class, UnixDomainSocketConnection):
            options["socket_keepalive"] = True
        return options

    def client(self, *, retries: int = 5) -> redis.Redis:
        """A pooled client whose commands are retried ``retries`` times with back-off (never,
        when bounded)."""
        bounded = self.step_s is not None
        retry = Retry(NoBackoff(), 0) if bounded else Retry(_BACKOFF, retries)
        options = self.connection_options(socket_timeout=SOCKET_TIMEOUT_S, retry=retry)
        # A health check is a PING before a command on a connection idle for 30 s: one
        # more wait, which a bounded call does not make room for.
        options["health_check_interval"] = 0 if bounded else 30
        pool: ConnectionPool
        if self.sentinel is not None:
            pool = self.sentinel.pool(("client", retries), self.connection_class, options)
        else:
            pool = ConnectionPool(connection_class=self.connection_class, **options)
        return redis.Redis(connection_pool=pool)

    def connect(
        self, *, socket_timeout: float = SOCKET_TIMEOUT_S, protocol: Literal[2, 3] | None = None
    ) -> AbstractConnection:
        """A new connection, not pooled and not retried (its owner decides), not connected
        yet; ``protocol`` forces a RESP version. When bounded, its waits are."""
        options = self.connection_options(
            socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 0), protocol=protocol
        )
        if self.sentinel is not None:
            pool = self.sentinel.pool(
                ("line", socket_timeout, protocol), self.connection_class, options
            )
            return cast("AbstractConnection", pool.make_connection())
        return self.connection_class(**options)


def _check_options(connection_class: type[AbstractConnection], options: Mapping[str, Any]) -> None:
    """Refuse options redis-py's connections do not take (a misspelt URL option), here
    rather than at every connection attempt."""
    try:
        connection_class(**options)
    # "... got an unexpected keyword argument 'x'", "protocol must be either 2 or 3": the
    # option's name or rule, never a secret.
    except (TypeError, ValueError, redis.RedisError) as exc:
        raise ConfigurationError(
            [
                Problem(
                    "LIGHTWEIGHT_QUEUE_REDIS_URL",
                    f"<hidden> has an option redis-py does not take: {exc}",
                    expected="options such as ssl_ca_certs, ssl_cert_reqs or protocol",
                )
            ]
        ) from None


def _secret_forms(password: object) -> list[str]:
    """A password as it may appear in a message: as is, and as quoted in a URL."""
    if not isinstance(password, str) or not password:
        return []
    return [password, quote(password, safe=""), quote(password)]


def _location(connection_class: type[AbstractConnection], options: Mapping[str, Any]) -> str:
    user = options.get("username")
    who = f"{user}@" if isinstance(user, str) and user else ""
    if issubclass(connection_class, UnixDomainSocketConnection):
        return f"unix://{who}{options.get('path', '')}?db={options.get('db', 0)}"
    scheme = "rediss" if connection_class is not Connection else "redis"
    host, port = options.get("host", "localhost"), options.get("port", 6379)
    return f"{scheme}://{who}{host}:{port}/{options.get('db', 0)}"


def backend_error(exc: BaseException, target: RedisTarget, doing: str) -> BackendError:
    """A :class:`BackendError` for ``exc``, raised while ``doing``; raise it ``from`` the result's
    ``__cause__`` (None when the library's message held a secret)."""
    original = f"{type(exc).__name__}: {exc}"
    message = redact(original, target.secrets)
    error = BackendError(f"Redis at {target.location} failed while {doing}: {message}")
    error.__cause__ = exc if message == original else None
    error.__suppress_context__ = True
    return error
