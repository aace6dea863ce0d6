#!/usr/bin/env python3
"""Benchmark upstream (django-lightweight-queue 4.11.0) against dlq on a real Redis.

    bench/setup.sh && python3 bench/run.py [--only upstream] [--repeats 5] [--scenarios a,b]

Runs every scenario of benchkit/scenarios for both systems in the same run, interleaved
(scenario by scenario, repeat by repeat) so that drift in the machine's load hits both
alike; takes the median of the repeats; prints figures and dlq/upstream ratios; writes
bench/results-<date>-<time>.json. Standard library only: each measurement runs as
`measure.py` inside the system's own venv. Not for CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from benchkit.scenarios import RUNNER_DRAIN_WORKERS, SCENARIOS, Metric, Scenario  # noqa: E402
from benchkit.systems import SYSTEMS, System  # noqa: E402

SYSTEM_ORDER = ("upstream", "dlq", "dramatiq")
# On top of a scenario's own time limit: interpreter, Django and worker start-up, clean-up.
_OVERHEAD_S = 60.0
_KILL_GRACE_S = 10.0
_RUN_ID = f"{datetime.datetime.now():%Y%m%d%H%M%S}-{os.getpid()}"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.aa:
        # Children (measure.py, and the workers it starts) find the venv the same way.
        os.environ["BENCH_VENV_DLQ"] = str(BENCH_DIR / ".venv-aa")
        SYSTEMS["dlq"] = dataclasses.replace(SYSTEMS["dlq"], venv=BENCH_DIR / ".venv-aa")
        print("A/A run: the dlq side is upstream in .venv-aa; ratios show noise", file=sys.stderr)
    scenarios = _chosen_scenarios(args.scenarios)
    plan = [(s, b) for s in scenarios for b in (args.backends or s.backends)]
    # Dramatiq is measured only in the scenarios that name it.
    wanted = {name for scenario in scenarios for name in scenario.systems}
    systems = [name for name in SYSTEM_ORDER if args.only in (None, name) and name in wanted]

    report: dict[str, Any] = {
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "run_id": _RUN_ID,
        "machine": _machine(),
        "repeats": args.repeats,
        "aa": args.aa,
        "stat": args.stat,
        "redis_db": args.redis_db,
        "systems": {},
        "failed": {},
        "runs": [],
    }
    failed: dict[str, str] = report["failed"]

    live: list[str] = []
    for name in systems:
        problem = _preflight(SYSTEMS[name], args)
        if problem is None:
            live.append(name)
        else:
            failed[name] = problem
            print(f"{name} side failed: {problem}", file=sys.stderr)
    if "upstream" in systems and "upstream" not in live:
        print("upstream is the reference; nothing to compare against.", file=sys.stderr)
    for name in live:
        report["systems"][name] = _versions_of(name, args)

    runs: list[dict[str, Any]] = report["runs"]
    try:
        for repeat in range(1, args.repeats + 1):
            for scenario, backend in plan:
                for name in (name for name in live if name in scenario.systems):
                    result = _measure(SYSTEMS[name], scenario.name, backend, args)
                    result["repeat"] = repeat
                    runs.append(result)
                    _progress(result, repeat, args.repeats)
    except KeyboardInterrupt:
        print("interrupted; reporting what was measured", file=sys.stderr)
    finally:
        for name in systems:
            if (SYSTEMS[name].python).exists():
                _measure(SYSTEMS[name], "cleanup", "redis", args, quiet=True)

    summary = _summarise(runs, plan, live)
    report["summary"] = summary
    report["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    report["load_after"] = _loadavg()
    _print_table(summary, plan, live, failed, args.stat)

    out = args.out or BENCH_DIR / f"results-{datetime.datetime.now():%Y-%m-%d-%H%M%S}.json"
    Path(out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0 if live and not any(r.get("error") for r in runs if r["system"] == "upstream") else 1


# -- running measure.py ---------------------------------------------------------------------


def _measure(
    system: System, scenario: str, backend: str, args: argparse.Namespace, quiet: bool = False
) -> dict[str, object]:
    argv = [
        str(system.python),
        str(BENCH_DIR / "measure.py"),
        "--system",
        system.name,
        "--scenario",
        scenario,
        "--backend",
        backend,
        "--redis-db",
        str(args.redis_db),
        # A prefix per run: a worker left over from an earlier, killed run cannot steal
        # this run's jobs, and clean-up never touches another run's keys.
        "--prefix",
        f"dlqbench-{system.name}-{_RUN_ID}",
    ]
    for flag, value in (("--jobs", args.jobs), ("--samples", args.samples)):
        if value is not None:
            argv += [flag, str(value)]
    limit_s = args.time_limit_s or (
        SCENARIOS[scenario].defaults.get("time_limit_s", 60) if scenario in SCENARIOS else 60
    )
    argv += ["--time-limit-s", str(limit_s)]
    base = {"system": system.name, "scenario": scenario, "backend": backend}
    if not system.python.exists():
        return {**base, "error": f"{system.venv} does not exist: run bench/setup.sh"}
    # A session of its own, so a hung measurement and every worker it started die together.
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=limit_s + _OVERHEAD_S)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        return {**base, "error": f"measure.py exceeded {limit_s + _OVERHEAD_S:.0f}s and was killed"}
    finally:
        _kill_group(proc)  # anything it left behind
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return {**base, "error": tail[0]}
    result = json.loads(lines[-1])
    if result.get("error") and not quiet and args.verbose:
        print(stderr, file=sys.stderr)
    return result


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the measurement's whole process group, then SIGKILL whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return  # the group is gone
        gone_by = time.monotonic() + _KILL_GRACE_S
        while time.monotonic() < gone_by:
            proc.poll()  # reap the leader, or the group never looks empty
            try:
                os.killpg(proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)


def _preflight(system: System, args: argparse.Namespace) -> str | None:
    """None if the system can run; else why not, in one line."""
    for backend in ("redis", "reliable"):
        result = _measure(system, "preflight", backend, args, quiet=True)
        if result.get("error"):
            return f"{result['error']} (backend {backend})"
    return None


def _versions_of(name: str, args: argparse.Namespace) -> dict[str, object]:
    result = _measure(SYSTEMS[name], "preflight", "redis", args, quiet=True)
    versions = result.get("versions")
    return {
        **(versions if isinstance(versions, dict) else {}),
        "redis_server": result.get("redis_server"),
    }


# -- summarising ----------------------------------------------------------------------------


def _summarise(
    runs: list[dict[str, Any]], plan: list[tuple[Scenario, str]], systems: list[str]
) -> dict[str, object]:
    summary: dict[str, Any] = {}
    for scenario, backend in plan:
        key = f"{scenario.name}/{backend}"
        entry: dict[str, object] = {}
        for name in systems:
            mine = [
                r
                for r in runs
                if r["system"] == name
                and r["scenario"] == scenario.name
                and r["backend"] == backend
            ]
            good = [r for r in mine if not r.get("error")]
            figures = {}
            for metric in scenario.metrics:
                values = [float(r[metric.key]) for r in good if metric.key in r]
                if values:
                    figures[metric.key] = {
                        "median": statistics.median(values),
                        "min": min(values),
                        "max": max(values),
                        "n": len(values),
                    }
            errors = sorted({str(r["error"]) for r in mine if r.get("error")})
            entry[name] = {"figures": figures, "errors": errors}
        summary[key] = entry
    return summary


def _headline(
    summary: dict[str, Any], key: str, system: str, metric: Metric, stat: str
) -> float | None:
    """The median, or with stat="best" the best repeat (max rate, min time or size)."""
    try:
        figure = summary[key][system]["figures"][metric.key]
    except (KeyError, TypeError):
        return None
    if stat == "median":
        return figure["median"]
    return figure["max" if metric.higher_is_better else "min"]


def _print_table(
    summary: dict[str, Any],
    plan: list[tuple[Scenario, str]],
    systems: list[str],
    failed: dict[str, str],
    stat: str,
) -> None:
    print()
    header = (
        f"{'scenario/backend':<24} {'figure':<11} {'upstream':>17} {'spread':>6}"
        f" {'dlq':>17} {'spread':>6} {'dlq/upstream':>13}"
    )
    print(header)
    print("-" * len(header))
    for scenario, backend in plan:
        key = f"{scenario.name}/{backend}"
        for metric in scenario.metrics:
            up = _headline(summary, key, "upstream", metric, stat)
            dq = _headline(summary, key, "dlq", metric, stat)
            ratio = ""
            if up and dq is not None:
                better = (dq > up) == metric.higher_is_better
                ratio = f"{dq / up:.2f}x {'better' if better else 'worse'}"
            print(
                f"{key:<24} {metric.key:<11}"
                f" {_fmt(up, metric.unit, summary, key, 'upstream', systems):>17}"
                f" {_spread(summary, key, 'upstream', metric.key):>6}"
                f" {_fmt(dq, metric.unit, summary, key, 'dlq', systems):>17}"
                f" {_spread(summary, key, 'dlq', metric.key):>6} {ratio:>13}"
            )
    print(
        f"({'median' if stat == 'median' else 'best'} of the repeats;"
        " spread = (max - min) / median over the repeats)"
    )
    # (b) asks for bulk against one-at-a-time too, upstream's in particular.
    rate = SCENARIOS["enqueue"].metrics[0]
    single_up = _headline(summary, "enqueue/redis", "upstream", rate, stat)
    if single_up:
        print()
        for name in systems:
            bulk = _headline(summary, "bulk_enqueue/redis", name, rate, stat)
            if bulk:
                print(
                    f"{name} bulk_enqueue / upstream one-at-a-time enqueue: {bulk / single_up:.1f}x"
                )
    # Against Dramatiq, where it ran.
    lines = []
    for scenario, backend in plan:
        if "dramatiq" not in systems or "dramatiq" not in scenario.systems:
            continue
        key = f"{scenario.name}/{backend}"
        for metric in scenario.metrics:
            reference = _headline(summary, key, "dramatiq", metric, stat)
            figures = [
                f"{name} {value / reference:.2f}x"
                for name in ("dlq", "upstream")
                if name in systems and reference
                and (value := _headline(summary, key, name, metric, stat)) is not None
            ]
            if reference:
                lines.append(
                    f"{key:<36} dramatiq {_fmt(reference, metric.unit, summary, key, 'dramatiq', systems)}"
                    f" {_spread(summary, key, 'dramatiq', metric.key):>5}; ÷ dramatiq: "
                    + ", ".join(figures)
                )
    if lines:
        print("\nagainst Dramatiq (one process, one thread, prefetch 64):")
        print("\n".join(lines))
    # Scaling through the runner: 2 workers against 1 (and 4 against 1), per system.
    lines = []
    for backend in ("redis", "reliable"):
        for name in systems:
            one = _headline(summary, f"runner_drain_1w/{backend}", name, rate, stat)
            if not one:
                continue
            ratios = []
            for n in RUNNER_DRAIN_WORKERS[1:]:
                more = _headline(summary, f"runner_drain_{n}w/{backend}", name, rate, stat)
                if more:
                    ratios.append(f"{n}w/1w {more / one:.2f}x")
            if ratios:
                lines.append(f"{name} runner_drain/{backend}: {', '.join(ratios)}")
    if lines:
        print()
        print("\n".join(lines))
    for key, entry in summary.items():
        for name in entry:
            for error in entry[name]["errors"]:
                print(f"{name} {key} failed: {error}")
    for name, problem in failed.items():
        print(f"{name} side failed: {problem}")


def _spread(summary: dict[str, Any], key: str, system: str, metric: str) -> str:
    try:
        figure = summary[key][system]["figures"][metric]
    except (KeyError, TypeError):
        return ""
    if figure["n"] < 2 or not figure["median"]:
        return ""
    return f"{100 * (figure['max'] - figure['min']) / figure['median']:.0f}%"


def _fmt(
    value: float | None,
    unit: str,
    summary: dict[str, Any],
    key: str,
    system: str,
    systems: list[str],
) -> str:
    if system not in systems:
        return "-"
    if value is None:
        return "failed" if summary[key][system]["errors"] else "-"
    if unit == "jobs/s":
        return f"{value:,.0f} {unit}"
    if unit == "KiB":
        return f"{value / 1024:,.1f} MiB"
    return f"{value:,.3f} {unit}"


def _progress(result: dict[str, object], repeat: int, repeats: int) -> None:
    figures = {
        k: v
        for k, v in result.items()
        if k not in {"system", "scenario", "backend", "versions", "repeat"}
    }
    print(
        f"[{repeat}/{repeats}] {result['system']:<8} {result['scenario']}/{result['backend']}: "
        + (f"FAILED {result['error']}" if result.get("error") else json.dumps(figures)),
        file=sys.stderr,
        flush=True,
    )


# -- misc -----------------------------------------------------------------------------------


def _machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "load_before": _loadavg(), "uname": " ".join(os.uname())}


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _chosen_scenarios(names: str | None) -> list[Scenario]:
    if not names:
        return list(SCENARIOS.values())
    chosen = []
    for name in names.split(","):
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        chosen.append(SCENARIOS[name])
    return chosen


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark upstream django-lightweight-queue against dlq.",
        epilog="scenarios: " + "; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values()),
    )
    parser.add_argument("--only", choices=SYSTEM_ORDER, help="run one system only")
    parser.add_argument("--repeats", type=int, default=5, help="runs per scenario (median taken)")
    parser.add_argument("--scenarios", help="comma-separated subset, e.g. drain,latency")
    parser.add_argument(
        "--backends",
        type=lambda s: tuple(s.split(",")),
        help="override each scenario's backends, e.g. redis,reliable",
    )
    parser.add_argument("--jobs", type=int, help="override each scenario's job count")
    parser.add_argument("--samples", type=int, help="override the latency sample count")
    parser.add_argument("--time-limit-s", type=float, help="override each scenario's time limit")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database (default 13)")
    parser.add_argument("--out", type=Path, help="where to write the JSON results")
    parser.add_argument(
        "--stat",
        choices=("median", "best"),
        default="median",
        help="figure tabulated per scenario: the median repeat, or the best one (the JSON "
        "has median, min and max either way)",
    )
    parser.add_argument(
        "--aa",
        action="store_true",
        help="A/A run: benchmark upstream against itself dressed as dlq (bench/.venv-aa, "
        "made by `bench/setup.sh --aa`) to see how large this machine's noise is",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show failures' tracebacks")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(main())
