"""Scenarios run.py uses for housekeeping."""

from __future__ import annotations

import importlib

from benchkit.context import Context


def preflight(ctx: Context) -> dict[str, object]:
    """Import what a worker needs and check Redis answers; enqueue nothing."""
    for module in ctx.system.required_modules:
        importlib.import_module(module)
    backend_path = ctx.system.backends[ctx.config.backend]
    module_name, _, class_name = backend_path.rpartition(".")
    getattr(importlib.import_module(module_name), class_name)
    if ctx.tasks is None:
        raise RuntimeError("benchapp.tasks did not import")
    server = ctx.client.info("server")
    return {"ok": True, "redis_server": server.get("redis_version", "?")}


def cleanup(ctx: Context) -> dict[str, object]:
    return {"deleted_keys": ctx.clean()}
