"""/metrics on a real ``tallylog serve`` with two worker processes: rate-limit refusals
counted by whichever worker refused are all in every scrape, whichever worker answers it
(the counters live in the shared cache, the database readings are taken at scrape time)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support.serverproc import Server, init_home, request, shared_cache_dir

pytestmark = pytest.mark.server  # starts tallylog serve (see tests/conftest.py)

TOKEN = "scrape-" + "k" * 40
RECEIPT = "/api/v1/receipts/00000-00000-00000-00000-00000"


def refused(body: str, scope: str) -> float:
    m = re.search(rf'^tallylog_rate_limit_refusals_total{{scope="{scope}"}} (\S+)$', body, re.M)
    assert m, body
    return float(m[1])


def test_refusals_add_up_across_workers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home)
    env = {"TALLYLOG_RATE_LIMITS": "receipt=2/86400", "TALLYLOG_METRICS_TOKEN": TOKEN}
    server = Server(home, tmp_path / "logs", env_extra=env, args=("--workers", "2", "--no-sequencer"))
    server.start()
    try:
        # One connection per request: the kernel spreads them over both workers.
        statuses = [request(server.port, "GET", RECEIPT, source="127.0.0.9").status for _ in range(12)]
        refusals = statuses.count(429)
        assert refusals == 10, statuses
        assert server.get("/metrics").status == 401
        wrong = server.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[::-1]})
        assert (wrong.status, wrong.body) == (401, b"")
        for _ in range(6):
            scrape = server.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert scrape.status == 200 and scrape.headers["content-type"].startswith("text/plain")
            assert refused(scrape.text, "receipt") == refusals
            assert "127.0.0.9" not in scrape.text
    finally:
        server.stop()
        shutil.rmtree(shared_cache_dir(home), ignore_errors=True)


def test_no_token_no_metrics(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home)
    server = Server(home, tmp_path / "logs", args=("--no-sequencer",))
    server.start()
    try:
        assert server.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status == 404
    finally:
        server.stop()
        shutil.rmtree(shared_cache_dir(home), ignore_errors=True)
