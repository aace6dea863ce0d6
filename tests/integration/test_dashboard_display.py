"""How the dashboard writes what it shows, and who may see what: the pure parts, without
a request (they import Django's glue, so they live beside the page tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from dlq.dashboard.display import (
    NOT_AVAILABLE,
    arguments_text,
    payload_text,
    queue_cells,
    total_cells,
)
from dlq.dashboard.gather import QueueRow
from dlq.dashboard.permissions import OPERATE, PAYLOADS, VIEW, Access
from dlq.domain.envelope import Job
from dlq.status import QueueStatus, TakenJob

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def status(**fields: object) -> QueueStatus:
    values: dict[str, object] = {
        "queue": "emails",
        "backend": "dlq.backends.redis.RedisBackend",
        "workers": 2,
        "configured": True,
        "length": 1234,
        "delayed": 7,
        "next_due": NOW + timedelta(minutes=2),
        "in_progress": (),
        "dead_letters": 5,
    }
    values.update(fields)
    return QueueStatus(**values)  # type: ignore[arg-type]  # the fields above, by name


def test_a_running_queue() -> None:
    held = (
        TakenJob(2, "a", "shop.tasks.send", 3),
        TakenJob(2, "b", "shop.tasks.send", 1),
        TakenJob(2, "c", "shop.tasks.other", 1),
        TakenJob(1, "d", "shop.tasks.other", 1),
    )
    row = QueueRow(
        status(in_progress=held),
        leases={1: "host:1", 2: "host:2"},
        started={"a": NOW - timedelta(seconds=65)},
    )
    cells = queue_cells(row, NOW)
    assert cells == {
        "backend": "RedisBackend",
        "state": "running",
        "waiting": "1,234",
        "delayed": "7 (in 2m)",
        "workers": "2 / 2",
        "in_progress": [
            "slot 2: shop.tasks.send (attempt 3, running for 1m5s; 2 more reserved)",
            "slot 1: shop.tasks.other (attempt 1)",
        ],
        "dead_letters": "5",
    }


def test_a_paused_queue_says_until_when_and_how_long_is_left() -> None:
    row = QueueRow(status(paused_until=NOW + timedelta(minutes=90, seconds=0.5)))
    assert queue_cells(row, NOW)["state"] == "paused until 2026-03-01 13:30:00 UTC (1h30m left)"


def test_what_a_backend_cannot_tell_is_not_available() -> None:
    row = QueueRow(status(in_progress=None, dead_letters=None, unsupported=("SupportsPause",)))
    cells = queue_cells(row, NOW)
    assert cells["state"] == f"running (pausing is {NOT_AVAILABLE})"
    assert cells["in_progress"] == [NOT_AVAILABLE]
    assert cells["dead_letters"] == NOT_AVAILABLE
    assert cells["workers"] == f"2 / {NOT_AVAILABLE}"


def test_a_backend_that_failed_says_how_and_nothing_else() -> None:
    row = QueueRow(status(length=None, error="Redis at redis://h:1/0 failed: refused"))
    cells = queue_cells(row, NOW)
    assert cells["state"] == "unreachable: Redis at redis://h:1/0 failed: refused"
    assert [cells[field] for field in ("waiting", "dead_letters")] == ["—", "—"]
    assert cells["in_progress"] == ["—"]


def test_totals_add_up_what_the_backends_could_tell() -> None:
    rows = [
        QueueRow(status(length=10, dead_letters=1), leases={1: "h"}),
        QueueRow(status(length=5, dead_letters=None, workers=1), leases=None),
        QueueRow(status(length=None, error="down", workers=3)),
        QueueRow(status(length=0, paused_until=NOW + timedelta(hours=1))),
    ]
    totals = total_cells(rows)
    assert totals["waiting"] == "15"
    assert totals["dead_letters"] == "6"
    assert totals["workers"] == "8 / 1"
    assert totals["state"] == "1 paused, 1 unreachable"
    assert totals["backend"] == "4 queue(s)"


def test_payloads_are_text_cut_to_a_length() -> None:
    assert payload_text(b'{"a": "\xc3\xa9"}') == '{"a": "é"}'
    assert payload_text(b"\xff\xfe") == "\\xff\\xfe"
    long = payload_text(b"x" * 30_000)
    assert long.startswith("x" * 20_000)
    assert long.endswith("… (cut: 30,000 bytes in all)")


def test_arguments_are_written_as_the_call_in_json() -> None:
    job = Job.create("t.f", [1, "é", None], {"b": [True]}, now=NOW)
    assert arguments_text(job) == '(1, "é", null, b=[true])'
    assert arguments_text(Job.create("t.f", ["x" * 600], {}, now=NOW)).endswith("…")


@dataclass
class User:
    """Any user model: the dashboard reads these attributes and nothing else."""

    is_active: bool = True
    is_staff: bool = True
    perms: frozenset[str] = frozenset()

    def has_perm(self, perm: str) -> bool:
        return perm in self.perms


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (User(perms=frozenset({VIEW})), Access(view=True, operate=False, payloads=False)),
        (User(perms=frozenset({VIEW, OPERATE, PAYLOADS})), Access(True, True, True)),
        (User(perms=frozenset({OPERATE, PAYLOADS})), Access(False, False, False)),
        (User(is_staff=False, perms=frozenset({VIEW})), Access(False, False, False)),
        (User(is_active=False, perms=frozenset({VIEW})), Access(False, False, False)),
        (object(), Access(False, False, False)),  # a user model without is_staff or has_perm
    ],
)
def test_access(user: object, expected: Access) -> None:
    assert Access.of(user) == expected
