"""Who sees and does what on the dashboard: every page and action at every permission level."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from dlq.conf import DjangoRuntime
from dlq.core.protocols import SupportsBrowse
from dlq.domain.envelope import Job, decode_job
from tests.integration.dashboard_fixtures import BASE, Login, login, make_user, open_database

__all__ = ["login", "open_database"]  # fixtures used here

SECRET = "ada.lovelace@example.com"  # an argument that must not leak without the permission

PAGES = (
    "",
    "status.json",
    "queue/default/",
    "cron/",
    "job/?queue=default&id=missing",
)
ACTIONS = (
    "action/pause/default/?duration=1h",
    "action/resume/default/",
    "action/requeue/default/?job_id=abc",
    "action/requeue-all/default/",
    "action/purge/default/",
    "action/clear/default/",
)


@pytest.fixture
def default_queue(settings: Any, runtime: DjangoRuntime) -> DjangoRuntime:
    """The queue ``default`` in memory, with a job whose argument is :data:`SECRET`."""
    settings.LIGHTWEIGHT_QUEUE_WORKERS = {"default": 1}
    runtime.backend_for("default").enqueue(secret_job(runtime), "default")
    return runtime


def secret_job(runtime: DjangoRuntime) -> Job:
    return Job.create("tests.testapp.tasks.add", [SECRET], {}, now=runtime.now())


@pytest.mark.parametrize("page", PAGES + ACTIONS)
def test_anonymous_users_are_sent_to_log_in(
    page: str, client: Client, open_database: None, default_queue: DjangoRuntime
) -> None:
    response = client.get(BASE + page)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert SECRET.encode() not in response.content


@pytest.mark.parametrize("page", PAGES + ACTIONS)
def test_users_who_are_not_staff_get_nothing(
    page: str, login: Login, default_queue: DjangoRuntime
) -> None:
    client = login("view", "operate", "payloads", staff=False)
    response = client.get(BASE + page)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert SECRET.encode() not in response.content


@pytest.mark.parametrize("page", PAGES + ACTIONS)
def test_staff_without_the_view_permission_are_refused(
    page: str, login: Login, default_queue: DjangoRuntime
) -> None:
    # operate and payloads without view grant nothing either
    response = login("operate", "payloads").get(BASE + page)
    assert response.status_code == 403
    assert SECRET.encode() not in response.content


def test_the_index_shows_the_dashboard_only_to_those_who_may_view_it(
    login: Login, default_queue: DjangoRuntime
) -> None:
    assert f'href="{BASE}"'.encode() not in login().get("/admin/").content
    assert f'href="{BASE}"'.encode() in login("view").get("/admin/").content


@pytest.mark.parametrize("page", PAGES)
def test_viewers_see_every_page_but_no_arguments(
    page: str, login: Login, default_queue: DjangoRuntime
) -> None:
    response = login("view").get(BASE + page)
    assert response.status_code == 200
    assert SECRET.encode() not in response.content


@pytest.mark.parametrize("action", ACTIONS)
def test_viewers_cannot_act(action: str, login: Login, default_queue: DjangoRuntime) -> None:
    client = login("view", "payloads")
    assert client.get(BASE + action).status_code == 403
    path = BASE + action.partition("?")[0]
    assert (
        client.post(path, {"duration": "1h", "job_id": "x", "confirmed": "yes"}).status_code == 403
    )
    assert default_queue.backend_for("default").length("default") == 1
    assert not LogEntry.objects.exists()


def test_viewers_see_no_buttons(login: Login, default_queue: DjangoRuntime) -> None:
    page = login("view").get(BASE + "queue/default/").content
    assert b"Act on this queue" not in page
    assert b"action/" not in page
    page = login("view", "operate").get(BASE + "queue/default/").content
    assert b"Act on this queue" in page


def test_arguments_and_payloads_need_their_own_permission(
    login: Login, default_queue: DjangoRuntime
) -> None:
    backend = default_queue.backend_for("default")
    assert isinstance(backend, SupportsBrowse)
    (raw,) = backend.waiting_page("default", 0, 1)
    job = {"queue": "default", "id": decode_job(raw).id}
    viewer = login("view")
    assert SECRET.encode() not in viewer.get(BASE + "job/", job).content
    client = login("view", "payloads")
    assert SECRET.encode() in client.get(BASE + "queue/default/").content
    assert SECRET.encode() in client.get(BASE + "job/", job).content


def test_a_superuser_may_do_everything(
    client: Client, django_user_model: Any, open_database: None, default_queue: DjangoRuntime
) -> None:
    user = make_user(django_user_model, superuser=True)
    try:
        client.force_login(user)
        assert SECRET.encode() in client.get(BASE + "queue/default/").content
        assert client.get(BASE + "action/clear/default/").status_code == 200
    finally:
        client.logout()
        user.delete()
