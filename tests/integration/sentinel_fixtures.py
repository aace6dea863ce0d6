"""A Redis Sentinel deployment of the test's own: a master, a replica, three sentinels.

Real ``redis-server`` and ``redis-sentinel`` processes (Debian's packages; ``scripts/test``
installs ``redis-sentinel`` when it is missing and it runs as root) on free ports in a
temporary directory, stopped afterwards. Without the binaries the tests are skipped,
except under ``CI=true``. The shared server on 127.0.0.1:6379 is never touched here.

``sentinel_deployment`` starts one with passwords everywhere (Redis's ``requirepass``,
the sentinels' own ``requirepass``), so that every test of it also checks that no
password reaches a log or an error; a failover is quick (``down-after-milliseconds``
1000) so that the tests can kill the master and watch dlq follow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from tests.integration.redis_fixtures import PrivateRedis, free_port

__all__ = ["SentinelDeployment", "sentinel_deployment"]

SERVICE = "dlqmaster"
#: Characters a URL must quote, so that a leak of the raw or the quoted form shows.
PASSWORD = "r3d1s/p@ss:w0rd"
SENTINEL_PASSWORD = "s3nt1nel#p@ss"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _sentinel_command() -> list[str]:
    binary = shutil.which("redis-sentinel")
    if binary is not None:
        return [binary]
    server = shutil.which("redis-server")  # the same program, told to be a sentinel
    if server is None:
        _unavailable("neither redis-sentinel nor redis-server is installed")
    return [str(server), "--sentinel"]


class SentinelDeployment:
    """The processes, their ports, and the URL that names the deployment."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        auth = ("--requirepass", PASSWORD, "--masterauth", PASSWORD)
        (directory / "master").mkdir()
        (directory / "replica").mkdir()
        self.master = PrivateRedis(directory / "master", *auth)
        self.replica = PrivateRedis(directory / "replica", *auth)
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def url(self, *, db: int = 0, with_sentinel_password: bool = True) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        query = f"?sentinel_password={quote(SENTINEL_PASSWORD, safe='')}"
        return f"redis+sentinel://:{quote(PASSWORD, safe='')}@{hosts}/{SERVICE}/{db}" + (
            query if with_sentinel_password else ""
        )

    def start(self) -> None:
        self.master.start()
        self.replica.extra = (
            *self.replica.extra,
            "--replicaof",
            "127.0.0.1",
            str(self.master.port),
        )
        self.replica.start()
        command = _sentinel_command()
        for number, port in enumerate(self.sentinel_ports, 1):
            config = self.directory / f"sentinel-{number}.conf"
            config.write_text(
                "\n".join(
                    [
                        f"port {port}",
                        "bind 127.0.0.1",
                        f"dir {self.directory}",
                        f"requirepass {SENTINEL_PASSWORD}",
                        f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2",
                        f"sentinel auth-pass {SERVICE} {PASSWORD}",
                        f"sentinel down-after-milliseconds {SERVICE} 1000",
                        f"sentinel failover-timeout {SERVICE} 10000",
                        f"sentinel parallel-syncs {SERVICE} 1",
                        # Sentinels ask each other whether the master is down: with this.
                        f"sentinel sentinel-pass {SENTINEL_PASSWORD}",
                        "",
                    ]
                )
            )
            self.sentinels.append(
                subprocess.Popen(
                    [*command, str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        self._wait_until_ready()

    def sentinel_client(self, port: int) -> redis.Redis:
        return redis.Redis(
            "127.0.0.1", port, password=SENTINEL_PASSWORD, socket_timeout=2, decode_responses=True
        )

    def master_state(self) -> dict[str, object]:
        """What the first sentinel that answers says of the master."""
        for port in self.sentinel_ports:
            client = self.sentinel_client(port)
            try:
                return _state(client)
            except redis.RedisError:
                continue
            finally:
                client.close()
        return {}

    def master_port(self) -> int | None:
        port = self.master_state().get("port")
        return int(str(port)) if port is not None else None

    def _wait_until_ready(self) -> None:
        """Every sentinel knows the others and the replica, which is in sync."""
        deadline = time.monotonic() + 30
        while True:
            ready = True
            for port in self.sentinel_ports:
                client = self.sentinel_client(port)
                try:
                    state = _state(client)
                    ready = ready and (
                        state.get("num-other-sentinels") == 2 and state.get("num-slaves") == 1
                    )
                except (redis.RedisError, OSError):
                    ready = False
                finally:
                    client.close()
            replica = self.client(self.replica)
            try:
                info = replica.info("replication")
                ready = ready and info.get("master_link_status") == "up"
            except redis.RedisError:
                ready = False
            finally:
                replica.close()
            if ready:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the Sentinel deployment did not come up within 30s")
            time.sleep(0.1)

    def client(self, server: PrivateRedis) -> redis.Redis:
        return redis.Redis(unix_socket_path=server.socket_path, password=PASSWORD, socket_timeout=5)

    def wait_for_replication(self) -> None:
        """Every write the master acknowledged so far is on the replica too."""
        client = self.client(self.master)
        try:
            if client.wait(1, 10_000) < 1:
                raise RuntimeError("the replica did not acknowledge the master's writes")
        finally:
            client.close()

    def kill_master(self) -> None:
        process = self.master.process
        assert process is not None
        process.kill()
        process.wait(10)
        self.master.process = None

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
        for process in self.sentinels:
            process.wait(10)
        for server in (self.master, self.replica):
            if server.process is not None:
                server.process.kill()
                server.process.wait(10)
                server.process = None


def _state(sentinel: redis.Redis) -> dict[str, object]:
    state = sentinel.sentinel_master(SERVICE)
    if not isinstance(state, dict):
        raise redis.RedisError(f"SENTINEL MASTER answered {state!r}")
    return state


@pytest.fixture
def sentinel_deployment() -> Iterator[SentinelDeployment]:
    if shutil.which("redis-server") is None:
        _unavailable("redis-server is not installed")
    with tempfile.TemporaryDirectory(prefix="dlq-sentinel-") as directory:
        deployment = SentinelDeployment(Path(directory))
        try:
            deployment.start()
            yield deployment
        finally:
            deployment.stop()
