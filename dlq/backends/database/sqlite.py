"""A SQLite session: WAL, a long busy timeout, ``BEGIN IMMEDIATE`` for every write.

Several processes share one database file. SQLite lets one of them write at a time and
makes the others wait (up to the busy timeout) *unless* a transaction that has already
read tries to write: then it fails at once with "database is locked", since waiting could
deadlock. So every transaction here that writes starts with ``BEGIN IMMEDIATE`` (it takes
the write lock first), and single statements run in autocommit, where SQLite takes the
lock and waits as needed. In WAL mode readers never wait for the writer; ``synchronous =
NORMAL`` makes commits skip the fsync, which a crashed process cannot undo (only a power
loss can, taking the last commits with it).

Idle workers poll ``PRAGMA data_version``, which changes when another connection commits:
an in-memory check, so they can look every few milliseconds and claim only when
something was written.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db.backends.base.base import BaseDatabaseWrapper

from dlq.backends.database.connection import Result, SessionLost
from dlq.core.protocols import StopSignal
from dlq.core.waiting import wait_for_stop
from dlq.exceptions import BackendError

__all__ = ["BUSY_TIMEOUT_MS", "SqliteSession"]

#: How long a statement waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 30_000
#: How often an idle worker looks at ``PRAGMA data_version``.
POLL_S = 0.002
_PLACEHOLDER = re.compile(r"%s|%%")


def _qmarks(sql: str) -> str:
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else "?", sql)


class SqliteSession:
    def __init__(self, conn: sqlite3.Connection, label: str) -> None:
        self._conn = conn
        self._label = label
        self._version: int | None = None
        self._sql_cache: dict[str, str] = {}

    @classmethod
    def open(cls, wrapper: BaseDatabaseWrapper, label: str) -> SqliteSession:
        params = dict(wrapper.get_connection_params())
        # Times stay text, as stored: their order is the text's, and SQL compares text.
        params["detect_types"] = 0
        try:
            conn = wrapper.get_new_connection(params)
            conn.isolation_level = None  # autocommit; transactions are spelt out
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise SessionLost(f"cannot open the {label}: {exc}") from exc
        if mode is None or str(mode[0]).lower() != "wal":
            conn.close()
            raise BackendError(
                f"the {label} cannot use write-ahead logging (journal mode {mode!r}):"
                " dlq's workers need a database file on a local disk"
            )
        return cls(conn, label)

    def _run(self, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
        text = self._sql_cache.get(sql)
        if text is None:
            text = self._sql_cache[sql] = _qmarks(sql)
        try:
            return self._conn.execute(text, tuple(params))
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # After BUSY_TIMEOUT_MS of waiting: not the normal contention.
                raise SessionLost(f"the {self._label} stayed locked: {exc}") from exc
            raise BackendError(f"the {self._label} refused a statement: {exc}") from exc
        except sqlite3.Error as exc:
            raise BackendError(f"the {self._label} refused a statement: {exc}") from exc

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        cursor = self._run(sql, params)
        rows = cursor.fetchall()
        return Result(rows, len(rows) if cursor.rowcount < 0 else cursor.rowcount)

    def send(self, sql: str, params: Sequence[object] = ()) -> None:
        self._run(sql, params)

    def read_owed(self) -> None:
        pass

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._run("BEGIN IMMEDIATE", ())
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._run("COMMIT", ())

    def listen(self, channel: str) -> None:
        pass

    def _data_version(self) -> int:
        return int(self.execute("PRAGMA data_version").rows[0][0])

    def found_jobs(self) -> None:
        pass

    def prepare_wait(self) -> None:
        self._version = self._data_version()

    def wait_for_jobs(self, stop: StopSignal | None, timeout_s: float) -> None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            if self._version is None or self._data_version() != self._version:
                self._version = None
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 or wait_for_stop(stop, min(POLL_S, remaining)):
                return

    def close(self) -> None:
        self._conn.close()
