"""A backend that cannot do what a command asks is named, with the capability it lacks."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from tests.integration.command_support import *  # noqa: F403  # the commands' fixtures and helpers
from tests.integration.command_support import SYNCHRONOUS, run


@pytest.mark.parametrize(
    ("args", "capability", "what"),
    [
        (("queue_pause", "default", "--for", "1m"), "SupportsPause", "pause queues"),
        (("queue_resume", "default"), "SupportsPause", "resume queues"),
        (("queue_clear", "default", "--yes"), "SupportsClear", "clear queues"),
        (("queue_deduplicate", "default"), "SupportsDeduplicate", "deduplicate queues"),
        (("queue_dead_letters", "default", "list"), "SupportsDeadLetters", "keep dead letters"),
        (("queue_dead_letters", "default", "requeue"), "SupportsDeadLetters", "keep dead letters"),
        (
            ("queue_dead_letters", "default", "purge", "--yes"),
            "SupportsDeadLetters",
            "keep dead letters",
        ),
    ],
)
def test_a_backend_without_the_capability_is_named(
    synchronous: None, args: tuple[str, ...], capability: str, what: str
) -> None:
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert str(caught.value) == (
        f"the backend {SYNCHRONOUS} cannot {what} (it does not implement {capability})"
    )
