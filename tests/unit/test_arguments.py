"""Arguments checked against the task's annotations, when enqueued and when decoded."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Optional

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.core.arguments import ArgumentCodec
from dlq.domain.envelope import JSONValue
from dlq.exceptions import TaskArgumentError
from tests.strategies import json_values


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


class Opaque:
    """Nothing pydantic knows how to build."""


def explode(value: str) -> str:
    raise LookupError("no such thing")


# The annotations the properties try, with values of each type for the round trip.
ANNOTATIONS: dict[str, tuple[object, st.SearchStrategy[object]]] = {
    "an_int": (int, st.integers()),
    "a_float": (float, st.floats(allow_nan=False, allow_infinity=False)),
    "a_bool": (bool, st.booleans()),
    "a_str": (str, st.text()),
    "nothing": (None, st.none()),
    "maybe_int": (int | None, st.none() | st.integers()),
    "maybe_str": (Optional[str], st.none() | st.text()),  # noqa: UP045 -- the old spelling too
    "int_or_str": (int | str, st.integers() | st.text()),
    "ints": (list[int], st.lists(st.integers())),
    "floats_by_name": (dict[str, float], st.dictionaries(st.text(), st.floats(-1e9, 1e9))),
    "when": (datetime, st.datetimes(timezones=st.just(UTC))),
    "day": (date, st.dates()),
    "amount": (Decimal, st.decimals(allow_nan=False, allow_infinity=False)),
    "ident": (uuid.UUID, st.uuids()),
    "colour": (Colour, st.sampled_from(Colour)),
    "point": (Point, st.builds(Point, x=st.integers(), y=st.integers())),
    "window": (Window, st.builds(Window, st.dates(), st.dates())),
    "pair": (tuple[int, str], st.tuples(st.integers(), st.text())),
    "names_by_id": (dict[int, str], st.dictionaries(st.integers(), st.text())),
}

# JSON forms the rich annotations accept, so that the properties see acceptance too.
_JSON_FORMS: st.SearchStrategy[JSONValue] = st.sampled_from(
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02",
        "1.10",
        "00000000-0000-0000-0000-000000000007",
        "red",
        {"x": 1, "y": 2},
        {"start": "2026-01-01", "end": "2026-02-01"},
        [1, "a"],
        {"1": "a"},
        1,
        1.5,
        "1",
        True,
    ]
)


def _task(name: str, hint: object) -> Callable[..., None]:
    """A task function with one parameter called ``name``, annotated ``hint``."""

    def fn(*args: object, **kwargs: object) -> None:
        pass

    parameter = inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hint)
    fn.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]  # what inspect.signature() reads
    fn.__annotations__ = {name: hint}
    return fn


def _is_of(hint: Any, value: object) -> bool:
    """True when ``value`` already is of type ``hint`` (pydantic's strict Python mode)."""
    try:
        pydantic.TypeAdapter[Any](hint).validate_python(value, strict=True)
    except pydantic.ValidationError:
        return False
    return True


@given(name=st.sampled_from(sorted(ANNOTATIONS)), value=json_values() | _JSON_FORMS)
def test_a_queued_value_decodes_to_its_annotated_type_or_is_refused_by_name(
    name: str, value: JSONValue
) -> None:
    hint, _ = ANNOTATIONS[name]
    codec = ArgumentCodec(_task(name, hint), "shop.tasks.job")
    for args, kwargs in (([value], {}), ([], {name: value})):
        try:
            decoded, decoded_kwargs = codec.decode(args, kwargs)
        except TaskArgumentError as exc:
            message = str(exc)
            assert message.startswith(f"shop.tasks.job: queued argument '{name}' = ")
            assert "does not fit its annotation" in message
            assert len(message) < 400  # the value is cut short, whatever its size
            continue
        (argument,) = [*decoded, *decoded_kwargs.values()]
        assert _is_of(hint, argument), (hint, value, argument)


@given(name=st.sampled_from(sorted(ANNOTATIONS)), data=st.data())
def test_what_a_caller_may_pass_comes_back_the_same_after_the_queue(
    name: str, data: st.DataObject
) -> None:
    hint, values = ANNOTATIONS[name]
    value = data.draw(values)
    codec = ArgumentCodec(_task(name, hint), "shop.tasks.job")
    args, _ = codec.encode([value], {})
    queued = json.loads(json.dumps(args))  # what a worker reads back
    decoded, _ = codec.decode(queued, {})
    assert decoded == [value]
    assert _is_of(hint, decoded[0])


@given(args=st.lists(json_values(), max_size=3), kwargs=st.dictionaries(st.text(), json_values()))
def test_untyped_tasks_take_any_json_as_it_is(
    args: list[JSONValue], kwargs: dict[str, JSONValue]
) -> None:
    def upstream_style(*args, **kwargs):  # type: ignore[no-untyped-def]  # upstream's tasks have no annotations
        pass

    codec = ArgumentCodec(upstream_style, "shop.tasks.untyped")
    assert codec.decode(args, kwargs) == (args, kwargs)


REFUSED = object()


@pytest.mark.parametrize(
    ("hint", "value", "accepted"),
    [
        (int, 1, 1),
        (int, "1", REFUSED),
        (int, 1.5, REFUSED),
        (int, 1.0, REFUSED),
        (int, True, REFUSED),
        (float, 1, 1.0),
        (float, 1.5, 1.5),
        (float, "1.5", REFUSED),
        (float, True, REFUSED),
        (bool, True, True),
        (bool, 1, REFUSED),
        (str, "5", "5"),
        (str, 5, REFUSED),
        (int | None, None, None),
        (list[int], [1, 2], [1, 2]),
        (list[int], [1, "2"], REFUSED),
        (dict[str, float], {"a": 1}, {"a": 1.0}),
        (Any, {"any": ["thing"]}, {"any": ["thing"]}),
        (object, "x", "x"),
        (datetime, "2026-01-02T03:04:05+00:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (Decimal, "1.10", Decimal("1.10")),
        (Colour, "blue", Colour.BLUE),
        (tuple[int, str], [1, "a"], (1, "a")),
        (tuple[int, str], ["1", "a"], REFUSED),
    ],
)
def test_plain_json_types_are_strict_and_richer_ones_are_built_from_json(
    hint: object, value: JSONValue, accepted: object
) -> None:
    codec = ArgumentCodec(_task("param", hint), "shop.tasks.job")
    if accepted is REFUSED:
        with pytest.raises(TaskArgumentError, match=r"queued argument 'param' = "):
            codec.decode([value], {})
        return
    (decoded,), _ = codec.decode([value], {})
    assert decoded == accepted
    assert type(decoded) is type(accepted)


def test_the_reason_names_the_task_the_parameter_the_value_and_the_type() -> None:
    def add(a: int, b: int = 0) -> int:
        return a + b

    codec = ArgumentCodec(add, "shop.tasks.add")
    with pytest.raises(TaskArgumentError) as caught:
        codec.decode([1, "abc"], {})
    assert str(caught.value) == (
        "shop.tasks.add: queued argument 'b' = 'abc' does not fit its annotation int"
    )
    with pytest.raises(TaskArgumentError) as caught:
        codec.decode([], {"a": "x" * 500})
    assert str(caught.value) == (
        f"shop.tasks.add: queued argument 'a' = '{'x' * 56}... does not fit its annotation int"
    )

    def stamp(when: list[datetime]) -> None:
        pass

    with pytest.raises(TaskArgumentError) as caught:
        ArgumentCodec(stamp, "shop.tasks.stamp").decode([["2026-01-01", "soon"]], {})
    assert str(caught.value).startswith(
        "shop.tasks.stamp: queued argument 'when' = ['2026-01-01', 'soon'] does not fit its"
        " annotation list[datetime.datetime]: Input should be a valid datetime"
    )
    assert str(caught.value).endswith(" at [1]")


def test_star_args_and_star_kwargs_are_checked_item_by_item() -> None:
    def tag(name: str, *ids: int, **labels: str) -> None:
        pass

    codec = ArgumentCodec(tag, "shop.tasks.tag")
    assert codec.decode(["x", 1, 2], {"colour": "red"}) == (["x", 1, 2], {"colour": "red"})
    with pytest.raises(TaskArgumentError, match=r"queued argument 'ids'\[1\] = 'two' .* int$"):
        codec.decode(["x", 1, "two"], {})
    with pytest.raises(TaskArgumentError, match=r"queued argument 'labels'\['size'\] = 3 .* str$"):
        codec.decode(["x"], {"size": 3})
    with pytest.raises(
        TaskArgumentError, match=r"argument 'ids'\[0\] cannot be queued: '1' is not"
    ):
        codec.encode(["x", "1"], {})


def test_enqueueing_refuses_what_a_worker_would_refuse() -> None:
    def add(a: int, scale: float = 1.0) -> None:
        pass

    codec = ArgumentCodec(add, "shop.tasks.add")
    assert codec.encode([1, 2], {}) == ([1, 2.0], {})
    for bad in (True, "1", 1.5):
        with pytest.raises(
            TaskArgumentError, match=r"argument 'a' cannot be queued: .* is not int"
        ):
            codec.encode([bad], {})


def test_an_annotation_pydantic_cannot_handle_is_the_tasks_error_not_a_crash() -> None:
    def handle(thing: Opaque) -> None:
        pass

    codec = ArgumentCodec(handle, "shop.tasks.handle")
    with pytest.raises(TaskArgumentError, match=r"annotation of parameter 'thing' .* cannot be"):
        codec.decode([{}], {})


def test_a_validator_that_raises_something_else_still_rejects_the_job() -> None:
    def handle(thing: Annotated[str, pydantic.AfterValidator(explode)]) -> None:
        pass

    codec = ArgumentCodec(handle, "shop.tasks.handle")
    with pytest.raises(TaskArgumentError, match=r"'thing' = 'x' .*: LookupError: no such thing"):
        codec.decode(["x"], {})
