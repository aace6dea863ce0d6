#!/usr/bin/env python3
"""How long the dashboard's pages take with a big queue: 1,000,000 waiting jobs and 100,000
dead letters, on Redis and on PostgreSQL.

    .venv/django52/bin/python bench/dashboard_page.py [--waiting N] [--dead N]
        [--requests N] [--backends redis,postgresql]

Runs in the test venv (dlq, Django, redis-py and psycopg; ``./scripts/test`` makes it).
Starts a private ``redis-server`` on a free port and creates a PostgreSQL database of its
own on 127.0.0.1:5432 (``DLQ_TEST_POSTGRES_*`` as the tests), fills one queue, ``big``,
and times whole requests through Django's test client, logged in as a superuser: the
queues page, its JSON, the queue's page (first page, second page, a page half a million
jobs in) and the job page. Also times each backend call the queue's page makes. Drops
what it made at the end. PostgreSQL is timed as filled (its visibility map not yet set,
as just after a burst of enqueues) and again after ``VACUUM ANALYZE`` (as autovacuum
leaves it). Not for CI: the issue's target, under 300 ms for the queue's page, is read
off the printed figures, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUEUE = "big"
PG = {
    "HOST": os.environ.get("DLQ_TEST_POSTGRES_HOST", "127.0.0.1"),
    "PORT": os.environ.get("DLQ_TEST_POSTGRES_PORT", "5432"),
    "USER": os.environ.get("DLQ_TEST_POSTGRES_USER", "postgres"),
    "PASSWORD": os.environ.get("DLQ_TEST_POSTGRES_PASSWORD", ""),
}
PAYLOAD = (
    '{{"path":"bench.tasks.noop","args":[{n}],"kwargs":{{}},"timeout":null,'
    '"sigkill_on_stop":false,"created_time":"2026-01-01 00:00:00.000000",'
    '"id":"{id}","attempts":0}}'
)


def main() -> int:
    args = _parse()
    backends = args.backends.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="dlq-bench-dashboard-"))
    pg_name = f"dlqbench_dash_{uuid.uuid4().hex[:8]}"
    if "postgresql" in backends:
        _pg_admin(f'CREATE DATABASE "{pg_name}"')
    try:
        _setup_django(workdir, pg_name if "postgresql" in backends else None)
        client = _client()
        for backend in backends:
            if backend == "redis":
                with _redis_server(workdir) as url:
                    _fill_redis(url, args.waiting, args.dead)
                    _measure("Redis", client, args, redis_url=url)
            elif backend == "postgresql":
                _fill_postgresql(args.waiting, args.dead)
                _measure("PostgreSQL, as filled", client, args, alias="jobs")
                _pg_jobs("VACUUM ANALYZE")
                _measure("PostgreSQL, after VACUUM ANALYZE", client, args, alias="jobs")
            else:
                raise SystemExit(f"unknown backend {backend!r}: expected redis or postgresql")
    finally:
        if "postgresql" in backends:
            from django.db import connections

            connections.close_all()
            _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=1_000_000)
    parser.add_argument("--dead", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument("--backends", default="redis,postgresql")
    return parser.parse_args()


# -- Django ------------------------------------------------------------------------------


def _setup_django(workdir: Path, pg_name: str | None) -> None:
    import django
    from django.conf import settings

    databases: dict[str, Any] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "admin.db")}
    }
    if pg_name is not None:
        databases["jobs"] = {"ENGINE": "django.db.backends.postgresql", "NAME": pg_name, **PG}
    settings.configure(
        SECRET_KEY="bench-only",
        DEBUG=False,
        USE_TZ=True,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "dlq",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        ROOT_URLCONF="tests.urls",
        STATIC_URL="/static/",
        DATABASES=databases,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        LIGHTWEIGHT_QUEUE_WORKERS={QUEUE: 4},
        LIGHTWEIGHT_QUEUE_BACKEND="dlq.backends.memory.InMemoryBackend",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if pg_name is not None:
        call_command("migrate", "dlq", database="jobs", verbosity=0)


def _client() -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser("bench", password=None)
    client = Client()
    client.force_login(user)
    return client


# -- Redis -------------------------------------------------------------------------------


@contextmanager
def _redis_server(workdir: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the private redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _fill_redis(url: str, waiting: int, dead: int) -> None:
    import redis

    from dlq.backends.redis.dead_letters import encode_entry
    from dlq.backends.redis.keys import Keys
    from dlq.core.clock import utc_now

    keys = Keys("")
    client = redis.Redis.from_url(url)
    started = time.perf_counter()
    for start in range(0, waiting, 10_000):
        chunk = [
            PAYLOAD.format(n=n, id=f"{n:032x}").encode()
            for n in range(start, min(start + 10_000, waiting))
        ]
        client.lpush(keys.queue(QUEUE), *chunk)
    now = utc_now()
    for start in range(0, dead, 10_000):
        entries = [
            encode_entry(PAYLOAD.format(n=n, id=f"d{n:031x}").encode(), "bench", now, f"d{n:031x}")
            for n in range(start, min(start + 10_000, dead))
        ]
        client.lpush(keys.dead(QUEUE), *entries)
    print(
        f"Redis: {client.llen(keys.queue(QUEUE)):,} waiting, {client.llen(keys.dead(QUEUE)):,}"
        f" dead letters, filled in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    client.close()


# -- PostgreSQL ----------------------------------------------------------------------------


def _pg_admin(sql: str) -> None:
    import psycopg

    dsn = f"host={PG['HOST']} port={PG['PORT']} user={PG['USER']} dbname=postgres"
    if PG["PASSWORD"]:
        dsn += f" password={PG['PASSWORD']}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def _pg_jobs(sql: str, params: list[Any] | None = None) -> None:
    from django.db import connections

    connection = connections["jobs"]
    connection.ensure_connection()
    connection.connection.autocommit = True  # VACUUM runs outside a transaction
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _fill_postgresql(waiting: int, dead: int) -> None:
    started = time.perf_counter()
    payload = (
        '\'{"path":"bench.tasks.noop","args":[\' || g || \'],"kwargs":{},"timeout":null,'
        '"sigkill_on_stop":false,"created_time":"2026-01-01 00:00:00.000000",'
        '"id":"\' || md5(g::text) || \'","attempts":0}\''
    )
    _pg_jobs(
        "INSERT INTO dlq_job (queue, payload, priority, available_at, is_delayed)"
        f" SELECT %s, {payload}, 0, clock_timestamp(), FALSE FROM generate_series(1, %s) g",
        [QUEUE, waiting],
    )
    _pg_jobs(
        "INSERT INTO dlq_dead_job (queue, job_id, payload, reason, failed_at)"
        f" SELECT %s, md5(g::text), {payload}, 'bench', clock_timestamp()"
        " FROM generate_series(1, %s) g",
        [QUEUE, dead],
    )
    print(f"PostgreSQL: filled in {time.perf_counter() - started:.1f} s", file=sys.stderr)


# -- measuring -----------------------------------------------------------------------------


def _measure(label: str, client: Any, args: argparse.Namespace, **backend: str) -> None:
    from django.test import override_settings

    from dlq.conf import get_runtime

    values: dict[str, Any]
    if "redis_url" in backend:
        values = {
            "LIGHTWEIGHT_QUEUE_BACKEND": "dlq.backends.reliable_redis.ReliableRedisBackend",
            "LIGHTWEIGHT_QUEUE_REDIS_URL": backend["redis_url"],
        }
    else:
        values = {
            "LIGHTWEIGHT_QUEUE_BACKEND": "dlq.backends.database.DatabaseBackend",
            "LIGHTWEIGHT_QUEUE_DATABASE_ALIAS": backend["alias"],
        }
    base = "/admin/dlq/dashboard/"
    pages = {
        "queue page": f"{base}queue/{QUEUE}/",
        "queue page 2": f"{base}queue/{QUEUE}/?waiting=2&dead=2",
        "queue page 10,000 (500,000 in)": f"{base}queue/{QUEUE}/?waiting=10000&dead=1",
        "queues page": base,
        "queues JSON": f"{base}status.json",
        "job page (a job 1,000th in line)": f"{base}job/?queue={QUEUE}&id=missing",
    }
    with override_settings(**values):
        runtime = get_runtime()
        page = client.get(pages["queue page"])
        assert page.status_code == 200, page.content[:2000]
        assert f"{args.waiting:,}".encode() in page.content, "the page does not show the count"
        print(f"\n{label}: {args.waiting:,} waiting, {args.dead:,} dead letters")
        print(f"  {'page':<34} {'median':>9} {'p90':>9} {'max':>9}   ({args.requests} requests)")
        for name, path in pages.items():
            times = _time(lambda path=path: client.get(path), args.requests)
            print(f"  {name:<34} {_row(times)}")
        backend_for = runtime.backend_for(QUEUE)
        print("  the queue page's backend calls:")
        calls: dict[str, Callable[[], object]] = {
            "length": lambda: backend_for.length(QUEUE),
            "dead_letter_count": lambda: backend_for.dead_letter_count(QUEUE),
            "paused_until": lambda: backend_for.paused_until(QUEUE),
            "in_progress": lambda: backend_for.in_progress(QUEUE),
            "slot_leases": lambda: backend_for.slot_leases(QUEUE),
            "waiting_page(0, 50)": lambda: backend_for.waiting_page(QUEUE, 0, 50),
            "dead_letter_page(0, 50)": lambda: backend_for.dead_letter_page(QUEUE, 0, 50),
        }
        for name, call in calls.items():
            print(f"    {name:<32} {_row(_time(call, args.requests))}")
        close = getattr(backend_for, "close", None)
        if callable(close):
            close()


def _time(call: Callable[[], object], requests: int) -> list[float]:
    for _ in range(3):  # warm up: connections, templates, the cron configuration
        call()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(ordered):7.1f}ms {p90:7.1f}ms {ordered[-1]:7.1f}ms"


if __name__ == "__main__":
    sys.exit(main())
