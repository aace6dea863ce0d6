"""The dashboard's pages that show (those that act are :mod:`.operate`).

:class:`dlq.dashboard.site.DashboardAdmin` serves them under the admin's URLs, after the
admin's login check and the view permission; each gets the admin's page context and the
user's :class:`~dlq.dashboard.permissions.Access`. Only queues the configuration names
are shown; any other name is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse

from dlq.conf import DjangoRuntime, get_runtime
from dlq.core.protocols import SupportsClear, SupportsDeadLetters, SupportsPause
from dlq.cron_jobs import cron_configuration
from dlq.dashboard import display
from dlq.dashboard.actions import ACTION_NAMES
from dlq.dashboard.gather import (
    PAGE_SIZE,
    DeadRow,
    Overview,
    QueueRow,
    WaitingRow,
    dashboard_queues,
    find_job,
    overview,
    queue_detail,
)
from dlq.dashboard.permissions import Access
from dlq.domain.durations import DURATION_SYNTAX
from dlq.exceptions import ConfigurationError
from dlq.status import CronRow, QueueStatus, cron_rows

__all__ = ["configured_workers", "cron", "job", "queue", "queues", "queues_json", "url"]

#: The deepest page of waiting jobs or dead letters the queue page goes to: each page
#: costs about its offset to read, and a million rows in is far enough to look by hand.
_MAX_PAGE = 20_000

#: The pause lengths offered as buttons (any other can be typed).
_PAUSE_CHOICES = ("5m", "30m", "1h", "4h", "1d")


def url(request: HttpRequest, name: str, *args: str, query: Mapping[str, str] | None = None) -> str:
    """The URL of the dashboard page ``name`` in the admin site serving ``request``."""
    path = reverse(f"admin:dlq_dashboard_{name}", args=args, current_app=request.current_app)
    return f"{path}?{urlencode(query)}" if query else path


def configured_workers(runtime: DjangoRuntime, queue: str) -> int:
    """The worker count of ``queue``; 404 unless the configuration names it."""
    queues = dashboard_queues(runtime)
    if queue not in queues:
        raise Http404(f"{queue!r} is not a queue of this configuration")
    return queues[queue]


def _page_number(request: HttpRequest, name: str) -> int:
    value = request.GET.get(name, "1")
    number = int(value) if value.isascii() and value.isdigit() else 1
    return min(max(number, 1), _MAX_PAGE)


# -- queues ----------------------------------------------------------------------------


def _table(request: HttpRequest, data: Overview) -> dict[str, Any]:
    rows = [
        {
            "queue": row.queue,
            "url": url(request, "queue", row.queue),
            "down": row.status.error is not None,
            "cells": display.queue_cells(row, data.now),
        }
        for row in data.rows
    ]
    return {
        "now": display.format_time(data.now),
        "queues": rows,
        "totals": display.total_cells(data.rows),
    }


def queues(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    table = _table(request, overview(get_runtime()))
    fields = [field for field, _heading in display.COLUMNS]
    return render(
        request,
        "admin/dlq/queues.html",
        {
            **context,
            "title": "Queues",
            "columns": display.COLUMNS,
            "now": table["now"],
            "rows": [
                {**row, "cells": [(field, row["cells"][field]) for field in fields]}
                for row in table["queues"]
            ],
            "totals": [(field, table["totals"][field]) for field in fields],
            "status_url": url(request, "status"),
        },
    )


def queues_json(request: HttpRequest, context: dict[str, Any]) -> JsonResponse:
    """What the queues page's script refreshes it from, every few seconds."""
    return JsonResponse(_table(request, overview(get_runtime())))


# -- one queue -------------------------------------------------------------------------


def queue(request: HttpRequest, context: dict[str, Any], queue: str) -> HttpResponse:
    runtime = get_runtime()
    workers = configured_workers(runtime, queue)
    waiting_page, dead_page = _page_number(request, "waiting"), _page_number(request, "dead")
    detail = queue_detail(
        runtime,
        queue,
        workers,
        waiting_offset=(waiting_page - 1) * PAGE_SIZE,
        dead_offset=(dead_page - 1) * PAGE_SIZE,
    )
    status = detail.row.status
    access: Access = context["access"]
    backend = None if status.error is not None else runtime.backend_for(queue)
    can = {
        "pause": isinstance(backend, SupportsPause),
        "clear": isinstance(backend, SupportsClear),
        "dead": isinstance(backend, SupportsDeadLetters),
    }
    return render(
        request,
        "admin/dlq/queue.html",
        {
            **context,
            "title": f"Queue {queue}",
            "queue": queue,
            "detail": detail,
            "status": status,
            "cells": display.queue_cells(detail.row, detail.now),
            "leases": sorted((detail.row.leases or {}).items()),
            "in_progress": _held_rows(request, detail.row, detail.now),
            "waiting": [_waiting_row(request, queue, row, access) for row in detail.waiting or ()],
            "dead": [_dead_row(request, queue, row, access) for row in detail.dead or ()],
            "pages": _pages(detail.waiting, detail.dead, waiting_page, dead_page, status),
            "can": can,
            "actions": {
                name.replace("-", "_"): url(request, "action", name, queue) for name in ACTION_NAMES
            },
            "pause_choices": _PAUSE_CHOICES,
            "duration_syntax": DURATION_SYNTAX,
            "not_available": display.NOT_AVAILABLE,
        },
    )


def _held_rows(request: HttpRequest, row: QueueRow, now: datetime) -> list[dict[str, Any]]:
    """The jobs worker slots hold: the first of each slot runs (or is next), the rest are
    reserved in its batch."""
    held = []
    seen: set[int] = set()
    for job in row.status.in_progress or ():
        started = row.started.get(job.job_id)
        held.append(
            {
                "job": job,
                "role": "reserved" if job.worker in seen else "running or next",
                "url": url(request, "job", query={"queue": row.queue, "id": job.job_id}),
                "enqueued": display.format_time(job.enqueued_at),
                "running_for": None if started is None else display.format_age(now - started),
            }
        )
        seen.add(job.worker)
    return held


def _waiting_row(
    request: HttpRequest, queue: str, row: WaitingRow, access: Access
) -> dict[str, Any]:
    job = row.job
    return {
        "position": f"{row.position:,}",
        "job": job,
        "url": None if job is None else url(request, "job", query={"queue": queue, "id": job.id}),
        "enqueued": None if job is None else display.format_time(job.created_time),
        "arguments": display.arguments_text(job) if access.payloads and job else None,
        "payload": display.payload_text(row.raw) if access.payloads else None,
        "problem": row.problem,
    }


def _dead_row(request: HttpRequest, queue: str, row: DeadRow, access: Access) -> dict[str, Any]:
    letter = row.letter
    job_id = letter.job_id
    return {
        "letter": letter,
        "failed_at": display.format_time(letter.failed_at),
        "path": None if row.job is None else row.job.path,
        "url": None
        if job_id is None
        else url(request, "job", query={"queue": queue, "id": job_id}),
        "requeue": None
        if job_id is None or row.job is None
        else url(request, "action", "requeue", queue, query={"job_id": job_id}),
        "payload": display.payload_text(letter.raw) if access.payloads else None,
    }


def _pages(
    waiting: tuple[WaitingRow, ...] | None,
    dead: tuple[DeadRow, ...] | None,
    waiting_page: int,
    dead_page: int,
    status: QueueStatus,
) -> dict[str, str | None]:
    """Links to the previous and next pages of each list (None where there is none)."""

    def link(waiting_to: int, dead_to: int) -> str:
        return f"?{urlencode({'waiting': waiting_to, 'dead': dead_to})}"

    more_waiting = waiting is not None and (waiting_page * PAGE_SIZE) < (status.length or 0)
    more_dead = dead is not None and len(dead) == PAGE_SIZE
    return {
        "waiting_previous": link(waiting_page - 1, dead_page) if waiting_page > 1 else None,
        "waiting_next": link(waiting_page + 1, dead_page)
        if more_waiting and waiting_page < _MAX_PAGE
        else None,
        "dead_previous": link(waiting_page, dead_page - 1) if dead_page > 1 else None,
        "dead_next": link(waiting_page, dead_page + 1)
        if more_dead and dead_page < _MAX_PAGE
        else None,
    }


# -- cron and jobs ---------------------------------------------------------------------


def cron(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    runtime = get_runtime()
    configuration = cron_configuration(runtime)
    error = None
    rows: list[CronRow] = []
    try:
        rows = cron_rows(runtime, configuration, runtime.now())
    except ConfigurationError as exc:
        error = str(exc)
    return render(
        request,
        "admin/dlq/cron.html",
        {
            **context,
            "title": "Cron",
            "error": error,
            "timezone": runtime.settings.CRON_TIMEZONE,
            "rows": [
                {
                    "entry": row.entry,
                    "url": url(request, "queue", row.entry.queue),
                    "next": display.format_time(row.next_fire),
                    "last": _last_fired(row),
                }
                for row in rows
            ],
            "problems": [str(problem) for problem in configuration.problems],
        },
    )


def _last_fired(row: CronRow) -> str:
    if row.error is not None:
        return f"unknown: {row.error}"
    if not row.history:
        return display.NOT_AVAILABLE
    return (
        "never, as far as the backend knows"
        if row.last_fired is None
        else display.format_time(row.last_fired)
    )


def job(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    runtime = get_runtime()
    queue_name = request.GET.get("queue", "")
    job_id = request.GET.get("id", "")
    configured_workers(runtime, queue_name)
    if not job_id:
        raise Http404("no job id given: the URL needs ?queue=QUEUE&id=JOB_ID")
    finding = find_job(runtime, queue_name, job_id)
    access: Access = context["access"]
    found, letter, result = finding.job, finding.dead_letter, finding.result
    raw = letter.raw if letter is not None else None if found is None else found.raw
    return render(
        request,
        "admin/dlq/job.html",
        {
            **context,
            "title": f"Job {job_id}",
            "finding": finding,
            "queue_url": url(request, "queue", queue_name),
            "enqueued": None if found is None else display.format_time(found.created_time),
            "arguments": display.arguments_text(found) if access.payloads and found else None,
            "payload": display.payload_text(raw) if access.payloads and raw is not None else None,
            "failed_at": None if letter is None else display.format_time(letter.failed_at),
            "result": result,
            "result_times": None
            if result is None
            else [
                ("enqueued", display.format_time(result.enqueued_at)),
                ("started", display.format_time(result.started_at)),
                ("finished", display.format_time(result.finished_at)),
            ],
            "requeue": None
            if finding.where != "dead letter" or found is None
            else url(request, "action", "requeue", queue_name, query={"job_id": job_id}),
            "not_available": display.NOT_AVAILABLE,
        },
    )
