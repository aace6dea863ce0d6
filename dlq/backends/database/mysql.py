"""A MySQL/MariaDB session through mysqlclient (``MySQLdb``), the driver Django uses.

mysqlclient rather than PyMySQL: it is Django's recommended driver, and it parses replies
in C. It needs the client library's headers to build (``libmariadb-dev`` and
``pkg-config`` on Debian; ``scripts/test`` installs them when it can).

MySQL has no LISTEN: an idle worker polls, first after 5 ms, then twice as long each
time up to :data:`POLL_CAP_S`, and starts again from 5 ms once it finds a job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import MySQLdb
from django.db.backends.base.base import BaseDatabaseWrapper

from dlq.backends.database.connection import Contended, Result, SessionLost
from dlq.core.protocols import StopSignal
from dlq.core.waiting import wait_for_stop
from dlq.exceptions import BackendError

__all__ = ["POLL_CAP_S", "MysqlSession"]

POLL_FIRST_S = 0.005
POLL_CAP_S = 0.25
IO_TIMEOUT_S = 30
_SESSION_SETTINGS = (
    "SET time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET SESSION innodb_lock_wait_timeout = 10",
)
#: Client errors for a connection that is gone (2006 gone away, 2013 lost, 2002/2003
#: cannot connect, 2055 lost at ...) and server errors for a session being ended.
_LOST_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1927, 4031})
#: Deadlock, lock wait timeout.
_CONTENDED_CODES = frozenset({1213, 1205})


class MysqlSession:
    def __init__(self, conn: Any, label: str, logger: logging.Logger) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self._label = label
        self._log = logger
        self._poll_s = POLL_FIRST_S

    @classmethod
    def open(cls, wrapper: BaseDatabaseWrapper, label: str, logger: logging.Logger) -> MysqlSession:
        params = dict(wrapper.get_connection_params())
        params.setdefault("connect_timeout", 10)
        params.setdefault("read_timeout", IO_TIMEOUT_S)
        params.setdefault("write_timeout", IO_TIMEOUT_S)
        try:
            conn = wrapper.get_new_connection(params)
            conn.autocommit(True)
            cursor = conn.cursor()
            for statement in _SESSION_SETTINGS:
                cursor.execute(statement)
        except MySQLdb.Error as exc:
            raise SessionLost(f"cannot connect to the {label}: {exc}") from exc
        return cls(conn, label, logger)

    def _error(self, exc: MySQLdb.Error) -> Exception:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if code in _LOST_CODES or isinstance(exc, MySQLdb.InterfaceError):
            return SessionLost(f"lost the connection to the {self._label}: {exc}")
        if code in _CONTENDED_CODES:
            return Contended(f"the {self._label}: {exc}")
        return BackendError(f"the {self._label} refused a statement: {exc}")

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        try:
            count = self._cursor.execute(sql, tuple(params) if params else None)
            rows = list(self._cursor.fetchall()) if self._cursor.description else []
        except MySQLdb.Error as exc:
            raise self._error(exc) from exc
        return Result(rows, int(count or 0))

    def send(self, sql: str, params: Sequence[object] = ()) -> None:
        self.execute(sql, params)

    def read_owed(self) -> None:
        pass

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("START TRANSACTION")
        try:
            yield
        except (Contended, BackendError):
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def listen(self, channel: str) -> None:
        pass

    def prepare_wait(self) -> None:
        pass

    def found_jobs(self) -> None:
        self._poll_s = POLL_FIRST_S

    def wait_for_jobs(self, stop: StopSignal | None, timeout_s: float) -> None:
        wait_for_stop(stop, min(self._poll_s, max(0.0, timeout_s)))
        self._poll_s = min(POLL_CAP_S, self._poll_s * 2)

    def close(self) -> None:
        self._conn.close()
