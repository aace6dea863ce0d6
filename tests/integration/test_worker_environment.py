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
