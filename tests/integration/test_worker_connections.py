"""Workers keep Django's database connections as Django keeps them across requests.

Real ``queue_runner`` processes, a real Redis, and a real database: an SQLite file of the
test's own, and a PostgreSQL database created for the test (unique name) and dropped
after it. PostgreSQL is the shared server on 127.0.0.1:5432 (``DLQ_TEST_POSTGRES`` to
change it); without it, or without psycopg, its tests are skipped, except under
``CI=true``, where that is a failure.

The test tasks (``tests/testapp/tasks.py``) note which connection served each job: the
server process on PostgreSQL, a token in a temporary table (it lives as long as its
connection) on SQLite.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.runner_harness import Lab, RunnerProcess, lab_fixture, wait_until

pytestmark = pytest.mark.slow

POSTGRES = os.environ.get("DLQ_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``DATABASES["default"]`` for the runner: a database no other test uses."""
    if request.param == "sqlite":
        yield {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "jobs.sqlite3")}
        return
    psycopg = _psycopg()
    name = f"dlqtest_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"{POSTGRES} dbname=postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable(f"no PostgreSQL server at {POSTGRES!r}: {exc}")
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        params = dict(item.split("=", 1) for item in POSTGRES.split())
        yield {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": params.get("user", ""),
            "HOST": params.get("host", ""),
            "PORT": params.get("port", ""),
        }
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed")
    return psycopg


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _start(lab: Lab, database: dict[str, Any], **options: object) -> tuple[str, RunnerProcess]:
    """A runner with one worker on "default", jobs atomic (the default), ``options`` being
    the connection's (``CONN_MAX_AGE``, ``CONN_HEALTH_CHECKS``)."""
    settings = lab.settings(django={"DATABASES": {"default": {**database, **options}}})
    migrated = lab.run_command(settings, "migrate", "--run-syncdb", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr
    return settings, lab.start(settings)


def _served(lab: Lab, count: int) -> list[tuple[str, str, bool, int, int]]:
    """(token, connection, inside a transaction, leaked records seen, worker pid) of the
    first ``count`` jobs, once that many have run."""
    wait_until(lambda: len(lab.records("connections")) >= count, what=f"{count} jobs to run")
    return [(*record["values"], record["pid"]) for record in lab.records("connections")[:count]]


def _stop(runner: RunnerProcess) -> str:
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
    return runner.log()


def _leaked_rows(database: dict[str, Any]) -> int:
    """Committed 'leaked' records, read from outside the worker."""
    query = "SELECT count(*) FROM testapp_record WHERE name = 'leaked'"
    if database["ENGINE"].endswith("sqlite3"):
        with sqlite3.connect(database["NAME"]) as connection:
            return int(connection.execute(query).fetchone()[0])
    with _psycopg().connect(f"{POSTGRES} dbname={database['NAME']}") as connection:
        return int(connection.execute(query).fetchone()[0])


def test_with_conn_max_age_none_a_worker_keeps_one_connection(
    lab: Lab, database: dict[str, Any]
) -> None:
    for n in range(4):
        lab.enqueue("record_connection", f"job{n}")
    _, runner = _start(lab, database, CONN_MAX_AGE=None)
    served = _served(lab, 4)
    _stop(runner)
    assert len({pid for *_, pid in served}) == 1  # one worker process ran them all
    assert len({identity for _, identity, *_ in served}) == 1
    assert all(inside for _, _, inside, *_ in served)  # each in its job's transaction


def test_with_conn_max_age_0_each_job_gets_a_fresh_connection(
    lab: Lab, database: dict[str, Any]
) -> None:
    for n in range(3):
        lab.enqueue("record_connection", f"job{n}")
    _, runner = _start(lab, database, CONN_MAX_AGE=0)
    served = _served(lab, 3)
    _stop(runner)
    assert len({pid for *_, pid in served}) == 1
    assert len({identity for _, identity, *_ in served}) == 3


def test_a_job_never_sees_a_transaction_an_earlier_job_left_open(
    lab: Lab, database: dict[str, Any]
) -> None:
    ways = ("autocommit", "atomic", "begin")
    for how in ways:
        lab.enqueue("leave_transaction_open", how, how)
        lab.enqueue("record_connection", f"after {how}")
    _, runner = _start(lab, database, CONN_MAX_AGE=None)
    served = _served(lab, 2 * len(ways))
    log = _stop(runner)
    for i, how in enumerate(ways):
        (_, leaking, *_), (token, after, _, leaked_seen, _) = served[2 * i : 2 * i + 2]
        assert token == f"after {how}"
        assert after != leaking, f"the connection left open ({how}) served the next job"
        assert leaked_seen == 0
    assert _leaked_rows(database) == 0  # rolled back, never committed
    for problem in ("inside atomic()", "with autocommit off", "in a transaction Django did not"):
        assert f": the database connection 'default' was {problem}" in log, log
    assert "Traceback" not in log


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_connection_an_error_broke_is_replaced(lab: Lab, database: dict[str, Any]) -> None:
    lab.enqueue("break_connection", "breaks")
    lab.enqueue("record_connection", "next")
    _, runner = _start(lab, database, CONN_MAX_AGE=None)
    (_, broken, *_), (_, replacement, *_) = _served(lab, 2)
    _stop(runner)
    assert replacement != broken


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_health_checks_replace_a_connection_that_died_between_jobs(
    lab: Lab, database: dict[str, Any]
) -> None:
    lab.enqueue("record_connection", "first")
    _, runner = _start(lab, database, CONN_MAX_AGE=None, CONN_HEALTH_CHECKS=True)
    ((_, backend_pid, *_),) = _served(lab, 1)
    with _psycopg().connect(f"{POSTGRES} dbname=postgres", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [int(backend_pid)])
    lab.enqueue("record_connection", "second")
    (_, first, *_), (_, second, *_) = _served(lab, 2)
    log = _stop(runner)
    assert second != first
    assert "Traceback" not in log  # the second job ran on a new connection, untroubled
