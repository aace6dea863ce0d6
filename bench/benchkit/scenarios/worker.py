"""Scenarios around one `queue_worker bench 1` process: drain, latency, start, memory."""

from __future__ import annotations

import math
import statistics
import time

from benchkit.context import Context, ScenarioError
from benchkit.procs import Spawned, tree_memory_kib

# The harness restarts a worker that exits mid-drain, as a runner would, but no more than
# this: more means something is wrong rather than slow.
_MAX_RESTARTS = 20
# Pause before each latency sample so that the worker is back in its blocking pop.
_IDLE_BEFORE_SAMPLE_S = 0.02
_SAMPLE_TIMEOUT_S = 10.0


def _prefill(ctx: Context, jobs: int) -> None:
    assert ctx.tasks is not None
    ctx.tasks.mark("start")
    with ctx.tasks.noop_count.bulk_enqueue(batch_size=1000) as enqueue:
        for _ in range(jobs):
            enqueue()
    ctx.tasks.mark("end")


def drain(ctx: Context) -> dict[str, object]:
    """Rate of one worker over N pre-filled no-op jobs.

    The rate is taken between two marker jobs on the worker's own clock, so interpreter
    and Django start-up are excluded from it and reported separately (`startup_s`); the
    wall time from spawn to the end marker includes both.
    """
    ctx.clean()
    try:
        _prefill(ctx, ctx.jobs)
        stamps: dict[str, float] = {}
        restarts = 0
        deadline = ctx.deadline()
        first_spawn_s: float | None = None
        left = 0
        while "end" not in stamps:
            with ctx.worker() as worker:
                first_spawn_s = first_spawn_s or worker.started_at_s
                while "end" not in stamps and worker.alive():
                    if time.monotonic() > deadline:
                        raise ScenarioError(
                            f"drain timed out after {ctx.time_limit_s}s with "
                            f"{ctx.counter()}/{ctx.jobs} jobs run; worker output ends:\n"
                            f"{worker.log_tail()}"
                        )
                    got = ctx.pop_stamp(ctx.config.marks_key, timeout_s=0.2)
                    if got is not None:
                        stamps[got[0]] = got[1]
                if "end" in stamps:
                    # A reliable backend acknowledges the end marker just after it ran;
                    # stopping the worker before that would leave it queued (at-least-once).
                    left = _settle(ctx, worker)
                else:
                    restarts += 1
                    if restarts > _MAX_RESTARTS:
                        raise ScenarioError(
                            f"worker exited {restarts} times; output ends:\n{worker.log_tail()}"
                        )
        ran = ctx.counter()
        if ran != ctx.jobs:
            raise ScenarioError(f"{ran} of {ctx.jobs} jobs ran")
        if left:
            raise ScenarioError(
                f"{left} jobs still in Redis lists (waiting, processing or dead)"
                " after the end marker ran"
            )
        if "start" not in stamps:
            raise ScenarioError("the start marker never ran")
        assert first_spawn_s is not None
        # Between the two stamps the worker finished the start marker and ran N jobs.
        busy_s = stamps["end"] - stamps["start"]
        return {
            "jobs": ctx.jobs,
            "jobs_per_s": round((ctx.jobs + 1) / busy_s, 1),
            "busy_s": round(busy_s, 4),
            "startup_s": round(stamps["start"] - first_spawn_s, 4),
            "wall_s": round(stamps["end"] - first_spawn_s, 4),
            "restarts": restarts,
        }
    finally:
        ctx.clean()


def _settle(ctx: Context, worker: Spawned, limit_s: float = 5.0) -> int:
    """Jobs left in Redis once the worker has had up to `limit_s` to acknowledge its last."""
    settle_by = time.monotonic() + limit_s
    while (left := ctx.queued_jobs()) and time.monotonic() < settle_by and worker.alive():
        time.sleep(0.01)
    return left


def latency(ctx: Context) -> dict[str, object]:
    """Enqueue-to-start latency with an idle worker blocked in its pop."""
    assert ctx.tasks is not None
    ctx.clean()
    try:
        with ctx.worker() as worker:
            deadline = ctx.deadline()
            ctx.tasks.latency_probe(-1)  # wait until the worker is up and has run a job
            ctx.wait_for_stamp(ctx.config.replies_key, "-1", deadline, worker)
            latencies_s: list[float] = []
            for sample in range(ctx.samples):
                if time.monotonic() > deadline:
                    break
                time.sleep(_IDLE_BEFORE_SAMPLE_S)
                before_s = time.time()
                ctx.tasks.latency_probe(sample)
                started_s = ctx.wait_for_stamp(
                    ctx.config.replies_key,
                    str(sample),
                    min(deadline, time.monotonic() + _SAMPLE_TIMEOUT_S),
                    worker,
                )
                latencies_s.append(started_s - before_s)
        if len(latencies_s) < 10:
            raise ScenarioError(f"only {len(latencies_s)} samples before the time limit")
        ms = sorted(x * 1000 for x in latencies_s)
        return {
            "samples": len(ms),
            "p50_ms": round(_percentile(ms, 50), 3),
            "p99_ms": round(_percentile(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3),
            "max_ms": round(ms[-1], 3),
            "min_ms": round(ms[0], 3),
        }
    finally:
        ctx.clean()


def worker_start(ctx: Context) -> dict[str, object]:
    """Cold start of one worker process until the job already waiting for it starts."""
    assert ctx.tasks is not None
    ctx.clean()
    try:
        ctx.tasks.mark("first")
        with ctx.worker() as worker:
            started_s = ctx.wait_for_stamp(ctx.config.marks_key, "first", ctx.deadline(), worker)
        return {"start_s": round(started_s - worker.started_at_s, 4)}
    finally:
        ctx.clean()


def worker_memory(ctx: Context) -> dict[str, object]:
    """Memory of one warmed-up worker (after N no-op jobs), from smaps_rollup."""
    assert ctx.tasks is not None
    ctx.clean()
    try:
        with ctx.worker() as worker:
            _prefill(ctx, ctx.jobs)
            deadline = ctx.deadline()
            ctx.wait_for_stamp(ctx.config.marks_key, "start", deadline, worker)
            ctx.wait_for_stamp(ctx.config.marks_key, "end", deadline, worker)
            time.sleep(0.2)  # let it settle back into its blocking pop
            memory = tree_memory_kib(worker.pid)
        if not memory["processes"]:
            raise ScenarioError("could not read /proc/PID/smaps_rollup of the worker")
        return {"jobs": ctx.jobs, **memory}
    finally:
        ctx.clean()


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
