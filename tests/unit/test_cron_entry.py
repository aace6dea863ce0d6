"""Cron entries: upstream's keys and defaults, content-based ids, and an error for every mistake."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.domain.cron.entry import ENTRY_KEYS, CronEntry, parse_cron_config
from dlq.domain.cron.spec import parse_field
from dlq.exceptions import Problem
from tests.strategies import cron_entry_configs

WHERE = "shop.cron.CONFIG"


def parse_one(raw: object) -> CronEntry:
    parsed = parse_cron_config([raw], app_label="shop", where=WHERE, source="shop/cron.py")
    assert parsed.problems == ()
    (entry,) = parsed.entries
    return entry


_ONE = object()


def problems_of(raw: object, *, config: object = _ONE) -> tuple[Problem, ...]:
    parsed = parse_cron_config(
        [raw] if config is _ONE else config, app_label="shop", where=WHERE, source="shop/cron.py"
    )
    assert parsed.entries == ()
    assert parsed.problems
    assert all(problem.source == "shop/cron.py" for problem in parsed.problems)
    return parsed.problems


def test_upstream_defaults() -> None:
    entry = parse_one({"command": "send_digest", "minutes": "0", "hours": "9"})
    assert entry.days == frozenset(range(1, 8))
    assert entry.queue == "cron"
    assert entry.timeout is None
    assert entry.sigkill_on_stop is False
    assert entry.command_args == ()
    assert dict(entry.command_kwargs) == {}
    assert (entry.app_label, entry.index) == ("shop", 0)


def test_every_key_as_upstream_writes_it() -> None:
    entry = parse_one(
        {
            "command": "nightly_report",
            "days": "1-5",
            "hours": "2",
            "minutes": "0, 30",
            "queue": "reports",
            "timeout": 600,
            "sigkill_on_stop": True,
            "command_args": ["--verbose"],
            "command_kwargs": {"region": "eu"},
        }
    )
    assert entry.spec.matches(datetime(2024, 1, 5, 2, 30))  # a Friday
    assert not entry.spec.matches(datetime(2024, 1, 6, 2, 30))  # a Saturday
    assert entry.schedule == "minutes=0,30 hours=2 days=1-5"
    assert (entry.queue, entry.timeout, entry.sigkill_on_stop) == ("reports", 600, True)
    assert entry.command_args == ("--verbose",)
    assert dict(entry.command_kwargs) == {"region": "eu"}


def test_an_entry_cannot_be_changed() -> None:
    entry = parse_one({"command": "x", "minutes": "*", "hours": "*"})
    with pytest.raises(ValueError, match="frozen"):
        entry.queue = "other"  # type: ignore[misc]  # the point: it is frozen
    with pytest.raises(TypeError):
        entry.command_kwargs["a"] = 1  # type: ignore[index]  # a read-only mapping


def test_id_names_app_command_and_arguments_not_position_or_schedule() -> None:
    base = {"command": "report", "minutes": "0", "hours": "9", "command_args": ["a"]}
    first = parse_one(base)
    moved = parse_cron_config(
        [{"command": "other", "minutes": "*", "hours": "*"}, {**base, "hours": "10"}],
        app_label="shop",
        where=WHERE,
    ).entries[1]
    assert first.id == moved.id
    assert first.id.startswith("shop:report:")
    assert parse_one({**base, "command_args": ["b"]}).id != first.id
    assert parse_one({**base, "command_kwargs": {"x": 1}}).id != first.id
    other_app = parse_cron_config([base], app_label="reports", where=WHERE).entries[0]
    assert other_app.id != first.id


@given(cron_entry_configs())
def test_any_valid_entry_parses_with_its_values(raw: dict[str, object]) -> None:
    entry = parse_one(raw)
    for name in ("minutes", "hours", "days"):
        if name in raw:
            value = raw[name]
            assert isinstance(value, (str, int, list))
            assert getattr(entry, name) == parse_field(name, value)
    assert entry.queue == raw.get("queue", "cron")
    assert entry.timeout == raw.get("timeout")
    assert entry.sigkill_on_stop == raw.get("sigkill_on_stop", False)
    assert list(entry.command_args) == list(raw.get("command_args", []))  # type: ignore[call-overload]  # a list when present
    kwargs = raw.get("command_kwargs", {})
    assert isinstance(kwargs, Mapping)
    assert dict(entry.command_kwargs) == dict(kwargs)
    assert parse_one(raw).id == entry.id  # stable


@given(cron_entry_configs(), st.text(min_size=1, max_size=10))
def test_any_unknown_key_is_named(raw: dict[str, object], key: str) -> None:
    if key in ENTRY_KEYS:
        return
    problems = problems_of({**raw, key: 1})
    assert [p.message for p in problems] == [f"{key!r} is not a cron entry key"]
    assert problems[0].name == f"{WHERE}[0]"


def test_unknown_key_suggests_the_closest() -> None:
    (problem,) = problems_of({"command": "x", "minutes": "*", "hours": "*", "queu": "a"})
    assert problem.name == "shop.cron.CONFIG[0]"
    assert problem.message == "'queu' is not a cron entry key"
    assert problem.hint == "did you mean 'queue'?"
    # A misspelt key also leaves the real one missing: both are said.
    typo, missing = problems_of({"command": "x", "minute": "*", "hours": "*"})
    assert typo.hint == "did you mean 'minutes'?"
    assert (missing.name, missing.message) == ("shop.cron.CONFIG[0].minutes", "is required")


VALID = {"command": "x", "minutes": "*", "hours": "*"}


@pytest.mark.parametrize(
    ("change", "name", "message"),
    [
        ({"minutes": "61"}, "minutes", "'61' is out of range"),
        ({"hours": "24"}, "hours", "'24' is out of range"),
        ({"days": "0"}, "days", "'0' is out of range"),
        ({"days": [1, 8]}, "days", "8 in [1, 8] is out of range"),
        ({"minutes": "every"}, "minutes", "'every' is not a value, range or step"),
        ({"minutes": "5-1"}, "minutes", "'5-1' is a range that runs backwards"),
        ({"minutes": "*/0"}, "minutes", "'*/0' has a step below 1"),
        ({"hours": ""}, "hours", "'' is empty"),
        ({"hours": None}, "hours", "None is not a string, an int or a list of ints"),
        ({"minutes": True}, "minutes", "True is not a string, an int or a list of ints"),
        (
            {"queue": "has space"},
            "queue",
            "'has space' is not valid: a queue name has no spaces, braces or glob characters",
        ),
        ({"queue": 3}, "queue", "3 is not valid: a queue name is a string, not int"),
        ({"timeout": "60"}, "timeout", "'60' is not valid: a timeout is None or whole seconds"),
        ({"timeout": 0}, "timeout", "0 is not valid: a timeout is more than 0 seconds"),
        ({"timeout": 1.5}, "timeout", "1.5 is not valid"),
        ({"sigkill_on_stop": "yes"}, "sigkill_on_stop", "'yes' is not valid"),
        ({"sigkill_on_stop": 1}, "sigkill_on_stop", "1 is not valid"),
        ({"command_args": "--verbose"}, "command_args", "a str is not a list or tuple"),
        ({"command_args": [object]}, "command_args", "at [0] is not valid"),
        ({"command_kwargs": ["a"]}, "command_kwargs", "['a'] is not valid"),
        ({"command_kwargs": {1: "a"}}, "command_kwargs", "is not valid"),
        ({"command": ""}, "command", "'' is not valid"),
        ({"command": 7}, "command", "7 is not valid"),
    ],
)
def test_each_bad_value_names_entry_field_and_value(
    change: dict[str, object], name: str, message: str
) -> None:
    problems = problems_of({**VALID, **change})
    assert [problem.name for problem in problems] == [f"shop.cron.CONFIG[0].{name}"]
    assert message in problems[0].message
    assert problems[0].expected


@pytest.mark.parametrize("missing", ["command", "minutes", "hours"])
def test_required_keys(missing: str) -> None:
    raw = {key: value for key, value in VALID.items() if key != missing}
    (problem,) = problems_of(raw)
    assert problem.name == f"shop.cron.CONFIG[0].{missing}"
    assert problem.message == "is required"
    if missing != "command":
        assert "write '*'" in problem.hint


def test_every_problem_of_an_entry_is_reported_at_once() -> None:
    problems = problems_of({"command": "", "minutes": "99", "queu": "a", "timeout": -1})
    assert {problem.name for problem in problems} == {
        "shop.cron.CONFIG[0]",
        "shop.cron.CONFIG[0].command",
        "shop.cron.CONFIG[0].minutes",
        "shop.cron.CONFIG[0].hours",
        "shop.cron.CONFIG[0].timeout",
    }


@pytest.mark.parametrize("config", ["command", b"x", {"command": "x"}, 3, None])
def test_config_must_be_a_list_or_tuple(config: object) -> None:
    (problem,) = problems_of(None, config=config)
    assert problem.name == WHERE
    assert "is not a list or tuple of entries" in problem.message


def test_an_entry_must_be_a_dict() -> None:
    parsed = parse_cron_config([VALID, "x", VALID], app_label="shop", where=WHERE)
    assert [entry.index for entry in parsed.entries] == [0, 2]
    (problem,) = parsed.problems
    assert problem.name == "shop.cron.CONFIG[1]"
    assert problem.message == "'x' is not a dict"


def test_app_label_and_index_cannot_be_set_from_the_config() -> None:
    problems = problems_of({**VALID, "app_label": "evil", "index": 9})
    assert {problem.message for problem in problems} == {
        "'app_label' is not a cron entry key",
        "'index' is not a cron entry key",
    }
