"""A TCP proxy on loopback that a test can cut and restore: a database outage as the
workers see it (connections dropped, new ones refused), while the server itself, shared
with other test runs, stays up."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Accept connections (again) on :attr:`port`."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._stopped.clear()
        self._thread = threading.Thread(target=self._serve, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Drop every connection and refuse new ones until :meth:`start`."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            for pair in self._pairs:
                for end in pair:
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)
                    end.close()
            self._pairs.clear()

    close = cut

    def _serve(self, listener: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        peers: dict[socket.socket, socket.socket] = {}
        try:
            while not self._stopped.is_set():
                for key, _ in selector.select(0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is listener:
                        client, _address = listener.accept()
                        try:
                            server = socket.create_connection(self._target, timeout=5)
                        except OSError:
                            client.close()
                            continue
                        server.settimeout(None)
                        peers[client], peers[server] = server, client
                        with self._lock:
                            self._pairs.append((client, server))
                        selector.register(client, selectors.EVENT_READ)
                        selector.register(server, selectors.EVENT_READ)
                        continue
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    other = peers.get(sock)
                    if data and other is not None:
                        with contextlib.suppress(OSError):
                            other.sendall(data)
                        continue
                    for end in (sock, other):
                        if end is not None:
                            with contextlib.suppress(KeyError, ValueError):
                                selector.unregister(end)
                            peers.pop(end, None)
                            end.close()
        finally:
            selector.close()
            listener.close()
