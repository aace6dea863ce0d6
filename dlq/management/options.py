"""What every dlq command shares: ``--config``/``--extra-settings``, and errors as CommandError."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from dlq.conf import DjangoRuntime, get_runtime
from dlq.exceptions import ConfigurationError

__all__ = ["add_config_argument", "configured_runtime"]


def add_config_argument(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "--extra-settings",
        dest="config",
        metavar="FILE",
        help="a Python file of LIGHTWEIGHT_QUEUE_* settings that win over Django's",
    )


def configured_runtime(options: dict[str, Any]) -> DjangoRuntime:
    """The runtime with ``--config`` applied, its settings checked: CommandError if wrong."""
    runtime = get_runtime()
    try:
        runtime.use_config_file(options.get("config"))
        runtime.settings  # noqa: B018 -- validates now, so errors come before any work
    except ConfigurationError as exc:
        raise CommandError(f"dlq is misconfigured:\n{exc}") from None
    return runtime
