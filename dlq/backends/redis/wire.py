"""A :class:`~dlq.backends.redis.line.Line`'s bytes: the one module that reaches into redis-py.

A worker pays for the replies of every job it runs, so a line reads them straight from the
connection's socket into a hiredis reply reader of its own, past redis-py's wrappers (a
tenth of their cost per reply), and writes commands packed by hiredis straight to the
socket. redis-py still makes the connection (TCP, TLS or unix socket, the password, the
database, its timeouts); what this module takes from it that redis-py does not publish:

* ``Connection._sock``, the connected socket;
* ``Connection._parser.parse_error``, which turns a server's error reply into redis-py's
  exception for it (``NoScriptError`` for ``NOSCRIPT``, ``ReadOnlyError``, ...), so that
  both ways of reading raise the same exceptions.

:func:`open_wire` takes the direct way only when both are there, hiredis is installed and
the connection holds no unread data (asked with redis-py's public ``can_read``, which
consumes nothing: a reply already buffered by redis-py would be lost to a reader of our
own, so such a connection is read through redis-py instead). Otherwise, as with any other
redis-py layout, it goes through redis-py's public methods (``send_packed_command``,
``read_response``, ``can_read``): slower, never wrong. ``pyproject.toml`` bounds redis-py
to the releases the test suite has run, and ``tests/integration/test_redis_line.py``
checks that the direct way is taken with them.

Both ways assume RESP2, where every reply answers one command in order: the line asks
for it whatever ``REDIS_URL`` says (a RESP3 connection may receive push messages, which
answer no command and would put every later reply out of step).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dlq.backends.redis.scripts import Arg

__all__ = ["RedisConnection", "Wire", "direct_wire", "open_wire", "public_wire"]

_hiredis_reader: Callable[..., _Reader] | None
_hiredis_pack: Callable[[tuple[Arg, ...]], bytes] | None
try:  # hiredis packs a command in C, several times faster than redis-py's wrapper
    from hiredis import Reader as _HiredisReader
    from hiredis import pack_command as _pack_command
except ImportError:  # pragma: no cover - hiredis is in the redis extra
    _hiredis_reader = _hiredis_pack = None
else:
    _hiredis_reader = cast("Callable[..., _Reader]", _HiredisReader)
    _hiredis_pack = cast("Callable[[tuple[Arg, ...]], bytes]", _pack_command)  # stub: a 1-tuple

#: What our own hiredis reader returns for "no whole reply yet" (no reply can be it).
_NONE_YET = object()
_READ_SIZE = 65536
#: The public way cannot wait on a stop's descriptor beside the socket: it looks between
#: slices this long.
_PUBLIC_WAIT_SLICE_S = 0.05


class _Reader(Protocol):
    """The part of ``hiredis.Reader`` used here."""

    def feed(self, buffer: bytearray, offset: int, length: int) -> None: ...

    def gets(self) -> object: ...

    def has_data(self) -> bool: ...


class RedisConnection(Protocol):
    """The part of a redis-py connection a line uses (redis-py leaves it unannotated)."""

    def pack_command(self, *args: Arg) -> list[bytes]: ...

    def connect(self) -> None: ...

    def send_packed_command(self, command: list[bytes], check_health: bool = ...) -> None: ...

    def read_response(self) -> object: ...

    def can_read(self, timeout: float = ...) -> bool: ...

    def disconnect(self) -> None: ...


class Wire(NamedTuple):
    """How a line talks over one connected connection.

    ``read`` returns the next reply; an error reply is returned as redis-py's exception,
    not raised. It raises when the connection fails (an ``OSError``, redis-py's
    ``ConnectionError`` or ``TimeoutError``, ``InvalidResponse``). ``wait(fd, timeout_s)``
    returns True once a reply has begun to arrive and False once ``fd`` is readable first;
    it raises ``TimeoutError`` when neither happens within ``timeout_s``.
    """

    pack: Callable[[tuple[Arg, ...]], bytes]
    send: Callable[[bytes], None]
    read: Callable[[], object]
    wait: Callable[[int, float], bool]
    #: True when replies are read straight from the socket (see the module's docstring).
    direct: bool


def open_wire(conn: RedisConnection, *, direct: bool = True) -> Wire:
    """The way to talk over ``conn`` (connected, RESP2): direct when it can be, and
    ``direct`` allows it; through redis-py's public methods otherwise."""
    if direct:
        wire = direct_wire(conn)
        if wire is not None:
            return wire
    return public_wire(conn)


def _packer(conn: RedisConnection) -> Callable[[tuple[Arg, ...]], bytes]:
    if _hiredis_pack is not None:
        return _hiredis_pack
    return lambda args: b"".join(conn.pack_command(*args))  # pragma: no cover


def direct_wire(conn: RedisConnection) -> Wire | None:
    """Straight to ``conn``'s socket, or None when that cannot be done safely."""
    sock = getattr(conn, "_sock", None)
    parse_error = getattr(getattr(conn, "_parser", None), "parse_error", None)
    recv_into = getattr(sock, "recv_into", None)
    sendall = getattr(sock, "sendall", None)
    fileno = getattr(sock, "fileno", None)
    if (
        _hiredis_reader is None
        or not callable(parse_error)
        or not callable(recv_into)
        or not callable(sendall)
        or not callable(fileno)
        or conn.can_read(timeout=0)  # unread data, or the server has closed it already
    ):
        return None
    reader = _hiredis_reader(
        protocolError=InvalidResponse, replyError=parse_error, notEnoughData=_NONE_YET
    )
    gets, feed, has_data = reader.gets, reader.feed, reader.has_data
    buffer = bytearray(_READ_SIZE)
    # Decrypted TLS bytes wait above the socket, where poll() does not see them.
    pending = getattr(sock, "pending", None)
    sock_fd = fileno()

    def read() -> object:
        reply = gets()
        while reply is _NONE_YET:
            received = recv_into(buffer)
            if not received:
                raise RedisConnectionError("Connection closed by server.")
            feed(buffer, 0, received)
            reply = gets()
        return reply

    def wait(fd: int, timeout_s: float) -> bool:
        if has_data() or (callable(pending) and pending()):
            return True
        poller = select.poll()
        poller.register(sock_fd, select.POLLIN)
        poller.register(fd, select.POLLIN)
        events = poller.poll(timeout_s * 1000)
        if not events:
            raise RedisTimeoutError("Timeout reading from socket")
        # Both at once: the reply, which is read (and so accounted for) rather than lost.
        return any(ready == sock_fd for ready, _ in events)

    return Wire(_packer(conn), sendall, read, wait, direct=True)


def public_wire(conn: RedisConnection) -> Wire:
    """Through redis-py's public methods only."""

    def send(data: bytes) -> None:
        conn.send_packed_command([data], check_health=False)

    def read() -> object:
        try:
            return conn.read_response()
        except ResponseError as exc:  # the server's refusal of one command: a reply
            return exc

    def wait(fd: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not conn.can_read(timeout=_PUBLIC_WAIT_SLICE_S):
            if select.select([fd], [], [], 0)[0]:
                return False
            if time.monotonic() >= deadline:
                raise RedisTimeoutError("Timeout reading from socket")
        return True

    return Wire(_packer(conn), send, read, wait, direct=False)
