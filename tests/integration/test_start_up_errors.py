"""A bad configuration stops queue_worker and queue_runner at start-up, with a clear error.

The commands run only the system checks that guard what a worker uses (dlq's own, and
Django's models and caches checks), not every check ``manage.py check`` runs: these
tests hold that the checks they kept still stop them, in real processes, before any
worker starts, with the setting named and no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

COMMANDS = [["queue_worker", "default", "1"], ["queue_runner"]]


def _start(tmp_path: Path, command: list[str], settings: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "bad_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "LIGHTWEIGHT_QUEUE_BACKEND = 'dlq.backends.redis.RedisBackend'\n" + settings
    )
    return subprocess.run(
        [sys.executable, "-m", "django", *command],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bad_settings",
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        },
        capture_output=True,
        text=True,
        timeout=60,  # a worker that started anyway would run until killed
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            "LIGHTWEIGHT_QUEUE_WORKER = {'default': 1}\n",
            "LIGHTWEIGHT_QUEUE_WORKER: (dlq.E001) is not a dlq setting",
        ),
        (
            "LIGHTWEIGHT_QUEUE_REDIS_PORT = '6379'\n",
            "LIGHTWEIGHT_QUEUE_REDIS_PORT: (dlq.E001) '6379' is not valid",
        ),
        (
            "LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES = {'default': 'shop.backends.Nothing'}\n",
            "LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES['default']: (dlq.E002)",
        ),
        (
            "LIGHTWEIGHT_QUEUE_MIDDLEWARE = ['shop.middleware.Nothing']\n",
            "LIGHTWEIGHT_QUEUE_MIDDLEWARE: (dlq.E003)",
        ),
    ],
    ids=["misspelt", "wrong-type", "backend", "middleware"],
)
def test_a_bad_setting_stops_the_command_before_any_worker(
    tmp_path: Path, command: list[str], settings: str, expected: str
) -> None:
    result = _start(tmp_path, command, settings)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert "Started worker" not in result.stderr


def test_a_broken_cron_configuration_stops_the_runner(tmp_path: Path) -> None:
    cron_app = tmp_path / "broken_cron_app"
    cron_app.mkdir()
    (cron_app / "__init__.py").write_text("")
    (cron_app / "cron.py").write_text(
        "CONFIG = ({'command': 'queue_status', 'minutes': '61', 'hours': '*'},)\n"
    )
    result = _start(
        tmp_path,
        ["queue_runner"],
        "INSTALLED_APPS = [*INSTALLED_APPS, 'broken_cron_app']\n",
    )
    assert result.returncode != 0
    assert "broken_cron_app.cron.CONFIG[0].minutes: (dlq.E005)" in result.stderr
    assert "Traceback" not in result.stderr
