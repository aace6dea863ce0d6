"""The database going away under a running queue_runner, and coming back."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.database_fixtures import TestDatabase, database, database_session
from tests.integration.database_runner_harness import DbLab
from tests.integration.outage_proxy import TcpProxy
from tests.integration.runner_harness import wait_until

__all__ = ["database", "database_session"]  # the fixtures, for pytest

pytestmark = [pytest.mark.slow]


@pytest.fixture
def proxy(database: TestDatabase) -> Iterator[TcpProxy]:
    proxy = TcpProxy(database.config["HOST"], int(database.config["PORT"]))
    proxy.start()
    yield proxy
    proxy.cut()


@pytest.fixture
def lab(tmp_path: Path, database: TestDatabase, proxy: TcpProxy) -> Iterator[DbLab]:
    lab = DbLab(tmp_path, database=database, config={**database.config, "PORT": str(proxy.port)})
    try:
        yield lab
    finally:
        lab.close()


@pytest.mark.parametrize("database", ["postgresql", "mysql"], indirect=True)
def test_workers_wait_out_an_outage_and_lose_nothing(lab: DbLab, proxy: TcpProxy) -> None:
    settings = lab.settings(workers={"default": 2})
    for number in range(20):
        lab.enqueue("record", f"before-{number}")
    runner = lab.start(settings)
    wait_until(lambda: len(lab.tokens("runs")) >= 20, what="the first jobs")

    proxy.cut()
    for number in range(20):  # straight to the server: enqueuers are not cut off
        lab.enqueue("record", f"during-{number}")
    runner.wait_for_log(r"lost the connection|cannot connect")
    time.sleep(2)  # the workers' back-off grows meanwhile
    assert runner.popen.poll() is None
    proxy.start()

    expected = {f"{when}-{n}" for when in ("before", "during") for n in range(20)}
    wait_until(lambda: set(lab.tokens("runs")) >= expected, what="every job after the outage")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
    runs = Counter(lab.tokens("runs"))
    assert set(runs) == expected
    assert all(count == 1 for token, count in runs.items() if token.startswith("during"))
    assert not re.search(r"died|Traceback", runner.log()), runner.log()
    assert lab.backend().length("default") == 0
    assert lab.backend().dead_letter_count("default") == 0


@pytest.mark.parametrize("database", ["postgresql", "mysql"], indirect=True)
def test_a_runner_started_while_the_database_is_down_starts_work_when_it_answers(
    lab: DbLab, proxy: TcpProxy
) -> None:
    settings = lab.settings()
    lab.enqueue("record", "waiting")
    proxy.cut()
    # Django 6's own model checks connect to a MySQL database (to tell MariaDB from
    # MySQL) before any command runs; skipping them is how to start through an outage.
    runner = lab.start(settings, "--skip-checks")
    runner.wait_for_log(r"trying again|gave up")
    assert runner.popen.poll() is None
    proxy.start()
    wait_until(lambda: lab.tokens("runs") == ["waiting"], what="the job once the database answers")
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0
    assert "Traceback" not in runner.log(), runner.log()
