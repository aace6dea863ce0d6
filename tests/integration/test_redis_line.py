"""The pipelined line on a real server: replies read either way, RESP2 whatever the URL
says, nothing buffered lost, a stop that cuts a blocking command short, interruptions."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from redis.exceptions import ResponseError

import dlq.backends.redis.line as line_module
import dlq.backends.redis.wire as wire_module
from dlq.backends.redis.connection import RedisTarget
from dlq.backends.redis.line import STOPPED, Line, LineInterrupted, LineLost
from dlq.backends.redis.scripts import LuaScript
from dlq.backends.redis.wire import RedisConnection, open_wire
from dlq.backends.reliable_redis import ReliableRedisBackend
from dlq.core.settings import QueueSettings
from dlq.domain.envelope import Job
from dlq.domain.outcome import Succeeded
from dlq.worker.stop_flag import StopFlag
from tests.integration.interruptions import Interrupted, interrupted_at
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures
from tests.integration.redis_fixtures import SHARED_URL
from tests.integration.runner_harness import wait_until


@pytest.fixture
def line(redis_settings: QueueSettings) -> Iterator[Line]:
    made = Line(RedisTarget.from_settings(redis_settings))
    yield made
    made.close()


@pytest.fixture
def stop() -> Iterator[StopFlag]:
    flag = StopFlag()
    yield flag
    flag.close()


def test_a_deferred_command_leaves_with_the_next_one(
    line: Line, redis_client: redis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:deferred"
    line.defer("RPUSH", key, "first")
    assert redis_client.llen(key) == 0  # not even written yet
    # A call waits for its reply, so the server has run both when it returns (a send
    # would not wait, and another connection could look before the server had).
    assert line.call("RPUSH", key, "second") == 2
    assert redis_client.lrange(key, 0, -1) == [b"first", b"second"]
    line.defer("RPUSH", key, "third")
    line.read_owed()  # reading owed replies writes what waits first
    assert line.owed == 0
    assert redis_client.llen(key) == 3
    line.defer("RPUSH", key, "dropped")
    line.drop()  # a lost connection forgets it, as it forgets owed replies
    assert line.call("LLEN", key) == 3


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "redis-py-public"])
def test_a_line_reads_replies_errors_and_losses_either_way(
    direct: bool, redis_settings: QueueSettings, redis_client: redis.Redis, redis_prefix: str
) -> None:
    line = Line(RedisTarget.from_settings(redis_settings), direct=direct)
    key = f"{redis_prefix}:line"
    big = [b"%04d" % i + b"x" * 1000 for i in range(1000)]  # ~1 MB: a reply of many reads
    assert line.call("RPUSH", key, *big) == 1000
    assert line.direct is direct
    assert line.call("LRANGE", key, 0, -1) == big
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        line.call("GET", key)  # the server's refusal is raised, the connection kept
    line.send("GET", key)
    line.send("LLEN", key)
    line.read_owed()
    assert [type(error) for error in line.errors] == [ResponseError]  # kept, not raised
    assert line.owed == 0
    nonce = random.randrange(10**9)  # a script this server has not seen: NOSCRIPT, then loaded
    script = LuaScript("test_line", f"return redis.call('LLEN', KEYS[1]) + {nonce}")
    assert line.script(script, [key], []) == 1000 + nonce
    client_id = line.call("CLIENT", "ID")
    redis_client.client_kill_filter(_id=str(client_id))
    with pytest.raises(LineLost):
        line.call("PING")
    assert line.call("LLEN", key) == 1000  # a new connection
    line.close()


def test_the_redis_py_this_suite_pins_is_read_directly(line: Line) -> None:
    """pyproject.toml bounds redis-py to the releases this suite has run; with them the
    line must read straight from the socket (an upgrade that quietly fell back to the
    public way would cost every worker most of its speed)."""
    assert line.call("PING") == b"PONG"
    assert line.direct is True


def test_resp3_in_the_url_leaves_the_line_on_resp2(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    url = SHARED_URL + ("&" if "?" in SHARED_URL else "?") + "protocol=3"
    settings = QueueSettings.model_validate({"REDIS_URL": url, "REDIS_PREFIX": redis_prefix})
    target = RedisTarget.from_settings(settings)
    assert int(target.options["protocol"]) == 3  # the pooled client keeps what the URL asks
    line = Line(target)
    assert b"resp=2" in line.call("CLIENT", "INFO")  # type: ignore[operator]  # bytes
    key = f"{redis_prefix}:tracked"
    assert line.call("HSET", key, "field", "1") == 1
    assert line.call("HGETALL", key) == [b"field", b"1"]  # RESP3 would answer with a map
    # On RESP3, tracking would push an invalidation, answering no command, before ECHO's
    # reply. On RESP2 (without a redirect) nothing is pushed, and ECHO gets its own reply.
    assert line.call("CLIENT", "TRACKING", "ON") == b"OK"
    line.call("HGET", key, "field")
    redis_client.hset(key, "field", "2")
    assert line.call("ECHO", "mine") == b"mine"
    line.close()
    # A whole round of a backend whose pooled client speaks RESP3 and whose line RESP2.
    backend = ReliableRedisBackend(settings)
    job = Job.create("tests.testapp.tasks.add", [1], {}, now=datetime.now(UTC))
    backend.bulk_enqueue([job, job.replace(id="second")], "resp3")
    for expected in (job.id, "second"):
        taken = backend.dequeue("resp3", 1, 1.0)
        assert taken is not None
        assert taken.id == expected
        backend.acknowledge("resp3", 1, taken, Succeeded(None, 0.0))
    assert backend.dequeue("resp3", 1, 0.05) is None
    assert backend.in_progress("resp3") == {}
    backend.close()


def test_taking_over_a_connection_never_consumes_a_buffered_reply(
    redis_settings: QueueSettings,
) -> None:
    conn: RedisConnection = RedisTarget.from_settings(redis_settings).connect(protocol=2)
    conn.connect()
    conn.send_packed_command(conn.pack_command("ECHO", "first"))
    conn.send_packed_command(conn.pack_command("ECHO", "second"))
    # Both replies arrive in one read; redis-py's reader keeps the second buffered.
    wait_until(lambda: conn.can_read(timeout=0.1), what="the replies")
    assert conn.read_response() == b"first"
    wire = open_wire(conn)
    assert wire.direct is False  # unread data: read through redis-py, which holds it
    assert wire.read() == b"second"
    wire.send(wire.pack(("ECHO", "third")))
    assert wire.read() == b"third"
    conn.disconnect()


def test_a_set_stop_cuts_a_blocking_command_short_and_the_line_starts_afresh(
    line: Line, stop: StopFlag, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:empty"
    line.defer("RPUSH", f"{redis_prefix}:log", "before")
    stop.set()
    assert line.call_unless_stopped(stop, "BLPOP", key, "30") is STOPPED
    assert (line.owed, line.direct) == (0, None)  # the connection went, with what it owed
    # The pop's reply, had the connection been kept, would answer the next command.
    assert line.call("ECHO", "after") == b"after"
    assert line.call("LRANGE", f"{redis_prefix}:log", 0, -1) == [b"before"]


@pytest.mark.timeout(60)  # generous; the pop below would wait 600 s
def test_a_stop_set_while_a_blocking_command_waits_ends_the_wait(
    line: Line, stop: StopFlag, redis_client: redis.Redis, redis_prefix: str
) -> None:
    client_id = line.call("CLIENT", "ID")

    def blocked() -> bool:
        (info,) = redis_client.client_list(client_id=[str(client_id)])
        return info["cmd"] == "blpop"

    def stop_once_blocked() -> None:
        wait_until(blocked, what="the line to block")
        stop.set()

    setter = threading.Thread(target=stop_once_blocked)
    setter.start()
    # The pop would wait ten minutes; the test's time limit is far shorter, so returning
    # at all means the stop ended the wait.
    assert line.call_unless_stopped(stop, "BLPOP", f"{redis_prefix}:empty", "600") is STOPPED
    setter.join()
    assert line.call("ECHO", "next") == b"next"


def test_a_blocking_command_answered_before_the_stop_is_read(
    line: Line, stop: StopFlag, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:one"
    line.call("RPUSH", key, "job")
    assert line.call_unless_stopped(stop, "BLPOP", key, "30") == [key.encode(), b"job"]
    assert line.call_unless_stopped(stop, "BLPOP", key, "0.01") is None


def test_an_operation_cut_short_makes_the_next_one_start_afresh(
    line: Line, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:cut"
    line.call("PING")
    # The worst spot, where issue #15's reply out of step came from: the command has been
    # written, its reply not yet awaited. Try every bytecode of a call until past it.
    for opcode in range(1, 1000):
        with interrupted_at(opcode, [line_module, wire_module]) as interruption:
            try:
                reply = line.call("BLPOP", key, "0.05")
            except Interrupted:
                pass
            else:
                assert reply is None
        if interruption.ran_out:
            break
        # Cut short after the pop was written, the line must not read its reply as the
        # next command's: it starts afresh (LineLost) or had nothing owed.
        try:
            reply = line.call("ECHO", "next")
        except LineLost as lost:
            reply = lost.cause
        assert reply == b"next" or isinstance(reply, LineInterrupted), interruption.where
        assert line.call("ECHO", f"after {opcode}") == f"after {opcode}".encode()
    else:
        pytest.fail("the call never ran to its end")


def test_a_connection_the_server_refuses_says_so_each_time(redis_settings: QueueSettings) -> None:
    target = RedisTarget.from_settings(redis_settings)
    line = Line(dataclasses.replace(target, options={**target.options, "db": 100000}))
    for _ in range(2):  # nothing was sent: no "cut short" the second time
        with pytest.raises(ResponseError, match="DB index is out of range"):
            line.call("PING")
    line.close()
