"""The one hand-over point between the Django layer and code that enqueues.

``dlq.apps.DlqConfig.ready()`` installs a :class:`~dlq.core.protocols.Runtime`; calling
a task before that raises :class:`~dlq.exceptions.NotReadyError` instead of guessing.
"""

from __future__ import annotations

from dlq.core.protocols import Runtime
from dlq.exceptions import NotReadyError

__all__ = ["current_runtime", "install_runtime"]

_installed: list[Runtime] = []


def install_runtime(runtime: Runtime) -> None:
    _installed[:] = [runtime]


def current_runtime() -> Runtime:
    if not _installed:
        raise NotReadyError("a task was enqueued")
    return _installed[0]
