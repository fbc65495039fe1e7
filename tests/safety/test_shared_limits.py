"""Every documented limit holds whatever the number of worker processes: against the real
``tallylog serve`` with 1, 2 and 4 workers, on the default shared cache (tmpfs) and on Redis
(``TALLYLOG_CACHE_URL``, a memory-only redis-server started here), the documented number
gets through from one source, not a multiple; and a restart does not reset a lockout.

Small limits, in windows of a day (no window ends during a test but at midnight UTC)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serverproc import (
    CAMPAIGN,
    REPO,
    RedisServer,
    Server,
    WebClient,
    init_home,
    server_env,
    shared_cache_dir,
)

LIMITS = {
    "declare": 5,
    "campaign:declare": 20,
    "receipt": 5,
    "api-write": 4,
    "login": 3,
    "login-account": 4,
    "sign": 3,
    "subscribe": 2,
}
RATE_LIMITS = ",".join(f"{scope}={n}/86400" for scope, n in LIMITS.items())
FLOOD = 4
API = f"/api/v1/campaigns/{CAMPAIGN}/declarations"


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

PETITION = "a-petition"
MAKE_PETITION = f"""
import django
django.setup()
from tallylog.registry.campaigns.models import Campaign
Campaign.objects.create(slug="{PETITION}", kind=Campaign.Kind.PETITION, title_zh_hans="请愿", title_en="A petition")
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("template") / "home"
    init_home(home)
    env = server_env(home, DJANGO_SETTINGS_MODULE="tallylog.settings")
    subprocess.run([sys.executable, "-c", MAKE_PETITION], env=env, cwd=REPO, check=True, capture_output=True)
    return home


def start(template: Path, base: Path, workers: int, cache_url: str = "") -> Server:
    home = base / "home"
    shutil.copytree(template, home)
    env = {"TALLYLOG_RATE_LIMITS": RATE_LIMITS, "TALLYLOG_FLOOD_THRESHOLD": str(FLOOD)}
    if cache_url:
        env["TALLYLOG_CACHE_URL"] = cache_url
    server = Server(home, base / "logs", env_extra=env, args=("--workers", str(workers), "--no-sequencer"))
    server.start()
    return server


def passed(statuses: list[int]) -> int:
    """How many got through before the first 429 (and none after it)."""
    assert 429 in statuses, statuses
    first = statuses.index(429)
    assert all(s == 429 for s in statuses[first:]), statuses
    return first


def exercise(server: Server, net: int) -> None:
    """Each limit from its own sources (127.<net>.0.N), a few past its number."""
    def src(n: int) -> str:
        return f"127.{net}.0.{n}"

    # The flood screen: identical declarations from different sources.
    flood = [server.post(API, {"alias": "洪水来了", "orgs": ["party"]}, source=src(100 + i)) for i in range(FLOOD + 2)]
    assert [r.status for r in flood] == [201] * (FLOOD + 2)
    assert [r.json()["status"] == "pending" for r in flood] == [False] * (FLOOD - 1) + [True] * 3
    # declare: one source.
    declared = [server.post(API, {"alias": f"甲乙{i}丙", "orgs": ["party"]}, source=src(1)).status for i in range(LIMITS["declare"] + 3)]
    assert passed(declared) == LIMITS["declare"]
    # campaign:declare: the rest of the campaign's budget, over many sources.
    left = LIMITS["campaign:declare"] - len(flood) - LIMITS["declare"]
    spread = [server.post(API, {"alias": f"人{n}号{i}", "orgs": ["league"]}, source=src(10 + n)).status for n in range(6) for i in range(3)]
    assert spread.count(201) == left and spread[left:] == [429] * (len(spread) - left), spread
    # receipt lookups.
    looked = [server.get("/api/v1/receipts/00000-00000-00000-00000-00000", source=src(2)).status for _ in range(LIMITS["receipt"] + 3)]
    assert passed(looked) == LIMITS["receipt"]
    # api-write: any other write through the API.
    writes = [server.post("/api/v1/nothing-here", {}, source=src(3)).status for _ in range(LIMITS["api-write"] + 3)]
    assert passed(writes) == LIMITS["api-write"]
    # sign: petition signatures (the API), per source.
    signed = [server.post(f"/api/v1/campaigns/{PETITION}/signatures", {"name": f"n{i}", "show_name": False, "country": "PT"}, source=src(5)).status for i in range(LIMITS["sign"] + 3)]
    assert passed(signed) == LIMITS["sign"]
    # subscribe: newsletter sign-ups (no mail server here: each answers 503 or 400, and counts).
    signups = [WebClient(server.port, src(6)).submit("/newsletter/", {"email": f"x{i}@example.org"}).status for i in range(LIMITS["subscribe"] + 3)]
    assert passed(signups) == LIMITS["subscribe"]
    # login: failed sign-ins from one source.
    login = [WebClient(server.port, src(4)).submit("/admin/login/", {"username": "admin", "password": "guess"}).status for _ in range(LIMITS["login"] + 3)]
    assert passed(login) == LIMITS["login"]
    # login-account: failed sign-ins to one account from many sources.
    account = [WebClient(server.port, src(30 + n)).submit("/admin/login/", {"username": "ghost", "password": "guess"}).status for n in range(LIMITS["login-account"] + 3)]
    assert passed(account) == LIMITS["login-account"]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_default_shared_cache(template: Path, tmp_path: Path, workers: int) -> None:
    server = start(template, tmp_path, workers)
    try:
        exercise(server, 10 + workers)
        # A restart resets nothing: the source is still locked out, the account too.
        server.stop()
        server.start()
        assert server.get("/api/v1/receipts/00000-00000-00000-00000-00000", source=f"127.{10 + workers}.0.2").status == 429
        again = WebClient(server.port, f"127.{10 + workers}.0.99").submit("/admin/login/", {"username": "ghost", "password": "x"})
        assert again.status == 429 and "此账号登录失败次数过多" in again.text
    finally:
        server.stop()
        shutil.rmtree(shared_cache_dir(server.home), ignore_errors=True)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_redis(template: Path, tmp_path: Path, redis: RedisServer, workers: int) -> None:
    server = start(template, tmp_path, workers, redis.url(db=workers))  # a database of its own
    try:
        exercise(server, 20 + workers)
        assert not shared_cache_dir(server.home).exists()  # Redis, not the tmpfs file
        server.stop()
        server.start()
        assert server.get("/api/v1/receipts/00000-00000-00000-00000-00000", source=f"127.{20 + workers}.0.2").status == 429
    finally:
        server.stop()


def test_redis_keeps_nothing_on_disk(redis: RedisServer) -> None:
    assert not [p for p in redis.directory.rglob("*") if p.is_file()]
