"""Every reply a line reads is its own command's, whatever happens between a write and its
read: sends, deferred sends, reads, server errors, lost connections, stops, interruptions.
Against a real server."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import redis
from hypothesis import HealthCheck, Phase, given, settings
from redis.exceptions import ResponseError

import dlq.backends.redis.line as line_module
import dlq.backends.redis.wire as wire_module
from dlq.backends.redis.connection import RedisTarget
from dlq.backends.redis.line import STOPPED, Line, LineLost
from dlq.core.settings import QueueSettings
from dlq.worker.stop_flag import StopFlag
from tests.integration.interruptions import Interrupted, interrupted_at
from tests.integration.redis_fixtures import *  # noqa: F403  # registers the Redis fixtures
from tests.strategies import LineStep, line_steps

_runs = itertools.count()
_NEVER = 10**9  # a bytecode no step reaches: not interrupted


class Account:
    """What the test knows the line was given and what it has confirmed.

    A command is *pending* from the moment it is handed to the line until a reply read
    after it proves it ran (*confirmed*), or a lost connection makes it *unsure* (run at
    most once). A step cut short by an exception leaves its own command unsure; the line
    either carries on with the older pending ones (the step had not begun) or discards
    its connection, which the next step learns as LineLost, or, when the exception cut
    the discarding short, from ``line.losses``.
    """

    def __init__(self, line: Line) -> None:
        self.line = line
        self.issued: list[str] = []  # tokens pushed to the log, in the order given
        self.confirmed: set[str] = set()
        self.pending: list[str] = []
        self.refusals = 0  # refused commands pending
        self.maybe_refusals = 0  # refused commands of steps cut short
        self.losses = 0

    def push(self, token: str) -> None:
        self.issued.append(token)
        self.pending.append(token)

    def all_read(self) -> None:
        """Every owed reply was read: the pending commands ran, refusals were kept."""
        if self.line.losses != self.losses:
            self.lost()
            return
        errors = self.line.errors
        assert self.line.owed == 0
        assert all(isinstance(error, ResponseError) for error in errors)
        assert self.refusals <= len(errors) <= self.refusals + self.maybe_refusals
        errors.clear()
        self.confirmed.update(self.pending)
        self.pending.clear()
        self.refusals = self.maybe_refusals = 0

    def cut_short(self, token: str, refused: bool) -> None:
        if token in self.pending:
            self.pending.remove(token)
        if refused and self.refusals:
            self.refusals -= 1
            self.maybe_refusals += 1

    def lost(self) -> None:
        self.losses = self.line.losses
        self.line.errors.clear()
        self.pending.clear()
        self.refusals = self.maybe_refusals = 0


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(steps=line_steps())
def test_every_reply_lands_where_it_belongs(
    steps: list[LineStep],
    redis_settings: QueueSettings,
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    run = next(_runs)
    log, text, empty = (f"{redis_prefix}:{run}:{name}" for name in ("log", "text", "empty"))
    redis_client.set(text, "not a number")  # INCR on it is refused
    line = Line(RedisTarget.from_settings(redis_settings))
    account = Account(line)
    stop, never = StopFlag(), StopFlag()
    stop.set()
    actions: dict[str, Callable[[str, bool], None]] = {}

    def send(token: str, refused: bool, how: Callable[..., None]) -> None:
        if refused:
            account.refusals += 1
            how("INCR", text)
        else:
            account.push(token)
            how("RPUSH", log, token)

    actions["send"] = lambda token, refused: send(token, refused, line.send)
    actions["defer"] = lambda token, refused: send(token, refused, line.defer)

    def call(token: str, refused: bool) -> None:
        if refused:
            try:
                line.call("INCR", text)
            except ResponseError:
                account.all_read()
                return
            raise AssertionError("INCR of a text was not refused")
        assert line.call("ECHO", token) == token.encode()
        account.all_read()

    def read_owed(token: str, refused: bool) -> None:
        line.read_owed()
        account.all_read()

    def kill(token: str, refused: bool) -> None:
        client_id = line.call("CLIENT", "ID")
        account.all_read()
        redis_client.client_kill_filter(_id=str(client_id))

    def blocking(token: str, refused: bool) -> None:
        # Refused here means "not stopped": a short pop that ends empty-handed.
        if refused:
            assert line.call_unless_stopped(never, "BLPOP", empty, "0.01") is None
        else:
            assert line.call_unless_stopped(stop, "BLPOP", empty, "5") is STOPPED
        account.all_read()  # owed replies are read before the blocking command is sent

    actions.update(call=call, read_owed=read_owed, kill=kill, blocking=blocking)
    try:
        for number, step in enumerate(steps):
            token = f"{run}.{number}"
            with interrupted_at(step.interrupt_at or _NEVER, [line_module, wire_module]):
                try:
                    actions[step.action](token, step.refused)
                except Interrupted:
                    account.cut_short(token, step.action in ("send", "defer") and step.refused)
                except LineLost:
                    account.lost()
        for _ in range(2):  # a killed connection may cost one LineLost first
            try:
                read_owed("", False)
                break
            except LineLost:
                account.lost()
        logged = [
            item.decode() if isinstance(item, bytes) else item
            for item in redis_client.lrange(log, 0, -1)
        ]
        assert len(logged) == len(set(logged)), "a command ran twice"
        issued = iter(account.issued)
        assert all(token in issued for token in logged), "the log is out of order"
        assert account.confirmed <= set(logged), "a confirmed command did not run"
    finally:
        line.close()
        stop.close()
        never.close()
