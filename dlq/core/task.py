"""``@task``: a function that, when called, is queued to run in a worker.

The decorated object is a :class:`Task` generic over the function's parameters, so
mypy checks every call (and every ``enqueue`` in a bulk block) against the function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import Any, Final, Generic, ParamSpec, Self, TypedDict, TypeVar, Unpack, cast

from dlq.core.arguments import ArgumentCodec
from dlq.core.registry import TaskRegistry, default_registry
from dlq.core.runtime import current_runtime
from dlq.domain.envelope import Job
from dlq.domain.job_options import option_problems
from dlq.exceptions import ConfigurationError

__all__ = ["BulkEnqueue", "Task", "TaskOptions", "task"]

P = ParamSpec("P")
R = TypeVar("R")

#: django-lightweight-queue's per-call keyword arguments, still honoured at run time.
_LEGACY_PREFIX: Final = "django_lightweight_queue_"


class TaskOptions(TypedDict, total=False):
    """Per-call options for :meth:`Task.using`."""

    queue: str
    timeout: int | None
    sigkill_on_stop: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Task(Generic[P, R]):
    """A queued function. Call it to enqueue; ``.fn`` is the plain function."""

    fn: Callable[P, R]
    path: str
    queue: str = "default"
    timeout: int | None = None
    sigkill_on_stop: bool = False
    #: None: follow ``LIGHTWEIGHT_QUEUE_ATOMIC_JOBS``.
    atomic: bool | None = None

    def __post_init__(self) -> None:
        problems = option_problems(
            self.path, queue=self.queue, timeout=self.timeout, sigkill_on_stop=self.sigkill_on_stop
        )
        if problems:
            raise ConfigurationError(problems)

    @cached_property
    def codec(self) -> ArgumentCodec:
        return ArgumentCodec(self.fn, self.path)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        self.enqueue(*args, **kwargs)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> None:
        target = self._with_legacy_options(cast(dict[str, object], kwargs)) if kwargs else self
        job = target.build_job(args, kwargs)
        current_runtime().backend_for(target.queue).enqueue(job, target.queue)

    def using(self, **options: Unpack[TaskOptions]) -> Task[P, R]:
        """A copy with other options for the calls made through it."""
        copy = dataclasses.replace(self, **options)
        # The same function: the copy shares the codec, so the checks built for its
        # parameters are not built again for every call made through ``using``.
        copy.__dict__["codec"] = self.codec
        return copy

    def bulk_enqueue(
        self, batch_size: int = 1000, queue_override: str | None = None
    ) -> BulkEnqueue[P]:
        """Enqueue many calls with one backend call per ``batch_size`` of them::

        with my_task.bulk_enqueue() as enqueue:
            enqueue(the_ids=[42, 43])
        """
        target = self if queue_override is None else self.using(queue=queue_override)
        return BulkEnqueue(target, batch_size)

    def build_job(
        self, args: tuple[object, ...], kwargs: dict[str, Any], now: datetime | None = None
    ) -> Job:
        """The job for one call; raises TaskArgumentError, and queues nothing, if it can't."""
        encoded_args, encoded_kwargs = self.codec.encode(args, kwargs)
        return Job.create(
            self.path,
            encoded_args,
            encoded_kwargs,
            now=current_runtime().now() if now is None else now,
            timeout=self.timeout,
            sigkill_on_stop=self.sigkill_on_stop,
        )

    def _with_legacy_options(self, kwargs: dict[str, object]) -> Self:
        """Pops upstream's ``django_lightweight_queue_*`` keywords, applied to a copy."""
        if not any(key.startswith(_LEGACY_PREFIX) for key in kwargs):
            return self
        changes = {
            option: kwargs.pop(_LEGACY_PREFIX + option)
            for option in ("queue", "timeout", "sigkill_on_stop")
            if _LEGACY_PREFIX + option in kwargs
        }
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]  # checked in __post_init__

    def __repr__(self) -> str:
        return f"<Task {self.path} queue={self.queue!r}>"


class BulkEnqueue(Generic[P]):
    """Collects calls and hands them to the backend ``batch_size`` at a time."""

    def __init__(self, task: Task[P, Any], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
        self._task = task
        self._batch_size = batch_size
        self._pending: list[Job] = []
        # One created time per batch: cheaper than a clock read (and its formatting) per job.
        self._now = current_runtime().now()

    def __enter__(self) -> Self:
        return self

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        self._pending.append(self._task.build_job(args, kwargs, self._now))
        if len(self._pending) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            jobs, self._pending = self._pending, []
            current_runtime().backend_for(self._task.queue).bulk_enqueue(jobs, self._task.queue)
            self._now = current_runtime().now()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # As upstream: what was collected before an error is still enqueued.
        self.flush()


def task(
    queue: str = "default",
    timeout: int | None = None,
    sigkill_on_stop: bool = False,
    atomic: bool | None = None,
    *,
    aliases: Sequence[str] = (),
    registry: TaskRegistry = default_registry,
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """Define a task: calling the decorated function queues it to run in a worker.

    ``queue``: the queue to run it in. ``timeout``: seconds after which the running job
    is killed. ``sigkill_on_stop``: kill it at once when its worker is stopped, instead
    of letting it finish. ``atomic``: run it inside a database transaction (default:
    ``LIGHTWEIGHT_QUEUE_ATOMIC_JOBS``).

    Arguments must be JSON, or be of a type the parameter's annotation lets pydantic
    encode (datetime, Decimal, UUID, Enum, pydantic models, dataclasses...). Options can
    be changed per call with ``fn.using(queue=..., timeout=..., sigkill_on_stop=...)``.

    ``aliases``: other paths workers run this task for, such as where it was defined
    before it moved, so that payloads queued under an old path still run.
    """

    if isinstance(aliases, str):  # a str is a Sequence[str] too, one path per character
        raise TypeError(f"aliases is a list or tuple of paths, not the string {aliases!r}")

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        wrapped = Task(
            fn=fn,
            path=f"{fn.__module__}.{fn.__name__}",
            queue=queue,
            timeout=timeout,
            sigkill_on_stop=sigkill_on_stop,
            atomic=atomic,
        )
        registry.register(cast(Task[..., object], wrapped), aliases)
        return wrapped

    return decorate
