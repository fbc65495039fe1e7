"""Slow and idle HTTP clients against a real server, for the slow-client tests and the bench.

``SlowClients`` opens connections of three kinds and holds them open: ``silent`` ones that
send nothing, ``tricklers`` that send a request line and then one header line every
``every`` seconds (never the blank line that ends the header), and ``kept`` ones that
complete one request and then idle on the kept-alive connection. ``still_open()`` tells
how many of each the server has not closed yet.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class SlowClients:
    port: int
    silent: int = 0
    tricklers: int = 0
    kept: int = 0
    every: float = 1.0
    _socks: dict[str, list[socket.socket]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> SlowClients:
        self._socks = {"silent": [], "tricklers": [], "kept": []}
        for _ in range(self.silent):
            self._socks["silent"].append(self._connect())
        for _ in range(self.tricklers):
            s = self._connect()
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self._socks["tricklers"].append(s)
        for _ in range(self.kept):
            s = self._connect()
            s.settimeout(30)
            s.sendall(b"GET /api/v1/log HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            if not s.recv(65536).startswith(b"HTTP/1.1 200"):
                raise AssertionError("a kept-alive client's first request was not answered 200")
            self._socks["kept"].append(s)
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()
        return self

    def _connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def _trickle(self) -> None:
        n = 0
        while not self._stop.wait(self.every):
            for s in self._socks["tricklers"]:
                try:
                    s.sendall(b"X-Slow-%d: 1\r\n" % n)
                except OSError:
                    pass  # closed by the server: what it should do in time
            n += 1

    def still_open(self) -> dict[str, int]:
        """How many connections of each kind the server has not closed (nor reset)."""
        counts = {}
        for kind, socks in self._socks.items():
            alive = 0
            for s in socks:
                s.setblocking(False)
                try:
                    alive += s.recv(1 << 16) != b""  # data (none expected) counts as open
                except BlockingIOError:
                    alive += 1
                except OSError:
                    pass
                finally:
                    s.setblocking(True)
            counts[kind] = alive
        return counts

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for socks in self._socks.values():
            for s in socks:
                s.close()


def wait_until_closed(clients: SlowClients, timeout: float) -> dict[str, int]:
    """Poll ``still_open`` until every connection is closed or ``timeout`` passes; the last count."""
    deadline = time.monotonic() + timeout
    while True:
        counts = clients.still_open()
        if not any(counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)
