"""``@task``: a function that, when called, is queued to run in a worker.

The decorated object is a :class:`Task` generic over the function's parameters and
return type, so mypy checks every call (and every ``enqueue`` in a bulk block) against
the function, and ``fn.enqueue(...).wait()`` is typed as the function's return value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from types import TracebackType
from typing import Any, Final, Generic, ParamSpec, Self, TypedDict, TypeVar, Unpack, cast

from dlq.core.arguments import ArgumentCodec
from dlq.core.protocols import Runtime
from dlq.core.records import enqueue_job, enqueue_jobs
from dlq.core.registry import TaskRegistry, default_registry
from dlq.core.results import JobHandle, ResultCodec
from dlq.core.runtime import current_runtime
from dlq.domain.envelope import Job
from dlq.domain.job_options import option_problems
from dlq.domain.retry import Backoff, RetryPolicy
from dlq.exceptions import ConfigurationError, Problem

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
    #: Hold the job back this long after it is enqueued.
    delay: timedelta | None
    #: Hold the job back until then (a timezone-aware datetime).
    run_after: datetime | None
    #: Enqueue when the transaction commits: True (the default database) or an alias.
    on_commit: bool | str
    #: With ``on_commit=True``: the database alias whose transaction to wait for.
    using: str
    store_result: bool


_NO_BACKOFF: Final = Backoff()


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
    retry_policy: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    #: None: follow ``LIGHTWEIGHT_QUEUE_STORE_RESULTS``.
    store_result: bool | None = None
    #: None: follow ``LIGHTWEIGHT_QUEUE_ENQUEUE_ON_COMMIT``; False: enqueue at once.
    on_commit: bool | str | None = None
    delay: timedelta | None = None
    run_after: datetime | None = None

    def __post_init__(self) -> None:
        problems = option_problems(
            self.path, queue=self.queue, timeout=self.timeout, sigkill_on_stop=self.sigkill_on_stop
        )
        problems.extend(
            Problem(f"{self.path} {option}", message, expected=expected)
            for option, message, expected in (
                *self.retry_policy.problems(),
                *_lifecycle_problems(self.delay, self.run_after, self.on_commit, self.store_result),
            )
        )
        if problems:
            raise ConfigurationError(problems)

    @cached_property
    def codec(self) -> ArgumentCodec:
        return ArgumentCodec(self.fn, self.path)

    @cached_property
    def result_codec(self) -> ResultCodec[R]:
        return ResultCodec(self.fn, self.path)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        self.enqueue(*args, **kwargs)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Queue one call; the handle has its id (and, with ``store_result``, its fate)."""
        target = self._with_legacy_options(cast(dict[str, object], kwargs)) if kwargs else self
        runtime = current_runtime()
        job = target.build_job(args, kwargs, runtime=runtime)
        backend = runtime.backend_for(target.queue)
        alias = target.commit_alias(runtime)
        if alias is None:
            if job.store_result:
                enqueue_job(backend, job, target.queue, runtime.settings.RESULT_TTL_S)
            else:
                backend.enqueue(job, target.queue)  # (the common case, spelt out)
        else:
            ttl_s = runtime.settings.RESULT_TTL_S
            runtime.on_commit(lambda: enqueue_job(backend, job, target.queue, ttl_s), alias)
        return JobHandle(job.id, target.queue, target)

    def commit_alias(self, runtime: Runtime) -> str | None:
        """The database alias whose commit this task's calls wait for; None: enqueue now."""
        wanted = runtime.settings.ENQUEUE_ON_COMMIT if self.on_commit is None else self.on_commit
        if wanted is False:
            return None
        return "default" if wanted is True else wanted

    def stores_result(self, runtime: Runtime) -> bool:
        return runtime.settings.STORE_RESULTS if self.store_result is None else self.store_result

    def using(self, **options: Unpack[TaskOptions]) -> Task[P, R]:
        """A copy with other options for the calls made through it."""
        if "using" in options:
            alias = options.pop("using")
            if options.get("on_commit", self.on_commit) is not True:
                raise ConfigurationError(
                    [
                        Problem(
                            f"{self.path} using",
                            f"{alias!r} names a database, but the calls do not wait for a commit",
                            expected="on_commit=True with it (or on_commit='alias' alone)",
                        )
                    ]
                )
            options["on_commit"] = alias
        if "delay" in options:
            options.setdefault("run_after", None)
        elif "run_after" in options:
            options.setdefault("delay", None)
        copy = dataclasses.replace(self, **options)  # type: ignore[misc]  # "using" was popped above
        # The same function: the copy shares the codecs, so the checks built for its
        # parameters are not built again for every call made through ``using``.
        copy.__dict__["codec"] = self.codec
        copy.__dict__["result_codec"] = self.result_codec
        return copy

    def bulk_enqueue(
        self,
        batch_size: int = 1000,
        queue_override: str | None = None,
        *,
        on_commit: bool | None = None,
        using: str | None = None,
    ) -> BulkEnqueue[P]:
        """Enqueue many calls with one backend call per ``batch_size`` of them::

        with my_task.bulk_enqueue() as enqueue:
            enqueue(the_ids=[42, 43])

        ``on_commit`` (and ``using``, an alias) as for :meth:`using`: each batch waits
        for the transaction to commit.
        """
        options: TaskOptions = {}
        if queue_override is not None:
            options["queue"] = queue_override
        if on_commit is not None:
            options["on_commit"] = on_commit
        if using is not None:
            options["using"] = using
        target = self.using(**options) if options else self
        return BulkEnqueue(target, batch_size)

    def build_job(
        self,
        args: tuple[object, ...],
        kwargs: dict[str, Any],
        now: datetime | None = None,
        *,
        runtime: Runtime | None = None,
        store_result: bool | None = None,
    ) -> Job:
        """The job for one call; raises TaskArgumentError, and queues nothing, if it can't.

        ``store_result``: :meth:`stores_result`, when the caller (a bulk enqueue) knows it.
        """
        encoded_args, encoded_kwargs = self.codec.encode(args, kwargs)
        if now is None or store_result is None:
            runtime = current_runtime() if runtime is None else runtime
            now = runtime.now() if now is None else now
            store_result = self.stores_result(runtime) if store_result is None else store_result
        run_after = self.run_after if self.delay is None else now + self.delay
        if run_after is None and not store_result:  # most calls: upstream's job
            return Job.create(
                self.path,
                encoded_args,
                encoded_kwargs,
                now=now,
                timeout=self.timeout,
                sigkill_on_stop=self.sigkill_on_stop,
            )
        return Job.create(
            self.path,
            encoded_args,
            encoded_kwargs,
            now=now,
            timeout=self.timeout,
            sigkill_on_stop=self.sigkill_on_stop,
            run_after=run_after,
            store_result=store_result,
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


def _lifecycle_problems(
    delay: object, run_after: object, on_commit: object, store_result: object
) -> list[tuple[str, str, str]]:
    """``(option, what is wrong, what is expected)`` for each bad lifecycle option."""
    found = []
    if delay is not None and (not isinstance(delay, timedelta) or delay < timedelta(0)):
        found.append(("delay", f"{delay!r:.80} is not valid", "None or a timedelta >= 0"))
    if run_after is not None and (
        not isinstance(run_after, datetime) or run_after.utcoffset() is None
    ):
        found.append(
            ("run_after", f"{run_after!r:.80} is not valid", "None or a timezone-aware datetime")
        )
    if delay is not None and run_after is not None:
        found.append(("delay", "both delay and run_after are given", "one of them"))
    if on_commit is not None and not (
        isinstance(on_commit, bool) or (isinstance(on_commit, str) and on_commit)
    ):
        found.append(
            ("on_commit", f"{on_commit!r:.80} is not valid", "True, False or a database alias")
        )
    if store_result is not None and not isinstance(store_result, bool):
        found.append(("store_result", f"{store_result!r:.80} is not valid", "True or False"))
    return found


class BulkEnqueue(Generic[P]):
    """Collects calls and hands them to the backend ``batch_size`` at a time."""

    def __init__(self, task: Task[P, Any], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
        self._task = task
        self._batch_size = batch_size
        self._pending: list[Job] = []
        self._runtime = current_runtime()
        # One created time per batch: cheaper than a clock read (and its formatting) per job.
        self._now = self._runtime.now()
        self._store_result = task.stores_result(self._runtime)

    def __enter__(self) -> Self:
        return self

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        self._pending.append(
            self._task.build_job(args, kwargs, self._now, store_result=self._store_result)
        )
        if len(self._pending) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            jobs, self._pending = self._pending, []
            runtime, queue = self._runtime, self._task.queue
            backend = runtime.backend_for(queue)
            alias = self._task.commit_alias(runtime)
            ttl_s = runtime.settings.RESULT_TTL_S
            if alias is None:
                enqueue_jobs(backend, jobs, queue, ttl_s)
            else:
                runtime.on_commit(lambda: enqueue_jobs(backend, jobs, queue, ttl_s), alias)
            self._now = runtime.now()

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
    retries: int = 0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    backoff: Backoff = _NO_BACKOFF,
    store_result: bool | None = None,
    on_commit: bool | str | None = None,
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

    ``retries``: how many times a run that raised one of ``retry_on`` is run again, each
    after ``backoff`` (``dlq.Backoff``: exponential, with jitter, a minimum and a maximum);
    after the last, the job is a dead letter holding the exception and its traceback.
    ``raise dlq.Retry(delay=...)`` in the task retries it after that delay instead.
    ``store_result``: keep the job's status and return value (``fn.enqueue(...)`` returns
    a handle to read them; default: ``LIGHTWEIGHT_QUEUE_STORE_RESULTS``). ``on_commit``:
    enqueue only when the current transaction of the default database (True) or of the
    database alias given commits, and never if it rolls back (default:
    ``LIGHTWEIGHT_QUEUE_ENQUEUE_ON_COMMIT``).

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
            retry_policy=RetryPolicy(retries, retry_on, backoff),
            store_result=store_result,
            on_commit=on_commit,
        )
        registry.register(cast(Task[..., object], wrapped), aliases)
        return wrapped

    return decorate
