from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "A cron command of the example: says it ran."

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write("shop heartbeat")
