"""What every contract module shares: the ``kind`` and ``backend`` fixtures, over the one
registry of backends (``tests/backends.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dlq.core.protocols import Backend
from tests.backends import KINDS, BackendKind


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> BackendKind:
    return KINDS[request.param]


@pytest.fixture
def backend(kind: BackendKind, request: pytest.FixtureRequest) -> Iterator[Backend]:
    with kind.instance(request) as backend:
        yield backend
