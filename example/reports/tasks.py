from datetime import date

from shop.progress import mark_done

from dlq import task


@task(queue="reports")
def build_report(day: date, region: str = "eu") -> None:
    assert isinstance(day, date)
    mark_done()
