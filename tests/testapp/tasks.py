"""Tasks the tests enqueue. ``CALLS`` records what ran in this process."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import pydantic

from dlq import Backoff, task
from tests.testapp.models import Record

CALLS: list[tuple[str, object]] = []


@task()
def add(a: int, b: int = 0) -> int:
    CALLS.append(("add", (a, b)))
    return a + b


@task(queue="other")
def add_later(a: int) -> None:
    """Enqueues ``add(a)`` on the default queue: a job that makes another."""
    add(a)


@task(queue="other")
def untyped(first, second=None):  # type: ignore[no-untyped-def]  # upstream-style task on purpose
    CALLS.append(("untyped", (first, second)))


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(pydantic.BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Window:
    start: date
    end: date


@task()
def rich(
    when: datetime, amount: Decimal, ident: UUID, colour: Colour, point: Point, window: Window
) -> None:
    CALLS.append(("rich", (when, amount, ident, colour, point, window)))


@task()
def fails(message: str) -> None:
    CALLS.append(("fails", message))
    raise ValueError(message)


@task(atomic=True)
def write_then_fail(name: str) -> None:
    Record.objects.create(name=name)
    raise RuntimeError("rolled back")


@task(atomic=False)
def write_then_fail_not_atomic(name: str) -> None:
    Record.objects.create(name=name)
    raise RuntimeError("kept")


@task()
def write(name: str) -> None:
    Record.objects.create(name=name)


# -- tasks the process tests (tests/integration/test_runner_*.py) run in real workers ----
#
# They note what happened in "<DLQ_TEST_RECORDS>/<name>.jsonl" (the lab's directory: see
# tests/integration/runner_harness.py), so the test, in another process, can see which job
# ran, how often, when, and in which process, whatever backend the runner uses.


def _record(name: str, *values: object) -> None:
    import json
    import os
    import time

    directory = os.environ.get("DLQ_TEST_RECORDS")
    if not directory:
        raise RuntimeError(f"{name}: DLQ_TEST_RECORDS names no directory to note runs in")
    line = json.dumps({"values": values, "pid": os.getpid(), "at": time.time()})
    # One write of a whole line with O_APPEND: lines of several processes never interleave.
    fd = os.open(f"{directory}/{name}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@task()
def record(token: str) -> None:
    """Notes that it ran, under 'runs'."""
    _record("runs", token)


@task()
def record_slowly(token: str, sleep_s: float) -> None:
    """Notes its start under 'started', sleeps, then notes under 'runs'."""
    import time

    _record("started", token)
    time.sleep(sleep_s)
    _record("runs", token)


@task(sigkill_on_stop=True)
def record_slowly_killable(token: str, sleep_s: float) -> None:
    """As record_slowly, but killed at once when its worker is asked to stop."""
    import time

    _record("started", token)
    time.sleep(sleep_s)
    _record("runs", token)


@task(timeout=1)
def overrun(token: str, sleep_s: float) -> None:
    """Ignores SIGALRM and blocks every catchable signal, then sleeps past its timeout.

    Only a SIGKILL from outside can end it early: what upstream's SIGALRM cannot do.
    """
    import signal
    import time

    previous_alarm = signal.signal(signal.SIGALRM, signal.SIG_IGN)
    blocked = set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP}
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        _record("started", token)
        time.sleep(sleep_s)
        _record("runs", token)
    finally:  # when it did not overrun after all, leave the worker as it was
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        signal.signal(signal.SIGALRM, previous_alarm)


@task()
def crash(token: str) -> None:
    """Ends its worker process on the spot, as a segfault or an OOM kill would."""
    import os

    _record("started", token)
    os._exit(3)


@task()
def enqueue_follow_up(token: str) -> None:
    """Notes its run under 'runs' and enqueues ``record`` with ``token + '+'``: a task
    that writes to the job database while other workers do."""
    _record("runs", token)
    record(token + "+")


# -- tasks of tests/integration/test_worker_connections.py: what a job sees of the database --


def _connection_identity() -> str:
    """Which database connection this is: the server process on PostgreSQL; on SQLite, a
    token kept in a temporary table, which lives exactly as long as its connection."""
    import uuid

    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
            return str(cursor.fetchone()[0])
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS dlq_connection (token TEXT)")
        cursor.execute("SELECT token FROM dlq_connection")
        row = cursor.fetchone()
        if row is not None:
            return str(row[0])
        token = uuid.uuid4().hex
        cursor.execute("INSERT INTO dlq_connection (token) VALUES (%s)", [token])
        return token


@task()
def record_connection(token: str) -> None:
    """Notes, under 'connections', which connection served it, whether it was inside a
    transaction, and how many uncommitted 'leaked' records it could see."""
    from django.db import connection

    identity = _connection_identity()
    leaked = Record.objects.filter(name="leaked").count()
    _record("connections", token, identity, connection.in_atomic_block, leaked)


@task(atomic=False)
def leave_transaction_open(token: str, how: str) -> None:
    """Writes a 'leaked' record in a transaction it never ends, then returns.

    ``how``: "autocommit" (set_autocommit(False)), "atomic" (enters atomic() and never
    leaves it) or "begin" (a raw BEGIN Django knows nothing of).
    """
    from django.db import connection, transaction

    identity = _connection_identity()
    if how == "autocommit":
        transaction.set_autocommit(False)
    elif how == "atomic":
        transaction.atomic().__enter__()
    else:
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
    Record.objects.create(name="leaked")
    _record("connections", token, identity, True, 0)


@task(atomic=False)
def break_connection(token: str) -> None:
    """Ends its own database session from the server side (PostgreSQL), so that the
    connection the worker holds is dead, and fails on it as a real outage would."""
    from django.db import connection

    identity = _connection_identity()
    _record("connections", token, identity, False, 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


@task()
def crash_first_time(token: str, marker: str) -> None:
    """Ends its worker, as a crash would, the first time it runs (creating the file
    ``marker``); once ``marker`` exists, runs and notes ``token`` under 'runs'. With
    MAX_DELIVERIES=1 its first run makes it a dead letter that runs when requeued."""
    import os

    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        _record("started", token)
        os._exit(3)
    _record("runs", token)


# -- lifecycle (database helper) --


@task(retries=2, backoff=Backoff(base_s=0.2, jitter=False))
def fail_twice(token: str) -> None:
    """Notes ``token`` under 'attempts' on every run, raises on the first two (so its
    two retries are used), and notes it under 'runs' on the third."""
    from dlq import current_job

    attempt = current_job().attempt
    _record("attempts", token, attempt)
    if attempt < 3:
        raise ConnectionError(f"{token}: not yet")
    _record("runs", token)


# -- lifecycle (Redis helper) --


@task(retries=2, retry_on=(RuntimeError,), backoff=Backoff(base_s=0.2, jitter=False))
def fail_twice_then_succeed(token: str) -> None:
    """Notes each attempt's number under 'attempts', then raises on the first two: with
    ``retries=2`` the third attempt is its last, and succeeds."""
    from dlq import current_job

    attempt = current_job().attempt
    _record("attempts", token, attempt)
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} of {token} fails on purpose")


# -- tasks written against Django's task API (dlq.django_tasks runs them) ----------------
from tests.testapp import api_tasks, backport_tasks  # noqa: E402, F401
