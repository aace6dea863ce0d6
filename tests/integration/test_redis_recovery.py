"""Crashes, timeouts and a Redis that goes away: nothing is lost, nothing loops for ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import FrameType

import pytest
import redis

from dlq.backends.redis import RedisBackend
from dlq.backends.redis.base import RedisBackendBase
from dlq.backends.redis.keys import Keys
from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.settings import QueueSettings
from dlq.domain.envelope import Job
from dlq.domain.outcome import Succeeded, TimedOut
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures
from tests.integration.redis_fixtures import BACKEND_CLASSES, PrivateRedis

Q = "crashy"
NOW = datetime(2026, 1, 2, tzinfo=UTC)
OK = Succeeded(None, 0.0)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def job(number: int) -> Job:
    return Job.create("tests.testapp.tasks.add", [number], {}, now=NOW + timedelta(seconds=number))


def crash(backend: RedisBackendBase) -> None:
    """Leave ``backend`` as a killed process would: nothing acknowledged, nothing released."""
    backend.in_progress(Q)  # (reads owed replies: in a real crash the kernel still sends them)
    backend._dispatcher._line.drop()


def test_a_crashed_delivery_comes_back_counted_then_is_dead_lettered(
    redis_settings: QueueSettings,
) -> None:
    first = ReliableRedisBackend(redis_settings)  # MAX_DELIVERIES is 3
    first.bulk_enqueue([job(1), job(2)], Q)
    taken = first.dequeue(Q, 1, 1.0)
    assert taken is not None
    assert taken.attempts == 1
    crash(first)
    for attempt in (2, 3):
        worker = ReliableRedisBackend(redis_settings)
        again = worker.dequeue(Q, 1, 1.0)
        assert again is not None
        assert (again.id, again.attempts) == (taken.id, attempt)
        crash(worker)
    worker = ReliableRedisBackend(redis_settings)
    other = worker.dequeue(Q, 1, 1.0)  # the fourth delivery would exceed the limit
    assert other is not None
    assert other.args == (2,)
    (letter,) = worker.dead_letters(Q)
    assert letter.job_id == taken.id
    assert "started 3 times without finishing" in letter.reason
    worker.acknowledge(Q, 1, other, OK)
    assert worker.dequeue(Q, 1, 0.05) is None
    worker.close()


def test_at_most_once_never_runs_a_started_job_again(redis_settings: QueueSettings) -> None:
    first = RedisBackend(redis_settings)
    first.bulk_enqueue([job(n) for n in range(8)], Q)
    for _ in range(3):  # grow the batch, so that unstarted jobs are reserved
        item = first.dequeue(Q, 1, 1.0)
        assert item is not None
        first.acknowledge(Q, 1, item, OK)
    started = first.dequeue(Q, 1, 1.0)
    assert started is not None
    crash(first)
    worker = RedisBackend(redis_settings)
    rest = []
    while (item := worker.dequeue(Q, 1, 0.05)) is not None:
        worker.acknowledge(Q, 1, item, OK)
        rest.append(item.args[0])
    assert rest == list(range(4, 8))  # the reserved, unstarted ones did run
    (letter,) = worker.dead_letters(Q)
    assert letter.job_id == started.id
    assert "at-most-once" in letter.reason
    worker.close()


def test_timeouts_requeue_then_dead_letter(at_least_once: RedisBackendBase) -> None:
    at_least_once.enqueue(job(1), Q)
    attempts = []
    while (item := at_least_once.dequeue(Q, 1, 0.05)) is not None:
        attempts.append(item.attempts)
        at_least_once.acknowledge(Q, 1, item, TimedOut(2.5))
    assert attempts == [1, 2, 3]
    (letter,) = at_least_once.dead_letters(Q)
    assert "timed out after 2.5s" in letter.reason
    assert "started 3 times" in letter.reason


def test_a_timeout_acknowledged_by_another_process(
    redis_backend: RedisBackendBase, redis_settings: QueueSettings
) -> None:
    """The supervisor acknowledges the job of the worker it killed."""
    redis_backend.bulk_enqueue([job(1), job(2)], Q)
    taken = redis_backend.dequeue(Q, 1, 1.0)
    assert taken is not None
    crash(redis_backend)
    supervisor = type(redis_backend)(redis_settings)
    supervisor.acknowledge(Q, 1, taken, TimedOut(1.0))
    worker = type(redis_backend)(redis_settings)
    ran = []
    while (item := worker.dequeue(Q, 1, 0.05)) is not None:
        worker.acknowledge(Q, 1, item, OK)
        ran.append((item.args[0], item.attempts))
    if redis_backend.reliable:
        assert ran == [(2, 1), (1, 2)]  # queued again, behind what was waiting
        assert worker.dead_letter_count(Q) == 0
    else:
        assert ran == [(2, 1)]
        assert "timed out" in worker.dead_letters(Q)[0].reason
    supervisor.close()
    worker.close()


CHILD = """
import sys, time
from dlq.core.settings import QueueSettings
from dlq.backends.redis import RedisBackend
from dlq.backends.reliable_redis import ReliableRedisBackend
cls = {"redis": RedisBackend, "reliable_redis": ReliableRedisBackend}[sys.argv[1]]
backend = cls(QueueSettings(REDIS_URL=sys.argv[2], REDIS_PREFIX=sys.argv[3]))
job = backend.dequeue(sys.argv[4], 1, 10.0)
print(job.id, job.attempts, flush=True)
time.sleep(60)  # "running" until killed
"""


@pytest.mark.parametrize("kind", sorted(BACKEND_CLASSES))
def test_a_worker_killed_mid_job(
    kind: str, redis_prefix: str, redis_settings: QueueSettings
) -> None:
    backend = BACKEND_CLASSES[kind](redis_settings)
    first, second = job(1), job(2)
    backend.bulk_enqueue([first, second], Q)
    url = redis_settings.REDIS_URL
    assert url is not None
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, url.get_secret_value(), redis_prefix, Q],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().decode().split()
        assert line == [first.id, "1"]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    taken = backend.dequeue(Q, 1, 2.0)
    assert taken is not None
    if backend.reliable:
        assert (taken.id, taken.attempts) == (first.id, 2)  # it runs again, counted
        backend.acknowledge(Q, 1, taken, OK)
        taken = backend.dequeue(Q, 1, 1.0)
        assert taken is not None
    else:
        (letter,) = backend.dead_letters(Q)
        assert letter.job_id == first.id
    assert taken.id == second.id
    backend.acknowledge(Q, 1, taken, OK)
    assert backend.dequeue(Q, 1, 0.05) is None
    backend.close()


class Interrupted(BaseException):
    """What a worker's signal handler raises to leave a blocking dequeue."""


def test_a_dequeue_interrupted_by_a_signal_leaves_a_usable_backend(
    redis_backend: RedisBackendBase,
) -> None:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            redis_backend.dequeue(Q, 1, 3.0)  # blocked in BLMOVE when the signal comes
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    redis_backend.bulk_enqueue([job(1), job(2)], Q)
    taken = redis_backend.dequeue(Q, 1, 1.0)
    assert taken is not None
    assert taken.args == (1,)
    redis_backend.acknowledge(Q, 1, taken, OK)
    redis_backend.release(Q, 1)
    assert redis_backend.length(Q) == 1
    assert redis_backend.in_progress(Q) == {}


@pytest.fixture(params=sorted(BACKEND_CLASSES))
def on_private_server(
    request: pytest.FixtureRequest, private_redis: PrivateRedis
) -> Iterator[tuple[RedisBackendBase, PrivateRedis]]:
    settings = QueueSettings(REDIS_URL=private_redis.url, MAX_DELIVERIES=5)  # type: ignore[arg-type]  # pydantic converts the str
    backend = BACKEND_CLASSES[request.param](settings)
    yield backend, private_redis
    backend.close()


def test_redis_stopped_and_restarted_during_work(
    on_private_server: tuple[RedisBackendBase, PrivateRedis], caplog: pytest.LogCaptureFixture
) -> None:
    backend, server = on_private_server
    jobs = [job(n) for n in range(400)]
    backend.bulk_enqueue(jobs, Q)
    ran: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and len(set(ran)) < len(jobs):
                item = backend.dequeue(Q, 1, 0.2)
                if item is not None:
                    ran.append(item.id)
                    time.sleep(0.001)
                    backend.acknowledge(Q, 1, item, OK)
                elif not backend.reliable and _accounted(backend, server, ran, jobs):
                    return
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 60
    while len(ran) < 100:
        assert time.monotonic() < deadline, "the worker made no progress"
        assert not done.is_set(), errors
        time.sleep(0.01)
    server.stop(save=True)  # its data comes back on start, as with persistence
    time.sleep(0.5)  # the worker meanwhile retries with back-off instead of failing
    server.start()
    thread.join(90)
    assert done.is_set()
    assert errors == []
    ids = {j.id for j in jobs}
    if backend.reliable:
        assert set(ran) == ids  # every job ran (at least once)
    else:
        assert len(ran) == len(set(ran)), "no job ran twice"
        dead = {letter.job_id for letter in backend.dead_letters(Q, limit=1000)}
        assert set(ran) | dead == ids  # what did not run is kept, with the reason
    assert backend.length(Q) == 0
    lost = [r.getMessage() for r in caplog.records if "lost the connection" in r.getMessage()]
    assert lost, "the worker saw the server go away"
    assert all(server.url.split("/")[2] in message for message in lost)


def _accounted(
    backend: RedisBackendBase, server: PrivateRedis, ran: list[str], jobs: list[Job]
) -> bool:
    try:
        dead = {letter.job_id for letter in backend.dead_letters(Q, limit=1000)}
    except Exception:
        return False
    return len(set(ran) | dead) >= len(jobs)


def test_keys_of_a_private_server_are_as_upstream(private_redis: PrivateRedis) -> None:
    backend = RedisBackend(QueueSettings(REDIS_URL=private_redis.url))  # type: ignore[arg-type]  # pydantic converts the str
    backend.enqueue(job(1), Q)
    client: redis.Redis = private_redis.client()
    assert client.keys("*") == [Keys().queue(Q).encode()]
    client.close()
    backend.close()
