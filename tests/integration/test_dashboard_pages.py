"""The dashboard's pages through Django's test client, on each real backend.

The user here has every permission (see test_dashboard_permissions.py for the limits).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dlq.conf import DjangoRuntime
from dlq.core.protocols import SupportsPause, SupportsResults, SupportsSlotLease
from dlq.dashboard.gather import PAGE_SIZE
from dlq.domain.durations import parse_duration
from dlq.domain.envelope import Job
from dlq.domain.job_record import JobError, JobRecord, JobStatus
from tests.integration.dashboard_fixtures import (
    BASE,
    Login,
    Queues,
    login,
    open_database,
    queues,
)
from tests.integration.redis_fixtures import redis_client, redis_prefix

__all__ = ["login", "open_database", "queues", "redis_client", "redis_prefix"]  # fixtures


def text(response: Any) -> str:
    assert response.status_code == 200, response.content[:2000]
    return str(response.content.decode())


def test_the_admin_index_links_to_the_queues(login: Login) -> None:
    page = text(login("view").get("/admin/"))
    assert f'href="{BASE}"' in page
    assert ">Queues<" in page


def test_the_queues_page_shows_every_queue_with_its_numbers(login: Login, queues: Queues) -> None:
    queues.bury(99)
    queues.take(0, worker=2)
    for number in range(3):
        queues.enqueue(number)
    backend = queues.backend()
    assert isinstance(backend, SupportsSlotLease)
    assert backend.acquire_slot("emails", 2, "host-a:123", 30)
    client = login("view")
    page = text(client.get(BASE))
    assert 'data-queue="emails"' in page
    assert 'data-queue="reports"' in page
    data = json.loads(text(client.get(BASE + "status.json")))
    emails, reports = data["queues"]
    assert (emails["queue"], reports["queue"]) == ("emails", "reports")
    assert emails["cells"]["waiting"] == "3"
    assert emails["cells"]["dead_letters"] == "1"
    assert emails["cells"]["workers"] == "2 / 1"
    assert emails["cells"]["state"] == "running"
    assert emails["cells"]["in_progress"] == ["slot 2: tests.testapp.tasks.add (attempt 1)"]
    assert reports["cells"]["waiting"] == "0"
    assert reports["cells"]["in_progress"] == ["none"]
    assert data["totals"]["waiting"] == "3"
    assert data["totals"]["workers"] == "3 / 1"
    # The page and its JSON say the same.
    for value in ("3", "2 / 1", "slot 2: tests.testapp.tasks.add (attempt 1)"):
        assert f">{value}<" in page


def test_a_paused_queue_says_until_when(login: Login, queues: Queues) -> None:
    backend = queues.backend()
    assert isinstance(backend, SupportsPause)
    backend.pause("emails", queues.runtime.now() + parse_duration("1h"))
    data = json.loads(text(login("view").get(BASE + "status.json")))
    state = data["queues"][0]["cells"]["state"]
    assert state.startswith("paused until ")
    assert "left)" in state
    assert data["totals"]["state"] == "1 paused"


def test_the_queue_page_shows_workers_waiting_jobs_and_dead_letters(
    login: Login, queues: Queues
) -> None:
    dead = queues.bury(41, reason="refused: not today")
    held = queues.take(1, worker=2)
    waiting = [queues.enqueue(number) for number in (2, 3)]
    page = text(login("view", "operate", "payloads").get(BASE + "queue/emails/"))
    assert "tests.testapp.tasks.add" in page
    assert held.id in page  # in progress
    assert [job.id in page for job in waiting] == [True, True]
    assert page.index(waiting[0].id) < page.index(waiting[1].id)  # in the order they run
    assert dead.id in page
    assert "refused: not today" in page
    assert ":[41]," in page  # the dead letter's payload, collapsed
    assert "(2)" in page  # a waiting job's arguments
    assert "Requeue…" in page


def test_the_queue_page_is_paged(login: Login, queues: Queues) -> None:
    jobs = [queues.enqueue(number) for number in range(PAGE_SIZE + 5)]
    client = login("view")
    first = text(client.get(BASE + "queue/emails/"))
    assert jobs[0].id in first
    assert jobs[PAGE_SIZE - 1].id in first
    assert jobs[PAGE_SIZE].id not in first
    assert "later in line" in first
    second = text(client.get(BASE + "queue/emails/?waiting=2&dead=1"))
    assert jobs[PAGE_SIZE].id in second
    assert jobs[0].id not in second
    assert f">{PAGE_SIZE + 1:,}<" in second  # positions go on counting
    assert "earlier in line" in second
    assert "later in line" not in second


def test_the_job_page_finds_a_job_wherever_it_is(login: Login, queues: Queues) -> None:
    dead = queues.bury(7, reason="gave up")
    held = queues.take(8, worker=1)
    waiting = queues.enqueue(9)
    client = login("view", "payloads")

    def job_page(job_id: str) -> str:
        return text(client.get(BASE + "job/", {"queue": "emails", "id": job_id}))

    assert "held by worker slot 1" in job_page(held.id)
    assert "waiting, number 1 in line" in job_page(waiting.id)
    dead_page = job_page(dead.id)
    assert "a dead letter since" in dead_page
    assert "gave up" in dead_page
    assert "(7)" in dead_page  # its arguments
    missing = job_page("no-such-job")
    assert "not found among" in missing
    assert "No result is kept for this job" in missing


def test_the_job_page_shows_a_kept_result(login: Login, queues: Queues) -> None:
    backend = queues.backend()
    if not isinstance(backend, SupportsResults):
        pytest.skip(f"{type(backend).__name__} keeps no results")
    queued = Job.create("tests.testapp.tasks.add", [1], {}, now=datetime.now(UTC))
    failure = JobError("builtins.ValueError", "card <declined>", "Traceback (most recent ...")
    record = JobRecord.queued(queued, "emails").replace(
        status=JobStatus.DEAD, attempt=3, errors=(failure,), finished_at=datetime.now(UTC)
    )
    backend.save_record(record, 60)

    def job_page(*permissions: str) -> str:
        client = login("view", *permissions)
        return text(client.get(BASE + "job/", {"queue": "emails", "id": queued.id}))

    page = job_page("payloads")
    assert "<dt>Status</dt><dd>dead</dd>" in page
    assert "<dt>Attempts</dt><dd>3</dd>" in page
    assert "builtins.ValueError: card &lt;declined&gt;" in page  # escaped
    assert "Traceback (most recent ..." in page
    assert "Traceback (most recent ..." not in job_page()  # only with the payloads permission


def test_the_cron_page_lists_entries_with_their_times(
    login: Login, queues: Queues, monkeypatch: pytest.MonkeyPatch, runtime: DjangoRuntime
) -> None:
    from tests.testapp import cron

    monkeypatch.setattr(
        cron,
        "CONFIG",
        [{"command": "cron_probe", "minutes": "*/15", "hours": "*", "queue": "reports"}],
    )
    runtime.forget_memos()
    page = text(login("view").get(BASE + "cron/"))
    assert "cron_probe" in page
    assert "reports" in page
    assert "never, as far as the backend knows" in page
    assert (
        ":00:00 UTC" in page or ":15:00 UTC" in page or ":30:00 UTC" in page or ":45:00 UTC" in page
    )


def test_a_cron_queue_is_a_dashboard_queue(
    login: Login, queues: Queues, monkeypatch: pytest.MonkeyPatch, runtime: DjangoRuntime
) -> None:
    from tests.testapp import cron

    monkeypatch.setattr(cron, "CONFIG", [{"command": "cron_probe", "minutes": "0", "hours": "*"}])
    runtime.forget_memos()
    data = json.loads(text(login("view").get(BASE + "status.json")))
    by_name = {row["queue"]: row for row in data["queues"]}
    assert by_name["cron"]["cells"]["workers"].startswith("1 / ")  # cron's implied worker


def test_an_unknown_queue_is_404(login: Login, queues: Queues) -> None:
    client = login("view", "operate")
    assert client.get(BASE + "queue/nope/").status_code == 404
    assert client.get(BASE + "job/", {"queue": "nope", "id": "x"}).status_code == 404
    assert client.get(BASE + "action/clear/nope/").status_code == 404
    assert client.get(BASE + "action/explode/emails/").status_code == 404


def test_what_a_backend_cannot_do_is_said(login: Login, settings: Any) -> None:
    settings.LIGHTWEIGHT_QUEUE_BACKEND = "dlq.backends.synchronous.SynchronousBackend"
    settings.LIGHTWEIGHT_QUEUE_WORKERS = {"emails": 1}
    client = login("view", "operate", "payloads")
    data = json.loads(text(client.get(BASE + "status.json")))
    cells = data["queues"][0]["cells"]
    assert cells["dead_letters"] == "not available for this backend"
    assert cells["in_progress"] == ["not available for this backend"]
    assert cells["state"] == "running (pausing is not available for this backend)"
    page = text(client.get(BASE + "queue/emails/"))
    assert "Pausing: not available for this backend" in page
    assert "Clearing: not available for this backend" in page
    assert "Listing waiting jobs: not available for this backend" in page
    assert "Dead letters: not available for this backend" in page
    refused = client.get(BASE + "action/pause/emails/", {"duration": "1h"})
    assert refused.status_code == 400
    assert b"not available for this backend" in refused.content
