from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from dlq.conf import get_runtime
from dlq.domain.envelope import Job
from dlq.domain.outcome import Succeeded
from dlq.management.workers import worker_environment

DONE = Succeeded(None, 0.0)


@pytest.mark.django_db(transaction=True)
def test_database_connections_are_closed_after_a_job_that_opened_one() -> None:
    env = worker_environment(get_runtime())
    job = Job.create("tests.testapp.tasks.add", [1, 2], {}, now=get_runtime().now())
    connection.ensure_connection()
    env.after_job(job, DONE)
    assert connection.connection is None
    env.after_job(job, DONE)  # nothing opened since: nothing to close, no error
    connection.ensure_connection()  # opened during the next job
    env.after_job(job, DONE)
    assert connection.connection is None


@pytest.fixture
def kept_connections() -> Iterator[None]:
    """The default database with CONN_MAX_AGE = None (connections kept) for one test."""
    connection.close()
    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = None
    try:
        yield
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = before
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kept_connections")
def test_a_connection_is_kept_across_jobs_while_conn_max_age_allows() -> None:
    env = worker_environment(get_runtime())
    job = Job.create("tests.testapp.tasks.write", ["kept"], {}, now=get_runtime().now())
    assert isinstance(
        env.run_job(job, "default"), Succeeded
    )  # opens a connection, in a transaction
    env.after_job(job, DONE)
    kept = connection.connection
    assert kept is not None
    assert isinstance(env.run_job(job, "default"), Succeeded)
    env.after_job(job, DONE)
    assert connection.connection is kept


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("kept_connections")
def test_a_connection_left_in_a_transaction_is_closed_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = worker_environment(get_runtime())
    job = Job.create("tests.testapp.tasks.write", ["left"], {}, now=get_runtime().now())
    transaction.atomic().__enter__()  # as a task that never leaves its block
    env.after_job(job, DONE)
    assert connection.connection is None
    assert not connection.in_atomic_block
    assert (
        f"After {job}: the database connection 'default' was inside atomic(); closed it"
        in caplog.text
    )
    with transaction.atomic():  # the next job's transaction opens a fresh connection
        connection.ensure_connection()


@pytest.mark.django_db(transaction=True)
def test_the_runner_closes_database_connections_before_it_forks() -> None:
    env = worker_environment(get_runtime())
    connection.ensure_connection()
    env.before_fork()
    assert connection.connection is None


def test_a_fork_gets_backends_of_its_own_and_keeps_the_settings() -> None:
    runtime = get_runtime()
    env = worker_environment(runtime)
    settings, backend = runtime.settings, env.backend_for("default")
    env.before_fork()
    assert env.backend_for("default") is not backend  # no socket shared with a child
    backend = env.backend_for("default")
    env.after_fork()
    assert env.backend_for("default") is not backend
    assert runtime.settings is settings  # not built again for every recycled worker
