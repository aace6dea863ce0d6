"""W workers x J jobs on each database, workers SIGKILLed at random and restarted: every
job runs at least once, and no job ever has two deliveries running at the same time."""

from __future__ import annotations

import itertools
import json
import random
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dlq.domain.envelope import Job
from tests.integration.database_fixtures import TestDatabase, database, database_session
from tests.integration.database_runner_harness import DbLab, db_lab
from tests.integration.runner_harness import RunnerProcess

__all__ = ["database", "database_session"]  # the fixtures, for pytest

pytestmark = [pytest.mark.slow]

QUEUE = "concurrency"
WORKERS = 3
JOBS = 100


@pytest.fixture
def lab(tmp_path: Path, database: TestDatabase) -> Iterator[DbLab]:
    yield from db_lab(tmp_path, database)


def _deliveries(lab: DbLab) -> list[dict[str, float]]:
    path = lab.records_dir / "deliveries.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("seed", [1, 2])
def test_every_job_runs_and_no_job_runs_twice_at_once(lab: DbLab, seed: int) -> None:
    rng = random.Random(seed)
    settings = lab.settings(workers={QUEUE: WORKERS}, MAX_DELIVERIES=100)
    now = datetime.now(UTC)
    lab.backend().bulk_enqueue(
        [Job.create("tests.testapp.tasks.add", [n], {}, now=now) for n in range(JOBS)], QUEUE
    )

    def start(number: int) -> RunnerProcess:
        code = (
            "from tests.integration.database_runner_harness import run_worker;"
            f" run_worker({QUEUE!r}, {number}, 0.1, {rng.randrange(1 << 30)})"
        )
        return lab.spawn(settings, "shell", "-c", code)

    workers = {number: start(number) for number in range(1, WORKERS + 1)}
    deaths: dict[int, float] = {}  # pid -> when it was seen dead
    finished: set[int] = set()
    deadline = time.monotonic() + 100  # (pytest-timeout ends the test at 120 s)
    kills = 0
    while len(finished) < JOBS:
        assert time.monotonic() < deadline, f"only {len(finished)} of {JOBS} jobs finished"
        time.sleep(rng.uniform(0.2, 0.6))
        finished = {int(d["job"]) for d in _deliveries(lab) if "end" in d}
        if kills < 6 and _deliveries(lab):
            number = rng.randrange(1, WORKERS + 1)
            process = workers[number]
            process.send(signal.SIGKILL)
            process.wait()
            deaths[process.pid] = time.monotonic()
            kills += 1
            workers[number] = start(number)
    for process in workers.values():
        process.send(signal.SIGKILL)
        process.wait()
        deaths[process.pid] = time.monotonic()

    runs: dict[int, list[tuple[float, float]]] = defaultdict(list)
    open_runs: dict[tuple[int, int], float] = {}
    for record in _deliveries(lab):
        key = (int(record["job"]), int(record["pid"]))
        if "start" in record:
            open_runs[key] = record["start"]
        else:
            runs[key[0]].append((open_runs.pop(key), record["end"]))
    for (job, pid), started in open_runs.items():  # killed mid-job: it ran until its death
        runs[job].append((started, deaths[pid]))
    completed = {int(record["job"]) for record in _deliveries(lab) if "end" in record}
    assert completed == set(range(JOBS))
    for job, intervals in runs.items():
        intervals.sort()
        for (_, end), (next_start, _) in itertools.pairwise(intervals):
            assert end <= next_start, f"job {job} ran twice at once: {intervals}"
    assert kills >= 3  # the workers were killed mid-run, not only at the end
    assert lab.backend().length(QUEUE) == 0
