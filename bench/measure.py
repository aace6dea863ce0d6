#!/usr/bin/env python
"""Run ONE scenario for ONE system and print its figures as one JSON line.

Runs inside that system's venv (run.py does this for you):

    bench/.venv-upstream/bin/python bench/measure.py --system upstream \
        --scenario drain --backend reliable [--jobs N] [--samples N] [--time-limit-s S]

On failure it prints {"error": "..."} (and a traceback on stderr) and exits 1. Whatever
happens, the worker processes it started are stopped and its Redis keys deleted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import signal
import sys
import tempfile
import traceback
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from benchkit.config import BenchConfig  # noqa: E402
from benchkit.scenarios import INTERNAL, SCENARIOS  # noqa: E402
from benchkit.systems import SYSTEMS  # noqa: E402

_DISTRIBUTIONS = {"upstream": "django-lightweight-queue", "dlq": "dlq", "dramatiq": "dramatiq"}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # SIGTERM from run.py becomes SystemExit, so the `finally`s stop workers and clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    system = SYSTEMS[args.system]
    config = BenchConfig(
        system=args.system,
        backend=args.backend,
        redis_host=args.redis_host,
        redis_port=args.redis_port,
        redis_db=args.redis_db,
        prefix=args.prefix or "",
    )
    result: dict[str, object] = {
        "system": args.system,
        "scenario": args.scenario,
        "backend": args.backend,
    }
    try:
        result.update(_run(args, system, config))
        code = 0
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    print(json.dumps(result), flush=True)
    return code


def _run(args: argparse.Namespace, system, config: BenchConfig) -> dict[str, object]:
    os.environ.update(config.to_env())
    os.environ["DJANGO_SETTINGS_MODULE"] = system.settings_module
    sys.path.insert(0, str(system.project_dir))

    import django
    import redis
    from benchkit.context import Context

    django.setup()
    tasks = importlib.import_module("benchapp.tasks")

    if args.scenario in SCENARIOS:
        scenario = SCENARIOS[args.scenario]
        entry, defaults = scenario.entry, scenario.defaults
    else:
        entry, defaults = INTERNAL[args.scenario], {}
    module_name, _, function_name = entry.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)

    client = redis.Redis(host=config.redis_host, port=config.redis_port, db=config.redis_db)
    with tempfile.TemporaryDirectory(prefix=f"dlqbench-{system.name}-") as workdir:
        ctx = Context(
            system=system,
            config=config,
            client=client,
            tasks=tasks,
            workdir=Path(workdir),
            jobs=int(args.jobs or defaults.get("jobs", 1000)),
            samples=int(args.samples or defaults.get("samples", 200)),
            time_limit_s=float(args.time_limit_s or defaults.get("time_limit_s", 60)),
        )
        try:
            figures = function(ctx)
        finally:
            ctx.clean()
            client.close()
    return {**figures, "versions": _versions(system.name)}


def _versions(system: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in (_DISTRIBUTIONS[system], "Django", "redis", "hiredis"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", required=True, choices=sorted(SYSTEMS))
    parser.add_argument("--scenario", required=True, choices=[*SCENARIOS, *INTERNAL])
    parser.add_argument("--backend", default="redis", choices=["redis", "reliable"])
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--samples", type=int)
    parser.add_argument("--time-limit-s", type=float)
    parser.add_argument("--redis-host", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--prefix", help="key prefix (default dlqbench-SYSTEM)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
