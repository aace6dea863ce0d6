#!/usr/bin/env python3
"""Delayed jobs on dlq's Redis backends: what they cost, and what they leave plain jobs.

    python3 bench/delayed.py [--venv V] [--pre-venv P] [--parts a,b,c,d,e] [--repeats 3]

Three parts, each against the real Redis (database 13, a key prefix of this run's own,
deleted afterwards; nothing is flushed), through a real ``queue_runner`` with one worker:

(a) ``promote``: 50,000 no-op jobs held back (their ``run_after`` a second past, enqueued
    by a backend whose clock is an hour behind, so they wait in the delayed set), between
    a plain ``mark("start")`` and a held ``mark("end")`` due last; then the runner starts
    and promotes and drains them: jobs/s from the start marker to the last job (the
    worker's clock), against the same with 50,000 plain jobs (``plain``), in one run.
(b) ``latency``: an idle worker; 200 probes ``latency_probe.using(delay=0.5 s)``, enqueued
    0.15 s apart (so each comes due while the worker waits): p50/p99/max of the probe's
    start (worker clock) minus the time it was due (taken just before the call that
    enqueued it, plus 0.5 s: an over-estimate by the enqueue's own few hundred µs).
    The promise is "within 1 s when a worker is idle"; the runner promotes every 0.25 s.
(c) ``plain``: ``runner_drain_1w`` of bench/run.py (20,000 plain jobs through a runner;
    ``--plain-scenarios`` adds others, such as ``bulk_enqueue``) on dlq before the
    lifecycle work (``--pre-venv``: dlq installed from commit 6947336) and on this
    checkout (``--venv``), interleaved repeat by repeat: medians and their ratio.

(d) ``path``: the backend's own plain-job path, in one process with no runner and no
    task: 20,000 jobs by ``bulk_enqueue`` (chunks of 1,000), 5,000 by ``enqueue``, then
    ``dequeue`` + ``acknowledge(Succeeded)`` until the queue is empty; jobs/s of each
    (and the process's CPU µs per dequeued job, steadier on a busy machine), on the same
    venvs as (c), interleaved. This isolates what this work changed from the
    runner's and the task's costs, and from most of the noise of process start-up.

(e) ``crowd``: (d)'s ``dequeue`` + ``acknowledge`` and the runner's ``promote_due``
    (nothing due) on a queue with no delayed job and on one with 100,000 (due in an
    hour), alternately, five rounds each: a claim must not cost more for them (it never reads the set),
    and a promotion finds the first due job by the score index (O(log n)).

(a) and (b) run inside ``--venv`` (re-invoking this file with ``--inside``); (c) runs
measure.py in each venv. A venv here is Python + Django 5.2 + redis-py + hiredis + dlq
(editable), as bench/setup.sh makes ``.venv-dlq``. Keep repeats low: the machine is small
and shared (see README.md's caveats; compare figures from one run only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchkit.context import Context

    from dlq.backends.redis.base import RedisBackendBase

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

_PREFIX = f"dlqbench-delayed-{os.getpid()}"
_HELD_JOBS = 50_000
_PROBES = 200
_PROBE_DELAY_S = 0.5
_PROBE_EVERY_S = 0.15
#: bench/run.py's scenarios that run on the at-most-once backend only.
_ONE_BACKEND = {"enqueue", "bulk_enqueue"}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.inside:
        print(json.dumps(_inside(args.inside, args.backend)), flush=True)
        return 0
    parts = set(args.parts.split(","))
    report: dict[str, object] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for backend in args.backends.split(","):
        if "a" in parts:
            runs = [_in_venv(args.venv, "promote", backend) for _ in range(args.repeats)]
            report[f"a_promote_{backend}"] = _summary(runs, "held_jobs_per_s", "plain_jobs_per_s")
            _show(f"(a) promote+drain, {backend}", report[f"a_promote_{backend}"])
        if "b" in parts:
            report[f"b_latency_{backend}"] = _in_venv(args.venv, "latency", backend)
            _show(f"(b) due-to-start latency, {backend}", report[f"b_latency_{backend}"])
        if "c" in parts:
            for scenario in args.plain_scenarios.split(","):
                if scenario in _ONE_BACKEND and backend != "redis":
                    continue
                found = report[f"c_{scenario}_{backend}"] = _plain(args, scenario, backend)
                _show(f"(c) plain jobs, {scenario}, {backend}", found)
        if "e" in parts:
            found = report[f"e_crowd_{backend}"] = _in_venv(args.venv, "crowd", backend)
            _show(f"(e) plain jobs beside 100,000 delayed ones, {backend}", found)
        if "d" in parts:
            found = report[f"d_path_{backend}"] = _path_sides(args, backend)
            _show(f"(d) the backend's plain-job path, {backend}", found)
    out = BENCH_DIR / f"results-delayed-{time.strftime('%Y-%m-%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out}", file=sys.stderr)
    return 0


# -- the orchestrator's side (any python3) --------------------------------------------------


def _in_venv(venv: Path, part: str, backend: str) -> dict[str, float]:
    argv = [str(venv / "bin" / "python"), __file__, "--inside", part, "--backends", backend]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{part} ({backend}) failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def _sides(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The venvs compared in (c) and (d): before the lifecycle, main without this work when
    given (so that this work's share and the lifecycle core's can be told apart), and this
    checkout."""
    sides = [("pre", args.pre_venv)]
    if args.main_venv is not None:
        sides.append(("main", args.main_venv))
    return [*sides, ("branch", args.venv)]


def _ratios(runs: dict[str, list[float]]) -> dict[str, object]:
    medians = {side: statistics.median(values) for side, values in runs.items()}
    found: dict[str, object] = dict(runs)
    found.update({f"{side}_median": round(value) for side, value in medians.items()})
    found["branch_over_pre"] = round(medians["branch"] / medians["pre"], 3)
    if "main" in medians:
        found["main_over_pre"] = round(medians["main"] / medians["pre"], 3)
        found["branch_over_main"] = round(medians["branch"] / medians["main"], 3)
    return found


def _plain(args: argparse.Namespace, scenario: str, backend: str) -> dict[str, object]:
    """A scenario of bench/run.py with each venv in turn, repeat by repeat (so drift hits
    all alike)."""
    rates: dict[str, list[float]] = {side: [] for side, _venv in _sides(args)}
    for _ in range(args.repeats):
        for side, venv in _sides(args):
            argv = [
                str(venv / "bin" / "python"), str(BENCH_DIR / "measure.py"),
                "--system", "dlq", "--scenario", scenario, "--backend", backend,
                "--prefix", f"{_PREFIX}-{side}",
            ]  # fmt: skip
            env = {**os.environ, "BENCH_VENV_DLQ": str(venv)}
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=600, env=env, check=False
            )
            figures = json.loads(done.stdout.splitlines()[-1])
            if "error" in figures:
                raise SystemExit(f"{scenario} on {side} failed: {figures['error']}")
            rates[side].append(float(figures["jobs_per_s"]))
    return _ratios(rates)


def _path_sides(args: argparse.Namespace, backend: str) -> dict[str, object]:
    keys = (
        "bulk_enqueue_jobs_per_s",
        "enqueue_jobs_per_s",
        "dequeue_ack_jobs_per_s",
        "dequeue_ack_cpu_us",
    )
    runs: dict[str, list[dict[str, float]]] = {side: [] for side, _venv in _sides(args)}
    for _ in range(args.repeats):
        for side, venv in _sides(args):
            runs[side].append(_in_venv(venv, "path", backend))
    return {
        key: _ratios({side: [run[key] for run in found] for side, found in runs.items()})
        for key in keys
    }


def _summary(runs: list[dict[str, float]], *keys: str) -> dict[str, object]:
    found: dict[str, object] = {key: [run[key] for run in runs] for key in keys}
    medians = {key: statistics.median(run[key] for run in runs) for key in keys}
    found.update({f"{key}_median": round(value) for key, value in medians.items()})
    found["held_over_plain"] = round(medians[keys[0]] / medians[keys[1]], 3)
    return found


def _show(title: str, figures: object) -> None:
    print(f"{title}: {json.dumps(figures)}", flush=True)


# -- inside a dlq venv ----------------------------------------------------------------------


def _inside(part: str, backend: str) -> dict[str, float]:
    if part == "path":
        return _path(backend)
    if part == "crowd":
        return _crowd(backend)
    from benchkit.config import BenchConfig
    from benchkit.systems import SYSTEMS

    system = SYSTEMS["dlq"]
    config = BenchConfig(system="dlq", backend=backend, prefix=f"{_PREFIX}-{part}")
    os.environ.update(config.to_env())
    os.environ["DJANGO_SETTINGS_MODULE"] = system.settings_module
    os.environ["BENCH_VENV_DLQ"] = sys.prefix  # the runner runs in this venv too
    sys.path.insert(0, str(system.project_dir))
    import dataclasses
    import importlib
    import tempfile

    import django
    import redis
    from benchkit.context import Context

    django.setup()
    system = dataclasses.replace(system, venv=Path(sys.prefix))
    tasks = importlib.import_module("benchapp.tasks")
    client = redis.Redis(host=config.redis_host, port=config.redis_port, db=config.redis_db)
    with tempfile.TemporaryDirectory(prefix="dlqbench-delayed-") as workdir:
        ctx = Context(system, config, client, tasks, Path(workdir), _HELD_JOBS, _PROBES, 300)
        try:
            if part == "promote":
                plain = _drain(ctx, held=False)
                held = _drain(ctx, held=True)
                return {"held_jobs_per_s": held, "plain_jobs_per_s": plain}
            return _latency(ctx)
        finally:
            ctx.clean()
            client.close()


def _drain(ctx: Context, *, held: bool) -> float:
    """Jobs/s of one runner over N jobs (held back, or plain), start marker to last job."""
    from datetime import UTC, datetime, timedelta

    from benchkit.config import QUEUE
    from benchkit.context import ScenarioError
    from benchkit.scenarios.runner import _settle

    from dlq.conf import get_runtime, queue_settings
    from dlq.domain.envelope import Job

    assert ctx.tasks is not None
    ctx.clean()
    now = datetime.now(UTC)
    backend = get_runtime().backend_for(QUEUE)
    due = now - timedelta(seconds=1)
    if held:  # an enqueuer an hour behind holds back jobs that are due by the runner's clock
        backend = type(backend)(queue_settings(), clock=lambda: now - timedelta(hours=1))
    ctx.tasks.mark("start")
    path = "benchapp.tasks.noop_count"
    for start in range(0, ctx.jobs, 1000):
        batch = [
            Job.create(path, [], {}, now=now, run_after=due if held else None)
            for _ in range(start, min(ctx.jobs, start + 1000))
        ]
        backend.bulk_enqueue(batch, QUEUE)
    end = Job.create("benchapp.tasks.mark", ["end"], {}, now=now, run_after=now if held else None)
    backend.enqueue(end, QUEUE)
    delayed_key = f"{ctx.config.prefix}:django_lightweight_queue:{{{QUEUE}}}:delayed"
    if held and ctx.client.zcard(delayed_key) != ctx.jobs + 1:
        raise ScenarioError("the jobs were not held back")
    deadline = ctx.deadline()
    with ctx.runner("--only-queue", QUEUE) as runner:
        started_s = ctx.wait_for_stamp(ctx.config.marks_key, "start", deadline, runner)
        ended_s = ctx.wait_for_stamp(ctx.config.marks_key, "end", deadline, runner)
        while ctx.counter() < ctx.jobs:
            if time.monotonic() > deadline:
                raise ScenarioError(f"{ctx.counter()} of {ctx.jobs} jobs ran in time")
            time.sleep(0.001)
            ended_s = max(ended_s, time.time())
        left = _settle(ctx, runner)
    if ctx.counter() != ctx.jobs or left:
        raise ScenarioError(f"{ctx.counter()} of {ctx.jobs} ran, {left} left in Redis")
    return round(ctx.jobs / (ended_s - started_s))


def _latency(ctx: Context) -> dict[str, float]:
    from datetime import timedelta

    from benchkit.config import QUEUE
    from benchkit.context import ScenarioError

    assert ctx.tasks is not None
    ctx.clean()
    probe = ctx.tasks.latency_probe.using(delay=timedelta(seconds=_PROBE_DELAY_S))
    with ctx.runner("--only-queue", QUEUE) as runner:
        deadline = ctx.deadline()
        ctx.tasks.latency_probe(-1)  # the runner and its worker are up, one job run
        ctx.wait_for_stamp(ctx.config.replies_key, "-1", deadline, runner)
        due_at: dict[str, float] = {}
        for sample in range(ctx.samples):
            due_at[str(sample)] = time.time() + _PROBE_DELAY_S
            probe(sample)
            time.sleep(_PROBE_EVERY_S)
        late_s: list[float] = []
        while len(late_s) < ctx.samples:
            got = ctx.pop_stamp(ctx.config.replies_key, timeout_s=1.0)
            if got is None:
                if time.monotonic() > deadline or not runner.alive():
                    raise ScenarioError(f"{len(late_s)} of {ctx.samples} probes ran")
                continue
            late_s.append(got[1] - due_at[got[0]])
    late_s.sort()
    return {
        "samples": len(late_s),
        "early": sum(1 for late in late_s if late < 0),
        "p50_ms": round(1000 * late_s[len(late_s) // 2], 1),
        "p99_ms": round(1000 * late_s[int(len(late_s) * 0.99) - 1], 1),
        "max_ms": round(1000 * late_s[-1], 1),
    }


def _crowd(backend: str) -> dict[str, float]:
    """Claims and promotions on a queue with no delayed job and on one beside 100,000 of
    them, alternately (five rounds each, so drift hits both alike): medians."""
    from datetime import UTC, datetime, timedelta

    from dlq.domain.envelope import Job
    from dlq.domain.outcome import Succeeded

    plain, held, calls, rounds = 20_000, 100_000, 200, 5
    queues = {"none": "bench", "100k": "crowded"}
    rates: dict[str, list[float]] = {label: [] for label in queues}
    promote_us: dict[str, list[float]] = {label: [] for label in queues}
    with _store(backend, "crowd") as store:
        later = datetime.now(UTC) + timedelta(hours=1)
        for start in range(0, held, 1000):
            batch = [
                Job.create("benchapp.tasks.noop_count", [start + n], {}, now=later,
                           run_after=later)
                for n in range(1000)
            ]  # fmt: skip
            store.bulk_enqueue(batch, queues["100k"])
        if store.delayed_count(queues["100k"]) != held:
            raise SystemExit("the delayed jobs were not held")
        for _ in range(rounds):
            for label, queue in queues.items():
                now = datetime.now(UTC)
                jobs = [
                    Job.create("benchapp.tasks.noop_count", [], {}, now=now) for _ in range(plain)
                ]
                for start in range(0, plain, 1000):
                    store.bulk_enqueue(jobs[start : start + 1000], queue)
                done, taken = Succeeded(None, 0.0), 0
                started = time.perf_counter()
                while (job := store.dequeue(queue, 1, 0.0)) is not None:
                    store.acknowledge(queue, 1, job, done)
                    taken += 1
                rates[label].append(taken / (time.perf_counter() - started))
                store.release(queue, 1)
                started = time.perf_counter()
                for _ in range(calls):
                    if store.promote_due(queue):
                        raise SystemExit("a job due in an hour was promoted")
                promote_us[label].append(1e6 * (time.perf_counter() - started) / calls)
    found: dict[str, float] = {}
    for label in queues:
        found[f"dequeue_ack_jobs_per_s_{label}"] = round(statistics.median(rates[label]))
        found[f"promote_due_us_{label}"] = round(statistics.median(promote_us[label]))
    return found


@contextlib.contextmanager
def _store(backend: str, name: str) -> Iterator[RedisBackendBase]:
    """A backend of ``backend``'s kind on database 13 under a prefix of its own, deleted after."""
    import redis

    from dlq.backends.redis import RedisBackend
    from dlq.backends.reliable_redis import ReliableRedisBackend
    from dlq.core.settings import QueueSettings

    prefix = f"{_PREFIX}-{name}"
    settings = QueueSettings.model_validate(
        {"REDIS_URL": "redis://127.0.0.1:6379/13", "REDIS_PREFIX": prefix}
    )
    kind = RedisBackend if backend == "redis" else ReliableRedisBackend
    store = kind(settings)
    client = redis.Redis(host="127.0.0.1", port=6379, db=13)
    try:
        yield store
    finally:
        store.close()
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()


def _path(backend: str) -> dict[str, float]:
    """Plain jobs through the backend alone (no Django, no runner); works on any dlq."""
    from datetime import UTC, datetime

    from dlq.domain.envelope import Job
    from dlq.domain.outcome import Succeeded

    queue, bulk, single = "bench", 20_000, 5_000
    with _store(backend, "path") as store:
        now = datetime.now(UTC)
        jobs = [Job.create("benchapp.tasks.noop_count", [], {}, now=now) for _ in range(bulk)]
        started = time.perf_counter()
        for start in range(0, bulk, 1000):
            store.bulk_enqueue(jobs[start : start + 1000], queue)
        bulk_s = time.perf_counter() - started
        started = time.perf_counter()
        for job in jobs[:single]:
            store.enqueue(job, queue)
        single_s = time.perf_counter() - started
        done, taken = Succeeded(None, 0.0), 0
        started, cpu = time.perf_counter(), time.process_time()
        while (job := store.dequeue(queue, 1, 0.0)) is not None:
            store.acknowledge(queue, 1, job, done)
            taken += 1
        drain_s, drain_cpu_s = time.perf_counter() - started, time.process_time() - cpu
        if taken != bulk + single:
            raise SystemExit(f"took {taken} jobs of {bulk + single}")
        return {
            "bulk_enqueue_jobs_per_s": round(bulk / bulk_s),
            "enqueue_jobs_per_s": round(single / single_s),
            "dequeue_ack_jobs_per_s": round(taken / drain_s),
            # This process's CPU per job: steadier than the rate on a shared machine.
            "dequeue_ack_cpu_us": round(1e6 * drain_cpu_s / taken, 2),
        }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=BENCH_DIR / ".venv-dlq")
    parser.add_argument("--pre-venv", type=Path, default=BENCH_DIR / ".venv-dlq-pre")
    parser.add_argument(
        "--main-venv", type=Path, help="(c), (d): also dlq as main had it before this work"
    )
    parser.add_argument("--parts", default="a,b,c")
    parser.add_argument("--backends", default="redis,reliable")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--plain-scenarios",
        default="runner_drain_1w",
        help="bench/run.py scenarios part (c) compares (enqueue and bulk_enqueue: redis only)",
    )
    parser.add_argument(
        "--inside", choices=["promote", "latency", "path", "crowd"], help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    args.backend = args.backends.split(",")[0]
    return args


if __name__ == "__main__":
    sys.exit(main())
