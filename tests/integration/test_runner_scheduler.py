"""The cron scheduler's process: started, restarted when it dies, stopped with the runner.

The scheduler itself is cron's business (dlq.cron_jobs); here a stand-in records when it
runs, in a supervisor started by a small script (no Redis needed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.runner_harness import REPO, wait_until

pytestmark = [pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import os, sys, threading
    from pathlib import Path

    import django

    django.setup()

    from dlq.conf import get_runtime
    from dlq.management.workers import worker_environment
    from dlq.worker.config import SupervisorOptions
    from dlq.worker.supervisor import Supervisor

    out = Path(sys.argv[1])

    def note(text: str) -> None:
        with out.open("a") as f:
            f.write(f"{text} {os.getpid()} {os.getppid()}\\n")

    def scheduler(stop: threading.Event) -> None:
        note("start")
        while not stop.wait(0.05):
            pass
        note("stop")

    options = SupervisorOptions(slots=(), scheduler=scheduler)
    sys.exit(Supervisor(options, worker_environment(get_runtime())).run())
    """
)


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_the_scheduler_runs_in_a_supervised_process_of_its_own(tmp_path: Path) -> None:
    script, out = tmp_path / "runner.py", tmp_path / "notes.txt"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    runner = subprocess.Popen([sys.executable, str(script), str(out)], cwd=REPO, env=env)
    try:
        first = wait_until(lambda: _lines(out), what="the scheduler to start")[0]
        assert first[0] == "start"
        assert int(first[2]) == runner.pid

        os.kill(int(first[1]), signal.SIGKILL)
        second = wait_until(lambda: _lines(out)[1:], what="the scheduler to restart")[0]
        assert second[0] == "start"
        assert second[1] != first[1]

        runner.send_signal(signal.SIGTERM)
        assert runner.wait(30) == 0
        assert _lines(out)[-1] == ["stop", second[1], str(runner.pid)]
    finally:
        runner.kill()
        runner.wait()
