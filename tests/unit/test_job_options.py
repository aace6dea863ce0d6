"""A job's options have one rule each, and every place that takes them says the same thing.

The places: ``@task(...)`` and ``.using(...)``, a cron entry, and (queue names only) the
keys of ``LIGHTWEIGHT_QUEUE_WORKERS`` and ``_BACKEND_OVERRIDES``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlq.core.registry import TaskRegistry
from dlq.core.settings import build_settings
from dlq.core.task import task
from dlq.domain.cron.entry import parse_cron_config
from dlq.domain.job_options import (
    EXPECTED,
    option_problems,
    queue_name_error,
    sigkill_on_stop_error,
    timeout_error,
)
from dlq.exceptions import ConfigurationError, Problem
from tests.strategies import queue_names

GOOD = {"queue": "emails", "timeout": None, "sigkill_on_stop": False}

BAD = [
    ("queue", ""),
    ("queue", "has space"),
    ("queue", "a{b}"),
    ("queue", "glob*"),
    ("queue", "x?"),
    ("queue", "[x]"),
    ("queue", "tab\there"),
    ("queue", 3),
    ("queue", None),
    ("timeout", 0),
    ("timeout", -5),
    ("timeout", 1.5),
    ("timeout", "60"),
    ("timeout", True),
    ("sigkill_on_stop", 1),
    ("sigkill_on_stop", "yes"),
    ("sigkill_on_stop", None),
]


def from_task(option: str, value: object) -> Problem:
    with pytest.raises(ConfigurationError) as caught:
        task(registry=TaskRegistry(), **{**GOOD, option: value})(lambda: None)  # type: ignore[arg-type]  # proving the runtime check
    (problem,) = caught.value.problems
    return problem


def from_cron_entry(option: str, value: object) -> Problem:
    raw = {"command": "report", "minutes": "0", "hours": "9", option: value}
    parsed = parse_cron_config([raw], app_label="shop", where="shop.cron.CONFIG")
    (problem,) = parsed.problems
    return problem


@pytest.mark.parametrize(("option", "value"), BAD)
def test_task_options_and_cron_entries_refuse_alike_in_the_same_words(
    option: str, value: object
) -> None:
    by_task, by_entry = from_task(option, value), from_cron_entry(option, value)
    assert by_task.name.endswith(f" {option}")
    assert by_entry.name == f"shop.cron.CONFIG[0].{option}"
    assert by_task.message == by_entry.message
    assert by_task.message.startswith(f"{value!r} is not valid: ")
    assert by_task.expected == by_entry.expected == EXPECTED[option]


@pytest.mark.parametrize("value", [value for option, value in BAD if option == "queue"])
@pytest.mark.parametrize("setting", ["WORKERS", "BACKEND_OVERRIDES"])
def test_settings_refuse_a_queue_name_in_the_same_words(setting: str, value: object) -> None:
    target = 1 if setting == "WORKERS" else "dlq.backends.memory.InMemoryBackend"
    with pytest.raises(ConfigurationError) as caught:
        build_settings({f"LIGHTWEIGHT_QUEUE_{setting}": {value: target}})
    (problem,) = caught.value.problems
    assert problem.message == from_task("queue", value).message
    assert EXPECTED["queue"].removeprefix("a queue name: ") in problem.expected


@given(queue_names())
def test_names_settings_accept_are_names_tasks_and_cron_entries_accept(name: str) -> None:
    assert queue_name_error(name) is None
    assert option_problems("t", queue=name, timeout=None, sigkill_on_stop=False) == []
    assert {name: 1} == build_settings({"LIGHTWEIGHT_QUEUE_WORKERS": {name: 1}}).WORKERS


def test_good_values_have_no_error() -> None:
    assert timeout_error(None) is timeout_error(1) is timeout_error(86_400) is None
    assert sigkill_on_stop_error(True) is sigkill_on_stop_error(False) is None


@given(st.text(max_size=20))
def test_a_queue_name_is_refused_exactly_when_it_is_empty_or_holds_a_forbidden_character(
    name: str,
) -> None:
    forbidden = any(char.isspace() or char in "{}*?[]" for char in name)
    assert (queue_name_error(name) is not None) == (name == "" or forbidden)
