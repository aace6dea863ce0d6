"""Connections to Redis for both backends, built from the settings; secrets kept out of sight.

``REDIS_URL`` (``redis://``, ``rediss://`` for TLS, ``unix://``, with an optional ACL user
name) wins over ``REDIS_HOST``/``PORT``/``PASSWORD``; ``REDIS_DATABASE`` is the database
unless the URL names one. Every socket has a timeout longer than the longest blocking pop
(:data:`~dlq.backends.redis.tuning.BLOCK_CAP_S`), so a dead or black-holed server is noticed rather than waited on for
ever, and TCP keep-alive is on.

Two kinds of connection:

* a redis-py client with a pool, for operations (pause, clear, dead letters, ...), whose
  commands are retried with exponential back-off when the connection drops;
* :class:`Line`, one dedicated connection for a hot path (enqueueing, or a worker's
  dequeue and acknowledge). It can *send* a command without waiting for its reply and
  read the replies in one go before its next waited-on command: the command has left the
  process before the caller moves on (so it reaches Redis even if the process is killed
  next), yet costs no round trip. Redis runs the commands of a connection in order, so
  anything sent later sees their effect.

Errors are re-raised as :class:`~dlq.exceptions.BackendError` naming the server without
its password; when a library message contains a secret, the cause is dropped as well.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn, Protocol, cast
from urllib.parse import quote

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from dlq.backends.redis.scripts import Arg, LuaScript
from dlq.backends.redis.tuning import BLOCK_CAP_S, read_timeout_s
from dlq.core.settings import QueueSettings
from dlq.exceptions import BackendError, ConfigurationError, Problem

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_IDLE_S",
    "SOCKET_TIMEOUT_S",
    "Line",
    "LineLost",
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
# A reply that cannot be parsed leaves the stream out of step: as good as lost, too.
_LOST = (RedisConnectionError, RedisTimeoutError, InvalidResponse, OSError)

_hiredis_pack: Callable[[tuple[Arg, ...]], bytes] | None
try:  # hiredis packs a command in C, several times faster than redis-py's wrapper
    from hiredis import pack_command

    _hiredis_pack = cast("Callable[[tuple[Arg, ...]], bytes]", pack_command)  # stub: a 1-tuple
except ImportError:  # pragma: no cover - hiredis is in the redis extra
    _hiredis_pack = None

try:  # redis-py's "no whole reply yet" from hiredis (False before redis-py 5)
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
except ImportError:  # pragma: no cover - another redis-py layout: the public path is used
    _NOT_ENOUGH_DATA = False


# How many forks lie between the first process and this one: a :class:`Line` made before
# the last fork must not touch its socket (comparing this is cheaper than os.getpid()).
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork() to survive
    os.register_at_fork(after_in_child=_forked)


class _Connection(Protocol):
    """The part of a redis-py connection a :class:`Line` uses (redis-py leaves it untyped)."""

    def pack_command(self, *args: Arg) -> list[bytes]: ...

    def connect(self) -> None: ...

    def send_packed_command(self, command: list[bytes], check_health: bool = ...) -> None: ...

    def read_response(self) -> object: ...

    def disconnect(self) -> None: ...


class _IO(NamedTuple):
    """How a :class:`Line` writes to and reads from its connected socket."""

    sendall: Callable[[bytes], None]
    read: Callable[[], object]


def _io(conn: _Connection) -> _IO:
    """Straight to the socket and to hiredis' reply reader when redis-py uses one, past
    redis-py's wrappers (a tenth of their cost per reply, which a worker pays for every
    job); through its public methods otherwise (no hiredis, or its insides have changed).
    Errors are left to the :class:`Line`, which drops the connection on any of them."""
    sock = getattr(conn, "_sock", None)
    parser = getattr(conn, "_parser", None)
    gets = getattr(getattr(parser, "_reader", None), "gets", None)
    fill = getattr(parser, "read_from_socket", None)
    sendall = getattr(sock, "sendall", None)
    # What the reader returns for "no whole reply yet": asked now, just after the
    # connection's handshake, when it holds no data.
    none_yet = gets() if callable(gets) else None
    if not (callable(gets) and callable(fill) and callable(sendall)) or none_yet not in (
        False,
        _NOT_ENOUGH_DATA,
    ):
        return _IO(
            lambda data: conn.send_packed_command([data], check_health=False), conn.read_response
        )

    def read() -> object:
        reply = gets()
        while reply is none_yet:
            fill()
            reply = gets()
        if isinstance(reply, RedisError):  # hiredis returns the server's errors
            raise reply
        return reply

    return _IO(cast("Callable[[bytes], None]", sendall), read)


def backoff_s(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive connection failures (0.1 s up to 2 s)."""
    return float(_BACKOFF.compute(failures))


def as_int(value: object) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, str)):
        return int(value)
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
    never appear in a message.
    """

    connection_class: type[AbstractConnection]
    options: Mapping[str, Any] = field(repr=False)
    location: str
    secrets: tuple[str, ...] = field(repr=False)

    @classmethod
    def from_settings(cls, settings: QueueSettings) -> RedisTarget:
        options: dict[str, Any] = {
            "db": settings.REDIS_DATABASE,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
        }
        secrets: list[str] = []
        if settings.REDIS_URL is not None:
            url = settings.REDIS_URL.get_secret_value()
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
            password = parsed.get("password")
            if isinstance(password, str):
                secrets += [password, quote(password, safe=""), quote(password)]
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
        return cls(connection_class, options, _location(connection_class, options), tuple(secrets))

    def connection_options(self, *, socket_timeout: float, retry: Retry) -> dict[str, Any]:
        options = dict(self.options)
        options.update(socket_timeout=socket_timeout, retry=retry)
        if not issubclass(self.connection_class, UnixDomainSocketConnection):
            options["socket_keepalive"] = True
        return options

    def client(self, *, retries: int = 5) -> redis.Redis:
        """A pooled client whose commands are retried ``retries`` times with back-off."""
        retry = Retry(_BACKOFF, retries)
        pool = ConnectionPool(
            connection_class=self.connection_class,
            health_check_interval=30,
            **self.connection_options(socket_timeout=SOCKET_TIMEOUT_S, retry=retry),
        )
        return redis.Redis(connection_pool=pool)

    def connect(self, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> AbstractConnection:
        """A new connection, not pooled and not retried (its owner decides)."""
        options = self.connection_options(
            socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 0)
        )
        return self.connection_class(**options)


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


class LineLost(Exception):
    """The line's connection broke; replies of commands sent without waiting are lost."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class Line:
    """One dedicated connection; not thread-safe (its owner holds a lock around it).

    :meth:`send` writes a command without reading its reply; :meth:`defer` does not even
    write it yet: it leaves with the next command sent, in the same system call (or when
    owed replies are read). :meth:`call` first reads every reply still owed, then sends
    and waits. A broken connection raises :class:`LineLost` and forgets the owed replies:
    whether those commands ran is unknown, so their senders must make them safe to repeat.
    The connection is re-made on next use, and after a ``fork`` (a child never uses its
    parent's socket).
    """

    def __init__(
        self,
        target: RedisTarget,
        *,
        socket_timeout: float = SOCKET_TIMEOUT_S,
        max_idle_s: float = MAX_IDLE_S,
    ) -> None:
        self._target = target
        self._socket_timeout = socket_timeout
        self._max_idle_s = max_idle_s
        self._used_at = 0.0
        self._conn: _Connection | None = None
        self._io: _IO | None = None
        self._forks = _forks
        self._owed = 0
        self._deferred: list[bytes] = []
        self.errors: list[RedisError] = []
        self.lock = threading.RLock()

    @property
    def owed(self) -> int:
        return self._owed

    def _connection(self) -> _IO:
        if self._forks != _forks:  # the parent's socket: leave it alone, make our own
            self._conn, self._io, self._owed, self._forks = None, None, 0, _forks
            self._deferred.clear()
        now = time.monotonic()
        if self._io is not None and not self._owed and now - self._used_at > self._max_idle_s:
            self.drop()  # a connection idle that long may have been cut silently (NAT, proxy)
        self._used_at = now
        if self._io is None:
            conn: _Connection = self._target.connect(socket_timeout=self._socket_timeout)
            try:
                conn.connect()
            except BaseException as exc:
                self._broken(exc)
            self._conn, self._io = conn, _io(conn)
        return self._io

    def _broken(self, exc: BaseException) -> NoReturn:
        """Re-raise ``exc`` from a command: as :class:`LineLost` when the connection is gone.
        Interrupted mid-command (a stop signal), its state is unknown: dropped as well."""
        if isinstance(exc, RedisError) and not isinstance(exc, _LOST):
            raise exc  # the server's answer to a command: the connection is fine
        self.drop()
        if isinstance(exc, _LOST):
            raise LineLost(exc) from exc
        raise exc

    def drop(self) -> None:
        """Close the connection (forgetting owed replies); the next command reconnects."""
        conn, self._conn, self._io, self._owed = self._conn, None, None, 0
        self._deferred.clear()
        if conn is not None and self._forks == _forks:
            # a broken socket may fail to close; it is gone either way
            with contextlib.suppress(Exception):
                conn.disconnect()

    def _pack(self, args: tuple[Arg, ...]) -> bytes:
        """``args`` as the wire's bytes (called once :meth:`_connection` has made one)."""
        if _hiredis_pack is not None:
            return _hiredis_pack(args)
        assert self._conn is not None  # pragma: no cover - hiredis is in the redis extra
        return b"".join(self._conn.pack_command(*args))  # pragma: no cover

    def _write(self, io: _IO, packed: bytes | None) -> None:
        """Send the deferred commands and ``packed`` in one system call."""
        chunks, self._deferred = self._deferred, []
        if packed is not None:
            chunks.append(packed)
        if chunks:
            try:
                io.sendall(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            except BaseException as exc:
                self._broken(exc)

    def _read(self, io: _IO) -> object:
        try:
            return io.read()
        except BaseException as exc:
            self._broken(exc)

    def send(self, *args: Arg) -> None:
        self._write(self._connection(), self._pack(args))
        self._owed += 1

    def defer(self, *args: Arg) -> None:
        """Queue a command to go out with the next one: no system call of its own.

        Until then it exists only in this process: a crash before the next command loses
        it. Its reply is owed like :meth:`send`'s.
        """
        self._connection()  # (after a fork: forgets the parent's deferred commands)
        self._deferred.append(self._pack(args))
        self._owed += 1

    def read_owed(self) -> None:
        """Read every owed reply; errors in them are kept in :attr:`errors`, not raised."""
        io = self._connection()
        self._write(io, None)
        while self._owed:
            try:
                self._read(io)
            except RedisError as exc:  # a command's own error, e.g. OOM: reported by owner
                self.errors.append(exc)
            self._owed -= 1

    def call(self, *args: Arg) -> object:
        if self._owed:
            self.read_owed()
        io = self._connection()
        self._write(io, self._pack(args))
        return self._read(io)

    def script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> object:
        try:
            return self.call(*script.command(keys, args))
        except NoScriptError:
            self.call("SCRIPT", "LOAD", script.source)
            return self.call(*script.command(keys, args))

    def close(self) -> None:
        self.drop()
