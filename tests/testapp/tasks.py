"""Tasks the tests enqueue. ``CALLS`` records what ran in this process."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import pydantic

from dlq import task
from tests.testapp.models import Record

CALLS: list[tuple[str, object]] = []


@task()
def add(a: int, b: int = 0) -> int:
    CALLS.append(("add", (a, b)))
    return a + b


@task(queue="other")
def untyped(first, second=None):  # type: ignore[no-untyped-def]  # upstream-style task on purpose
    CALLS.append(("untyped", (first, second)))


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(pydantic.BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Window:
    start: date
    end: date


@task()
def rich(
    when: datetime, amount: Decimal, ident: UUID, colour: Colour, point: Point, window: Window
) -> None:
    CALLS.append(("rich", (when, amount, ident, colour, point, window)))


@task()
def fails(message: str) -> None:
    CALLS.append(("fails", message))
    raise ValueError(message)


@task(atomic=True)
def write_then_fail(name: str) -> None:
    Record.objects.create(name=name)
    raise RuntimeError("rolled back")


@task(atomic=False)
def write_then_fail_not_atomic(name: str) -> None:
    Record.objects.create(name=name)
    raise RuntimeError("kept")


@task()
def write(name: str) -> None:
    Record.objects.create(name=name)
