"""The registry of scenarios: what each measures and which of its figures to compare.

This module is metadata only (standard library, no redis, no Django) so that run.py can
read it with any python3; measure.py imports a scenario's code by its `entry` path inside
a system's venv. A new scenario is one function in a module of this package plus one
entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INTERNAL", "RUNNER_DRAIN_WORKERS", "SCENARIOS", "Metric", "Scenario"]


@dataclass(frozen=True)
class Metric:
    key: str  # key in the scenario's result dict
    unit: str
    higher_is_better: bool


@dataclass(frozen=True)
class Scenario:
    name: str
    entry: str  # "module:function" taking a Context, returning a dict of figures
    summary: str
    backends: tuple[str, ...]  # which backends run.py runs it with, by default
    metrics: tuple[Metric, ...]  # the figures run.py tabulates and compares
    defaults: dict[str, float]  # default --jobs / --samples / --time-limit-s
    # The systems that run it (benchkit.systems); Dramatiq only where it is a reference.
    systems: tuple[str, ...] = ("upstream", "dlq")


_RATE = Metric("jobs_per_s", "jobs/s", higher_is_better=True)

# Worker counts of the runner_drain_<n>w scenarios; run.py prints each system's 2w/1w ratio.
RUNNER_DRAIN_WORKERS = (1, 2, 4)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="enqueue",
            entry="benchkit.scenarios.enqueue:one_at_a_time",
            summary="calling a no-op task N times, one LPUSH each, no worker running",
            backends=("redis",),
            metrics=(_RATE,),
            defaults={"jobs": 20000, "time_limit_s": 30},
        ),
        Scenario(
            name="bulk_enqueue",
            entry="benchkit.scenarios.enqueue:bulk",
            summary="`with fn.bulk_enqueue(batch_size=1000) as enqueue:` N times",
            backends=("redis",),
            metrics=(_RATE,),
            defaults={"jobs": 100000, "time_limit_s": 30},
        ),
        Scenario(
            name="drain",
            entry="benchkit.scenarios.worker:drain",
            summary="N pre-filled jobs, one `queue_worker bench 1` process; rate between "
            "a start and an end marker job (worker clock), plus start-up and wall time",
            backends=("redis", "reliable"),
            metrics=(
                _RATE,
                Metric("startup_s", "s", higher_is_better=False),
                Metric("wall_s", "s", higher_is_better=False),
            ),
            # Upstream's worker exits after 1001 dequeue attempts; 900 + 2 markers fits in
            # one process lifetime, so no restart cost is folded into the rate.
            defaults={"jobs": 900, "time_limit_s": 90},
        ),
        Scenario(
            name="latency",
            entry="benchkit.scenarios.worker:latency",
            summary="idle worker; enqueue one probe, the task records time.time() at start; "
            "20 ms pause between samples",
            backends=("redis", "reliable"),
            metrics=(
                Metric("p50_ms", "ms", higher_is_better=False),
                Metric("p99_ms", "ms", higher_is_better=False),
            ),
            defaults={"samples": 500, "time_limit_s": 90},
        ),
        Scenario(
            name="worker_start",
            entry="benchkit.scenarios.worker:worker_start",
            summary="spawn `queue_worker bench 1` with one job waiting; time to that job's start",
            backends=("redis",),
            metrics=(Metric("start_s", "s", higher_is_better=False),),
            defaults={"time_limit_s": 60},
        ),
        Scenario(
            name="worker_memory",
            entry="benchkit.scenarios.worker:worker_memory",
            summary="one `queue_worker` after N no-op jobs: /proc/PID/smaps_rollup summed "
            "over the process and its children",
            backends=("redis",),
            metrics=(
                Metric("pss_kib", "KiB", higher_is_better=False),
                Metric("uss_kib", "KiB", higher_is_better=False),
                Metric("rss_kib", "KiB", higher_is_better=False),
            ),
            defaults={"jobs": 500, "time_limit_s": 60},
        ),
        Scenario(
            name="runner_restart",
            entry="benchkit.scenarios.runner:restart",
            summary="`queue_runner` with one worker; SIGKILL the worker, enqueue a probe, "
            "time from the kill to the probe's start (includes the runner's poll interval)",
            backends=("redis",),
            metrics=(Metric("restart_s", "s", higher_is_better=False),),
            defaults={"time_limit_s": 60},
        ),
        *(
            Scenario(
                name=f"runner_drain_{n}w",
                entry=f"benchkit.scenarios.runner:drain_{n}",
                summary=f"N pre-filled jobs, `queue_runner --only-queue bench` with {n} "
                "worker(s); rate from the first job's start to the last job's end, worker "
                "recycles included",
                backends=("redis", "reliable"),
                metrics=(
                    _RATE,
                    Metric("startup_s", "s", higher_is_better=False),
                ),
                # Enough for a few seconds of dlq with one worker; the same N for both.
                defaults={"jobs": 20000, "time_limit_s": 150},
            )
            for n in RUNNER_DRAIN_WORKERS
        ),
        *(
            Scenario(
                name=f"runner_drain_db_{database}_{kept}",
                entry=f"benchkit.scenarios.database:{database}_{kept}",
                summary=f"runner_drain_1w with every job atomic, the database on {database}"
                f" and CONN_MAX_AGE={'None' if kept == 'kept' else '0'}; Dramatiq"
                " (one process, one thread, prefetch 64, no database) for reference",
                backends=("redis", "reliable"),
                metrics=(_RATE,),
                # A connection per job costs milliseconds on PostgreSQL: fewer jobs then.
                defaults={"jobs": 20000 if kept == "kept" else 3000, "time_limit_s": 150},
                # Not upstream: it opens a connection per job whatever CONN_MAX_AGE says
                # (100 jobs/s on PostgreSQL here), so 20,000 jobs outlast any time limit.
                systems=("dlq", "dramatiq"),
            )
            for database in ("sqlite", "postgres")
            for kept in ("kept", "per_job")
        ),
        Scenario(
            name="runner_memory",
            entry="benchkit.scenarios.runner:memory",
            summary="`queue_runner` with 4 workers, each warmed by N jobs: PSS per worker from "
            "/proc/PID/smaps_rollup, workers only and with the runner's share",
            backends=("redis",),
            metrics=(
                Metric("pss_kib", "KiB", higher_is_better=False),
                Metric("pss_all_kib", "KiB", higher_is_better=False),
                Metric("uss_kib", "KiB", higher_is_better=False),
            ),
            # Few enough that no upstream worker reaches its 1000-job recycle.
            defaults={"jobs": 400, "time_limit_s": 60},
        ),
    )
}

# Used by run.py, not tabulated.
INTERNAL: dict[str, str] = {
    "preflight": "benchkit.scenarios.internal:preflight",
    "cleanup": "benchkit.scenarios.internal:cleanup",
}
