"""The one path every backend and worker runs a job through.

Look the task up in the registry, rebuild its arguments, call the middleware around it,
run it (inside a transaction when atomic), and return an :data:`Outcome`. Nothing the
task or a middleware raises escapes: a worker loop calling :meth:`JobRunner.run` keeps
going whatever the job does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from dlq.core.registry import TaskRegistry
from dlq.domain.envelope import Job
from dlq.domain.outcome import Failed, Outcome, Rejected, Succeeded
from dlq.exceptions import TaskArgumentError, UnknownTaskError

__all__ = ["JobRunner"]


class JobRunner:
    """Runs jobs with a fixed registry, middleware and transaction factory."""

    def __init__(
        self,
        registry: TaskRegistry,
        middleware: Sequence[object],
        *,
        atomic_by_default: bool,
        atomic: Callable[[], AbstractContextManager[object]] = nullcontext,
        logger: logging.Logger | None = None,
    ) -> None:
        self._registry = registry
        self._atomic_by_default = atomic_by_default
        self._atomic = atomic
        self._logger = logger or logging.getLogger("dlq.execution")
        # Upstream's middleware may define only some hooks: bind the ones present, once.
        self._before = _bound(middleware, "process_job")
        self._after = _bound(middleware, "process_result")[::-1]
        self._on_error = _bound(middleware, "process_exception")[::-1]

    def run(self, job: Job) -> Outcome:
        try:
            task = self._registry.get(job.path)
            args, kwargs = task.codec.decode(job.args, job.kwargs)
        except (UnknownTaskError, TaskArgumentError) as exc:
            self._logger.error("Refused %s: %s", job, exc)
            return Rejected(str(exc))
        atomic = self._atomic_by_default if task.atomic is None else task.atomic
        start = time.perf_counter()
        try:
            for hook in self._before:
                hook(job)
            if atomic:
                with self._atomic():
                    result = task.fn(*args, **kwargs)
            else:
                result = task.fn(*args, **kwargs)
        except (Exception, SystemExit) as exc:  # SystemExit: management commands call sys.exit
            duration_s = time.perf_counter() - start
            for hook in self._on_error:
                try:
                    hook(job, duration_s, type(exc), exc, exc.__traceback__)
                except Exception:
                    self._logger.exception("Middleware %r failed in process_exception", hook)
            return Failed(exc, duration_s)
        duration_s = time.perf_counter() - start
        for hook in self._after:
            try:
                hook(job, result, duration_s)
            except Exception:
                self._logger.exception("Middleware %r failed in process_result", hook)
        return Succeeded(result, duration_s)


def _bound(middleware: Sequence[object], name: str) -> list[Callable[..., Any]]:
    return [hook for hook in (getattr(m, name, None) for m in middleware) if callable(hook)]
