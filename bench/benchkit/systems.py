"""The two systems under test: where their Django project is and how a worker starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
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
}
