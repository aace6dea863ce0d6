"""The dashboard's place in Django's admin: the admin of :class:`dlq.models.Dashboard`.

The admin lists a registered model on its index (as "Queues", under dlq's app) for users
who may view it, and serves its URLs under ``admin/dlq/dashboard/``; this class replaces
the usual list and forms with the dashboard's pages, so a project needs no URL of its
own beyond ``admin.site.urls``. ``dlq/admin.py`` registers it with the default site; a
project with its own ``AdminSite`` registers it there instead::

    my_site.register(dlq.models.Dashboard, dlq.dashboard.site.DashboardAdmin)

Every page goes through the site's ``admin_view`` (an active staff user, else the login
page; CSRF protection; never cached), then needs ``dlq.view_dashboard`` (else 403).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from dlq.dashboard import operate, views
from dlq.dashboard.permissions import Access
from dlq.models import Dashboard

__all__ = ["DashboardAdmin"]

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Dashboard]
else:  # ModelAdmin is generic for type checkers only
    _ModelAdmin = admin.ModelAdmin

_Page = Callable[..., HttpResponse]


class DashboardAdmin(_ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return Access.of(request.user).view

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return Access.of(request.user).view

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        """The dashboard's pages; the queues page is the model's "changelist", which is
        what the admin index links to."""
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", self._page(views.queues), name=f"{prefix}_changelist"),
            path("status.json", self._page(views.queues_json), name=f"{prefix}_status"),
            path("cron/", self._page(views.cron), name=f"{prefix}_cron"),
            path("job/", self._page(views.job), name=f"{prefix}_job"),
            path(
                "action/<slug:action>/<path:queue>/",
                self._page(operate.action),
                name=f"{prefix}_action",
            ),
            # Last: a queue's name may hold slashes.
            path("queue/<path:queue>/", self._page(views.queue), name=f"{prefix}_queue"),
        ]

    def _page(self, view: _Page) -> _Page:
        """``view`` behind the admin's checks and the view permission, given the page
        context the admin's templates need and the user's :class:`Access`."""

        def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            access = Access.of(request.user)
            if not access.view:
                raise PermissionDenied(
                    "the queue dashboard needs the permission dlq.view_dashboard"
                )
            request.current_app = self.admin_site.name
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "app_label": self.opts.app_label,
                "access": access,
                "dashboard_urls": {
                    "queues": views.url(request, "changelist"),
                    "cron": views.url(request, "cron"),
                },
            }
            return view(request, context, *args, **kwargs)

        return self.admin_site.admin_view(update_wrapper(page, view))
