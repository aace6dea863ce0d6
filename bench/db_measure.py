#!/usr/bin/env python
"""Run ONE database-backend scenario for ONE system on ONE database; print one JSON line.

Runs inside the system's venv (``bench/db_run.py`` does this for you)::

    bench/.venv-dlq/bin/python bench/db_measure.py --system dlq --vendor postgresql \\
        --scenario drain_1w [--jobs N] [--samples N]

Systems: ``dlq`` (``@dlq.task`` on dlq's database backend), ``dlqapi`` (the same tasks
written against Django's task API, enqueued through ``dlq.django_tasks.DlqBackend``, run by
dlq's ``queue_runner``), ``dlq_redis`` and ``dlqapi_redis`` (the same, their jobs waiting in
Redis: ``BENCH_REDIS_URL``, default 127.0.0.1:6379/0, under a key prefix of their own that is
deleted afterwards), and ``tasksdb`` (django-tasks-db and its ``db_worker``). The vendor is
the Django database each uses. ``BENCH_STORE_RESULTS=1`` keeps every job's result record on
the dlq systems, ``0`` none; unset, each system's default (``@dlq.task`` keeps none, Django's
API keeps them where the backend can).

Each measurement gets a database of its own (a temporary SQLite file, or a PostgreSQL
database ``dlqbench_<random>`` that it creates and drops), migrates it, and stops every
process it started, whatever happens. On failure it prints {"error": ...} and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR / "dbbench" / "project"
SCENARIOS = (
    "enqueue",
    "bulk_enqueue",
    "drain_1w",
    "drain_2w",
    "latency",
    "claim_cost",
    "claim_delayed",
    "delayed_latency",
    "promote",
)
#: Scenarios only dlq's own tasks have: Django's task API has no bulk enqueue, the
#: claim-cost scenarios measure the database backend's own claim statement, and
#: django-tasks-db keeps delayed jobs but has no promotion step to measure.
DLQ_ONLY = frozenset({"bulk_enqueue", "claim_cost", "claim_delayed", "delayed_latency", "promote"})
DEFAULTS = {"samples": 100, "time_limit_s": 240.0}
#: Samples where a scenario wants its own default (delayed_latency: the issue's 200).
SAMPLES = {"delayed_latency": 200}
#: Jobs per scenario and system: enough for a few seconds of each (db_worker runs tens to
#: hundreds of jobs a second, dlq thousands), so that start-up and polling are not the rate.
JOBS = {
    "enqueue": {"dlq": 5000, "tasksdb": 1000},
    "bulk_enqueue": {"dlq": 100_000},
    "drain_1w": {"dlq": 30_000, "tasksdb": 1000, "dlqapi": 10_000},
    "drain_2w": {"dlq": 30_000, "tasksdb": 1000, "dlqapi": 10_000},
    "promote": {"dlq": 30_000},
}
SYSTEMS = ("dlq", "dlqapi", "dlq_redis", "dlqapi_redis", "tasksdb")


def family(system: str) -> str:
    """``dlq``, ``dlqapi`` or ``tasksdb``: which tasks and which worker, whatever the store."""
    return system.removesuffix("_redis")


_IDLE_BEFORE_SAMPLE_S = 0.02
_POLL_S = 0.0005


class ScenarioError(RuntimeError):
    pass


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result: dict[str, Any] = {
        "system": args.system,
        "vendor": args.vendor,
        "scenario": args.scenario,
    }
    try:
        with _database(args.vendor) as name, tempfile.TemporaryDirectory() as workdir:
            result.update(_run(args, name, Path(workdir)))
        code = 0
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    print(json.dumps(result), flush=True)
    return code


@contextmanager
def _database(vendor: str) -> Iterator[str]:
    if vendor == "sqlite":
        with tempfile.TemporaryDirectory(prefix="dlqbench-") as directory:
            yield str(Path(directory) / "bench.sqlite3")
        return
    import psycopg

    name = f"dlqbench_{uuid.uuid4().hex[:12]}"
    dsn = (
        f"host={os.environ.get('BENCH_PG_HOST', '127.0.0.1')}"
        f" port={os.environ.get('BENCH_PG_PORT', '5432')}"
        f" user={os.environ.get('BENCH_PG_USER', 'postgres')} dbname=postgres"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django was never set up: it holds no connection
            pass
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Bench:
    """What a scenario gets: the task module, files, and workers it can start."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.system: str = family(args.system)
        self.workdir = workdir
        self.count_file = workdir / "count"
        self.stamps_file = workdir / "stamps"
        per_system = JOBS.get(args.scenario, {})
        self.jobs = int(args.jobs or per_system.get(self.system, per_system.get("dlq", 1000)))
        self.samples = int(args.samples or SAMPLES.get(args.scenario, DEFAULTS["samples"]))
        self.deadline = time.monotonic() + float(args.time_limit_s or DEFAULTS["time_limit_s"])
        self.processes: list[subprocess.Popen[bytes]] = []
        import dbbenchapp.tasks

        self.tasks = dbbenchapp.tasks

    # -- enqueueing ------------------------------------------------------------------------

    def enqueue_noop(self) -> None:
        if self.system == "dlq":
            self.tasks.noop_count()
        else:
            self.tasks.noop_count.enqueue()

    def enqueue_stamp(self, name: str) -> None:
        if self.system == "dlq":
            self.tasks.stamp(name)
        else:
            self.tasks.stamp.enqueue(name)

    def prefill(self, jobs: int) -> None:
        if self.system == "dlq":
            with self.tasks.noop_count.bulk_enqueue(batch_size=1000) as enqueue:
                for _ in range(jobs):
                    enqueue()
            return
        from django.db import transaction

        # One commit: the fastest Django's task API offers (dlq's database backend joins
        # the transaction too; Redis ignores it).
        with transaction.atomic():
            for _ in range(jobs):
                self.tasks.noop_count.enqueue()

    # -- reading what the tasks wrote ---------------------------------------------------------

    def count(self) -> int:
        try:
            return self.count_file.stat().st_size
        except FileNotFoundError:
            return 0

    def stamps(self) -> dict[str, float]:
        try:
            text = self.stamps_file.read_text()
        except FileNotFoundError:
            return {}
        return {name: float(at) for name, at in (line.split(" ") for line in text.splitlines())}

    def wait_for(
        self,
        what: str,
        check: Callable[[], bool],
        timeout_s: float | None = None,
        poll_s: float = _POLL_S,
    ) -> None:
        limit = (
            self.deadline if timeout_s is None else min(self.deadline, time.monotonic() + timeout_s)
        )
        while not check():
            for process in self.processes:
                if process.poll() is not None:
                    raise ScenarioError(f"a worker exited ({process.returncode}) before {what}")
            if time.monotonic() > limit:
                raise ScenarioError(f"timed out waiting for {what} (count {self.count()})")
            time.sleep(poll_s)

    # -- workers -------------------------------------------------------------------------------

    def start_workers(self, count: int) -> None:
        python = sys.executable
        manage = str(PROJECT / "manage.py")
        env = {**os.environ, "BENCH_DB_WORKERS": str(count), "PYTHONUNBUFFERED": "1"}
        if self.system != "tasksdb":
            argvs = [[python, manage, "queue_runner"]]
        else:
            argvs = [[python, manage, "db_worker", "--no-reload"] for _ in range(count)]
        for number, argv in enumerate(argvs):
            log = (self.workdir / f"worker-{number}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    argv,
                    cwd=PROJECT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop_workers(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


# -- scenarios ------------------------------------------------------------------------------------


def enqueue(bench: Bench) -> dict[str, Any]:
    """One job per call, no worker running: jobs/s."""
    started = time.perf_counter()
    for _ in range(bench.jobs):
        bench.enqueue_noop()
    return {"jobs_per_s": bench.jobs / (time.perf_counter() - started), "jobs": bench.jobs}


def bulk_enqueue(bench: Bench) -> dict[str, Any]:
    """``with noop_count.bulk_enqueue(batch_size=1000)``: jobs/s, the final flush included."""
    jobs = bench.jobs
    started = time.perf_counter()
    bench.prefill(jobs)
    return {"jobs_per_s": jobs / (time.perf_counter() - started), "jobs": jobs}


def _drain(bench: Bench, workers: int) -> dict[str, Any]:
    """N jobs queued, then ``workers`` workers started: jobs/s from when the first job
    ran to when the last did (start-up excluded; measured by the count file's size)."""
    bench.prefill(bench.jobs)
    return _timed_drain(bench, workers)


def _timed_drain(bench: Bench, workers: int) -> dict[str, Any]:
    """Start ``workers`` workers on the jobs already queued: jobs/s from the first job's
    run to the last's (start-up excluded; measured by the count file's size)."""
    bench.start_workers(workers)
    try:
        bench.wait_for("the first job", lambda: bench.count() > 0)
        first = time.perf_counter()
        # Every 2 ms: a drain lasts seconds, and a busier poll would take CPU from it.
        bench.wait_for(f"{bench.jobs} jobs", lambda: bench.count() >= bench.jobs, poll_s=0.002)
        elapsed = time.perf_counter() - first
    finally:
        bench.stop_workers()
    return {"jobs_per_s": (bench.jobs - 1) / elapsed, "jobs": bench.jobs, "workers": workers}


def drain_1w(bench: Bench) -> dict[str, Any]:
    return _drain(bench, 1)


def drain_2w(bench: Bench) -> dict[str, Any]:
    return _drain(bench, 2)


def latency(bench: Bench) -> dict[str, Any]:
    """An idle worker; N times: pause 20 ms, enqueue a probe, wait for it to start.

    ``p50_ms`` runs from the call that enqueues to the task's start, so it includes the
    enqueue's own commit (on PostgreSQL, a WAL flush: ~4 ms on the disk this was written
    on); ``p50_after_commit_ms`` runs from when that call returned."""
    bench.start_workers(1)
    try:
        bench.enqueue_stamp("warm-up")
        bench.wait_for("the worker to start", lambda: "warm-up" in bench.stamps(), 60)
        samples, after_commit = [], []
        for sample in range(bench.samples):
            time.sleep(_IDLE_BEFORE_SAMPLE_S)
            name = f"probe-{sample}"
            sent = time.time()
            bench.enqueue_stamp(name)
            returned = time.time()
            bench.wait_for(name, lambda name=name: name in bench.stamps(), 30)
            samples.append((bench.stamps()[name] - sent) * 1000)
            after_commit.append((bench.stamps()[name] - returned) * 1000)
    finally:
        bench.stop_workers()
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "p50_after_commit_ms": statistics.median(after_commit),
        "samples": len(samples),
    }


def claim_cost(bench: Bench) -> dict[str, Any]:
    """The database backend's claim with 1,000 and with 1,000,000 jobs queued: the mean time
    of one dequeue (one claim of one job, and its marker) and its acknowledgement."""
    figures: dict[str, Any] = {}
    for rows in (1_000, 1_000_000):
        figures[f"claim_us_{rows}"] = _claim_us(bench, plain=rows, delayed=0)
    figures["ratio_1m_to_1k"] = figures["claim_us_1000000"] / figures["claim_us_1000"]
    return figures


def claim_delayed(bench: Bench) -> dict[str, Any]:
    """As ``claim_cost``, with 1,100 jobs queued beside 1,000 and then 1,000,000 delayed
    ones (due tomorrow): delayed rows must not make a claim (which promotes first) dearer."""
    figures: dict[str, Any] = {}
    for rows in (1_000, 1_000_000):
        figures[f"claim_us_{rows}_delayed"] = _claim_us(bench, plain=1_100, delayed=rows)
    figures["ratio_1m_to_1k"] = (
        figures["claim_us_1000000_delayed"] / figures["claim_us_1000_delayed"]
    )
    return figures


def _claim_us(bench: Bench, *, plain: int, delayed: int) -> float:
    from django.db import connection

    from dlq.backends.database import DatabaseBackend, Tuning
    from dlq.conf import queue_settings
    from dlq.domain.outcome import Succeeded

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM dlq_job")
        _fill(cursor, connection.vendor, plain, bench.tasks.noop_count)
        if delayed:
            _fill(cursor, connection.vendor, delayed, bench.tasks.noop_count, due_in_days=1)
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE dlq_job")
        else:
            cursor.execute("ANALYZE")
            # Write the fill's WAL (hundreds of MB for 1M rows) into the file now: the
            # first automatic checkpoint would otherwise land inside one timed claim.
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backend = DatabaseBackend(queue_settings(), tuning=Tuning(max_batch=1))
    try:
        for _ in range(50):  # connect, recover the slot, warm the caches
            job = backend.dequeue("bench", 1, 1.0)
            assert job is not None
            backend.acknowledge("bench", 1, job, Succeeded(None, 0.0))
        claims = min(bench.samples * 5, 1000)
        started = time.perf_counter()
        for _ in range(claims):
            job = backend.dequeue("bench", 1, 1.0)
            assert job is not None
            backend.acknowledge("bench", 1, job, Succeeded(None, 0.0))
        return (time.perf_counter() - started) / claims * 1e6
    finally:
        backend.close()


def _fill(
    cursor: Any, vendor: str, rows: int, task: Any, *, due_in_days: int | None = None
) -> None:
    """``rows`` jobs of ``task``: queued now, or delayed, due ``due_in_days`` from now."""
    from datetime import UTC, datetime

    from dlq.domain.envelope import Job

    payload = Job.create(task.path, [], {}, now=datetime.now(UTC)).encode().decode()
    flag = "FALSE" if due_in_days is None else "TRUE"
    days = due_in_days or 0
    if vendor == "postgresql":
        cursor.execute(
            "INSERT INTO dlq_job (queue, payload, priority, available_at, is_delayed)"
            f" SELECT 'bench', %s, 0, clock_timestamp() + %s * interval '1 day', {flag}"
            " FROM generate_series(1, %s)",
            [payload, days, rows],
        )
    else:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)"
            " INSERT INTO dlq_job (queue, payload, priority, available_at, is_delayed)"
            f" SELECT 'bench', %s, 0, strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %s), {flag}"
            " FROM n",
            [rows, payload, f"{days:+d} days"],
        )


#: delayed_latency: seconds between the due times of consecutive probes, and the delay of
#: the first; the worker is idle at each due time (a probe takes well under a millisecond).
_PROBE_SPACING_S = 0.1
_FIRST_DUE_S = 0.5


def delayed_latency(bench: Bench) -> dict[str, Any]:
    """An idle runner (1 worker); N probes enqueued at once, due ``_FIRST_DUE_S`` from now
    and then every ``_PROBE_SPACING_S``: from each one's due time to its task's start.

    The runner promotes due jobs every 0.25 s and wakes the worker (PostgreSQL: NOTIFY;
    SQLite: the promotion's commit changes ``PRAGMA data_version``), so the figure is
    spread over that period: "within 1 s" is the target, p99 the figure to judge by."""
    from datetime import UTC, datetime, timedelta

    bench.start_workers(1)
    try:
        bench.enqueue_stamp("warm-up")
        bench.wait_for("the worker to start", lambda: "warm-up" in bench.stamps(), 60)
        start = datetime.now(UTC) + timedelta(seconds=_FIRST_DUE_S)
        due = {
            f"probe-{n}": start + timedelta(seconds=n * _PROBE_SPACING_S)
            for n in range(bench.samples)
        }
        for name, when in due.items():
            bench.tasks.stamp.using(run_after=when)(name)
        last = f"probe-{bench.samples - 1}"
        bench.wait_for("every probe", lambda: last in bench.stamps(), poll_s=0.01)
        stamps = bench.stamps()
        early = [name for name, when in due.items() if stamps[name] < when.timestamp()]
        if early:
            raise ScenarioError(f"{len(early)} probes started before they were due: {early[:3]}")
        samples = sorted((stamps[name] - when.timestamp()) * 1000 for name, when in due.items())
    finally:
        bench.stop_workers()
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "max_ms": samples[-1],
        "samples": len(samples),
    }


def promote(bench: Bench) -> dict[str, Any]:
    """Promoting and draining delayed jobs: N delayed jobs, due since a day, then one runner
    (1 worker) started; jobs/s from the first job's start to the last's, as ``drain_1w``
    (every job goes through a promotion first: the claims' and the runner's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        _fill(cursor, connection.vendor, bench.jobs, bench.tasks.noop_count, due_in_days=-1)
    return _timed_drain(bench, 1)


def _run(args: argparse.Namespace, database: str, workdir: Path) -> dict[str, Any]:
    if args.scenario in DLQ_ONLY and family(args.system) != "dlq":
        raise ScenarioError(f"{args.scenario} is measured for dlq's own tasks only")
    if args.system.endswith("_redis"):
        os.environ["BENCH_DB_STORE"] = "redis"
        os.environ.setdefault("BENCH_REDIS_PREFIX", f"dlqbench-{uuid.uuid4().hex[:12]}")
    os.environ.update(
        {
            "BENCH_DB_SYSTEM": family(args.system),
            "BENCH_DB_VENDOR": args.vendor,
            "BENCH_DB_NAME": database,
            "BENCH_DB_COUNT_FILE": str(workdir / "count"),
            "BENCH_DB_STAMPS_FILE": str(workdir / "stamps"),
            "DJANGO_SETTINGS_MODULE": "dbbench_settings",
            "PYTHONPATH": os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]),
        }
    )
    sys.path.insert(0, str(PROJECT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    bench = Bench(args, workdir)
    try:
        figures = globals()[args.scenario](bench)
    finally:
        bench.stop_workers()
        _forget_redis_keys()
    return {**figures, "versions": _versions()}


def _forget_redis_keys() -> None:
    """Delete this measurement's keys by their prefix (never FLUSHDB: Redis is shared)."""
    prefix = os.environ.get("BENCH_REDIS_PREFIX") if os.environ.get("BENCH_DB_STORE") else None
    if not prefix:
        return
    import redis

    client = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("dlq", "django-tasks-db", "django-tasks", "Django", "psycopg", "redis"):
        with suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", required=True, choices=SYSTEMS)
    parser.add_argument("--vendor", required=True, choices=["sqlite", "postgresql"])
    parser.add_argument("--scenario", required=True, choices=SCENARIOS)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--samples", type=int)
    parser.add_argument("--time-limit-s", type=float)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
