"""Readers' latency while slow and idle clients hold connections open (issue 16).

Starts ``tallylog serve`` (default shape: 2 workers x 8 threads) on a fresh home, then
times N page requests (``GET /``, one connection each) twice in one run: on a quiet
server, and while T connections trickle a header line every few seconds and K kept-alive
connections idle. Reports p50/p99/max of each and the ratio.

    python -m bench slowclients [--requests 200] [--tricklers 1000] [--kept 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _latencies(port: int, n: int) -> tuple[list[float], int]:
    from tests.support.serverproc import request

    times, failed = [], 0
    for _ in range(n):
        started = time.perf_counter()
        try:
            ok = request(port, "GET", "/", timeout=10, headers={"Accept-Language": "zh-Hans"}).status == 200
        except OSError:
            ok = False
        if ok:
            times.append(time.perf_counter() - started)
        else:
            failed += 1
    return sorted(times), failed


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench slowclients")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tricklers", type=int, default=1000)
    parser.add_argument("--kept", type=int, default=100)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.support.serverproc import Server, init_home
    from tests.support.slowclients import SlowClients

    with tempfile.TemporaryDirectory(prefix="tallylog-bench-slow-") as tmp:
        home = Path(tmp) / "home"
        init_home(home)
        server = Server(home, Path(tmp) / "logs")
        server.start()
        try:
            _latencies(server.port, 20)  # warm both workers
            quiet, quiet_failed = _latencies(server.port, args.requests)
            with SlowClients(server.port, tricklers=args.tricklers, kept=args.kept, every=2.0) as clients:
                loaded, loaded_failed = _latencies(server.port, args.requests)
                still = clients.still_open()
        finally:
            server.stop()
    print(f"{'':28} {'answered':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values, failed in (("quiet", quiet, quiet_failed), (f"{args.tricklers} tricklers + {args.kept} kept", loaded, loaded_failed)):
        print(f"{name:28} {len(values):>5}/{len(values) + failed:<3} {_pct(values, .5):8.1f} {_pct(values, .99):8.1f} {_pct(values, 1):8.1f}")
    print(f"p99 loaded / quiet: {_pct(loaded, .99) / _pct(quiet, .99):.2f}x; slow connections still open at the end: {still}")
    return 0 if not (quiet_failed or loaded_failed) else 1
