"""The benchmark tasks, the same bodies under each system's decorator (``dlqapi``: Django's
``@task``, as a project written against ``django.tasks`` has them).

``noop_count`` appends one byte to a file (its size counts the jobs run); ``stamp``
appends ``"<name> <time.time()>"``, the moment the task started, for latency.
"""

import os
import time

if os.environ["BENCH_DB_SYSTEM"] == "dlq":
    from dlq import task as _dlq_task

    decorate = _dlq_task(queue="bench")
elif os.environ["BENCH_DB_SYSTEM"] == "dlqapi":  # Django's task API, run by dlq
    try:
        from django.tasks import task as _api_task
    except ImportError:
        from django_tasks import task as _api_task

    decorate = _api_task(queue_name="bench")
else:
    from django_tasks import task as _django_task

    decorate = _django_task()

_fds: dict[str, tuple[int, int]] = {}


def _append(variable: str, data: bytes) -> None:
    pid = os.getpid()
    held = _fds.get(variable)
    if held is None or held[0] != pid:  # a forked worker opens its own
        path = os.environ[variable]
        held = _fds[variable] = (pid, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    os.write(held[1], data)


@decorate
def noop_count() -> None:
    _append("BENCH_DB_COUNT_FILE", b".")


@decorate
def stamp(name: str) -> None:
    _append("BENCH_DB_STAMPS_FILE", f"{name} {time.time()!r}\n".encode())
