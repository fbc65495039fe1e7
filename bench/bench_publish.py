"""Publication delay under the batch schedule (issue 15 item 1): submission → the entry
appears in the public API, with ``TALLYLOG_PUBLISH_INTERVAL`` at each of ``--intervals``.

A fresh home (``tallylog init``) and the real server (``tallylog serve``: web workers and
the sequencer); N declarations POSTed to the API at uniformly random times over
``--spread`` intervals; each receipt polled (POST /api/v1/receipts, the code in the body)
every 0.1 s until it has a log index. Prints min/median/p90/max of the delays, per interval.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def run(interval: int, n: int, spread: float) -> list[float]:
    """Delays (seconds) of ``n`` submissions with a ``interval``-second schedule."""
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TALLYLOG_", "DJANGO_")) and k != "DATABASE_URL"}
        env |= {"TALLYLOG_HOME": str(home), "TALLYLOG_PUBLISH_INTERVAL": str(interval),
                "TALLYLOG_RATE_LIMITS": "off", "TALLYLOG_FLOOD_THRESHOLD": "0", "PYTHONPATH": str(ROOT)}
        cli = [sys.executable, "-m", "tallylog.cli"]
        subprocess.run([*cli, "init", "--origin", "bench.example/publish"], env=env, cwd=home, check=True, capture_output=True)
        port = _free_port()
        base = f"http://127.0.0.1:{port}/api/v1"
        server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=home,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/log", timeout=2)
                    break
                except OSError:
                    time.sleep(0.1)
            times = sorted(random.uniform(0, spread * interval) for _ in range(n))
            delays: list[float] = []
            lock = threading.Lock()

            def one(at: float, start: float) -> None:
                time.sleep(max(0.0, start + at - time.monotonic()))
                sent = time.monotonic()
                body = _post(base + "/campaigns/three-withdrawals/declarations", {"alias": "bench", "orgs": ["party"]})
                while _post(base + "/receipts", {"code": body["receipt"]})["index"] is None:
                    time.sleep(0.1)
                with lock:
                    delays.append(time.monotonic() - sent)

            start = time.monotonic()
            threads = [threading.Thread(target=one, args=(at, start)) for at in times]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return delays
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench publish")
    parser.add_argument("--intervals", type=int, nargs="+", default=[5, 30])
    parser.add_argument("-n", type=int, default=100, help="submissions per interval (default 100)")
    parser.add_argument("--spread", type=float, default=3, help="submit over this many intervals (default 3)")
    args = parser.parse_args(argv)
    for interval in args.intervals:
        d = sorted(run(interval, args.n, args.spread))
        p90 = d[int(0.9 * (len(d) - 1))]
        print(f"interval {interval:>4} s, {len(d)} submissions: min {d[0]:.2f} s, median {statistics.median(d):.2f} s,"
              f" p90 {p90:.2f} s, max {d[-1]:.2f} s; median/interval {statistics.median(d) / interval:.2f},"
              f" max/interval {d[-1] / interval:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
