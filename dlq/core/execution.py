"""The one path every backend and worker runs a job through.

Look the task up in the registry, rebuild its arguments, call the middleware around it,
run it (inside a transaction when atomic, with :func:`dlq.current_job` set), decide
whether a failure is retried (its retry policy), keep the return value as JSON when the
job keeps its result, and return an :data:`Outcome`. Nothing the task or a middleware
raises escapes: a worker loop calling :meth:`JobRunner.run` keeps going whatever the job
does.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dlq.core.clock import utc_now
from dlq.core.context import enter, leave
from dlq.core.protocols import Clock
from dlq.core.registry import TaskRegistry
from dlq.domain.envelope import Job
from dlq.domain.outcome import Failed, GaveUp, Outcome, Rejected, Retrying, Succeeded
from dlq.exceptions import Retry, ReturnValueError, TaskArgumentError, UnknownTaskError

if TYPE_CHECKING:
    from dlq.core.task import Task

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
        clock: Clock = utc_now,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._jitter = jitter
        self._atomic_by_default = atomic_by_default
        self._atomic = atomic
        self._logger = logger or logging.getLogger("dlq.execution")
        # Upstream's middleware may define only some hooks: bind the ones present, once.
        self._before = _bound(middleware, "process_job")
        self._after = _bound(middleware, "process_result")[::-1]
        self._on_error = _bound(middleware, "process_exception")[::-1]

    def run(self, job: Job, queue: str) -> Outcome:
        """Run ``job``, taken from ``queue``, to its outcome."""
        try:
            task = self._registry.get(job.path)
            args, kwargs = task.codec.decode(job.args, job.kwargs)
        except (UnknownTaskError, TaskArgumentError) as exc:
            self._logger.error("Refused %s: %s", job, exc)
            return Rejected(str(exc))
        atomic = self._atomic_by_default if task.atomic is None else task.atomic
        start = time.perf_counter()
        token = enter((job, queue))
        try:
            for hook in self._before:
                hook(job)
            if atomic:
                with self._atomic():
                    result = task.fn(*args, **kwargs)
            else:
                result = task.fn(*args, **kwargs)
            stored = task.result_codec.encode(result) if job.store_result else None
        except (Exception, SystemExit) as exc:  # SystemExit: management commands call sys.exit
            duration_s = time.perf_counter() - start
            for hook in self._on_error:
                try:
                    hook(job, duration_s, type(exc), exc, exc.__traceback__)
                except Exception:
                    self._logger.exception("Middleware %r failed in process_exception", hook)
            return self._failure(task, job, exc, duration_s)
        finally:
            leave(token)
        duration_s = time.perf_counter() - start
        for hook in self._after:
            try:
                hook(job, result, duration_s)
            except Exception:
                self._logger.exception("Middleware %r failed in process_result", hook)
        return Succeeded(result, duration_s, stored)

    def _failure(
        self, task: Task[..., object], job: Job, exc: BaseException, duration_s: float
    ) -> Outcome:
        """Retrying while the policy allows, GaveUp after the last retry, else Failed."""
        policy = task.retry_policy
        asked = isinstance(exc, Retry)
        if isinstance(exc, ReturnValueError) or not (asked or policy.catches(exc)):
            return Failed(exc, duration_s)
        attempt = job.retry + 1
        if not policy.retries_left(attempt):
            if policy.retries == 0 and not asked:
                return Failed(exc, duration_s)  # upstream's way: no retries, no dead letter
            return GaveUp(exc, duration_s, attempt)
        delay_s = exc.delay_s if isinstance(exc, Retry) else None
        if delay_s is None:
            delay_s = policy.backoff.delay_s(attempt, self._jitter)
        run_after = self._clock() + timedelta(seconds=delay_s)
        self._logger.info(
            "%s failed on attempt %d (%s: %s); retrying in %.1fs",
            job,
            attempt,
            type(exc).__name__,
            exc,
            delay_s,
        )
        return Retrying(exc, duration_s, run_after)


def _bound(middleware: Sequence[object], name: str) -> list[Callable[..., Any]]:
    return [hook for hook in (getattr(m, name, None) for m in middleware) if callable(hook)]
