from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "A cron command of the example."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--region", default="eu")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"report for {options['region']}")
