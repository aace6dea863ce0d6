"""Django's task API (``django.tasks``, or the ``django-tasks`` backport) run by dlq.

``TASKS = {"default": {"BACKEND": "dlq.django_tasks.DlqBackend", ...}}``: see
:mod:`dlq.django_tasks.backend`. ``DlqBackend`` needs Django 6's task API or the
backport (``pip install "dlq[django-tasks]"`` on Django 5.2).
"""

from dlq.django_tasks.backend import DlqBackend

__all__ = ["DlqBackend"]
