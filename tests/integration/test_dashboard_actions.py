"""The dashboard's actions, on each real backend: confirmed by a GET that changes nothing,
done by a POST with Django's CSRF token, and logged with the user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.test import Client

from dlq.core.protocols import SupportsDeadLetters, SupportsPause
from tests.integration.dashboard_fixtures import (
    BASE,
    Login,
    Queues,
    login,
    make_user,
    open_database,
    queues,
)
from tests.integration.redis_fixtures import redis_client, redis_prefix

__all__ = ["login", "open_database", "queues", "redis_client", "redis_prefix"]  # fixtures


def confirm_page(client: Client, action: str, **query: str) -> str:
    response = client.get(BASE + f"action/{action}/emails/", query)
    assert response.status_code == 200, response.content[:2000]
    return str(response.content.decode())


def confirm(client: Client, action: str, **fields: str) -> Any:
    """POST the action as its confirmation page does; the page it redirects to."""
    response = client.post(
        BASE + f"action/{action}/emails/", {**fields, "confirmed": "yes"}, follow=True
    )
    assert response.redirect_chain == [(BASE + "queue/emails/", 302)]
    return response


def the_log(action_flag: int) -> LogEntry:
    (entry,) = LogEntry.objects.all()
    assert entry.action_flag == action_flag
    assert entry.object_id == "emails"
    return entry


def pauses(queues: Queues) -> SupportsPause:
    backend = queues.backend()
    assert isinstance(backend, SupportsPause)
    return backend


def dead_letters(queues: Queues) -> SupportsDeadLetters:
    backend = queues.backend()
    assert isinstance(backend, SupportsDeadLetters)
    return backend


def test_pause_for_a_duration_then_resume(login: Login, queues: Queues) -> None:
    client = login("view", "operate")
    page = confirm_page(client, "pause", duration="90m")
    assert "Pause queue emails for 1h30m: no job of it starts until" in page
    assert pauses(queues).paused_until("emails") is None  # the GET changed nothing
    before = queues.runtime.now()
    done = confirm(client, "pause", duration="90m")
    until = pauses(queues).paused_until("emails")
    assert until is not None
    assert 89 * 60 < (until - before).total_seconds() < 91 * 60
    assert b"Paused queue emails for 1h30m" in done.content  # the message shown
    assert "paused until" in str(done.content)
    entry = the_log(CHANGE)
    assert entry.user.username.startswith("dlq-test-")
    assert entry.change_message.startswith("Paused queue emails for 1h30m")

    assert "End the pause of queue emails now" in confirm_page(client, "resume")
    assert pauses(queues).paused_until("emails") is not None
    confirm(client, "resume")
    assert pauses(queues).paused_until("emails") is None
    assert LogEntry.objects.count() == 2


def test_requeue_one_dead_letter(login: Login, queues: Queues) -> None:
    first, second = queues.bury(1), queues.bury(2)
    client = login("view", "operate")
    page = confirm_page(client, "requeue", job_id=first.id)
    assert f"Put the dead letter of job {first.id} back on queue emails" in page
    assert dead_letters(queues).dead_letter_count("emails") == 2
    confirm(client, "requeue", job_id=first.id)
    assert dead_letters(queues).dead_letter_count("emails") == 1
    assert queues.backend().length("emails") == 1
    assert [d.job_id for d in dead_letters(queues).dead_letters("emails")] == [second.id]
    assert first.id in the_log(CHANGE).change_message


def test_requeueing_a_dead_letter_that_is_gone_says_so(login: Login, queues: Queues) -> None:
    client = login("view", "operate")
    done = confirm(client, "requeue", job_id="f" * 32)
    assert b"Nothing was done: queue emails has no dead letter of job" in done.content
    assert not LogEntry.objects.exists()


def test_requeue_all(login: Login, queues: Queues) -> None:
    for number in range(3):
        queues.bury(number)
    client = login("view", "operate")
    assert "Put all 3 dead letter(s) of queue emails back" in confirm_page(client, "requeue-all")
    assert dead_letters(queues).dead_letter_count("emails") == 3
    confirm(client, "requeue-all")
    assert dead_letters(queues).dead_letter_count("emails") == 0
    assert queues.backend().length("emails") == 3
    assert the_log(CHANGE).change_message == "Requeued 3 dead letter(s) on queue emails."


def test_purge(login: Login, queues: Queues) -> None:
    for number in range(2):
        queues.bury(number)
    client = login("view", "operate")
    assert "Delete all 2 dead letter(s) of queue emails" in confirm_page(client, "purge")
    assert dead_letters(queues).dead_letter_count("emails") == 2
    confirm(client, "purge")
    assert dead_letters(queues).dead_letter_count("emails") == 0
    assert the_log(DELETION).change_message == "Deleted 2 dead letter(s) of queue emails."


def test_clear(login: Login, queues: Queues) -> None:
    for number in range(4):
        queues.enqueue(number)
    client = login("view", "operate")
    assert "Remove all 4 job(s) waiting in queue emails" in confirm_page(client, "clear")
    assert queues.backend().length("emails") == 4
    confirm(client, "clear")
    assert queues.backend().length("emails") == 0
    assert the_log(DELETION).change_message == "Cleared queue emails: removed 4 job(s)."


@pytest.fixture
def strict_client(django_user_model: Any, open_database: None) -> Iterator[Client]:
    """A client that, like a browser, must send the CSRF token: an operator's."""
    client = Client(enforce_csrf_checks=True)
    user = make_user(django_user_model, "view", "operate")
    client.force_login(user)
    yield client
    client.logout()
    user.delete()


def test_a_post_without_the_csrf_token_is_refused(strict_client: Client, queues: Queues) -> None:
    queues.enqueue(1)
    refused = strict_client.post(BASE + "action/clear/emails/", {"confirmed": "yes"})
    assert refused.status_code == 403
    assert queues.backend().length("emails") == 1
    # The confirmation page's form carries the token, and with it the POST works.
    page = confirm_page(strict_client, "clear")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    done = strict_client.post(
        BASE + "action/clear/emails/",
        {"confirmed": "yes", "csrfmiddlewaretoken": token.group(1)},
    )
    assert done.status_code == 302
    assert queues.backend().length("emails") == 0


def test_a_post_that_was_not_confirmed_does_nothing(login: Login, queues: Queues) -> None:
    queues.enqueue(1)
    client = login("view", "operate")
    response = client.post(BASE + "action/clear/emails/", follow=True)
    assert b"Nothing was done: the action was not confirmed" in response.content
    assert queues.backend().length("emails") == 1
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("duration", ["", "soon", "0s", "-5m", "999999999999d"])
def test_a_bad_duration_is_refused_saying_why(duration: str, login: Login, queues: Queues) -> None:
    client = login("view", "operate")
    response = client.get(BASE + "action/pause/emails/", {"duration": duration})
    assert response.status_code == 400
    assert b"duration" in response.content
    done = client.post(
        BASE + "action/pause/emails/", {"duration": duration, "confirmed": "yes"}, follow=True
    )
    assert b"Nothing was done" in done.content
    assert pauses(queues).paused_until("emails") is None
    assert not LogEntry.objects.exists()


def test_other_methods_are_refused(login: Login, queues: Queues) -> None:
    client = login("view", "operate")
    assert client.put(BASE + "action/clear/emails/").status_code == 405
    assert client.delete(BASE + "action/clear/emails/").status_code == 405
