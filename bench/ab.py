#!/usr/bin/env python3
"""A/B: two (or more) builds of dlq in one run, on the same scenarios, interleaved.

    python3 bench/ab.py --build before=/tmp/venv-dlq-old --build after=bench/.venv-dlq \
        --scenarios enqueue,bulk_enqueue,drain,runner_drain_1w --repeats 5

Each ``--build LABEL=VENV`` is a venv with dlq installed (editable from a worktree of the
commit to measure, with setup.sh's pins). Every repeat runs every build once per
scenario and backend, in turn, so drift in the machine's load hits the builds alike; the
table gives each build's median and each build's ratio to the first. Used to check that a
change keeps the figures (issue 14: within 5%; issue 11: within 10%). Standard library
only; measure.py runs inside each venv, against the bench's dlq_project.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from benchkit.scenarios import SCENARIOS  # noqa: E402

#: The figure each scenario is judged by (higher is better for rates, lower for times).
FIGURES = {
    "enqueue": "jobs_per_s",
    "bulk_enqueue": "jobs_per_s",
    "drain": "jobs_per_s",
    "runner_drain_1w": "jobs_per_s",
    "runner_drain_2w": "jobs_per_s",
    "runner_drain_4w": "jobs_per_s",
    "latency": "p50_ms",
    "worker_start": "start_s",
}


def main() -> int:
    args = _parse()
    builds = [tuple(item.split("=", 1)) for item in args.build]
    scenarios = args.scenarios.split(",")
    for name in scenarios:
        if name not in FIGURES:
            raise SystemExit(f"no figure known for {name!r}; known: {', '.join(FIGURES)}")
    figures: dict[tuple[str, str, str], list[float]] = {}
    for repeat in range(1, args.repeats + 1):
        for scenario in scenarios:
            for backend in args.backends or SCENARIOS[scenario].backends:
                for label, venv in builds:
                    value = _measure(venv, scenario, backend, FIGURES[scenario])
                    figures.setdefault((scenario, backend, label), []).append(value)
                    print(
                        f"[{repeat}/{args.repeats}] {scenario}/{backend} {label}: {value:g}",
                        file=sys.stderr,
                    )
    first = builds[0][0]
    print(
        f"{'scenario':<28}" + "".join(f"{label:>16}" for label, _ in builds) + "  ratio to " + first
    )
    for scenario in scenarios:
        for backend in args.backends or SCENARIOS[scenario].backends:
            medians = [statistics.median(figures[scenario, backend, label]) for label, _ in builds]
            ratios = " ".join(f"{m / medians[0]:.3f}" for m in medians[1:])
            row = f"{scenario + '/' + backend:<28}" + "".join(f"{m:>16.4g}" for m in medians)
            print(f"{row}  {ratios} ({FIGURES[scenario]})")
    if args.out:
        args.out.write_text(
            json.dumps({"|".join(key): values for key, values in figures.items()}, indent=1)
        )
    return 0


def _measure(venv: str, scenario: str, backend: str, figure: str) -> float:
    env = {**os.environ, "BENCH_VENV_DLQ": str(Path(venv).resolve())}
    command = [
        str(Path(venv) / "bin" / "python"),
        str(BENCH_DIR / "measure.py"),
        "--system",
        "dlq",
        "--scenario",
        scenario,
        "--backend",
        backend,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "error" in result:
        raise SystemExit(f"{venv} {scenario}/{backend}: {result['error']}\n{done.stderr}")
    return float(result[figure])


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", action="append", required=True, help="LABEL=VENV, twice or more")
    parser.add_argument("--scenarios", default="enqueue,bulk_enqueue,drain,runner_drain_1w")
    parser.add_argument("--backends", type=lambda s: tuple(s.split(",")))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if len(args.build) < 2:
        parser.error("give at least two --build LABEL=VENV")
    return args


if __name__ == "__main__":
    sys.exit(main())
