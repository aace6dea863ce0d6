from decimal import Decimal

from dlq import task
from shop.progress import mark_done


@task(queue="orders", timeout=30)
def process_order(order_id: int, total: Decimal) -> None:
    """Stands in for real work: the total arrives as a Decimal, as annotated."""
    assert isinstance(total, Decimal)
    mark_done()
