"""Scenarios through the full `queue_runner`, which starts and restarts the workers.

All run `manage.py queue_runner --only-queue bench` with LIGHTWEIGHT_QUEUE_WORKERS =
{"bench": N} (upstream always has a "default" queue too, for its cron `execute` task, so
the runner is told to run only the bench queue). Upstream's runner spawns N
`manage.py queue_worker bench i` subprocesses and polls them once a second; dlq's forks N
workers from its Django-loaded parent and restarts them as soon as they exit. Both recycle
a worker after about 1000 jobs; that is part of what `runner_drain` measures.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import time

from benchkit.config import QUEUE
from benchkit.context import Context, ScenarioError
from benchkit.procs import descendants, smaps_rollup_kib
from benchkit.scenarios.worker import _prefill, _settle

_COUNTER_POLL_S = 0.001

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


# -- drain through the runner ------------------------------------------------------------


def drain(ctx: Context, workers: int, env: dict[str, str] | None = None) -> dict[str, object]:
    """Rate of a runner with `workers` workers over N pre-filled no-op jobs.

    The queue holds mark("start"), N noop_count() and mark("end"), in that order, before the
    runner starts. The rate runs from the start marker (the first job dequeued: worker
    clock) to the last job's end: the end marker is dequeued after every no-op job, so once
    it has run at most `workers - 1` jobs are still running; the harness then polls the
    counter until it reaches N, and takes the later of that moment and the end marker's
    stamp. Runner and worker start-up is excluded from the rate (`startup_s`); every worker
    recycle or restart during the drain is inside it. `env` goes to the runner (the
    database scenarios' settings, say).
    """
    assert ctx.tasks is not None
    ctx.clean()
    try:
        _prefill(ctx, ctx.jobs)
        deadline = ctx.deadline()
        with ctx.runner("--only-queue", QUEUE, workers=workers, env=env) as runner:
            started_s = ctx.wait_for_stamp(ctx.config.marks_key, "start", deadline, runner)
            end_stamp_s = ctx.wait_for_stamp(ctx.config.marks_key, "end", deadline, runner)
            ended_s = end_stamp_s
            while (ran := ctx.counter()) < ctx.jobs:
                if time.monotonic() > deadline:
                    raise ScenarioError(
                        f"{ran} of {ctx.jobs} jobs ran before the time limit; runner output"
                        f" ends:\n{runner.log_tail()}"
                    )
                time.sleep(_COUNTER_POLL_S)
                ended_s = max(end_stamp_s, time.time())
            # At-least-once: the last jobs' acknowledgements land just after they ran.
            left = _settle(ctx, runner)
            ran = ctx.counter()
        if ran != ctx.jobs:
            raise ScenarioError(f"{ran} of {ctx.jobs} jobs ran")
        if left:
            raise ScenarioError(
                f"{left} jobs still in Redis lists (waiting, processing or dead) after the"
                " last one ran"
            )
        busy_s = ended_s - started_s
        return {
            "jobs": ctx.jobs,
            "workers": workers,
            # The start marker, N jobs, the end marker.
            "jobs_per_s": round((ctx.jobs + 2) / busy_s, 1),
            "busy_s": round(busy_s, 4),
            "startup_s": round(started_s - runner.started_at_s, 4),
            "wall_s": round(ended_s - runner.started_at_s, 4),
        }
    finally:
        ctx.clean()


drain_1 = functools.partial(drain, workers=1)
drain_2 = functools.partial(drain, workers=2)
drain_4 = functools.partial(drain, workers=4)


# -- memory of a runner's workers --------------------------------------------------------

_MEMORY_WORKERS = 4
_PROBE_ROUND_JOBS = 8
_PROBE_ROUND_PAUSE_S = 0.1


def memory(ctx: Context) -> dict[str, object]:
    """PSS per worker of a runner with 4 workers, each of which has run jobs.

    The `whoami` task counts each job against the pid that ran it, so the harness knows
    which processes are the workers (for dlq, forked without exec, the command line does
    not tell) and that each has worked. First, rounds of a few `whoami` jobs until all 4
    workers have answered (so none is still starting); then N more `whoami` jobs, of which
    every worker must have run some, with no worker replaced meanwhile. Then, 0.2 s later,
    smaps_rollup of the workers and of the runner. `pss_kib` is the workers' PSS ÷ 4;
    `pss_all_kib` is (runner + workers + any other process under the runner) ÷ 4, the
    runner's share charged to its workers. PSS divides each shared page among the
    processes that map it, so pages dlq's workers share with their parent (forked after
    Django loaded, with gc.freeze()) count a fifth in each.
    """
    assert ctx.tasks is not None
    ctx.clean()
    key = ctx.config.pids_key
    try:
        deadline = ctx.deadline()
        with ctx.runner("--only-queue", QUEUE, workers=_MEMORY_WORKERS) as runner:
            sent = 0
            while True:
                for _ in range(_PROBE_ROUND_JOBS):
                    ctx.tasks.whoami()
                sent += _PROBE_ROUND_JOBS
                _wait_for_count(ctx, key, sent, deadline, runner)
                seen = {int(pid) for pid in ctx.client.hkeys(key)}
                live = set(descendants(runner.pid))
                if len(seen & live) >= _MEMORY_WORKERS:
                    break
                time.sleep(_PROBE_ROUND_PAUSE_S)
            ctx.client.delete(key)
            for _ in range(ctx.jobs):
                ctx.tasks.whoami()
            _wait_for_count(ctx, key, ctx.jobs, deadline, runner)
            per_pid = {int(pid): int(n) for pid, n in ctx.client.hgetall(key).items()}
            time.sleep(0.2)  # back in their blocking pops
            tree = [runner.pid, *descendants(runner.pid)]
            workers = sorted(per_pid)
            if len(workers) != _MEMORY_WORKERS or not set(workers) <= set(tree):
                raise ScenarioError(
                    f"expected the same {_MEMORY_WORKERS} live workers to run the jobs;"
                    f" jobs per pid {per_pid}, processes under the runner {tree}"
                )
            figures = {pid: smaps_rollup_kib(pid) for pid in tree}
        workers_pss = sum(figures[pid]["Pss"] for pid in workers)
        workers_uss = sum(
            figures[pid].get("Private_Clean", 0) + figures[pid].get("Private_Dirty", 0)
            for pid in workers
        )
        others = [pid for pid in tree if pid not in per_pid]
        return {
            "jobs": ctx.jobs,
            "min_jobs_per_worker": min(per_pid.values()),
            "pss_kib": round(workers_pss / _MEMORY_WORKERS),
            "pss_all_kib": round(sum(f["Pss"] for f in figures.values()) / _MEMORY_WORKERS),
            "uss_kib": round(workers_uss / _MEMORY_WORKERS),
            "rss_kib": round(sum(figures[pid]["Rss"] for pid in workers) / _MEMORY_WORKERS),
            "runner_pss_kib": figures[runner.pid]["Pss"],
            "other_processes": len(others) - 1,  # besides the runner and its workers
        }
    finally:
        ctx.clean()


def _wait_for_count(ctx: Context, key: str, total: int, deadline: float, runner) -> None:
    while sum(int(n) for n in ctx.client.hvals(key)) < total:
        if time.monotonic() > deadline:
            raise ScenarioError(f"whoami jobs did not all run; runner output:\n{runner.log_tail()}")
        if not runner.alive():
            raise ScenarioError(f"the runner exited; its output ends:\n{runner.log_tail()}")
        time.sleep(0.005)
