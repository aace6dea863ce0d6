"""Tasks written against Django's own task API, with no dlq import.

``TASKS`` in settings.py names dlq's backend, so ``queue_runner`` runs these beside the
``@dlq.task`` jobs of shop and reports; with Django's ``ImmediateBackend`` there instead,
they would run in the calling process, and nothing here would change. Django 6 has
``django.tasks``; on Django 5.2 the ``django-tasks`` backport provides the same API.
"""

from typing import TYPE_CHECKING, Any

from shop.progress import mark_done

if TYPE_CHECKING:
    from django_tasks import TaskContext, task
else:
    try:
        from django.tasks import TaskContext, task
    except ImportError:  # Django 5.2
        from django_tasks import TaskContext, task


@task(queue_name="mail", takes_context=True)
def send_receipt(context: TaskContext, order_id: int, total: str) -> dict[str, Any]:
    """Stands in for sending an e-mail; the result is kept for ``get_result`` where the
    queue's backend keeps results."""
    mark_done()
    return {"order": order_id, "total": total, "attempt": context.attempt}
