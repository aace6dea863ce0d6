"""Middleware: hooks around every job run, configured by ``LIGHTWEIGHT_QUEUE_MIDDLEWARE``."""

from __future__ import annotations

import logging
from types import TracebackType

from dlq.domain.envelope import Job

__all__ = ["BaseMiddleware", "LoggingMiddleware"]


class BaseMiddleware:
    """Does nothing; subclass it and override the hooks you need."""

    def process_job(self, job: Job) -> None:
        """Called before the task runs; raising fails the job without running it."""

    def process_result(self, job: Job, result: object, duration_s: float) -> None:
        """Called after the task returned ``result``."""

    def process_exception(
        self,
        job: Job,
        duration_s: float,
        exc_type: type[BaseException],
        exc_value: BaseException,
        exc_tb: TracebackType | None,
    ) -> None:
        """Called after the task (or an earlier ``process_job``) raised."""


class LoggingMiddleware(BaseMiddleware):
    """Logs each job's start, end and failure (with its traceback) to ``dlq.jobs``."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("dlq.jobs")

    def process_job(self, job: Job) -> None:
        self.logger.info("Running %s (delivery %d)", job, job.attempts)

    def process_result(self, job: Job, result: object, duration_s: float) -> None:
        self.logger.info("Finished %s in %.3fs", job, duration_s)

    def process_exception(
        self,
        job: Job,
        duration_s: float,
        exc_type: type[BaseException],
        exc_value: BaseException,
        exc_tb: TracebackType | None,
    ) -> None:
        self.logger.error(
            "Failed %s after %.3fs", job, duration_s, exc_info=(exc_type, exc_value, exc_tb)
        )
