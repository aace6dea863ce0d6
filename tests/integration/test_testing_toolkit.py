"""dlq.testing: the toolkit users test their enqueueing code with."""

from __future__ import annotations

import pytest
from django.test import override_settings

from dlq import testing
from dlq.backends.memory import InMemoryBackend
from dlq.domain.outcome import Succeeded
from dlq.exceptions import ConfigurationError
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_fixture_puts_every_queue_in_memory_whatever_the_settings_say(
    dlq_queue: InMemoryBackend,
) -> None:
    tasks.CALLS.clear()
    tasks.add(1, b=2)
    tasks.add_later(5)

    assert testing.backend("other") is dlq_queue
    assert [job.path for job in testing.enqueued()] == [
        "tests.testapp.tasks.add",
        "tests.testapp.tasks.add_later",
    ]
    assert testing.assert_enqueued(tasks.add, 1, b=2).kwargs == {"b": 2}
    testing.assert_not_enqueued(tasks.fails)

    outcomes = testing.run_queued()
    # add(1, 2), add_later(5), then the add(5) that add_later enqueued.
    assert [o.result for o in outcomes if isinstance(o, Succeeded)] == [3, None, 5]
    assert tasks.CALLS == [("add", (1, 2)), ("add", (5, 0))]
    assert testing.enqueued() == []


def test_run_queued_of_one_queue_leaves_the_others() -> None:
    with testing.in_memory_queues():
        tasks.add(1)
        tasks.add_later(2)
        assert len(testing.run_queued("other")) == 1
        assert [job.args for job in testing.enqueued(queue="default")] == [(1,), (2,)]


def test_assertions_say_what_was_there_instead(dlq_queue: InMemoryBackend) -> None:
    tasks.add(1)
    with pytest.raises(AssertionError, match=r"found 0; its waiting jobs:\n  tests.testapp"):
        testing.assert_enqueued(tasks.add, 2)
    with pytest.raises(
        AssertionError, match=r"expected no waiting job of tests\.testapp\.tasks\.add"
    ):
        testing.assert_not_enqueued(tasks.add)


def test_backend_says_when_a_queue_is_not_in_memory() -> None:
    with (
        override_settings(LIGHTWEIGHT_QUEUE_BACKEND="dlq.backends.synchronous.SynchronousBackend"),
        pytest.raises(ConfigurationError, match="not the in-memory backend"),
    ):
        testing.backend("default")
