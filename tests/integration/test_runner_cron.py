"""Cron through a real queue_runner: the scheduler enqueues, a cron worker runs the command."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.integration.runner_harness import Lab, lab_fixture, wait_until

pytestmark = [pytest.mark.slow]

lab = pytest.fixture(lab_fixture)

COMMAND = textwrap.dedent(
    """
    from django.core.management.base import BaseCommand

    from tests.testapp.tasks import _record


    class Command(BaseCommand):
        def add_arguments(self, parser):
            parser.add_argument("word")

        def handle(self, *args, **options):
            _record("cron", options["word"])
    """
)


@pytest.fixture
def cron_app(lab: Lab) -> str:
    """An app in the lab's directory whose cron.py runs ``cron_mark hello`` every minute."""
    app = lab.tmp_path / "cronapp"
    commands = app / "management" / "commands"
    commands.mkdir(parents=True)
    for package in (app, app / "management", commands):
        (package / "__init__.py").write_text("")
    (commands / "cron_mark.py").write_text(COMMAND)
    (app / "cron.py").write_text(
        'CONFIG = [{"command": "cron_mark", "minutes": "*", "hours": "*",'
        ' "command_args": ["hello"]}]\n'
    )
    return "cronapp"


def with_app(lab: Lab, settings: str, app: str) -> str:
    path = Path(lab.tmp_path / f"{settings}.py")
    path.write_text(path.read_text() + f"INSTALLED_APPS = [*INSTALLED_APPS, {app!r}]\n")
    return settings


def test_the_runner_schedules_and_the_implied_cron_queue_runs_it(lab: Lab, cron_app: str) -> None:
    # A fresh scheduler catches up the minute that began in the last CRON_CATCH_UP_S
    # seconds, so the entry fires at once instead of at the next minute boundary.
    settings = with_app(lab, lab.settings(workers={"default": 1}, CRON_CATCH_UP_S=60), cron_app)
    runner = lab.start(settings)
    runner.wait_for_log(r"Starting queue runner: cron\.1, default\.1 and the cron scheduler")
    wait_until(lambda: lab.tokens("cron"), what="the cron command to run")
    assert lab.tokens("cron")[0] == "hello"


def test_other_machines_and_exact_configurations_do_not_schedule(lab: Lab, cron_app: str) -> None:
    settings = with_app(lab, lab.settings(workers={"default": 1}, CRON_CATCH_UP_S=60), cron_app)
    special = lab.tmp_path / "special.py"
    special.write_text("LIGHTWEIGHT_QUEUE_WORKERS = {'default': 1}\n")
    second = lab.start(settings, "--machine", "2", "--of", "2")
    exact = lab.start(settings, "--exact-configuration", f"--config={special}")
    for runner in (second, exact):
        runner.wait_for_log(r"Starting queue runner")
        assert "cron scheduler" not in runner.log()
    backend = lab.backend()
    assert backend.length("cron") == 0
