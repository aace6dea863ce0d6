"""The dashboard's page that acts on a queue: a confirmation (GET), then the action (POST).

The GET changes nothing: it says what the action will do, with the queue's numbers now,
on a form whose POST (with Django's CSRF token and ``confirmed=yes``) does it. What was
done is shown to the user and kept in the admin's log entries with the user and the
queue. Acting needs ``dlq.operate_queues``; only queues the configuration names can be
acted on (any other name is a 404).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from dlq.conf import get_runtime
from dlq.dashboard.actions import ACTION_NAMES, ActionError, QueueAction, build_action
from dlq.dashboard.permissions import Access
from dlq.dashboard.views import configured_workers, url
from dlq.exceptions import DLQError
from dlq.models import Dashboard

__all__ = ["action"]


def action(request: HttpRequest, context: dict[str, Any], action: str, queue: str) -> HttpResponse:
    """GET: the confirmation page, which changes nothing. POST: do it, log it, go back."""
    access: Access = context["access"]
    if not access.operate:
        raise PermissionDenied("acting on queues needs the permission dlq.operate_queues")
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if action not in ACTION_NAMES:
        raise Http404(f"{action!r} is not an action of the dashboard")
    runtime = get_runtime()
    configured_workers(runtime, queue)
    back = url(request, "queue", queue)
    form = request.POST if request.method == "POST" else request.GET
    fields = {name: form.get(name, "") for name in ("duration", "job_id")}
    now = runtime.now()
    try:
        chosen = build_action(action, queue, runtime.backend_for(queue), fields)
        if request.method == "POST":
            return _perform(request, chosen, back)
        description = chosen.describe(now)
    except (ActionError, DLQError) as exc:
        message = exc.message if isinstance(exc, ActionError) else str(exc)
        if request.method == "POST":
            messages.error(request, f"Nothing was done: {message}")
            return HttpResponseRedirect(back)
        return render(
            request,
            "admin/dlq/confirm.html",
            {**context, "title": f"Cannot do that: queue {queue}", "error": message, "back": back},
            status=400 if isinstance(exc, ActionError) else 503,
        )
    return render(
        request,
        "admin/dlq/confirm.html",
        {
            **context,
            "title": f"{chosen.title}: queue {queue}",
            "queue": queue,
            "description": description,
            "fields": sorted(chosen.fields().items()),
            "button": chosen.button,
            "deletes": chosen.deletes,
            "back": back,
        },
    )


def _perform(request: HttpRequest, chosen: QueueAction, back: str) -> HttpResponse:
    """Do ``chosen`` (raising what it raises), log it with the user, and go back."""
    if request.POST.get("confirmed") != "yes":
        raise ActionError("the action was not confirmed (the form lacks confirmed=yes)")
    done = chosen.perform(get_runtime().now())
    user_id = request.user.pk
    assert user_id is not None  # admin_view let in only a logged-in staff user
    LogEntry.objects.create(
        user_id=user_id,
        content_type=ContentType.objects.get_for_model(Dashboard),
        object_id=chosen.queue,
        object_repr=f"queue {chosen.queue}"[:200],
        action_flag=DELETION if chosen.deletes else CHANGE,
        change_message=done,
    )
    messages.success(request, done)
    return HttpResponseRedirect(back)
