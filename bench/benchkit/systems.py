"""The systems under test: where their Django project is and how a worker starts.

upstream and dlq run every scenario; Dramatiq (installed beside upstream) runs only the
scenarios that name it (``Scenario.systems``), as a reference for one worker's drain.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BENCH_DIR", "SYSTEMS", "System"]

BENCH_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class System:
    name: str
    project_dir: Path
    settings_module: str
    venv: Path
    backends: dict[str, str]  # "redis" / "reliable" -> dotted path of the backend class
    # Modules that must import for the system to count as ready (checked by `preflight`).
    required_modules: tuple[str, ...]
    # A script of the project that starts the system's own worker pool, when that is not
    # `manage.py queue_runner` (Dramatiq's CLI); the queue_runner flags do not apply to it.
    runner_script: str | None = None
    # Environment every runner of this system gets.
    runner_env: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def manage_py(self) -> Path:
        return self.project_dir / "manage.py"

    def worker_argv(self, queue: str, number: int) -> list[str]:
        # Upstream's exact CLI: `manage.py queue_worker QUEUE NUMBER` (positional), with
        # optional --prometheus-port / --touch-file / --extra-settings; dlq keeps that shape.
        return [str(self.python), str(self.manage_py), "queue_worker", queue, str(number)]

    def runner_argv(self, *extra: str) -> list[str]:
        if self.runner_script is not None:
            return [str(self.python), str(self.project_dir / self.runner_script)]
        return [str(self.python), str(self.manage_py), "queue_runner", *extra]


SYSTEMS: dict[str, System] = {
    "upstream": System(
        name="upstream",
        project_dir=BENCH_DIR / "upstream_project",
        settings_module="upstream_settings",
        venv=Path(os.environ.get("BENCH_VENV_UPSTREAM", BENCH_DIR / ".venv-upstream")),
        backends={
            "redis": "django_lightweight_queue.backends.redis.RedisBackend",
            "reliable": "django_lightweight_queue.backends.reliable_redis.ReliableRedisBackend",
        },
        required_modules=("django_lightweight_queue.management.commands.queue_worker",),
    ),
    "dlq": System(
        name="dlq",
        project_dir=BENCH_DIR / "dlq_project",
        settings_module="dlq_settings",
        # BENCH_VENV_DLQ points the dlq side at another venv (another dlq build, or a
        # stand-in for an A/A check of the harness itself).
        venv=Path(os.environ.get("BENCH_VENV_DLQ", BENCH_DIR / ".venv-dlq")),
        backends={
            "redis": "dlq.backends.redis.RedisBackend",
            "reliable": "dlq.backends.reliable_redis.ReliableRedisBackend",
        },
        required_modules=("dlq.management.commands.queue_worker",),
    ),
    "dramatiq": System(
        name="dramatiq",
        project_dir=BENCH_DIR / "dramatiq_project",
        settings_module="dramatiq_settings",
        venv=Path(os.environ.get("BENCH_VENV_UPSTREAM", BENCH_DIR / ".venv-upstream")),
        # Dramatiq's Redis broker acknowledges a message after it ran (at least once);
        # it has no at-most-once mode, so both "backends" are that one broker.
        backends={
            "redis": "dramatiq.brokers.redis.RedisBroker",
            "reliable": "dramatiq.brokers.redis.RedisBroker",
        },
        required_modules=("dramatiq.cli",),
        runner_script="run_dramatiq.py",
        # One worker thread prefetching 64 messages (its default would be 2 per thread).
        runner_env={"dramatiq_queue_prefetch": "64"},
    ),
}
