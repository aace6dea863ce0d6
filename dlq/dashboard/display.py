"""How the dashboard writes what it shows: times, ages, counts, payloads and the cells of
the queues table.

The queues table is written here once, as text per cell, for both the page and the JSON
that refreshes it, so the script that refreshes the page copies text into cells and
knows nothing of queues. HTML escaping is the templates' (Django escapes every value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from dlq.dashboard.gather import QueueRow, running_jobs
from dlq.domain.durations import format_duration
from dlq.domain.envelope import Job

__all__ = [
    "COLUMNS",
    "NOT_AVAILABLE",
    "arguments_text",
    "format_age",
    "format_count",
    "format_time",
    "payload_text",
    "queue_cells",
    "total_cells",
]

NOT_AVAILABLE: Final = "not available for this backend"

#: The queues table's columns after the queue's name: (field, heading).
COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("backend", "Backend"),
    ("state", "State"),
    ("waiting", "Waiting"),
    ("delayed", "Delayed (next due)"),
    ("workers", "Workers configured / running"),
    ("in_progress", "In progress, per worker slot"),
    ("dead_letters", "Dead letters"),
)

#: The longest payload shown whole; longer ones are cut, saying how long they are.
PAYLOAD_LIMIT: Final = 20_000


def format_time(moment: datetime | None) -> str:
    """``2026-01-01 12:00:05 UTC``: the zone the commands and Redis keys use too."""
    if moment is None:
        return "unknown"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_age(delta: timedelta) -> str:
    """``1h2m3s``: whole seconds (or ``0s``), for reading at a glance."""
    seconds = max(0, int(delta.total_seconds()))
    return format_duration(timedelta(seconds=seconds))


def format_count(count: int | None) -> str:
    return NOT_AVAILABLE if count is None else f"{count:,}"


def payload_text(raw: bytes) -> str:
    """``raw`` as text, bytes that are not UTF-8 escaped, cut at :data:`PAYLOAD_LIMIT`."""
    text = raw[:PAYLOAD_LIMIT].decode("utf-8", "backslashreplace")
    if len(raw) > PAYLOAD_LIMIT:
        text += f"… (cut: {len(raw):,} bytes in all)"
    return text


def arguments_text(job: Job) -> str:
    """A job's arguments as its task would be called: ``(1, 'a', key=[2])``, in JSON terms."""
    parts = [json.dumps(value, ensure_ascii=False) for value in job.args]
    parts += [
        f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in job.kwargs.items()
    ]
    text = f"({', '.join(parts)})"
    return text if len(text) <= 500 else text[:499] + "…"


def _state(row: QueueRow, now: datetime) -> str:
    status = row.status
    if status.error is not None:
        return f"unreachable: {status.error}"
    if not status.can_pause:
        return f"running (pausing is {NOT_AVAILABLE})"
    if status.paused_until is None:
        return "running"
    left = format_age(status.paused_until - now)
    return f"paused until {format_time(status.paused_until)} ({left} left)"


def _in_progress(row: QueueRow, now: datetime) -> list[str]:
    status = row.status
    if status.error is not None:
        return ["—"]
    if status.in_progress is None:
        return [NOT_AVAILABLE]
    held: dict[int, int] = {}
    for job in status.in_progress:
        held[job.worker] = held.get(job.worker, 0) + 1
    lines = []
    for job in running_jobs(status):
        started = row.started.get(job.job_id)
        line = f"slot {job.worker}: {job.path} (attempt {job.attempt}"
        if started is not None:
            line += f", running for {format_age(now - started)}"
        reserved = held[job.worker] - 1
        if reserved:
            line += f"; {reserved} more reserved"
        lines.append(line + ")")
    return lines or ["none"]


def queue_cells(row: QueueRow, now: datetime) -> dict[str, str | list[str]]:
    """The text of each of :data:`COLUMNS` for ``row``; ``in_progress`` is a list of lines."""
    status = row.status
    down = status.error is not None
    backend = status.backend.rpartition(".")[2]
    running = "—" if down else format_count(row.workers_running)
    return {
        "backend": backend,
        "state": _state(row, now),
        "waiting": "—" if down else format_count(status.length),
        "delayed": "—" if down else _delayed(status.delayed, status.next_due, now),
        "workers": f"{status.workers} / {running}",
        "in_progress": _in_progress(row, now),
        "dead_letters": "—" if down else format_count(status.dead_letters),
    }


def _delayed(count: int | None, next_due: datetime | None, now: datetime) -> str:
    if count is None or next_due is None:
        return format_count(count)
    return f"{count:,} (in {format_age(next_due - now)})"


def _sum(values: Iterable[int | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{sum(known):,}" if known else "—"


def total_cells(rows: Sequence[QueueRow]) -> Mapping[str, str]:
    """The totals row: sums over the queues whose backend could tell."""
    up = [row for row in rows if row.status.error is None]
    paused = sum(1 for row in up if row.status.paused_until is not None)
    down = len(rows) - len(up)
    state = f"{paused} paused" + (f", {down} unreachable" if down else "")
    return {
        "backend": f"{len(rows)} queue(s)",
        "state": state,
        "waiting": _sum(row.status.length for row in up),
        "delayed": _sum(row.status.delayed for row in up),
        "workers": f"{sum(row.status.workers for row in rows):,}"
        f" / {_sum(row.workers_running for row in up)}",
        "in_progress": _sum(
            None if row.status.in_progress is None else len(running_jobs(row.status)) for row in up
        ),
        "dead_letters": _sum(row.status.dead_letters for row in up),
    }
