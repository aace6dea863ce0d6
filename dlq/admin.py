"""Registers the queue dashboard with Django's admin site.

Django's ``admin.autodiscover()`` imports every installed app's ``admin`` module when
the admin's URLs are first loaded: registering here, at import, is how Django expects an
app to join its admin (see :mod:`dlq.dashboard.site` for a site of your own).
"""

from __future__ import annotations

from django.contrib import admin

from dlq.dashboard.site import DashboardAdmin
from dlq.models import Dashboard

__all__: list[str] = []

admin.site.register(Dashboard, DashboardAdmin)
