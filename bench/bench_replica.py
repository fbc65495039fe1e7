"""Public page reads through ``tallylog serve`` on PostgreSQL, without and with a read replica:
requests/s, latency, and which server did the reading.

    python -m bench replica                    # 3,000 declarations, 10 s per mode, 8 clients
    python -m bench replica --seconds 30 --clients 16 --declarations 20000

A throwaway primary and a streaming replica (scripts/pg-test.sh start / replica-start, fsync
off), one home filled by ``tallylog demo``; then for each mode a fresh ``tallylog serve
--no-sequencer`` (2 workers) is hammered by CLIENTS threads cycling through the public
pages and API GETs. "Rows read" are pg_stat_database's tup_returned + tup_fetched deltas of
the tallylog database on each server (the counters are flushed about once a second, so
they are read after a pause). On one small machine the replica's server shares the cores:
the point of the figures is where the reads go, not a speed-up.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[1]
PG_TEST = REPO / "scripts" / "pg-test.sh"
PATHS = (
    "/",
    "/declarations/",
    "/transparency/",
    "/api/v1/campaigns/three-withdrawals/tally",
    "/api/v1/campaigns/three-withdrawals/declarations?limit=20",
    "/news/",
)


def _assignments(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows_read(url: str) -> tuple[int, int]:
    """(rows read, transactions) of the URL's database on its server, from pg_stat_database."""
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute(
            "SELECT tup_returned + tup_fetched, xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _hammer(port: int, seconds: float, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(n: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        i = n
        while time.monotonic() < stop_at:
            path = PATHS[i % len(PATHS)]
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Accept-Language": "en"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad += 1
            except OSError:
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0,
    }


def _serve(home: Path, env: dict[str, str], logs: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    with open(logs, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tallylog.cli", "serve", "--no-sequencer", "--workers", "2", "--port", str(port), "--home", str(home)],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/log")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"tallylog serve did not start: {logs.read_text()[-2000:]}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench replica", description=__doc__)
    parser.add_argument("--declarations", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)

    primary = _assignments(subprocess.run(["bash", str(PG_TEST), "start"], capture_output=True, text=True, check=True).stdout)
    replica: dict[str, str] = {}
    try:
        replica = _assignments(
            subprocess.run(["bash", str(PG_TEST), "replica-start", primary["PGTEST_DIR"]], capture_output=True, text=True, check=True).stdout
        )
        with tempfile.TemporaryDirectory(prefix="bench-replica-") as tmp:
            home = Path(tmp) / "home"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TALLYLOG_")) and k != "DATABASE_URL"}
            env.update(TALLYLOG_HOME=str(home), DATABASE_URL=primary["DATABASE_URL"], PYTHONPATH=str(REPO), TALLYLOG_RATE_LIMITS="off")
            for step in (["init", "--origin", "example.org/bench-replica"], ["demo", "--count", str(args.declarations), "--seed", "6"]):
                done = subprocess.run([sys.executable, "-m", "tallylog.cli", *step, "--home", str(home)], env=env, cwd=REPO, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 1
            print(f"{args.declarations} declarations, {args.seconds:.0f} s per mode, {args.clients} clients, "
                  f"2 web workers; load average {os.getloadavg()[0]:.2f}")
            for mode, extra in (("primary only", {}), ("with 1 replica", {"DATABASE_REPLICA_URLS": replica["REPLICA_URL"]})):
                proc, port = _serve(home, {**env, **extra}, Path(tmp) / f"serve-{len(extra)}.log")
                try:
                    _hammer(port, 1.0, 2)  # warm: connections, templates
                    time.sleep(1.5)
                    before = {"primary": _rows_read(primary["DATABASE_URL"]), "replica": _rows_read(replica["REPLICA_URL"])}
                    figures = _hammer(port, args.seconds, args.clients)
                    time.sleep(1.5)  # pg_stat_database is flushed about once a second
                    after = {"primary": _rows_read(primary["DATABASE_URL"]), "replica": _rows_read(replica["REPLICA_URL"])}
                finally:
                    os.killpg(proc.pid, 15)
                    proc.wait(timeout=30)
                rows = {k: after[k][0] - before[k][0] for k in after}
                share = rows["primary"] / max(1, rows["primary"] + rows["replica"])
                print(
                    f"  {mode:15s} {figures['rps']:7.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  p99 {figures['p99_ms']:6.1f} ms  "
                    f"errors {figures['errors']}  rows read: primary {rows['primary']:,}, replica {rows['replica']:,} "
                    f"(primary's share {share:.1%})  load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    finally:
        if replica:
            subprocess.run(["bash", str(PG_TEST), "replica-stop", replica["REPLICA_DIR"]], check=False)
        subprocess.run(["bash", str(PG_TEST), "stop", primary["PGTEST_DIR"]], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
