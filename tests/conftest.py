from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from dlq.backends.memory import InMemoryBackend
from dlq.conf import DjangoRuntime, get_runtime
from tests.testapp import tasks

# dlq's own test toolkit, and the fixtures of the real servers, for every test module.
pytest_plugins = [
    "dlq.testing",
    "tests.integration.redis_fixtures",
    "tests.integration.database_fixtures",
]

# Hypothesis' timing checks are wall-clock assertions: on a shared, noisy machine they fail
# for reasons that have nothing to do with the code under test.
settings.register_profile("dlq", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dlq")


@pytest.fixture(autouse=True)
def runtime() -> Iterator[DjangoRuntime]:
    """dlq's runtime; whatever --config file a test applied is dropped afterwards."""
    runtime = get_runtime()
    yield runtime
    runtime.use_config_file(None)


@pytest.fixture
def memory(runtime: DjangoRuntime) -> Iterator[InMemoryBackend]:
    """A fresh in-memory backend (the tests' configured backend) and an empty CALLS."""
    runtime.reset()
    tasks.CALLS.clear()
    backend = runtime.backend_for("default")
    assert isinstance(backend, InMemoryBackend)
    yield backend
    runtime.reset()
