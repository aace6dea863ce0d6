"""TCP proxies in front of a Redis server, to make network faults happen on purpose.

:class:`ReplyHoldingProxy` holds back the server's replies: the client's commands still
reach the server and run; only the bytes coming back wait in the proxy. That is how a test
makes "the server moved a job, its reply has not arrived" happen against a real server.

:class:`FreezingProxy` holds every byte in both directions, and every new connection,
without closing anything: a network partition as a client sees it (packets dropped,
sockets left open), until it is thawed and what it held goes on, as TCP's retransmissions
would deliver it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
import redis
from redis.connection import parse_url

from tests.integration.redis_fixtures import SHARED_URL, require_redis

__all__ = ["FreezingProxy", "ReplyHoldingProxy", "freezing_proxy", "reply_holding_proxy"]


class ReplyHoldingProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream``; :meth:`hold` keeps replies back."""

    def __init__(self, upstream: tuple[str, int], db: int = 0) -> None:
        self._upstream, self._db = upstream, db
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()  # the server's bytes go on
        self._flowing.set()
        self._requests_flowing = threading.Event()  # the client's bytes and connections go on
        self._requests_flowing.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        #: The local ports of the proxy's connections to the server (``CLIENT LIST``'s addr).
        self.upstream_ports: list[int] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self._db}"

    def hold(self) -> None:
        """From now on, keep the server's bytes in the proxy."""
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        self._requests_flowing.set()
        with self._lock:
            for sock in [self._listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
                self._requests_flowing.wait()
                if self._closed.is_set():
                    client.close()
                    return
                server = socket.create_connection(self._upstream)
            except OSError:
                return
            with self._lock:
                self._sockets += [client, server]
                self.upstream_ports.append(server.getsockname()[1])
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        gate = self._flowing if replies else self._requests_flowing
        try:
            while data := source.recv(65536):
                gate.wait()
                if self._closed.is_set():
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            gate.wait()  # even a hang-up waits, as a FIN would, for the network to come back
            for sock in (source, sink):  # one side gone: the pair is done
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class FreezingProxy(ReplyHoldingProxy):
    """Forwards 127.0.0.1:``port`` to ``upstream``; :meth:`freeze` holds everything."""

    def freeze(self) -> None:
        """From now on, nothing gets through, either way; no connection is closed."""
        self._requests_flowing.clear()
        self._flowing.clear()

    def thaw(self) -> None:
        self._requests_flowing.set()
        self._flowing.set()


def _shared_server() -> tuple[tuple[str, int], int]:
    where = parse_url(SHARED_URL)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    if "host" not in where:
        pytest.skip("the shared test server is not reached over TCP")
    return (str(where["host"]), int(where.get("port", 6379))), int(where.get("db", 0))


@pytest.fixture
def reply_holding_proxy(redis_client: redis.Redis) -> Iterator[ReplyHoldingProxy]:
    """A proxy to the shared test server (TCP only)."""
    proxy = ReplyHoldingProxy(*_shared_server())
    yield proxy
    proxy.close()


@pytest.fixture
def freezing_proxy() -> Iterator[FreezingProxy]:
    """A freezable proxy to the shared test server (TCP only)."""
    require_redis().close()
    proxy = FreezingProxy(*_shared_server())
    yield proxy
    proxy.close()
