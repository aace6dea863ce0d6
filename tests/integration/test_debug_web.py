"""The debug-web backend prints a URL; its page shows, runs and rolls back the job."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings

from dlq.backends.debug_web import DebugWebBackend
from dlq.conf import DjangoRuntime
from tests.testapp import tasks
from tests.testapp.models import Record

pytestmark = pytest.mark.django_db(transaction=True)


def printed_url(runtime: DjangoRuntime, call: object = None) -> str:
    backend = runtime.backend_for("default")
    assert isinstance(backend, DebugWebBackend)
    backend._out = io.StringIO()
    tasks.write("<b>debug</b>")
    return backend._out.getvalue().split("at: ", 1)[1].strip()


@override_settings(
    LIGHTWEIGHT_QUEUE_BACKEND="django_lightweight_queue.backends.debug_web.DebugWebBackend",
    DEBUG=True,
)
def test_page_runs_the_job_and_rolls_it_back(runtime: DjangoRuntime) -> None:
    url = printed_url(runtime)
    client = Client(enforce_csrf_checks=True)
    shown = client.get(url)
    assert shown.status_code == 200
    assert b"&lt;b&gt;debug&lt;/b&gt;" in shown.content
    assert b"<b>debug</b>" not in shown.content
    assert not Record.objects.exists()
    token = client.cookies["csrftoken"].value
    payload = parse_qs(urlsplit(url).query)["job"][0]
    ran = client.post(urlsplit(url).path, {"job": payload, "csrfmiddlewaretoken": token})
    assert ran.status_code == 200
    assert b"Succeeded" in ran.content
    assert b"Running tests.testapp.tasks.write" in ran.content
    assert not Record.objects.exists()


@override_settings(LIGHTWEIGHT_QUEUE_BACKEND="dlq.backends.debug_web.DebugWebBackend", DEBUG=True)
def test_post_without_csrf_token_is_refused(runtime: DjangoRuntime) -> None:
    url = printed_url(runtime)
    payload = parse_qs(urlsplit(url).query)["job"][0]
    response = Client(enforce_csrf_checks=True).post(urlsplit(url).path, {"job": payload})
    assert response.status_code == 403


@override_settings(DEBUG=False)
def test_page_is_404_without_debug() -> None:
    assert Client().get("/dlq/debug/run/?job=x").status_code == 404


@override_settings(DEBUG=True)
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"path": "os.system", "args": ["id"], "kwargs": {}}', b"is not a registered task"),
        ("<script>", b"malformed job payload"),
    ],
)
def test_page_refuses_what_is_not_a_registered_task(payload: str, message: bytes) -> None:
    response = Client().get("/dlq/debug/run/", {"job": payload})
    assert response.status_code == 400
    assert message in response.content
    assert b"<script>" not in response.content


@override_settings(LIGHTWEIGHT_QUEUE_BACKEND="dlq.backends.debug_web.DebugWebBackend", DEBUG=True)
def test_a_delayed_job_s_url_says_when_it_was_due_and_a_retry_is_described(
    runtime: DjangoRuntime,
) -> None:
    from datetime import UTC, datetime

    from tests.testapp import lifecycle_tasks as lt

    backend = runtime.backend_for("default")
    assert isinstance(backend, DebugWebBackend)
    backend._out = io.StringIO()
    lt.FAILURES_LEFT[0] = 1
    lt.flaky.using(run_after=datetime(2099, 1, 1, tzinfo=UTC))("x")
    printed = backend._out.getvalue()
    assert "Run tests.testapp.lifecycle_tasks.flaky (due 2099-01-01 00:00:00+00:00) at: " in printed
    url = printed.split("at: ", 1)[1].strip()
    client = Client()
    payload = parse_qs(urlsplit(url).query)["job"][0]
    ran = client.post(urlsplit(url).path, {"job": payload})
    assert b"a worker would retry it at" in ran.content
    assert b"nothing was queued" in ran.content
    # A task that keeps its result can be enqueued here too: its record stays queued.
    handle = lt.receipt.enqueue([])
    assert backend.get_record(handle.id) is not None
