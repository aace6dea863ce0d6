from datetime import date

from dlq import task
from shop.progress import mark_done


@task(queue="reports")
def build_report(day: date, region: str = "eu") -> None:
    assert isinstance(day, date)
    mark_done()
