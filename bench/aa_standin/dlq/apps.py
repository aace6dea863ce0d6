from django.apps import AppConfig
from django_lightweight_queue.utils import load_all_tasks


class DlqStandInConfig(AppConfig):
    name = "dlq"

    def ready(self) -> None:
        load_all_tasks()  # what upstream's own AppConfig does
