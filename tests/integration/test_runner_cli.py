"""queue_runner's arguments: wrong ones are CommandErrors that say what is wrong.

Run in this process with call_command: every case fails before a worker could start.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--machine", "0", "--of", "2"], "--machine 0 is invalid: machines are numbered from 1"),
        (["--machine", "3", "--of", "2"], "--machine 3 is invalid for a pool of 2"),
        (["--machine", "2"], "--machine 2 is invalid for a pool of 1"),
        (["--machine", "two", "--of", "2"], "--machine must be a whole number from 1, not 'two'"),
        (["--machine", "1", "--of", "-1"], "--of must be a whole number from 1, not '-1'"),
        (["--of", "0"], "--of 0 is invalid"),
        (["--exact-configuration"], "--exact-configuration needs --config"),
    ],
)
def test_bad_pool_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("queue_runner", *args)


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (["--machine", "1"], "--machine"),
        (["--of", "2"], "--of"),
        (["--only-queue", "default"], "--only-queue"),
        (["--machine", "1", "--of", "2"], "--machine, --of"),
    ],
)
def test_exact_configuration_is_not_part_of_a_pool(args: list[str], flags: str) -> None:
    with pytest.raises(CommandError, match=f"cannot be combined with {flags}:"):
        call_command("queue_runner", "--exact-configuration", "--config", "special.py", *args)


@override_settings(LIGHTWEIGHT_QUEUE_ENABLE_PROMETHEUS="yes")
def test_settings_are_checked_before_anything_starts() -> None:
    with pytest.raises(CommandError, match="LIGHTWEIGHT_QUEUE_ENABLE_PROMETHEUS"):
        call_command("queue_runner")


@pytest.mark.parametrize(("number", "message"), [("0", "NUMBER must be 1 or more, not 0")])
def test_queue_worker_checks_its_slot_number(number: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("queue_worker", "default", number)


def test_a_pidfile_naming_a_live_process_is_refused(tmp_path: Path) -> None:
    pidfile = tmp_path / "runner.pid"
    pidfile.write_text(f"{os.getpid()}\n")

    with pytest.raises(CommandError, match=f"names process {os.getpid()}, which is running"):
        call_command("queue_runner", "--pidfile", str(pidfile))
