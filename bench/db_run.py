#!/usr/bin/env python3
"""Benchmark dlq's database backend against django-tasks-db's ``db_worker``, on SQLite and
on PostgreSQL, in the same run.

    bench/setup.sh && python3 bench/db_run.py [--repeats 3] [--vendors sqlite,postgresql]
        [--scenarios drain_1w,latency] [--jobs N] [--samples N] [--systems dlq,tasksdb]

``--systems`` adds Django's task API on dlq (issue 12): ``dlqapi`` (jobs in the database),
``dlqapi_redis`` and ``dlq_redis`` (jobs in Redis), judged against ``tasksdb`` on the same
database and against dlq's own ``@task`` path (see db_measure.py).

Each measurement is ``db_measure.py`` inside the system's venv (``.venv-dlq``,
``.venv-tasksdb``), on a fresh database of its own; systems are interleaved, repeat by
repeat. Prints the medians, the dlq/django-tasks-db ratios and the issue's targets;
writes every figure to ``bench/results-db-<date>-<time>.json``. Standard library only.
Not for CI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
VENVS = {
    "dlq": BENCH_DIR / ".venv-dlq",
    "dlqapi": BENCH_DIR / ".venv-dlq",
    "dlq_redis": BENCH_DIR / ".venv-dlq",
    "dlqapi_redis": BENCH_DIR / ".venv-dlq",
    "tasksdb": BENCH_DIR / ".venv-tasksdb",
}
# One list of scenarios, db_measure.py's (its top level is standard library only).
sys.path.insert(0, str(BENCH_DIR))
from db_measure import DLQ_ONLY, SCENARIOS  # noqa: E402

#: The figure each scenario is judged by, and whether higher is better.
FIGURES = {
    "enqueue": ("jobs_per_s", True),
    "bulk_enqueue": ("jobs_per_s", True),
    "drain_1w": ("jobs_per_s", True),
    "drain_2w": ("jobs_per_s", True),
    "latency": ("p50_ms", False),
    "claim_cost": ("ratio_1m_to_1k", False),
    "claim_delayed": ("ratio_1m_to_1k", False),
    "delayed_latency": ("p99_ms", False),
    "promote": ("jobs_per_s", True),
}
_TIMEOUT_S = 600


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    vendors = args.vendors.split(",")
    scenarios = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    runs: list[dict[str, Any]] = []
    for vendor in vendors:
        for scenario in scenarios:
            for repeat in range(args.repeats):
                for system in args.systems.split(","):
                    if system != "dlq" and scenario in DLQ_ONLY:
                        continue
                    print(
                        f"{vendor} {scenario} {system} #{repeat + 1}", file=sys.stderr, flush=True
                    )
                    runs.append(_measure(system, vendor, scenario, args))
    medians = _medians(runs)
    _print_table(medians)
    _print_targets(medians)
    _print_api_targets(medians)
    out = BENCH_DIR / f"results-db-{datetime.datetime.now():%Y-%m-%d-%H%M%S}.json"
    out.write_text(json.dumps({"runs": runs, "medians": medians}, indent=1))
    print(f"\nall figures: {out}")
    return 1 if any("error" in run for run in runs) else 0


def _measure(system: str, vendor: str, scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [
        str(VENVS[system] / "bin" / "python"),
        str(BENCH_DIR / "db_measure.py"),
        "--system", system, "--vendor", vendor, "--scenario", scenario,
    ]  # fmt: skip
    if args.jobs:
        argv += ["--jobs", str(args.jobs)]
    if args.samples:
        argv += ["--samples", str(args.samples)]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=None if args.verbose else subprocess.DEVNULL,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = process.communicate(timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return {"system": system, "vendor": vendor, "scenario": scenario, "error": "timed out"}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        return {"system": system, "vendor": vendor, "scenario": scenario, "error": "no result"}
    result: dict[str, Any] = json.loads(lines[-1])
    if "error" in result:
        print(f"  failed: {result['error']}", file=sys.stderr)
    return result


def _medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if "error" not in run:
            grouped.setdefault(f"{run['vendor']}/{run['scenario']}/{run['system']}", []).append(run)
    medians = {}
    for key, group in grouped.items():
        numbers = {
            name for run in group for name, value in run.items() if isinstance(value, float | int)
        }
        medians[key] = {
            name: statistics.median(run[name] for run in group if name in run) for name in numbers
        }
        figure = FIGURES[key.split("/")[1]][0]
        values = [run[figure] for run in group if figure in run]
        medians[key]["spread"] = (min(values), max(values)) if values else None
    return medians


def _print_table(medians: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'database/scenario':28} {'dlq':>20} {'db_worker':>18} {'ratio':>8}  spread (dlq)")
    keys = sorted({key.rsplit("/", 1)[0] for key in medians})
    for key in keys:
        figure, higher = FIGURES[key.split("/")[1]]
        dlq = medians.get(f"{key}/dlq", {}).get(figure)
        other = medians.get(f"{key}/tasksdb", {}).get(figure)
        ratio = ""
        if dlq and other:
            ratio = f"{(dlq / other if higher else other / dlq):.1f}x"
        spread = medians.get(f"{key}/dlq", {}).get("spread")
        print(
            f"{key:28} {_fmt(dlq, figure):>20} {_fmt(other, figure):>18} {ratio:>8}"
            f"  {'' if not spread else f'{spread[0]:.4g}..{spread[1]:.4g}'}"
        )


_UNITS = {"jobs_per_s": "jobs/s", "p50_ms": "ms", "p99_ms": "ms", "ratio_1m_to_1k": "x (1M/1k)"}


def _fmt(value: float | None, figure: str) -> str:
    return "-" if value is None else f"{value:,.2f} {_UNITS[figure]}"


def _print_targets(medians: dict[str, dict[str, Any]]) -> None:
    def get(key: str, figure: str) -> float | None:
        value = medians.get(key, {}).get(figure)
        return float(value) if value is not None else None

    def ratio(a: float | None, b: float | None) -> str:
        return "n/a" if not a or not b else f"{a / b:.1f}x"

    print("\ntargets (issue 10), from this run's medians:")
    for vendor, want in (("postgresql", 10), ("sqlite", 5)):
        mine = get(f"{vendor}/drain_1w/dlq", "jobs_per_s")
        theirs = get(f"{vendor}/drain_1w/tasksdb", "jobs_per_s")
        print(f"  {vendor} single-worker drain vs db_worker (>= {want}x): {ratio(mine, theirs)}")
    print(
        f"  postgresql one worker (>= 5,000 jobs/s): {get('postgresql/drain_1w/dlq', 'jobs_per_s')}"
    )
    print(
        "  postgresql 2 workers vs 1 (>= 1.6x): "
        + ratio(
            get("postgresql/drain_2w/dlq", "jobs_per_s"),
            get("postgresql/drain_1w/dlq", "jobs_per_s"),
        )
    )
    print(f"  postgresql idle latency p50 (<= 5 ms): {get('postgresql/latency/dlq', 'p50_ms')}")
    print(
        "  sqlite idle latency p50 vs db_worker (<= 1/10): "
        + ratio(get("sqlite/latency/tasksdb", "p50_ms"), get("sqlite/latency/dlq", "p50_ms"))
    )
    for vendor in ("postgresql", "sqlite"):
        print(
            f"  {vendor} bulk enqueue vs db_worker one-at-a-time (>= 20x): "
            + ratio(
                get(f"{vendor}/bulk_enqueue/dlq", "jobs_per_s"),
                get(f"{vendor}/enqueue/tasksdb", "jobs_per_s"),
            )
        )
        print(
            f"  {vendor} claim with 1M rows vs 1k (<= 1.2): "
            f"{get(f'{vendor}/claim_cost/dlq', 'ratio_1m_to_1k')}"
        )
    print("targets (issue 11):")
    for vendor in ("postgresql", "sqlite"):
        print(
            f"  {vendor} claim with 1M delayed rows vs 1k (independent, <= 1.2): "
            f"{get(f'{vendor}/claim_delayed/dlq', 'ratio_1m_to_1k')}"
        )
        print(
            f"  {vendor} due-to-start, idle worker, p50 / p99 (p99 <= 1,000 ms): "
            f"{get(f'{vendor}/delayed_latency/dlq', 'p50_ms')}"
            f" / {get(f'{vendor}/delayed_latency/dlq', 'p99_ms')}"
        )
        print(
            f"  {vendor} promoting and draining delayed jobs, 1 worker (jobs/s): "
            f"{get(f'{vendor}/promote/dlq', 'jobs_per_s')}"
        )


def _print_api_targets(medians: dict[str, dict[str, Any]]) -> None:
    """Issue 12: Django's task API on dlq, against db_worker and against dlq's own path."""
    systems = {key.rsplit("/", 1)[1] for key in medians}
    if not systems & {"dlqapi", "dlqapi_redis"}:
        return
    print(f"\n{'database/scenario/system':36} {'median':>20}  spread")
    for key in sorted(medians):
        figure = FIGURES[key.split("/")[1]][0]
        spread = medians[key].get("spread")
        print(
            f"{key:36} {_fmt(medians[key].get(figure), figure):>20}"
            f"  {'' if not spread else f'{spread[0]:.4g}..{spread[1]:.4g}'}"
        )

    def get(key: str) -> float | None:
        value = medians.get(key, {}).get("jobs_per_s")
        return float(value) if value is not None else None

    def ratio(a: float | None, b: float | None) -> str:
        return "n/a" if not a or not b else f"{a / b:.2f}x"

    print("\ntargets (issue 12, Django's task API), from this run's medians:")
    for vendor in ("postgresql", "sqlite"):
        theirs = get(f"{vendor}/drain_1w/tasksdb")
        for system in ("dlqapi", "dlqapi_redis"):
            print(
                f"  {vendor}: {system} single-worker drain vs db_worker (>= 10x): "
                + ratio(get(f"{vendor}/drain_1w/{system}"), theirs)
            )
        for api, own in (("dlqapi", "dlq"), ("dlqapi_redis", "dlq_redis")):
            mine, base = get(f"{vendor}/enqueue/{api}"), get(f"{vendor}/enqueue/{own}")
            slower = "n/a" if not mine or not base else f"{base / mine:.2f}x"
            print(f"  {vendor}: {api} enqueue cost vs {own}'s @task (<= 1.3x): {slower}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vendors", default="sqlite,postgresql")
    parser.add_argument("--scenarios", help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--samples", type=int)
    parser.add_argument(
        "--systems", default="dlq,tasksdb", help=f"comma-separated, of {', '.join(VENVS)}"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show db_measure.py's stderr")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
