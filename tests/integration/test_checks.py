"""Configuration errors surface through ``manage.py check`` and when a command starts."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]


def run_check() -> str:
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    return out.getvalue()


def test_valid_configuration_passes() -> None:
    assert "no issues" in run_check()


def test_misspelt_setting_fails_check_with_a_suggestion() -> None:
    with (
        override_settings(LIGHTWEIGHT_QUEUE_WORKER={"a": 1}),
        pytest.raises(SystemCheckError) as caught,
    ):
        run_check()
    message = str(caught.value)
    assert (
        "LIGHTWEIGHT_QUEUE_WORKER: (dlq.E001) is not a dlq setting (from Django settings)"
        in message
    )
    assert "HINT: did you mean LIGHTWEIGHT_QUEUE_WORKERS?" in message


def test_wrong_value_fails_check() -> None:
    with (
        override_settings(LIGHTWEIGHT_QUEUE_REDIS_PORT="6379"),
        pytest.raises(SystemCheckError) as caught,
    ):
        run_check()
    assert "LIGHTWEIGHT_QUEUE_REDIS_PORT: (dlq.E001) '6379' is not valid" in str(caught.value)


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("LIGHTWEIGHT_QUEUE_BACKEND", "dlq.backends.nowhere.Backend", "dlq.E002"),
        ("LIGHTWEIGHT_QUEUE_BACKEND", "dlq.core.settings.QueueSettings", "dlq.E002"),
        ("LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES", {"q": "no.such.Backend"}, "dlq.E002"),
        ("LIGHTWEIGHT_QUEUE_MIDDLEWARE", ["no.such.Middleware"], "dlq.E003"),
        ("LIGHTWEIGHT_QUEUE_LOGGER_FACTORY", "logging.nothing_here", "dlq.E004"),
    ],
)
def test_unimportable_paths_fail_check(setting: str, value: object, check_id: str) -> None:
    with override_settings(**{setting: value}), pytest.raises(SystemCheckError, match=check_id):
        run_check()


def test_ignoring_an_app_that_is_not_installed_warns() -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_IGNORE_APPS=["not.an.app"]):
        assert "dlq.W001" in run_check()


def test_commands_refuse_to_start_misconfigured(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("LIGHTWEIGHT_QUEUE_WORKERS = {'q': 'two'}\n")
    with pytest.raises(CommandError) as caught:
        call_command("queue_configuration", config=str(special))
    assert "LIGHTWEIGHT_QUEUE_WORKERS['q']: 'two' is not valid" in str(caught.value)
    assert str(special) in str(caught.value)


def test_extra_settings_is_another_spelling_of_config(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("LIGHTWEIGHT_QUEUE_WORKERS = {'queue1': 2}\n")
    out = StringIO()
    result = subprocess.run(
        [sys.executable, "-m", "django", "queue_configuration", f"--extra-settings={special}"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    out.write(result.stdout)
    assert "queue1: 2 worker(s)" in out.getvalue()


def test_manage_py_check_exits_non_zero_on_a_misspelt_setting(tmp_path: Path) -> None:
    (tmp_path / "bad_settings.py").write_text(
        "from tests.settings import *\nLIGHTWEIGHT_QUEUE_BACKEN = 'dlq.backends.memory.InMemoryBackend'\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bad_settings",
            "PYTHONPATH": f"{tmp_path}:{ROOT}",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "did you mean LIGHTWEIGHT_QUEUE_BACKEND?" in result.stderr
