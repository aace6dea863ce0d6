"""Everything that names a Redis key or a process-wide setting of one benchmark run.

The orchestrator passes these to ``measure.py`` and on to the workers as ``BENCH_*``
environment variables, so the Django settings, the tasks and the harness agree on them
without importing each other.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "ATOMIC_ENV",
    "CONN_MAX_AGE_ENV",
    "DATABASE_ENV",
    "DATABASE_NAME_ENV",
    "QUEUE",
    "WORKERS_ENV",
    "BenchConfig",
]

# The one queue every scenario uses; a worker is started as `queue_worker bench 1`.
QUEUE = "bench"
# LIGHTWEIGHT_QUEUE_WORKERS = {QUEUE: N} in both projects' settings: N comes from this
# environment variable (default 1), so a runner scenario can ask for N workers.
WORKERS_ENV = "BENCH_WORKERS"
# The database scenarios (benchkit/scenarios/database.py) set these for the runner:
# LIGHTWEIGHT_QUEUE_ATOMIC_JOBS ("1": on), the database ("sqlite" or "postgres"), the
# PostgreSQL database's name, and CONN_MAX_AGE (seconds, or "none").
ATOMIC_ENV = "BENCH_ATOMIC"
DATABASE_ENV = "BENCH_DATABASE"
DATABASE_NAME_ENV = "BENCH_DATABASE_NAME"
CONN_MAX_AGE_ENV = "BENCH_CONN_MAX_AGE"

_DEFAULT_DB = 13


@dataclass(frozen=True)
class BenchConfig:
    system: str  # "upstream", "dlq" or "dramatiq"
    backend: str  # "redis" (at-most-once) or "reliable" (at-least-once)
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    # A database of our own, and a prefix of our own inside it: the harness only ever
    # deletes keys that start with `prefix`, never flushes.
    redis_db: int = _DEFAULT_DB
    prefix: str = ""

    def __post_init__(self) -> None:
        if not self.prefix:
            object.__setattr__(self, "prefix", f"dlqbench-{self.system}")

    @classmethod
    def from_env(cls, system: str | None = None) -> BenchConfig:
        env = os.environ
        return cls(
            system=system or env["BENCH_SYSTEM"],
            backend=env.get("BENCH_BACKEND", "redis"),
            redis_host=env.get("BENCH_REDIS_HOST", "127.0.0.1"),
            redis_port=int(env.get("BENCH_REDIS_PORT", "6379")),
            redis_db=int(env.get("BENCH_REDIS_DB", str(_DEFAULT_DB))),
            prefix=env.get("BENCH_PREFIX", ""),
        )

    def to_env(self) -> dict[str, str]:
        return {
            "BENCH_SYSTEM": self.system,
            "BENCH_BACKEND": self.backend,
            "BENCH_REDIS_HOST": self.redis_host,
            "BENCH_REDIS_PORT": str(self.redis_port),
            "BENCH_REDIS_DB": str(self.redis_db),
            "BENCH_PREFIX": self.prefix,
        }

    def with_backend(self, backend: str) -> BenchConfig:
        return replace(self, backend=backend)

    # Keys the harness itself reads and writes (the queue's own keys are the system's
    # business; they share the prefix so that clean-up finds them too).
    @property
    def count_file(self) -> Path:
        """`noop_count` appends one byte per job here: the file's size is the job count."""
        return Path(tempfile.gettempdir()) / f"{self.prefix}.count"

    @property
    def sqlite_file(self) -> Path:
        """The SQLite database of the database scenarios."""
        return Path(tempfile.gettempdir()) / f"{self.prefix}.sqlite3"

    @property
    def marks_key(self) -> str:
        return f"{self.prefix}:bench:marks"

    @property
    def replies_key(self) -> str:
        return f"{self.prefix}:bench:replies"

    @property
    def pids_key(self) -> str:
        """A hash: worker pid -> how many `whoami` jobs that process ran."""
        return f"{self.prefix}:bench:pids"

    @property
    def key_pattern(self) -> str:
        return f"{self.prefix}*"
