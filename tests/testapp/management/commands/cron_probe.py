"""A command for cron tests: records its arguments in ``PROBE_CALLS``."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

PROBE_CALLS: list[tuple[list[str], dict[str, object]]] = []


class Command(BaseCommand):
    help = "Record how cron called it (tests only)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("words", nargs="*")
        parser.add_argument("--region", default="")
        parser.add_argument("--count", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        PROBE_CALLS.append(
            (list(options["words"]), {"region": options["region"], "count": options["count"]})
        )
