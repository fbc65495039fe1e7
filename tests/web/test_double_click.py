"""Issue 15 item 3 against a real ``tallylog serve`` (two worker processes, each with its
own cache): the same declare form sent twice at once — a double click with JavaScript
off — records one declaration, and both answers show its receipt code."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.serverproc import Response, Server, WebClient, init_home, request

pytestmark = [pytest.mark.slow, pytest.mark.server]

CODE = re.compile(r'<p class="receipt">(\d{5}-\d{5}-\d{5}-\d{5}-\d{5})</p>')
FIELD = re.compile(r'name="(csrfmiddlewaretoken|token)" value="([^"]+)"')
PAIRS = 8


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("double-click")
    init_home(base / "home")
    server = Server(base / "home", base / "logs", args=("--workers", "2"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def declarations(home: Path) -> int:
    with sqlite3.connect(home / "db.sqlite3") as db:
        return db.execute("SELECT count(*) FROM declarations_declaration").fetchone()[0]


def click(port: int, body: bytes, headers: dict[str, str], start: threading.Barrier, answers: list[Response]) -> None:
    """One click of the two: both POSTs leave together."""
    start.wait()
    answers.append(request(port, "POST", "/declare/", body=body, headers=headers, timeout=30))


def test_a_double_click_records_once_and_both_answers_show_the_code(site: Server) -> None:
    for n in range(PAIRS):
        browser = WebClient(site.port)
        page = browser.get("/declare/").text
        hidden = dict(FIELD.findall(page))
        body = urlencode([*hidden.items(), ("alias", f"双击{n}"), ("orgs", "party")]).encode()
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()),
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"http://127.0.0.1:{site.port}",
            "Accept-Language": "en",
        }
        answers: list[Response] = []
        start = threading.Barrier(2)

        clicks = [threading.Thread(target=click, args=(site.port, body, headers, start, answers)) for _ in range(2)]
        for t in clicks:
            t.start()
        for t in clicks:
            t.join()
        codes = [CODE.search(a.text) for a in answers]
        assert [a.status for a in answers] == [200, 200], [a.text[:500] for a in answers]
        assert all(codes) and codes[0].group(1) == codes[1].group(1), n  # type: ignore[union-attr]
    assert declarations(site.home) == PAIRS
