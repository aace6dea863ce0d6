"""A pipelined connection to Redis, whose every reply is read by the command it answers.

A :class:`Line` is one dedicated connection for a hot path (enqueueing, or a worker's
dequeue and acknowledge). It can *send* a command without waiting for its reply, or
*defer* it to leave with the next one, and reads the replies it owes in one go before its
next waited-on command: the command has left the process before the caller moves on (so
it reaches Redis even if the process is killed next), yet costs no round trip. Redis runs
the commands of a connection in order, so anything sent later sees their effect.

Replies come back in the order the commands went out, so the line only has to count what
it owes. Whenever that count can be wrong, it discards the connection, closing it so that
no stale reply can ever be read as another command's, and the next one starts afresh:

* the connection failed (a socket error or timeout, a reply that cannot be parsed, the
  server closing it, or refusing a write as a replica after a failover):
  :class:`LineLost` is raised there and then;
* an operation was left half done: an exception (from a signal handler, say) escaped
  between writing a command and counting or reading its reply. The next operation finds
  it so and raises :class:`LineLost` before doing anything;
* a stop cut short the wait for a blocking command's reply (:meth:`Line.call_unless_stopped`
  returns :data:`STOPPED`; the caller accounts for what the command may have done);
* the process forked (a child never uses its parent's socket), or the connection sat idle
  longer than ``max_idle_s`` (it may have been cut silently, by a NAT or a proxy).

After :class:`LineLost`, whether the commands sent since the last reply read ran is
unknown: their senders must make them safe to repeat. An exception can also cut short the
discarding itself, before :class:`LineLost` is raised; :attr:`Line.losses` counts every
discard that forgot something, so an owner that compares it across a reply never takes
a lost command for a confirmed one.

Why this matters (issue #15's "unexpected reply from Redis: NoneType"): a worker's stop
signal used to raise ``StopWorker`` wherever the process was. Landing just after a
``BLMOVE`` had been written and before its reply was awaited, it left the connection in
place with the reply unaccounted for, and the worker's hand-back (script ``MOVE``) read
the pop's empty reply as its own.

How the bytes move (straight to the socket and to hiredis, or through redis-py's public
methods) is :mod:`dlq.backends.redis.wire`'s business.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from typing import Final, NoReturn

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, NoScriptError, ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dlq.backends.redis.connection import MAX_IDLE_S, SOCKET_TIMEOUT_S, RedisTarget
from dlq.backends.redis.scripts import Arg, LuaScript
from dlq.backends.redis.wire import RedisConnection, Wire, open_wire
from dlq.core.protocols import StopSignal

__all__ = ["STOPPED", "Line", "LineInterrupted", "LineLost"]

# A reply that cannot be parsed leaves the stream out of step: as good as lost, too.
_LOST = (RedisConnectionError, RedisTimeoutError, InvalidResponse, OSError)
# Error replies that mean "not here": the server hangs up ("max number of clients
# reached"), or it is a replica now (READONLY: a Sentinel failover demoted it, and a new
# connection finds the new master).
_LOST_REPLIES = (*_LOST, ReadOnlyError)

# How many forks lie between the first process and this one: a :class:`Line` made before
# the last fork must not touch its socket (comparing this is cheaper than os.getpid()).
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork() to survive
    os.register_at_fork(after_in_child=_forked)


class _Stopped:
    def __repr__(self) -> str:
        return "STOPPED"


#: What :meth:`Line.call_unless_stopped` returns when the stop came before the reply.
STOPPED: Final = _Stopped()


class LineInterrupted(Exception):
    """An earlier operation on the line was cut short between a write and its reply."""


class LineLost(Exception):
    """The line's connection is gone; replies of commands sent without waiting are lost."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class Line:
    """One dedicated connection; not thread-safe (its owner holds :attr:`lock` around it).

    :meth:`send` writes a command without reading its reply; :meth:`defer` does not even
    write it yet: it leaves with the next command sent, in the same system call (or when
    owed replies are read). :meth:`call` first reads every reply still owed, then sends
    and waits. The connection is made on first use and re-made after it was discarded
    (see the module's docstring). It always speaks RESP2. ``direct=False`` reads through
    redis-py's public methods only (slower; tests compare the two ways).
    """

    def __init__(
        self,
        target: RedisTarget,
        *,
        socket_timeout: float = SOCKET_TIMEOUT_S,
        max_idle_s: float = MAX_IDLE_S,
        direct: bool = True,
    ) -> None:
        self._target = target
        self._socket_timeout = socket_timeout
        self._max_idle_s = max_idle_s
        self._direct = direct
        self._used_at = 0.0
        self._conn: RedisConnection | None = None
        self._wire: Wire | None = None
        self._forks = _forks
        self._owed = 0
        self._deferred: list[bytes] = []
        # Set while an operation runs: still set at the next one, it was cut short.
        self._unfinished = False
        #: How many times a connection was discarded with replies owed, commands deferred
        #: or an operation cut short (counted first, so even a discard cut short counts).
        self.losses = 0
        self.errors: list[RedisError] = []
        self.lock = threading.RLock()

    @property
    def owed(self) -> int:
        """Replies of commands sent (or deferred) and not read yet."""
        return self._owed

    @property
    def direct(self) -> bool | None:
        """Whether replies are read straight from the socket; None while not connected."""
        return None if self._wire is None else self._wire.direct

    # -- the accounting -------------------------------------------------------------------

    def _begin(self) -> Wire:
        """Start an operation on a connection whose accounting is sound."""
        if self._forks != _forks:  # the parent's socket: leave it alone, make our own
            self._conn, self._wire, self._owed, self._forks = None, None, 0, _forks
            self._deferred.clear()
            self._unfinished = False
        if self._unfinished:
            self.drop()
            raise LineLost(LineInterrupted("an earlier command was cut short; replies unknown"))
        now = time.monotonic()
        if self._wire is not None and not self._owed and now - self._used_at > self._max_idle_s:
            self.drop()  # a connection idle that long may have been cut silently (NAT, proxy)
        self._used_at = now
        self._unfinished = True
        if self._wire is None:
            self._wire = self._connect()
        return self._wire

    def _connect(self) -> Wire:
        conn: RedisConnection = self._target.connect(
            socket_timeout=self._socket_timeout, protocol=2
        )
        self._conn = conn
        try:
            conn.connect()
            return open_wire(conn, direct=self._direct)
        except _LOST as exc:
            self._fail(exc)
        except BaseException:  # e.g. the server refused SELECT: nothing was sent yet
            self._close()
            raise

    def _fail(self, exc: BaseException) -> NoReturn:
        """The connection failed: discard it, and say so."""
        self.drop()
        raise LineLost(exc) from exc

    def drop(self) -> None:
        """Close the connection (forgetting owed replies); the next command reconnects."""
        if self._owed or self._deferred or self._unfinished:
            self.losses += 1
        self._close()

    def _close(self) -> None:
        conn, self._conn, self._wire, self._owed = self._conn, None, None, 0
        self._deferred.clear()
        self._unfinished = False
        if conn is not None and self._forks == _forks:
            # a broken socket may fail to close; it is gone either way
            with contextlib.suppress(Exception):
                conn.disconnect()

    def _write(self, wire: Wire, packed: bytes | None) -> None:
        """Send the deferred commands and ``packed`` in one system call."""
        deferred = self._deferred
        if deferred:
            if packed is not None:
                deferred.append(packed)
            packed = deferred[0] if len(deferred) == 1 else b"".join(deferred)
            deferred.clear()
        elif packed is None:
            return
        try:
            wire.send(packed)
        except _LOST as exc:
            self._fail(exc)

    def _read(self, wire: Wire) -> object:
        """The next reply; the server's error reply is returned, a failure raised."""
        try:
            reply = wire.read()
        except _LOST as exc:
            self._fail(exc)
        if isinstance(reply, _LOST_REPLIES):
            self._fail(reply)
        return reply

    def _read_owed(self, wire: Wire) -> None:
        self._write(wire, None)
        while self._owed:
            reply = self._read(wire)
            self._owed -= 1
            if isinstance(reply, RedisError):  # a command's own error, e.g. OOM
                self.errors.append(reply)

    def _finish(self, reply: object) -> object:
        """End a waited-on command: its reply, or the server's refusal raised."""
        self._unfinished = False
        if isinstance(reply, RedisError):
            raise reply  # the server's answer to this command: the connection is fine
        return reply

    # -- commands ---------------------------------------------------------------------------

    def send(self, *args: Arg) -> None:
        wire = self._begin()
        self._write(wire, wire.pack(args))
        self._owed += 1
        self._unfinished = False

    def defer(self, *args: Arg) -> None:
        """Queue a command to go out with the next one: no system call of its own.

        Until then it exists only in this process: a crash before the next command loses
        it. Its reply is owed like :meth:`send`'s.
        """
        wire = self._begin()
        self._deferred.append(wire.pack(args))
        self._owed += 1
        self._unfinished = False

    def read_owed(self) -> None:
        """Read every owed reply; errors in them are kept in :attr:`errors`, not raised."""
        self._read_owed(self._begin())
        self._unfinished = False

    def call(self, *args: Arg) -> object:
        wire = self._begin()
        if self._owed:
            self._read_owed(wire)
        self._write(wire, wire.pack(args))
        return self._finish(self._read(wire))

    def call_unless_stopped(self, stop: StopSignal, *args: Arg) -> object:
        """:meth:`call` for a blocking command, whose wait ``stop`` cuts short.

        Returns :data:`STOPPED` when ``stop`` is set before the reply arrives: the
        connection is then discarded with the reply it owes, and whether the command
        ran is unknown. Owed replies of earlier commands were read before it was sent.
        """
        wire = self._begin()
        if self._owed:
            self._read_owed(wire)
        self._write(wire, wire.pack(args))
        try:
            answered = wire.wait(stop.fileno(), self._socket_timeout)
        except _LOST as exc:
            self._fail(exc)
        if not answered:
            self._close()  # the caller accounts for the blocking command: no loss
            return STOPPED
        return self._finish(self._read(wire))

    def script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> object:
        try:
            return self.call(*script.command(keys, args))
        except NoScriptError:
            self.call("SCRIPT", "LOAD", script.source)
            return self.call(*script.command(keys, args))

    def close(self) -> None:
        self.drop()
