"""Public pages and JSON API reads under load: wrk on loopback against ``tallylog serve``
(granian, its sequencer included), rate limits and flood screening off (a settings module
written into the home), ``Accept-Language: zh-Hans``.

    python -m bench web [--declarations N] [--seconds S] [--connections C] [--workers W] [--post]
                        [--through-nginx]
    python -m bench web --declarations 1000000 --build-only

``--declarations N`` builds once, and reuses, a home of N sequenced declarations in
/tmp/tallylog-bench-homes/N/ (unfinished builds there are removed): through
``tallylog import FILE --campaign three-withdrawals --sequence``, one import per day over
the last 30 UTC days under libfaketime, so each day has its leaves; then 500 more with
``--receipts`` whose codes the receipt checks use. Without it, a fresh empty home.

For each page (home, list first / deep / by day / by organisation, a random declaration
page, the receipt check page with random codes, the API's declaration, receipt, tally and
list): requests/s, p50, p99, errors, and the page's query count with its in-process time
(Django test client, one thread); the query plans go to ``plans.txt`` in the home.
``--post`` first POSTs declarations through the API (``bench api`` measures that properly).
``--through-nginx`` loads each page twice, one after the other: straight from ``tallylog
serve``, then through Debian's nginx with TLS configured with exactly the block
docs/deploy.md prints (``bench.nginxfront``; the server with ``TALLYLOG_TRUSTED_PROXIES=1``).

Needs ``wrk`` and ``faketime`` (Debian packages ``wrk``, ``faketime``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = """from tallylog.settings import *  # noqa: F401,F403

TALLYLOG_RATE_LIMITS = "off"
TALLYLOG_FLOOD_THRESHOLD = 0
"""
POST_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"alias":"bench-' .. math.random(1, 1000000000) .. '-' .. counter .. '","orgs":["party","league"],"statement":"bench"}'
  return wrk.format("POST", "/api/v1/campaigns/three-withdrawals/declarations",
    {["Content-Type"] = "application/json", ["Accept-Language"] = "en"}, body)
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url}")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict[str, float]:
    """Run wrk with latency percentiles; requests/s, p50 and p99 (ms), non-2xx/3xx count."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", "Accept-Language: zh-Hans", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    figures = {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["bad"] = float(bad.group(1)) if bad else 0.0
    return figures


HOMES = Path("/tmp/tallylog-bench-homes")
DAYS = 30
RECEIPT_ROWS = 500


def remove_home(home: Path) -> None:
    """Remove a temporary home and its shared cache on tmpfs (``tallylog.config.caches``),
    which outlives the server by design and would otherwise stay in /dev/shm."""
    from tallylog.config import caches

    location = caches(home, {})["default"].get("LOCATION")
    if location:
        shutil.rmtree(Path(location).parent, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TALLYLOG_HOME": str(home),
            "DJANGO_SETTINGS_MODULE": "bench_web_settings",
            "PYTHONPATH": os.pathsep.join([str(home / "py"), str(ROOT)]),
        }
    )
    return env


def _init_home(home: Path) -> None:
    (home / "py").mkdir(parents=True, exist_ok=True)
    (home / "py" / "bench_web_settings.py").write_text(SETTINGS)
    subprocess.run(
        [sys.executable, "-m", "tallylog.cli", "init", "--origin", "bench.example/web"],
        env=_env(home), check=True, capture_output=True,
    )


def build_home(n: int, days: int = DAYS, jobs: int = 2) -> Path:
    """A home with ``n`` sequenced declarations over the last ``days`` UTC days, built once
    and cached in /tmp/tallylog-bench-homes/N/ (``READY`` marks a finished one).

    Built through ``tallylog import FILE --campaign three-withdrawals --sequence``: one
    import per day under libfaketime (``faketime -f -Kd``), so each day's leaves carry that
    day; then RECEIPT_ROWS more today with ``--receipts`` (their codes in ``receipts.txt``).
    """
    from bench.bench_scale import generate

    home = HOMES / str(n)
    if os.environ.get("DATABASE_URL"):  # PostgreSQL (scripts/pg-test.sh run): a fresh database each run
        home = HOMES / f"pg-{n}"
        shutil.rmtree(home, ignore_errors=True)
    if (home / "READY").exists():
        return home
    HOMES.mkdir(parents=True, exist_ok=True)
    for stale in HOMES.iterdir():  # unfinished builds of any size
        if not (stale / "READY").exists():
            shutil.rmtree(stale, ignore_errors=True)
    if shutil.which("faketime") is None:
        raise RuntimeError("bench web: faketime is missing (apt-get install faketime)")
    _init_home(home)
    cli = [sys.executable, "-m", "tallylog.cli", "import"]
    per_day = [n // days + (1 if i < n % days else 0) for i in range(days)]
    started = time.monotonic()
    rows = home / "rows.jsonl"
    for i, count in enumerate(per_day):
        back = days - 1 - i
        generate(rows, count, seed=1000 + i)
        cmd = [*cli, str(rows), "--campaign", "three-withdrawals", "--sequence", "--jobs", str(jobs)]
        if back:
            cmd = ["faketime", "-f", f"-{back}d", *cmd]
        subprocess.run(cmd, env=_env(home), check=True, capture_output=True)
        rows.unlink()
        done = sum(per_day[: i + 1])
        print(f"  built day {i + 1}/{days}: {done:,} declarations, {done / (time.monotonic() - started):,.0f}/s", flush=True)
    generate(rows, RECEIPT_ROWS, seed=7)
    subprocess.run(
        [*cli, str(rows), "--campaign", "three-withdrawals", "--sequence", "--receipts", str(home / "receipts.txt")],
        env=_env(home), check=True, capture_output=True,
    )
    rows.unlink()
    for report in home.glob("*.report.csv"):
        report.unlink()
    (home / "READY").write_text(f"{n} declarations over {days} days, built in {time.monotonic() - started:.0f} s\n")
    return home


def _receipt_codes(home: Path) -> list[str]:
    """The codes ``--receipts`` wrote (CSV: ``line,receipt``)."""
    import csv

    if not (home / "receipts.txt").exists():  # a fresh home: no receipt requests
        return []
    with open(home / "receipts.txt", newline="", encoding="utf-8") as f:
        return [row["receipt"] for row in csv.DictReader(f)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench web")
    parser.add_argument("--declarations", type=int, default=0, help="build (once, cached) and use a home of N declarations")
    parser.add_argument("--build-only", action="store_true", help="build the home and stop")
    parser.add_argument("--post", action="store_true", help="also POST declarations through the API (on a fresh home)")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="web worker processes")
    parser.add_argument("--only", default="", help="only the requests whose name contains this")
    parser.add_argument("--through-nginx", action="store_true", help="each page also through nginx with TLS (docs/deploy.md)")
    parser.add_argument(
        "--conn-max-age", type=int, default=None, metavar="S",
        help="keep database connections S seconds (Django CONN_MAX_AGE; default: the site's setting)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench web: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 1
    if args.declarations:
        t0 = time.monotonic()
        home = build_home(args.declarations)
        subprocess.run(  # a cached home: bring its database up to the current migrations
            [sys.executable, "-m", "tallylog.cli", "init", "--origin", "bench.example/web"],
            env=_env(home), check=True, capture_output=True,
        )
        print(f"home {home}: {(home / 'READY').read_text().strip()} (ready in {time.monotonic() - t0:.0f} s)")
        if args.build_only:
            return 0
        temporary = False
    else:
        home = Path(tempfile.mkdtemp(prefix="tallylog-bench-web-"))
        _init_home(home)
        temporary = True
    settings = SETTINGS
    if args.conn_max_age is not None:
        settings += f'DATABASES["default"]["CONN_MAX_AGE"] = {args.conn_max_age}\n'
    (home / "py" / "bench_web_settings.py").write_text(settings)
    env = _env(home)
    port = _free_port()
    nginx_port = _free_port() if args.through_nginx else 0
    if args.through_nginx:
        env["TALLYLOG_TRUSTED_PROXIES"] = "1"
        env["TALLYLOG_SITE_URL"] = f"https://127.0.0.1:{nginx_port}"  # the receipt form's CSRF origin
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tallylog.cli", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    front = contextlib.ExitStack()
    try:
        _wait_up(base + "/api/v1/log")
        bases = [("", base)]
        if args.through_nginx:
            from bench.nginxfront import nginx_front

            bases.append((", through nginx (TLS)", f"https://127.0.0.1:{front.enter_context(nginx_front(home, port, nginx_port))}"))
        if args.post:
            _post(home, base, args)
        targets = [t for t in _targets(home, base) if args.only in t[0]]
        print("| request | req/s | p50 | p99 | errors | queries |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        queries = _query_counts(home, targets)
        for name, path, script in targets:
            # The API list is last and gets 2 connections: before the registry's fix it takes
            # seconds a request, and a queue of them would be served into the next runs.
            connections = 2 if "API list" in name else args.connections
            for how, url in bases:
                got = run_wrk(url + path, args.seconds, connections, script)
                print(
                    f"| {name}{how} | {got['rps']:,.0f} | {got['p50']:.1f} ms | {got['p99']:.1f} ms | {got['bad']:.0f} "
                    f"| {queries.get(name, '')} |",
                    flush=True,
                )
        print(
            f"({args.connections} connections, {args.workers} workers x 8 threads, {os.cpu_count()} cores, "
            f"{'PostgreSQL' if os.environ.get('DATABASE_URL') else 'SQLite WAL synchronous=FULL'}, "
            f"Accept-Language zh-Hans, load average {os.getloadavg()[0]:.1f})"
        )
    finally:
        front.close()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if temporary:
            remove_home(home)
    return 0


def _post(home: Path, base: str, args: argparse.Namespace) -> None:
    (home / "post.lua").write_text(POST_SCRIPT)
    before = _count(home)
    started = time.monotonic()
    post = run_wrk(base, args.seconds, args.connections, home / "post.lua")
    elapsed = time.monotonic() - started
    accepted = _count(home) - before
    print(
        f"API POST declarations: {post['rps']:,.0f} req/s, p50 {post['p50']:.1f} ms, p99 {post['p99']:.1f} ms, "
        f"{post['requests']:.0f} requests, {post['bad']:.0f} not 201; "
        f"{accepted} declarations saved = {accepted / elapsed:,.0f}/s"
    )
    time.sleep(3)  # let the sequencer catch up before reading pages



ID_SCRIPT = """
init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end
request = function()
  return wrk.format(nil, "%(prefix)s" .. math.random(%(lo)d, %(hi)d) .. "%(suffix)s")
end
"""
CODES_SCRIPT = """
local codes = {%(codes)s}
init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end
request = function()
  local code = codes[math.random(#codes)]
  %(request)s
end
"""
# The Origin is the site's own (wrk.scheme, wrk.host, wrk.port: the URL wrk was given), as a
# browser sends it: over HTTPS Django's CSRF check refuses a form post without one.
RECEIPT_PAGE = (
    'local port = (wrk.port and (":" .. wrk.port)) or ""\n'
    '  return wrk.format("POST", "/receipt/", {["Content-Type"] = "application/x-www-form-urlencoded", '
    '["Cookie"] = "csrftoken=%(token)s", ["Origin"] = wrk.scheme .. "://" .. wrk.host .. port}, '
    '"csrfmiddlewaretoken=%(token)s&code=" .. code)'
)
RECEIPT_API = 'return wrk.format(nil, "/api/v1/receipts/" .. code)'


def _targets(home: Path, base: str) -> list[tuple[str, str, Path | None]]:
    """What to load: (name, path, wrk script or None), from what the home holds."""
    facts = _child(home, "child_facts", "")
    size, days, first_day_middle = facts["size"], facts["days"], facts["first_day_middle"]
    scripts = home / "wrk"  # the wrk scripts, kept with the home
    scripts.mkdir(exist_ok=True)
    # A logged declaration's public address is its log index (issue 15): /entries/INDEX/.
    top = max(size - 1, 0)
    (scripts / "page.lua").write_text(ID_SCRIPT % {"prefix": "/entries/", "suffix": "/", "lo": 0, "hi": top})
    (scripts / "api.lua").write_text(ID_SCRIPT % {"prefix": "/api/v1/entries/", "suffix": "", "lo": 0, "hi": top})
    targets: list[tuple[str, str, Path | None]] = [
        ("`GET /` (home)", "/", None),
        ("`GET /declarations/` (first page, 50 rows)", "/declarations/", None),
        (f"`GET /declarations/?before={size // 20}` (deep page)", f"/declarations/?before={size // 20}", None),
        (f"`GET /declarations/?day={days[len(days) // 2]}`", f"/declarations/?day={days[len(days) // 2]}", None),
        (f"`GET /declarations/?day={days[0]}&before=…` (deep in a day)", f"/declarations/?day={days[0]}&before={first_day_middle}", None),
        ("`GET /declarations/?org=pioneers`", "/declarations/?org=pioneers", None),
        ("`GET /declarations/?org=party&before=…` (deep)", f"/declarations/?org=party&before={size // 20}", None),
        (f"`GET /entries/INDEX/` (random of {size:,})", "/", scripts / "page.lua"),
        ("`GET /api/v1/entries/INDEX` (random)", "/", scripts / "api.lua"),
        ("`GET /api/v1/campaigns/three-withdrawals/tally`", "/api/v1/campaigns/three-withdrawals/tally", None),
    ]
    codes = _receipt_codes(home)
    if codes:
        listed = ",".join(f'"{c}"' for c in codes)
        token = _csrf_token(base)
        (scripts / "receipt.lua").write_text(CODES_SCRIPT % {"codes": listed, "request": RECEIPT_PAGE % {"token": token}})
        (scripts / "receipt-api.lua").write_text(CODES_SCRIPT % {"codes": listed, "request": RECEIPT_API})
        targets += [
            (f"`POST /receipt/` (check page, {len(codes)} codes)", "/", scripts / "receipt.lua"),
            ("`GET /api/v1/receipts/CODE`", "/", scripts / "receipt-api.lua"),
        ]
    targets.append(
        ("`GET /api/v1/campaigns/three-withdrawals/declarations` (API list)", "/api/v1/campaigns/three-withdrawals/declarations", None)
    )
    return targets


def _child(home: Path, function: str, data: object) -> Any:
    """``function(data)`` of this module in a child process set up on ``home`` (JSON in, out)."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", f"import bench.bench_web as b; b.{function}()"],
        input=json.dumps(data), env=_env(home), capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)


def child_facts() -> None:
    """In the child: the log size, the range of declaration ids, the days, the middle of the
    first day's index range."""
    import datetime
    import json

    import django

    django.setup()
    from django.db.models import Max, Min

    from tallylog.registry.declarations.models import Declaration
    from tallylog.registry.entries.models import LogDay, LogState

    ids = Declaration.objects.visible().aggregate(lo=Min("id"), hi=Max("id"))
    days = list(LogDay.objects.order_by("day").values_list("day", "start", "end"))
    if not days:  # an empty home: the day pages are empty pages
        days = [(datetime.datetime.now(datetime.UTC).date(), 0, 0)]
    print(json.dumps({
        "size": LogState.current().size,
        "lo": ids["lo"] or 1,
        "hi": ids["hi"] or 1,
        "days": [d.isoformat() for d, _, _ in days],
        "first_day_middle": (days[0][1] + days[0][2]) // 2,
    }))


def _csrf_token(base: str) -> str:
    with urllib.request.urlopen(base + "/receipt/", timeout=30) as r:
        cookie = r.headers.get("Set-Cookie", "")
    found = re.search(r"csrftoken=([A-Za-z0-9]+)", cookie)
    if found is None:
        raise RuntimeError("bench web: /receipt/ set no csrftoken cookie")
    return found.group(1)


def _query_counts(home: Path, targets: list[tuple[str, str, Path | None]]) -> dict[str, str]:
    """Queries per page and in-process time (Django test client, one thread), with the
    query plans written to ``plans.txt`` in the home; in a child process on the home."""

    paths = []
    for name, path, script in targets:
        if script is not None:
            text = script.read_text()
            if "receipts/" in text or "/receipt/" in text:
                code = _receipt_codes(home)[0]
                path = ("POST /receipt/ " if "/receipt/\"" in text else "/api/v1/receipts/") + code
            else:
                lo, hi = map(int, re.search(r"math.random\((\d+), (\d+)", text).groups())  # type: ignore[union-attr]
                prefix = "/api/v1/entries/" if "/api/" in text else "/entries/"
                path = prefix + str(lo + min(12345, hi - lo)) + ("" if "/api/" in text else "/")
        paths.append((name, path))
    return _child(home, "child_queries", paths)


def child_queries() -> None:
    """In the child: each page once to warm, then counted and timed; plans to plans.txt."""
    import json
    import statistics

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    paths = json.loads(sys.stdin.read())
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-Hans", HTTP_HOST="127.0.0.1")
    result: dict[str, str] = {}
    plans = []
    for name, path in paths:
        def get(path: str = path) -> int:
            if path.startswith("POST "):
                _, url, code = path.split(" ")
                return client.post(url, {"code": code}).status_code
            return client.get(path).status_code

        get()
        with CaptureQueriesContext(connection) as ctx:
            status = get()
        captured = list(ctx.captured_queries)  # a view of the live log: the next request clears it
        times = []
        for _ in range(5):
            t = time.perf_counter()
            get()
            times.append((time.perf_counter() - t) * 1000)
        result[name] = f"{len(captured)} ({statistics.median(times):.1f} ms, {status})"
        plans.append(f"## {name}  {path}")
        for q in captured:
            plans.append(q["sql"])
            if q["sql"].startswith("SELECT"):
                explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
                with connection.cursor() as cur:
                    try:
                        cur.execute(explain + q["sql"])
                        plans += ["    " + str(row[-1]) for row in cur.fetchall()]
                    except Exception as exc:  # a rendering of params SQLite can't re-read
                        plans.append(f"    (no plan: {exc})")
        plans.append("")
    Path(os.environ["TALLYLOG_HOME"], "plans.txt").write_text("\n".join(plans))
    print(json.dumps(result))


def _count(home: Path) -> int:
    return int(_child(home, "child_count", ""))


def child_count() -> None:
    """In the child: how many declarations the database holds."""
    import django

    django.setup()
    from tallylog.registry.declarations.models import Declaration

    print(Declaration.objects.count())
