"""The bodies of the benchmark tasks, shared word for word by both systems.

Each project's ``benchapp/tasks.py`` wraps these in its own ``@task`` decorator, so the work
a job does is identical and only the queue machinery around it differs. `noop_count` is one
`write()` of one byte to a file opened once per process; the others are one Redis round trip
on a connection made once per worker process.
"""

from __future__ import annotations

import os
import time

import redis

from benchkit.config import BenchConfig

__all__ = ["latency_probe", "mark", "noop_count", "whoami"]

_client: redis.Redis | None = None
_config: BenchConfig | None = None
# (pid, fd): a worker forked from a process that had the file open reopens it.
_count_fd: tuple[int, int] | None = None


def _redis() -> tuple[redis.Redis, BenchConfig]:
    # Built on first use, not at import: the worker imports tasks.py at start-up and the
    # connection should not be part of what start-up costs.
    global _client, _config
    if _client is None or _config is None:
        _config = BenchConfig.from_env()
        _client = redis.Redis(host=_config.redis_host, port=_config.redis_port, db=_config.redis_db)
    return _client, _config


def noop_count() -> None:
    """The "no-op" job: append one byte to the count file, so the harness can count the jobs.

    One O_APPEND write is atomic and costs a few microseconds, against ~50 µs for a Redis
    round trip (the INCR this did before), which dominated both systems' drain figures.
    """
    global _count_fd
    if _count_fd is None or _count_fd[0] != os.getpid():
        path = BenchConfig.from_env().count_file
        _count_fd = (os.getpid(), os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    os.write(_count_fd[1], b".")


def mark(name: str) -> None:
    """Record when the worker reached this job (worker clock, seconds since the epoch)."""
    now_s = time.time()
    client, config = _redis()
    client.rpush(config.marks_key, f"{name} {now_s!r}")


def latency_probe(sample: int) -> None:
    """Record when this job started; the harness BLPOPs the reply."""
    now_s = time.time()
    client, config = _redis()
    client.rpush(config.replies_key, f"{sample} {now_s!r}")


def whoami() -> None:
    """Count this job against the worker process that ran it (one HINCRBY, like noop_count)."""
    client, config = _redis()
    client.hincrby(config.pids_key, str(os.getpid()), 1)
