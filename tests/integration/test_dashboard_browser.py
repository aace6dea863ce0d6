"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
``runserver`` process, with a real ``queue_runner`` working the queue on Redis.

The scenario an operator goes through: log in; watch the queue fill and a runner drain
it (the page refreshing itself, never reloading); pause the queue and see jobs wait;
resume it and see them run; requeue a dead letter and see it run. A screenshot of each
page is saved under ``$DLQ_SCREENSHOTS`` (or the test's temporary directory).

Playwright must drive the Chromium at :data:`CHROMIUM` (``scripts/test`` installs both);
it never downloads a browser. Without them the test is skipped, except under
``CI=true``, where that is a failure.

The server is a process of its own (not pytest-django's live server, a thread that would
live on in the test process for the rest of the session, where other tests fork), with a
SQLite database of the test's own for its users, sessions and the admin's log.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.runner_harness import (
    START_TIMEOUT_S,
    Lab,
    free_ports,
    lab_fixture,
    wait_until,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Generous, for a loaded two-core machine: how long to wait for the page to show a state.
WAIT_MS = 60_000
USERNAME, PASSWORD = "operator", "a-browser-test-password"  # in the server's own database
#: Makes the test's user: a staff user with the dashboard's three permissions.
MAKE_USER = f"""
from django.contrib.auth.models import Permission, User
user = User.objects.create_user({USERNAME!r}, password={PASSWORD!r}, is_staff=True)
user.user_permissions.add(*Permission.objects.filter(content_type__app_label="dlq"))
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("DLQ_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def cell(page: Page, queue: str, field: str) -> str:
    """The text of a cell of the queues table, as the page shows it now."""
    text = page.evaluate(
        """([queue, field]) => {
            const row = [...document.querySelectorAll("tr[data-queue]")]
                .find((r) => r.dataset.queue === queue);
            return row ? row.querySelector(`[data-field="${field}"]`).textContent : null;
        }""",
        [queue, field],
    )
    return str(text)


def wait_for_cell(page: Page, queue: str, field: str, value: str) -> None:
    page.wait_for_function(
        """([queue, field, value]) => {
            const row = [...document.querySelectorAll("tr[data-queue]")]
                .find((r) => r.dataset.queue === queue);
            return row && row.querySelector(`[data-field="${field}"]`).textContent === value;
        }""",
        arg=[queue, field, value],
        timeout=WAIT_MS,
    )


def serve(lab: Lab, tmp_path: Path) -> tuple[str, str]:
    """Start a ``runserver`` for the lab's queues; its URL, and its settings module for the
    runner (the same queue settings, the same database)."""
    queues = lab.settings(workers={"default": 1}, MAX_DELIVERIES=1)
    web = f"web_settings_{uuid.uuid4().hex[:8]}"
    database = tmp_path / "web.sqlite3"
    (tmp_path / f"{web}.py").write_text(
        f"from {queues} import *  # noqa: F403\n"
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': {str(database)!r}}}}}\n"
        "ALLOWED_HOSTS = ['127.0.0.1']\n"
    )
    for command in (("migrate", "--noinput"), ("shell", "-c", MAKE_USER)):
        done = lab.run_command(web, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_ports(1)
    # --insecure: serve the static files (the page's script) without DEBUG.
    server = lab.start(web, f"127.0.0.1:{port}", "--noreload", "--insecure", command="runserver")

    def answers() -> bool:
        if server.popen.poll() is not None:
            pytest.fail(f"runserver exited ({server.popen.returncode}):\n{server.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    wait_until(answers, START_TIMEOUT_S, "runserver to answer")
    return f"http://127.0.0.1:{port}", web


def test_an_operator_watches_pauses_resumes_and_requeues(
    lab: Lab, screenshots: Path, tmp_path: Path
) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install 'dlq[dev]')")
        return
    if not shutil.which(CHROMIUM):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        return
    base, settings = serve(lab, tmp_path)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(WAIT_MS)
            operate(page, base, lab, settings, screenshots, tmp_path)
        finally:
            browser.close()

    with sqlite3.connect(tmp_path / "web.sqlite3") as log:
        logged = log.execute(
            "SELECT u.username, l.change_message FROM django_admin_log l"
            " JOIN auth_user u ON u.id = l.user_id ORDER BY l.id"
        ).fetchall()
    assert [(user, message.split(" ", 1)[0]) for user, message in logged] == [
        (USERNAME, "Paused"),
        (USERNAME, "Resumed"),
        (USERNAME, "Requeued"),
    ]


def operate(
    page: Page, base: str, lab: Lab, runner_settings: str, screenshots: Path, tmp_path: Path
) -> None:
    dashboard = f"{base}/admin/dlq/dashboard/"

    # Log in through the admin's form.
    page.goto(f"{base}/admin/login/?next=/admin/dlq/dashboard/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(dashboard)
    assert cell(page, "default", "waiting") == "0"
    page.evaluate("window.dlqNotReloaded = true")  # gone if the page ever reloads

    # The queue fills: the page shows it without a reload.
    for number in range(20):
        lab.enqueue("record_slowly", f"fill-{number}", 0.2)
    wait_for_cell(page, "default", "waiting", "20")
    page.screenshot(path=str(screenshots / "queues-filled.png"), full_page=True)

    # A runner drains it.
    lab.start(runner_settings)
    page.wait_for_function(
        """() => [...document.querySelectorAll("tr[data-queue]")].some(
            (r) => r.querySelector('[data-field="in_progress"]').textContent.startsWith("slot 1: "))""",
        timeout=WAIT_MS,
    )
    page.screenshot(path=str(screenshots / "queues-draining.png"), full_page=True)
    wait_for_cell(page, "default", "waiting", "0")
    wait_until(lambda: len(lab.tokens("runs")) == 20, what="the 20 jobs to run")
    assert page.evaluate("window.dlqNotReloaded") is True

    # A job that crashes its worker becomes a dead letter (MAX_DELIVERIES=1).
    marker = tmp_path / "crashed-once"
    lab.enqueue("crash_first_time", "dead-1", str(marker))
    wait_for_cell(page, "default", "dead_letters", "1")

    # Pause the queue from its page, after a confirmation page.
    page.click("text=default")
    page.wait_for_url(f"{dashboard}queue/default/")
    page.fill("input[name=duration]", "10m")
    page.click("text=Pause…")
    description = page.inner_text("#dlq-description")
    assert description.startswith("Pause queue default for 10m: no job of it starts until")
    page.screenshot(path=str(screenshots / "confirm-pause.png"), full_page=True)
    page.click("text=Yes, pause it")
    page.wait_for_url(f"{dashboard}queue/default/")
    assert "Paused queue default for 10m" in page.inner_text("ul.messagelist")
    assert page.inner_text("[data-field=state]").startswith("paused until ")

    # Jobs enqueued now wait.
    for number in range(5):
        lab.enqueue("record", f"paused-{number}")
    page.goto(dashboard)
    wait_for_cell(page, "default", "waiting", "5")
    assert cell(page, "default", "state").startswith("paused until ")
    page.screenshot(path=str(screenshots / "queues-paused.png"), full_page=True)
    page.goto(f"{dashboard}queue/default/")
    page.click("#dlq-dead summary")  # the dead letter's payload, collapsed until asked for
    page.screenshot(path=str(screenshots / "queue.png"), full_page=True)
    assert not [token for token in lab.tokens("runs") if token.startswith("paused-")]
    page.click("#dlq-dead td a")  # the dead letter's job
    assert "a dead letter since" in page.inner_text("#dlq-job")
    page.screenshot(path=str(screenshots / "job.png"), full_page=True)
    page.go_back()

    # Resume: they run.
    page.click("text=Resume…")
    page.click("text=Yes, resume it")
    page.wait_for_url(f"{dashboard}queue/default/")
    wait_until(
        lambda: {f"paused-{n}" for n in range(5)} <= set(lab.tokens("runs")),
        what="the jobs held by the pause to run",
    )

    # The dead letter, requeued from the queue's page, runs.
    page.goto(f"{dashboard}queue/default/")
    page.click("#dlq-dead >> text=Requeue…")
    assert "Put the dead letter of job" in page.inner_text("#dlq-description")
    page.click("text=Yes, requeue it")
    page.wait_for_url(f"{dashboard}queue/default/")
    wait_until(lambda: "dead-1" in lab.tokens("runs"), what="the requeued job to run")
    page.goto(dashboard)
    wait_for_cell(page, "default", "dead_letters", "0")
    page.screenshot(path=str(screenshots / "queues.png"), full_page=True)

    page.goto(f"{dashboard}cron/")  # for the record
    page.screenshot(path=str(screenshots / "cron.png"), full_page=True)
