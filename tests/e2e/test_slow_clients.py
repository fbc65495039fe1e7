"""Slow, idle and kept-alive connections never starve other readers (issue 16).

granian's ``backpressure`` counts open connections, not requests; ``serve`` had set it to
the thread count, so 16 connections that sent nothing took the whole site. These tests run
the real ``tallylog serve`` and hold such connections open while normal readers ask.
"""

from __future__ import annotations

import time

import pytest

from tests.support.serverproc import Server, init_home, request, run_cli
from tests.support.slowclients import SlowClients, wait_until_closed

pytestmark = [pytest.mark.slow, pytest.mark.server]


def _readers(port: int, n: int, path: str = "/") -> list[int]:
    statuses = []
    for _ in range(n):
        try:
            statuses.append(request(port, "GET", path, timeout=10, headers={"Accept-Language": "en"}).status)
        except OSError as exc:
            statuses.append(type(exc).__name__)  # type: ignore[arg-type]
    return statuses


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    init_home(home)
    return home


def test_idle_half_sent_and_kept_alive_connections_do_not_hold_the_threads(home, tmp_path):
    # One worker with two threads and a long header time-out, so that only the design
    # (connections hold no thread) can keep the readers served, not a time-out.
    server = Server(home, tmp_path / "logs", args=("--workers", "1", "--threads", "2", "--header-timeout", "60"))
    server.start()
    try:
        with SlowClients(server.port, silent=40, tricklers=40, kept=40, every=1.0):
            assert _readers(server.port, 20) == [200] * 20
            assert _readers(server.port, 5, "/api/v1/log") == [200] * 5
    finally:
        server.stop()


def test_a_thousand_trickling_and_a_hundred_idle_connections_while_readers_are_served(home, tmp_path):
    server = Server(home, tmp_path / "logs")
    server.start()
    try:
        with SlowClients(server.port, tricklers=1000, kept=100, every=2.0) as clients:
            assert _readers(server.port, 200) == [200] * 200
            assert sum(clients.still_open().values()) > 0  # the slow ones were still there
    finally:
        server.stop()


def test_the_server_closes_tricklers_and_idle_kept_alive_connections(home, tmp_path):
    server = Server(home, tmp_path / "logs", args=("--header-timeout", "1"))
    server.start()
    try:
        with SlowClients(server.port, silent=5, tricklers=5, kept=5, every=0.2) as clients:
            started = time.monotonic()
            # A trickler keeps sending, five lines a second: only a time-out on the whole
            # header ends it. Well inside 20 s of a 1 s limit, every connection is gone.
            assert wait_until_closed(clients, timeout=20) == {"silent": 0, "tricklers": 0, "kept": 0}
            assert time.monotonic() - started >= 0.5  # not refused at once: they were served
        assert _readers(server.port, 3) == [200] * 3
    finally:
        server.stop()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--connections", "4", "--threads", "8"), "--connections must be at least --threads (8)"),
        (("--header-timeout", "0"), "--header-timeout must be more than 0"),
        (("--connections", "100000000"), "open files but the hard limit is"),
    ],
)
def test_bad_connection_settings_are_refused_with_a_message(home, args, message):
    result = run_cli(home, "serve", "--port", "1", *args)
    assert result.returncode != 0
    assert message in result.stderr
