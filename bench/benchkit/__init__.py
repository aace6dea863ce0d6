"""Shared code of the benchmark harness.

Runs inside either venv (upstream on 3.11, dlq on 3.12) and also in the worker processes,
whose tasks import :mod:`benchkit.tasks_impl`. Standard library plus redis-py only; nothing
here imports Django except where a scenario needs the system's task API.
"""
