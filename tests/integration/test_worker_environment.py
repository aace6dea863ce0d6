from __future__ import annotations

import pytest
from django.db import connection

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
