"""The debug-web backend's page: shows a job, and on POST runs it in a rolled-back transaction.

Running needs a POST (with Django's CSRF token) so that merely loading a URL, say from
an <img> on another site, cannot run a task. Everything shown is escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.middleware.csrf import get_token
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods

from dlq.conf import get_runtime
from dlq.domain.envelope import Job, decode_job
from dlq.domain.outcome import Failed, GaveUp, Outcome, Rejected, Retrying, Succeeded, TimedOut
from dlq.exceptions import PayloadError

__all__ = ["debug_run"]


@require_http_methods(["GET", "POST"])
def debug_run(request: HttpRequest) -> HttpResponse:
    if not settings.DEBUG:
        raise Http404("the debug-web page is only served with DEBUG = True")
    payload = request.POST.get("job") if request.method == "POST" else request.GET.get("job")
    if not payload:
        return HttpResponseBadRequest("no job given: the URL needs ?job=<payload>")
    runtime = get_runtime()
    runtime.discover_tasks()
    try:
        job = decode_job(payload)
    except PayloadError as exc:
        return HttpResponseBadRequest(format_html("<p>Refused: {}</p>", exc.reason))
    if job.path not in runtime.registry:
        return HttpResponseBadRequest(
            format_html("<p>Refused: {} is not a registered task.</p>", job.path)
        )
    if request.method == "GET":
        return HttpResponse(_page(job, get_token(request), payload))
    with _captured_logs() as lines, transaction.atomic():
        queue = runtime.registry.get(job.path).queue
        outcome = runtime.run_job(job.next_delivery(), queue)
        transaction.set_rollback(True)
    return HttpResponse(_page(job, get_token(request), payload, outcome, lines))


def _page(
    job: Job,
    csrf: str,
    payload: str,
    outcome: Outcome | None = None,
    lines: list[str] | None = None,
) -> str:
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td><code>{}</code></td></tr>",
        [
            ("task", job.path),
            ("args", repr(job.args)),
            ("kwargs", repr(dict(job.kwargs))),
            ("timeout", repr(job.timeout)),
            ("sigkill_on_stop", repr(job.sigkill_on_stop)),
        ],
    )
    form = format_html(
        '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<input type="hidden" name="job" value="{}"><button>Run (rolled back)</button></form>',
        csrf,
        payload,
    )
    result = (
        ""
        if outcome is None
        else format_html(
            "<h2>{}</h2><pre>{}</pre><h2>Log</h2><pre>{}</pre>",
            *_describe(outcome),
            "\n".join(lines or []),
        )
    )
    return format_html(
        "<!doctype html><title>dlq: {}</title><h1>{}</h1><table>{}</table>{}{}",
        job.path,
        job.path,
        rows,
        form,
        result,
    )


def _describe(outcome: Outcome) -> tuple[str, str]:
    if isinstance(outcome, Succeeded):
        return f"Succeeded in {outcome.duration_s:.3f}s", repr(outcome.result)
    if isinstance(outcome, Failed):
        return f"Failed after {outcome.duration_s:.3f}s", repr(outcome.exception)
    if isinstance(outcome, Retrying):
        return (
            f"Failed after {outcome.duration_s:.3f}s; a worker would retry it at"
            f" {outcome.run_after.isoformat(' ')} (nothing was queued)",
            repr(outcome.exception),
        )
    if isinstance(outcome, GaveUp):
        return (
            f"Failed after {outcome.duration_s:.3f}s on its last attempt ({outcome.attempt});"
            " a worker would keep it as a dead letter",
            repr(outcome.exception),
        )
    if isinstance(outcome, Rejected):
        return "Refused", outcome.reason
    assert isinstance(outcome, TimedOut)  # a debug run is never killed; listed for exhaustiveness
    return "Timed out", f"{outcome.timeout_s}s"


@contextmanager
def _captured_logs() -> Iterator[list[str]]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
