"""Scenarios through the full `queue_runner`, which starts and restarts the workers.

Only `restart` exists so far; drain through the runner with 1/2/4 workers and PSS of the
runner's whole process tree belong here too.
"""

from __future__ import annotations

import os
import random
import signal
import time

from benchkit.config import QUEUE
from benchkit.context import Context, ScenarioError
from benchkit.procs import descendants

_WORKER_APPEAR_S = 30.0
_REDIS_NOTICES_S = 0.05


def _wait_until_dead(pid: int, deadline: float) -> None:
    """Until `pid` is a zombie or gone (the runner, not us, reaps it)."""
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in {"Z", "X"}:
                    return
        except OSError:
            return
        time.sleep(0.002)
    raise ScenarioError(f"worker {pid} survived SIGKILL")


def _worker_pids(runner_pid: int) -> list[int]:
    """The runner's descendants that work the bench queue (else all of them).

    Upstream's runner execs `manage.py queue_worker QUEUE N ...`, so the queue is in the
    command line; a runner that forks without exec leaves only "all of them" to go by.
    """
    found = descendants(runner_pid)
    named = []
    for pid in found:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if b"queue_worker" in argv and QUEUE.encode() in argv:
                named.append(pid)
        except OSError:
            continue
    return named or found


def restart(ctx: Context) -> dict[str, object]:
    """Kill the runner's only worker with SIGKILL; time until a job enqueued then starts."""
    assert ctx.tasks is not None
    ctx.clean()
    try:
        # Upstream always has a "default" queue too (its cron `execute` task is declared
        # with @task() at import), so the runner is told to run only the bench queue.
        with ctx.runner("--only-queue", QUEUE) as runner:
            deadline = ctx.deadline()
            ctx.tasks.latency_probe(-1)  # runner and worker up, one job run
            ctx.wait_for_stamp(ctx.config.replies_key, "-1", deadline, runner)
            appear_by = time.monotonic() + _WORKER_APPEAR_S
            while not (workers := _worker_pids(runner.pid)):
                if time.monotonic() > appear_by:
                    raise ScenarioError("the runner has no worker process to kill")
                time.sleep(0.05)
            if len(workers) != 1:
                raise ScenarioError(f"expected one worker under the runner, found {workers}")
            # The kill lands at a random point of the runner's supervision cycle (upstream
            # polls its workers once a second), so the median over repeats is the typical
            # case rather than whichever phase the start-up happens to leave us in.
            time.sleep(random.uniform(0.0, 1.0))
            killed_s = time.time()
            os.kill(workers[0], signal.SIGKILL)
            # kill() returns before the worker is gone. Until its socket is closed Redis may
            # hand the probe to its pending BRPOP, and the at-most-once backend loses it.
            _wait_until_dead(workers[0], deadline)
            time.sleep(_REDIS_NOTICES_S)
            ctx.tasks.latency_probe(0)
            started_s = ctx.wait_for_stamp(ctx.config.replies_key, "0", deadline, runner)
            replacement = _worker_pids(runner.pid)
        return {
            "restart_s": round(started_s - killed_s, 4),
            "replaced": bool(replacement) and replacement != workers,
        }
    finally:
        ctx.clean()
