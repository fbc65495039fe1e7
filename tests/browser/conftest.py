"""Fixtures of the browser tests: the live server, one Chromium per module, and the
in-process fixtures for the tests that export a site first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.chromium import browser
from tests.support.serverproc import Server, init_home


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tallylog serve`` on a fresh home, its sequencer every 0.1 s."""
    base = tmp_path_factory.mktemp("browser")
    init_home(base / "home")
    server = Server(base / "home", base / "logs", env_extra={"TALLYLOG_SEQUENCER_INTERVAL": "0.1"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b
