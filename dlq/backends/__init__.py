"""Adapters that implement :mod:`dlq.core.protocols`, and how one is built from its path."""

from __future__ import annotations

import importlib

from dlq.core.protocols import Backend, BackendContext
from dlq.exceptions import ConfigurationError, Problem

__all__ = ["build_backend", "import_path"]


def import_path(path: str, setting: str) -> object:
    """The object at dotted ``path``; ConfigurationError naming ``setting`` if it is not there."""
    module_name, _, attribute = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            [
                Problem(
                    setting, f"cannot import {path!r}: {exc}", expected="an importable dotted path"
                )
            ]
        ) from exc


def build_backend(
    path: str, context: BackendContext, setting: str = "LIGHTWEIGHT_QUEUE_BACKEND"
) -> Backend:
    """An instance of the backend class at ``path``.

    A class with ``from_context(context)`` gets the settings, clock, logger and job
    runner; a class without it (a django-lightweight-queue backend) is called with no
    arguments.
    """
    cls = import_path(path, setting)
    factory = getattr(cls, "from_context", None)
    backend = factory(context) if callable(factory) else cls() if callable(cls) else None
    if not isinstance(backend, Backend):
        raise ConfigurationError(
            [
                Problem(
                    setting,
                    f"{path!r} does not make a backend",
                    expected="a class with enqueue, bulk_enqueue, dequeue, acknowledge,"
                    " length and startup (see dlq.core.protocols.Backend)",
                )
            ]
        )
    return backend
