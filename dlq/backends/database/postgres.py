"""A PostgreSQL session over libpq's pipeline mode (``psycopg.pq``).

Why not psycopg's cursors: a worker writes a "started" marker before each job and must
not wait for the reply (the job should start at once), but the marker must have left the
process before the job starts. In pipeline mode a statement is sent with its own Sync,
so it commits on its own, and its reply is read later, with the next statement's; replies
come back in order, so a statement sent after another runs after it. A process killed
after sending loses nothing it sent: the server still runs what reached it.

The session also LISTENs: notifications arrive on the same socket, are queued by libpq
while replies are read, and wake :meth:`PostgresSession.wait_for_jobs`.

A worker's session sets ``synchronous_commit = off``: its commits (claims, markers,
acknowledgements) return before the WAL reaches the disk. A crash of the *server* may
then forget the last few of them: a claimed job goes back to waiting, a finished job runs
again, a lost marker leaves a delivery uncounted. Enqueues go through Django's connection
and keep the database's setting; any later synchronous commit makes earlier ones durable.
"""

from __future__ import annotations

import logging
import re
import select
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

from dlq.backends.database.connection import Contended, Result, Role, SessionLost
from dlq.core.protocols import StopSignal
from dlq.exceptions import BackendError

__all__ = ["PostgresSession"]

#: The longest wait for a reply or for the socket to take a statement.
IO_TIMEOUT_S = 30.0
_SESSION_SETTINGS = (
    "SET TIME ZONE 'UTC'",
    "SET statement_timeout = '30s'",
    "SET lock_timeout = '10s'",
    "SET idle_in_transaction_session_timeout = '60s'",
)
_PLACEHOLDER = re.compile(r"%s|%%")
_INT8 = 20  # the oid of bigint
#: Prepared statements per session at most (their texts vary with IN lists' lengths).
_MAX_PREPARED = 32
#: SQLSTATE classes and codes that mean the connection is gone or going.
_LOST_STATES = ("08", "57P01", "57P02", "57P03")
_CONTENDED_STATES = ("40001", "40P01", "55P03")


def _numbered(sql: str) -> bytes:
    """``%s`` placeholders as ``$1``, ``$2`` ... and ``%%`` as ``%``."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(
        lambda m: "%" if m.group() == "%%" else f"${next(counter)}", sql
    ).encode()


class PostgresSession:
    def __init__(self, conn: psycopg.Connection[Any], label: str, logger: logging.Logger) -> None:
        self._conn = conn
        self._pg = conn.pgconn
        self._label = label
        self._log = logger
        self._tx = Transformer(conn)
        #: Per statement sent and not yet read: whether its rows are wanted.
        self._owed: deque[bool] = deque()
        self._sql_cache: dict[str, bytes] = {}
        self._prepared: dict[str, bytes] = {}

    @classmethod
    def open(
        cls, wrapper: BaseDatabaseWrapper, label: str, role: Role, logger: logging.Logger
    ) -> PostgresSession:
        params = dict(wrapper.get_connection_params())
        params.pop("cursor_factory", None)
        params.setdefault("connect_timeout", 10)
        params["application_name"] = f"dlq {role}"
        try:
            conn = psycopg.connect(**params, autocommit=True)
        except psycopg.OperationalError as exc:
            raise SessionLost(f"cannot connect to the {label}: {exc}") from exc
        try:
            for statement in _SESSION_SETTINGS:
                conn.execute(statement)
            if role == "worker":
                conn.execute("SET synchronous_commit = off")
            conn.pgconn.enter_pipeline_mode()
        except psycopg.Error as exc:
            conn.close()
            raise SessionLost(f"cannot set up a session on the {label}: {exc}") from exc
        return cls(conn, label, logger)

    # -- statements ---------------------------------------------------------------------

    def _sql(self, sql: str) -> bytes:
        encoded = self._sql_cache.get(sql)
        if encoded is None:
            encoded = self._sql_cache[sql] = _numbered(sql)
        return encoded

    def send(self, sql: str, params: Sequence[object] = ()) -> None:
        self._send(sql, params, wanted=False)

    def _send(self, sql: str, params: Sequence[object], *, wanted: bool) -> None:
        try:
            if all(value is None or type(value) is int for value in params):
                self._send_prepared(sql, params)
            else:
                values = self._tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
                self._pg.send_query_params(self._sql(sql), values, self._tx.types, self._tx.formats)
            self._pg.pipeline_sync()
            self._owed.append(wanted)
            self._flush()
        except psycopg.OperationalError as exc:
            raise SessionLost(f"lost the connection to the {self._label}: {exc}") from exc

    def _send_prepared(self, sql: str, params: Sequence[object]) -> None:
        """A statement whose parameters are all integers (the per-job marker, above all):
        prepared once with ``bigint`` parameters, so that the server does not parse and
        plan it for every job."""
        values = [None if value is None else str(value).encode() for value in params]
        name = self._prepared.get(sql)
        if name is None:
            if len(self._prepared) >= _MAX_PREPARED:
                self._pg.send_query_params(self._sql(sql), values, [_INT8] * len(params))
                return
            name = self._prepared[sql] = f"dlq{len(self._prepared)}".encode()
            self._pg.send_prepare(name, self._sql(sql), [_INT8] * len(params))
            self._pg.pipeline_sync()
            self._owed.append(False)
        self._pg.send_query_prepared(name, values)

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        self._send(sql, params, wanted=True)
        result = Result([], 0)
        while self._owed:
            wanted = self._owed[0]
            got = self._read_one()
            if wanted:
                result = got
        return result

    def read_owed(self) -> None:
        while self._owed:
            self._read_one()

    def _read_one(self) -> Result:
        """Read the reply to the oldest statement sent: its results, then its Sync's."""
        wanted = self._owed.popleft()
        error: psycopg.Error | None = None
        result = Result([], 0)
        try:
            while (res := self._next_result()) is not None:
                status = res.status
                if status == pq.ExecStatus.TUPLES_OK:
                    self._tx.set_pgresult(res)
                    result = Result(self._tx.load_rows(0, res.ntuples, tuple), res.ntuples)
                elif status == pq.ExecStatus.COMMAND_OK:
                    result = Result([], res.command_tuples or 0)
                elif status == pq.ExecStatus.FATAL_ERROR:
                    error = psycopg.errors.error_from_result(res, encoding=self._tx.encoding)
            sync = self._next_result()
            if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
                raise SessionLost(f"the {self._label} answered out of order")
        except psycopg.OperationalError as exc:
            raise SessionLost(f"lost the connection to the {self._label}: {exc}") from exc
        if error is not None:
            state = error.sqlstate or ""
            if state.startswith(_LOST_STATES):
                raise SessionLost(f"the {self._label} ended the session: {error}") from error
            if state in _CONTENDED_STATES:
                raise Contended(f"the {self._label}: {error}") from error
            if not wanted:
                self._log.error(
                    "the %s refused a queue bookkeeping statement: %s", self._label, error
                )
                return result
            raise BackendError(f"the {self._label} refused a statement: {error}") from error
        return result

    def _next_result(self) -> pq.abc.PGresult | None:
        deadline = time.monotonic() + IO_TIMEOUT_S
        while self._pg.is_busy():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionLost(f"no reply from the {self._label} within {IO_TIMEOUT_S:g}s")
            readable, _, _ = select.select([self._pg.socket], [], [], remaining)
            if readable:
                self._pg.consume_input()
        return self._pg.get_result()

    def _flush(self) -> None:
        deadline = time.monotonic() + IO_TIMEOUT_S
        while self._pg.flush():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionLost(f"the {self._label} took no data for {IO_TIMEOUT_S:g}s")
            readable, _writable, _ = select.select(
                [self._pg.socket], [self._pg.socket], [], remaining
            )
            if readable:  # the server may wait for us to read before it reads more
                self._pg.consume_input()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.send("BEGIN")
        try:
            yield
        except (Contended, BackendError):
            self.execute("ROLLBACK")
            raise
        except BaseException:
            # A statement may be half-sent or its reply unread: the holder discards us.
            raise
        self.execute("COMMIT")

    # -- waiting -------------------------------------------------------------------------

    def listen(self, channel: str) -> None:
        self.execute(f'LISTEN "{channel}"')

    def found_jobs(self) -> None:
        pass

    def prepare_wait(self) -> None:
        """Forget the notifications so far: the claim that follows sees their jobs."""
        try:
            self._pg.consume_input()
            while self._pg.notifies() is not None:
                pass
        except psycopg.OperationalError as exc:
            raise SessionLost(f"lost the connection to the {self._label}: {exc}") from exc

    def wait_for_jobs(self, stop: StopSignal | None, timeout_s: float) -> None:
        self.read_owed()
        deadline = time.monotonic() + max(0.0, timeout_s)
        fds = [self._pg.socket] + ([stop.fileno()] if stop is not None else [])
        try:
            while True:
                self._pg.consume_input()
                if self._pg.notifies() is not None:
                    return
                if stop is not None and stop.is_set():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                select.select(fds, [], [], remaining)
        except psycopg.OperationalError as exc:
            raise SessionLost(f"lost the connection to the {self._label}: {exc}") from exc

    def close(self) -> None:
        self._owed.clear()
        self._conn.close()
