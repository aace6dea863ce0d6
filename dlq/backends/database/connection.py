"""Connections of the database backend's own, apart from Django's.

Enqueueing goes through Django's connection for the alias, so that it joins the caller's
transaction. Everything else (claims, acknowledgements, leases, admin) goes through a
:class:`Session` this module opens from the same settings: a worker closes Django's
connections after every job, and a job's own ``transaction.atomic()`` must never wrap
dlq's bookkeeping. Each vendor's session lives in its own module.

A session belongs to the process that opened it: :class:`SessionHolder` opens one lazily
and, if it finds itself in a forked child, opens a new one without touching the
inherited one (closing it would end the parent's session on the server).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from dlq.core.protocols import StopSignal
from dlq.exceptions import BackendError, ConfigurationError, Problem

__all__ = [
    "Contended",
    "DatabaseTarget",
    "Result",
    "Role",
    "Session",
    "SessionHolder",
    "SessionLost",
    "Vendor",
    "check_name",
    "open_session",
]

Vendor = Literal["postgresql", "mysql", "sqlite"]
#: A worker's session waits for jobs and writes per-job markers; an admin session does
#: everything else. PostgreSQL gives the worker's ``synchronous_commit = off``.
Role = Literal["worker", "admin"]

_VENDORS: tuple[Vendor, ...] = ("postgresql", "mysql", "sqlite")
_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite"}

#: Kept, never closed or used: connections a forked child inherited (see the module doc).
_INHERITED: list[object] = []


class SessionLost(Exception):
    """The connection cannot be used any more; open a new one (after a back-off)."""


class Contended(Exception):
    """The database refused for now (a deadlock, a lock wait that timed out): retry soon."""


class Result(NamedTuple):
    rows: list[tuple[Any, ...]]
    rowcount: int


class Session(Protocol):
    """One connection, in autocommit; statements use the vendor's own placeholders."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result: ...

    def send(self, sql: str, params: Sequence[object] = ()) -> None:
        """Run it, without waiting for its reply where the driver allows (PostgreSQL):
        the statement has left the process when this returns."""

    def read_owed(self) -> None:
        """Read the replies :meth:`send` did not wait for; log the refusals."""

    def transaction(self) -> AbstractContextManager[None]:
        """BEGIN (SQLite: ``BEGIN IMMEDIATE``) ... COMMIT, or ROLLBACK on an exception."""

    def listen(self, channel: str) -> None:
        """Be woken by NOTIFYs on ``channel`` (PostgreSQL; elsewhere nothing)."""

    def prepare_wait(self) -> None:
        """Note the database's state before a claim that may find nothing."""

    def found_jobs(self) -> None:
        """A claim found jobs (polling starts again from its shortest interval)."""

    def wait_for_jobs(self, stop: StopSignal | None, timeout_s: float) -> None:
        """Return when new jobs may have arrived since :meth:`prepare_wait`, when ``stop``
        is set, or after ``timeout_s``, whichever is first."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the jobs are: a Django alias, its vendor, and a label for messages.

    The label names the alias, host and database, never the password.
    """

    alias: str
    vendor: Vendor
    label: str

    @classmethod
    def from_alias(cls, alias: str, setting: str) -> DatabaseTarget:
        if alias not in connections.settings:
            raise ConfigurationError(
                [
                    Problem(
                        setting,
                        f"{alias!r} is not in DATABASES",
                        expected=f"one of {sorted(connections.settings)}",
                    )
                ]
            )
        wrapper = connections[alias]
        vendor = wrapper.vendor
        if vendor not in _VENDORS:
            raise ConfigurationError(
                [
                    Problem(
                        setting,
                        f"the database {alias!r} is {vendor}",
                        expected="an alias of a PostgreSQL, MySQL/MariaDB or SQLite database",
                    )
                ]
            )
        config = wrapper.settings_dict
        where = str(config.get("NAME") or "")
        if vendor != "sqlite":
            host = config.get("HOST") or "localhost"
            port = f":{config['PORT']}" if config.get("PORT") else ""
            where = f"{host}{port}/{where}"
        # Not wrapper.display_name: on MySQL it connects, to tell MariaDB from MySQL.
        return cls(alias, vendor, f"{_NAMES[vendor]} database {alias!r} ({where})")

    def wrapper(self) -> BaseDatabaseWrapper:
        return connections[self.alias]


def open_session(target: DatabaseTarget, role: Role, logger: logging.Logger) -> Session:
    """A new connection of the backend's own for ``role``; :class:`SessionLost` if none."""
    wrapper = target.wrapper()
    if target.vendor == "postgresql":
        from dlq.backends.database.postgres import PostgresSession

        return PostgresSession.open(wrapper, target.label, role, logger)
    if target.vendor == "mysql":
        from dlq.backends.database.mysql import MysqlSession

        return MysqlSession.open(wrapper, target.label, logger)
    from dlq.backends.database.sqlite import SqliteSession

    return SqliteSession.open(wrapper, target.label)


class SessionHolder:
    """A lazily opened session for one role, reopened after a fork or a loss.

    ``using()`` yields the session under a lock; a :class:`SessionLost` from inside
    closes it, and the next ``using()`` opens a new one. Any other exception that leaves
    mid-statement (a signal's, say) closes it too: its replies can no longer be matched.
    """

    def __init__(
        self,
        target: DatabaseTarget,
        role: Role,
        logger: logging.Logger,
        opener: Callable[[DatabaseTarget, Role, logging.Logger], Session] = open_session,
    ) -> None:
        self.target = target
        self._role: Role = role
        self._log = logger
        self._opener = opener
        self._session: Session | None = None
        self._pid = 0
        self.lock = threading.RLock()
        #: Called with each new session (e.g. to LISTEN again).
        self.on_open: list[Callable[[Session], None]] = []

    @property
    def is_open(self) -> bool:
        return self._session is not None and self._pid == os.getpid()

    def current(self) -> Session | None:
        """The open session, if any, without opening one."""
        return self._session if self.is_open else None

    @contextmanager
    def using(self) -> Iterator[Session]:
        with self.lock:
            session = self._get()
            try:
                yield session
            except SessionLost:
                self.discard()
                raise
            except (Contended, BackendError):
                raise  # answered in full: the connection is in a known state
            except BaseException:
                self.discard()
                raise

    def _get(self) -> Session:
        if self._session is not None and self._pid != os.getpid():
            _INHERITED.append(self._session)
            self._session = None
        if self._session is None:
            session = self._opener(self.target, self._role, self._log)
            self._session, self._pid = session, os.getpid()
            try:
                for hook in self.on_open:
                    hook(session)
            except BaseException:
                self.discard()
                raise
        return self._session

    def discard(self) -> None:
        """Close the session (if this process opened it); the next use opens another."""
        session, self._session = self._session, None
        if session is not None and self._pid == os.getpid():
            try:
                session.close()
            except Exception:  # closing a broken connection may fail; it is gone anyway
                self._log.debug("closing a database session failed", exc_info=True)
        elif session is not None:
            _INHERITED.append(session)


def check_name(kind: str, value: str, limit: int) -> None:
    """Names longer than a column holds are refused before anything is written."""
    if len(value) > limit:
        raise BackendError(
            f"the {kind} {value[:40]!r}... is {len(value)} characters long; the database"
            f" backend's tables hold at most {limit}"
        )
