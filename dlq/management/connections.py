"""Django's database connections in a worker: kept across jobs as Django keeps them
across requests.

Before and after every job, each connection the worker opened is looked at as Django's
``close_old_connections()`` does at the start and end of a request (and Celery's Django
fix-up around a task): kept while ``CONN_MAX_AGE`` allows, closed once older, closed if
an error left it unusable, and health-checked by its next query when
``CONN_HEALTH_CHECKS`` is on (so once per job, as once per request). With Django's
default ``CONN_MAX_AGE = 0`` that closes every connection a job opened, as upstream does.

One thing Django leaves to the end of a request is checked here too, because a worker's
next job would inherit it: a connection left in a transaction (a task that called
``transaction.set_autocommit(False)``, entered ``atomic()`` without leaving it, or sent a
raw ``BEGIN``) is closed, which rolls the transaction back, and the worker says so.

The cost per job is tiny: a worker that opened no connection reads one attribute; one
that keeps a connection asks Django about that connection only (``connections.all()``
looks up every alias in a context-local store and costs microseconds).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

__all__ = ["JobConnections"]

# psycopg's transaction statuses (pq.TransactionStatus; psycopg2's TRANSACTION_STATUS_*
# have the same values): in a transaction, in a failed one, and a connection gone bad.
_PG_IN_TRANSACTION = frozenset({2, 3})
_PG_UNKNOWN = 4


class JobConnections:
    """Tidies the database connections a worker process opened, around each job."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        # Wrappers that connected in this process's main thread (the one running jobs),
        # from now on and before. Another thread's connections are that thread's
        # business: Django forbids touching them from here.
        self._opened: list[BaseDatabaseWrapper] = [
            wrapper
            for wrapper in connections.all(initialized_only=True)
            if wrapper.connection is not None
        ]
        connection_created.connect(self._note, weak=True)

    def _note(self, sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
        if threading.current_thread() is threading.main_thread() and not any(
            known is connection for known in self._opened
        ):
            self._opened.append(connection)

    def before_job(self) -> None:
        """Like Django at ``request_started``: drop what must not serve the next job."""
        if self._opened:
            self._tidy(None)

    def after_job(self, job: object) -> None:
        """Like Django at ``request_finished``: close what must not be kept."""
        if self._opened:
            self._tidy(job)

    def _tidy(self, job: object | None) -> None:
        kept = []
        for wrapper in self._opened:
            if wrapper.connection is not None:
                self._tidy_one(wrapper, job)
            if wrapper.connection is not None:
                kept.append(wrapper)
        self._opened = kept

    def _tidy_one(self, wrapper: BaseDatabaseWrapper, job: object | None) -> None:
        try:
            problem = _transaction_left_open(wrapper)
            if problem is None:
                wrapper.close_if_unusable_or_obsolete()
                return
            self._logger.warning(
                "%s: the database connection %r was %s; closed it, so the database rolls back"
                " what was not committed",
                "Before a job" if job is None else f"After {job}",
                wrapper.alias,
                problem,
            )
        except Exception:
            self._logger.exception(
                "The database connection %r could not be checked; closing it", wrapper.alias
            )
        _discard(wrapper, self._logger)


def _transaction_left_open(wrapper: BaseDatabaseWrapper) -> str | None:
    """How ``wrapper`` was left in a transaction, if it was; None when it was not."""
    if wrapper.in_atomic_block:
        return "inside atomic()"
    if wrapper.autocommit != wrapper.settings_dict["AUTOCOMMIT"]:
        return "with autocommit off"
    if not wrapper.autocommit:
        return None  # the project runs without autocommit: its transactions are its own
    # A raw BEGIN leaves the driver in a transaction that Django knows nothing of.
    raw: Any = wrapper.connection
    if wrapper.vendor == "sqlite" and raw.in_transaction:
        return "in a transaction Django did not open"
    if wrapper.vendor == "postgresql":
        status = raw.info.transaction_status
        if status in _PG_IN_TRANSACTION:
            return "in a transaction Django did not open"
        if status == _PG_UNKNOWN:
            return "broken"
    return None


def _discard(wrapper: BaseDatabaseWrapper, logger: logging.Logger) -> None:
    """Close ``wrapper`` so that its next use connects afresh, whatever state it is in.

    Inside an atomic block Django's ``close()`` keeps the closed connection and refuses
    to open another ("Cannot open a new connection in an atomic block"), so the block is
    forgotten first; ``connect()`` resets the rest of the transaction state.
    """
    wrapper.in_atomic_block = False
    try:
        wrapper.close()
    except Exception:
        logger.exception("Closing the database connection %r failed", wrapper.alias)
        wrapper.connection = None
