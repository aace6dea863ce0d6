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
