"""Web and API benchmark: declarations accepted per second through the JSON API, and page
latency, measured by a load generator on loopback (wrk) against ``tallylog serve``.

Starts ``tallylog serve`` (gunicorn, its sequencer included) on a fresh temporary home,
with rate limits and flood screening off (a settings module written into the home), then:

1. ``POST /api/v1/campaigns/three-withdrawals/declarations`` with a distinct alias each
   time, for ``--seconds``: requests/s, p50 and p99 latency, non-201 answers, and the
   declarations the database holds afterwards (accepted/s);
2. ``GET`` of the home page, the declarations list and the API tally: requests/s, p50, p99.

    python -m bench web [--seconds S] [--connections C] [--workers W]

Needs ``wrk`` (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

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
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench web")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each load run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench web: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 1

    home = Path(tempfile.mkdtemp(prefix="tallylog-bench-web-"))
    (home / "py").mkdir()
    (home / "py" / "bench_web_settings.py").write_text(SETTINGS)
    (home / "post.lua").write_text(POST_SCRIPT)
    env = dict(os.environ)
    env.update(
        {
            "TALLYLOG_HOME": str(home),
            "DJANGO_SETTINGS_MODULE": "bench_web_settings",
            "PYTHONPATH": os.pathsep.join([str(home / "py"), str(ROOT)]),
        }
    )
    cli = [sys.executable, "-m", "tallylog.cli"]
    subprocess.run([*cli, "init", "--origin", "bench.example/web"], env=env, check=True, capture_output=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_up(base + "/api/v1/log")
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
        for name, path in (("home", "/"), ("declarations list", "/declarations/"), ("API tally", "/api/v1/campaigns/three-withdrawals/tally")):
            got = run_wrk(base + path, max(5, args.seconds // 3), args.connections)
            print(f"GET {name}: {got['rps']:,.0f} req/s, p50 {got['p50']:.1f} ms, p99 {got['p99']:.1f} ms, {got['bad']:.0f} errors")
        print(f"({args.connections} connections, {args.workers} workers x 4 threads, {os.cpu_count()} cores, SQLite WAL synchronous=FULL)")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(home, ignore_errors=True)
    return 0


def _count(home: Path) -> int:
    with sqlite3.connect(home / "db.sqlite3", timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM declarations_declaration").fetchone()[0])
