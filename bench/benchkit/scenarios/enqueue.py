"""Enqueue throughput, no worker running: (a) one call per job, (b) bulk_enqueue."""

from __future__ import annotations

import time

from benchkit.context import Context, ScenarioError

_WARMUP_JOBS = 100
_BULK_BATCH = 1000


def one_at_a_time(ctx: Context) -> dict[str, object]:
    assert ctx.tasks is not None
    fn = ctx.tasks.noop_count
    ctx.clean()
    try:
        for _ in range(_WARMUP_JOBS):  # connection, backend construction, caches
            fn()
        ctx.clean()
        deadline = time.perf_counter() + ctx.time_limit_s
        done = 0
        start = time.perf_counter()
        while done < ctx.jobs:
            fn()
            done += 1
            if done % 100 == 0 and time.perf_counter() > deadline:
                break
        elapsed_s = time.perf_counter() - start
        return _result(ctx, done, elapsed_s)
    finally:
        ctx.clean()


def bulk(ctx: Context) -> dict[str, object]:
    assert ctx.tasks is not None
    fn = ctx.tasks.noop_count
    ctx.clean()
    try:
        with fn.bulk_enqueue(batch_size=_BULK_BATCH) as enqueue:
            for _ in range(_WARMUP_JOBS):
                enqueue()
        ctx.clean()
        deadline = time.perf_counter() + ctx.time_limit_s
        done = 0
        start = time.perf_counter()
        with fn.bulk_enqueue(batch_size=_BULK_BATCH) as enqueue:
            while done < ctx.jobs:
                enqueue()
                done += 1
                if done % _BULK_BATCH == 0 and time.perf_counter() > deadline:
                    break
        elapsed_s = time.perf_counter() - start  # includes the final flush
        return {**_result(ctx, done, elapsed_s), "batch_size": _BULK_BATCH}
    finally:
        ctx.clean()


def _result(ctx: Context, done: int, elapsed_s: float) -> dict[str, object]:
    queued = ctx.queued_jobs()
    if queued != done:
        raise ScenarioError(f"enqueued {done} jobs but {queued} are in Redis")
    return {
        "jobs": done,
        "elapsed_s": round(elapsed_s, 4),
        "jobs_per_s": round(done / elapsed_s, 1),
        "timed_out": done < ctx.jobs,
    }
