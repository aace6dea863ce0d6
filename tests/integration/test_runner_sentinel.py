"""A real queue_runner draining a queue behind Sentinel while the master is killed.

``ReliableRedisBackend`` on a deployment of the test's own (a master, a replica, three
sentinels: :mod:`tests.integration.sentinel_fixtures`); the test tasks record each run on
the shared server, which the failover does not touch. Every job enqueued (before the kill,
and during the failover by an enqueuer that follows it) must run at least once, the
workers must carry on with the new master, and no worker may crash. How long draining
paused is measured and printed, not asserted: it depends on Sentinel's timers and on the
machine.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.settings import build_settings
from dlq.domain.envelope import Job
from dlq.exceptions import BackendError
from tests.integration.runner_harness import Lab, lab_fixture, wait_until
from tests.integration.sentinel_fixtures import *  # noqa: F403  # registers the fixture
from tests.integration.sentinel_fixtures import PASSWORD, SENTINEL_PASSWORD, SentinelDeployment

pytestmark = [pytest.mark.redis, pytest.mark.slow]

BEFORE = 400  # jobs queued before the runner starts
DURING = 40  # jobs queued while the failover happens
JOB_S = 0.02


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from lab_fixture(tmp_path)


def _job(token: str) -> Job:
    return Job.create(
        "tests.testapp.tasks.record_slowly", [token, JOB_S], {}, now=datetime.now(UTC)
    )


def _at(record: dict[str, object]) -> float:
    at = record["at"]
    assert isinstance(at, float)
    return at


def test_a_drain_goes_on_after_the_master_is_killed(
    lab: Lab, sentinel_deployment: SentinelDeployment
) -> None:
    deployment = sentinel_deployment
    url = deployment.url()
    enqueuer = ReliableRedisBackend(
        build_settings(
            {"LIGHTWEIGHT_QUEUE_REDIS_URL": url, "LIGHTWEIGHT_QUEUE_REDIS_PREFIX": lab.prefix}
        )
    )
    before = [f"before-{n}" for n in range(BEFORE)]
    enqueuer.bulk_enqueue([_job(token) for token in before], "default")
    deployment.wait_for_replication()  # what Redis acknowledged is on the replica too
    old_master = deployment.master_port()
    runner = lab.start(lab.settings(workers={"default": 2}, REDIS_URL=url))
    wait_until(lambda: len(lab.records("runs")) >= BEFORE // 4, what="a quarter of the drain")

    killed_at = time.time()
    deployment.kill_master()
    during = [f"during-{n}" for n in range(DURING)]
    refusals: list[str] = []
    for token in during:
        while True:  # an enqueue fails after ~2.5 s of retries while no master is up
            try:
                enqueuer.enqueue(_job(token), "default")
                break
            except BackendError as exc:
                refusals.append(str(exc))
                if time.time() - killed_at > 60:
                    pytest.fail(f"enqueueing never recovered: {exc}")
    assert not [text for text in refusals if PASSWORD in text or SENTINEL_PASSWORD in text]
    wait_until(
        lambda: set(before + during) <= set(lab.tokens("runs")),
        timeout_s=120,
        what="every job to run",
    )
    new_master = deployment.master_port()

    runs = sorted(_at(record) for record in lab.records("runs"))
    after = [at for at in runs if at >= killed_at]
    gaps = [b - a for a, b in zip([killed_at, *after], after, strict=False)]
    log = runner.log()
    print(
        f"\nmaster killed after {len(runs) - len(after)} runs; draining paused"
        f" {max(gaps):.2f}s at most (first run after the kill: {after[0] - killed_at:.2f}s);"
        f" {len(runs) - len(set(before + during))} jobs ran twice; {len(refusals)} enqueues"
        f" refused during the failover; workers restarted {log.count('Restarted worker')}"
        " times"
    )
    assert new_master not in {None, old_master}
    assert "died (" not in log  # no worker crashed, so no crash loop either
    assert PASSWORD not in log
    assert SENTINEL_PASSWORD not in log
    runner.send(signal.SIGTERM)
    assert runner.wait() == 0, log
    enqueuer.close()
