"""API submissions benchmark: declarations accepted per second through the JSON API, with
p50/p99 latency, from wrk on loopback against ``tallylog serve`` (issues 3 and 6).

For each database (SQLite in the home, or a throwaway PostgreSQL server from
``scripts/pg-test.sh`` restarted with ``fsync``, ``synchronous_commit`` and
``full_page_writes`` at their durable defaults) and each group-commit mode, it:

1. makes a fresh home (``tallylog init``) with rate limits and flood screening off;
2. starts ``tallylog serve`` (gunicorn, its sequencer included) with ``--workers`` ×
   ``--threads``;
3. runs wrk with ``--connections`` for ``--seconds`` (after a short warm-up), each request
   ``POST /api/v1/campaigns/three-withdrawals/declarations`` with a distinct alias; a wrk
   Lua script records the id of every 201 answer;
4. waits for the sequencer, then checks that every 201 id is a saved, published and
   sequenced declaration, that nothing was saved twice, that the declarations saved
   during the run exceed the 201s counted by at most the requests in flight when wrk
   stopped (saved, answered, never read), that the log's size equals the sequenced
   entries, and that ``tallylog verify`` accepts the log.

    python -m bench api [--seconds S] [--connections C] [--workers W] [--threads T]
                        [--database sqlite|postgresql|both] [--group-commit on|off|both]

Needs ``wrk`` (Debian package ``wrk``; installed here if missing and we are root).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_web import _free_port, _ms, _wait_up

ROOT = Path(__file__).resolve().parents[1]
PG_TEST = ROOT / "scripts" / "pg-test.sh"
SETTINGS = """from tallylog.settings import *  # noqa: F401,F403

TALLYLOG_RATE_LIMITS = "off"
TALLYLOG_FLOOD_THRESHOLD = 0
TALLYLOG_GROUP_COMMIT = {group_commit!r}
"""
# Each wrk thread appends the id of every 201 answer to its own file.
POST_SCRIPT = """
local counter = 0
local ids = nil
local n = 0
setup = function(thread)
  n = n + 1
  thread:set("tid", n)
end
init = function(args)
  ids = io.open("{ids}." .. tid, "w")
  math.randomseed(os.time() + tid)
end
request = function()
  counter = counter + 1
  local body = '{{"alias":"bench-' .. tid .. '-' .. math.random(1, 1000000000) .. '-' .. counter .. '","orgs":["party","league"],"statement":"bench"}}'
  return wrk.format("POST", "/api/v1/campaigns/three-withdrawals/declarations",
    {{["Content-Type"] = "application/json", ["Accept-Language"] = "en"}}, body)
end
response = function(status, headers, body)
  if status == 201 then
    local id = string.match(body, '"id":%s*(%d+)')
    ids:write(id, "\\n")
    ids:flush()
  end
end
"""
CHECK = """
import json, sys
import django
django.setup()
from django.db.models import Count
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry, LogState
ids = [int(x) for x in open(sys.argv[1]).read().split()]
waiting = LogEntry.objects.filter(log_index__isnull=True).count()  # first: the sequencer runs meanwhile
rows = dict(Declaration.objects.filter(pk__in=ids).values_list("pk", "entry__log_index"))
print(json.dumps({
    "ids": len(ids), "distinct_ids": len(set(ids)),
    "found": len(rows), "sequenced": sum(1 for v in rows.values() if v is not None),
    "declarations": Declaration.objects.count(),
    "published": Declaration.objects.filter(status="published").count(),
    "waiting": waiting,
    "entries": LogEntry.objects.count(),
    "log_size": LogState.current().size,
    "duplicate_receipts": Declaration.objects.values("receipt_hash").annotate(n=Count("id")).filter(n__gt=1).count(),
}))
"""


def run_wrk(url: str, seconds: int, connections: int, script: Path) -> dict[str, float]:
    """wrk with latency percentiles: requests/s, p50/p99/max (ms), non-2xx/3xx, socket errors."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def grab(pattern: str) -> str:
        return re.search(pattern, out).group(1)  # type: ignore[union-attr]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(grab(r"Requests/sec:\s+([0-9.]+)")),
        "p50": _ms(grab(r"\s50%\s+(\S+)")),
        "p99": _ms(grab(r"\s99%\s+(\S+)")),
        "max": _ms(grab(r"Latency\s+\S+\s+\S+\s+(\S+)")),
        "requests": float(grab(r"(\d+) requests in")),
        "bad": float(bad.group(1)) if bad else 0.0,
        "socket_errors": float(sum(int(x) for x in sock.groups())) if sock else 0.0,
    }


def _start_postgres(fsync: bool) -> tuple[str, str]:
    """A throwaway PostgreSQL server; with ``fsync`` it is restarted with the durable defaults
    (pg-test.sh starts it with fsync, synchronous_commit and full_page_writes off)."""
    out = subprocess.run(["bash", str(PG_TEST), "start"], capture_output=True, text=True, check=True)
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    url, pg_dir = values["DATABASE_URL"], values["PGTEST_DIR"]
    if fsync:
        port = Path(pg_dir, "port").read_text().strip()
        pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={pg_dir} "
            "-c max_connections=200 -c shared_buffers=128MB"
        )
        owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*owner, str(pg_ctl), "-D", f"{pg_dir}/data", "-l", f"{pg_dir}/server.log", "-w", "-t", "60", "restart", "-o", opts],
            check=True,
            capture_output=True,
        )
    return url, pg_dir


def run_one(database: str, group_commit: bool, args: argparse.Namespace) -> dict[str, Any]:
    """One server, one load run, the checks; the figures."""
    home = Path(tempfile.mkdtemp(prefix="tallylog-bench-api-"))
    pg_dir = None
    server = None
    try:
        (home / "py").mkdir()
        (home / "py" / "bench_api_settings.py").write_text(SETTINGS.format(group_commit=group_commit))
        ids = home / "ids"
        (home / "post.lua").write_text(POST_SCRIPT.format(ids=ids))
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(
            {
                "TALLYLOG_HOME": str(home),
                "DJANGO_SETTINGS_MODULE": "bench_api_settings",
                "PYTHONPATH": os.pathsep.join([str(home / "py"), str(ROOT)]),
            }
        )
        if database == "postgresql":
            env["DATABASE_URL"], pg_dir = _start_postgres(fsync=not args.pg_fsync_off)
        cli = [sys.executable, "-m", "tallylog.cli"]
        init = subprocess.run([*cli, "init", "--origin", "bench.example/api"], env=env, check=True, capture_output=True, text=True)
        vkey = re.search(r"verifier key: (\S+)", init.stdout).group(1)  # type: ignore[union-attr]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [*cli, "serve", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(home / "serve.log", "w"),
            start_new_session=True,
        )
        _wait_up(base + "/api/v1/log")
        run_wrk(base, 2, args.connections, home / "post.lua")  # warm-up (imports, connections)
        for f in home.glob("ids.*"):
            f.unlink()
        (home / "none").write_text("")
        before = json.loads(
            subprocess.run([sys.executable, "-c", CHECK, str(home / "none")], env=env, capture_output=True, text=True, check=True).stdout
        )["declarations"]
        got = run_wrk(base, args.seconds, args.connections, home / "post.lua")
        all_ids = home / "all-ids"
        all_ids.write_text("".join(f.read_text() for f in sorted(home.glob("ids.*"))))
        check: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the sequencer catches up
            out = subprocess.run([sys.executable, "-c", CHECK, str(all_ids)], env=env, capture_output=True, text=True, check=True)
            check = json.loads(out.stdout)
            if check["waiting"] == 0:
                break
            time.sleep(1)
        verify = subprocess.run([*cli, "verify", "--key", vkey, str(home / "log")], env=env, capture_output=True, text=True)
        got.update(check)
        got["created"] = float(check["ids"])
        got["saved"] = check["declarations"] - before
        got["verify_ok"] = verify.returncode == 0
        got["verify_out"] = (verify.stdout + verify.stderr).strip().splitlines()[-1:] if verify.stdout or verify.stderr else []
        got["ok"] = (
            check["ids"] == check["distinct_ids"] == check["found"] == check["sequenced"]
            and check["waiting"] == 0
            and check["log_size"] == check["entries"] == check["published"] == check["declarations"]
            and check["duplicate_receipts"] == 0
            # Requests in flight when wrk stops are saved but their answers never read.
            and 0 <= got["saved"] - got["created"] <= args.connections
            and got["verify_ok"]
        )
        return got
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if pg_dir:
            subprocess.run(["bash", str(PG_TEST), "stop", pg_dir], check=False, capture_output=True)
        if args.keep:
            print(f"(kept {home})")
        else:
            shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="duration of the measured load run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--group-commit", choices=("on", "off", "both"), default="both")
    parser.add_argument("--pg-fsync-off", action="store_true", help="keep pg-test.sh's fsync=off (not durable)")
    parser.add_argument("--keep", action="store_true", help="keep the homes (debugging)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        if os.geteuid() == 0:
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        if shutil.which("wrk") is None:
            print("bench api: wrk is missing (apt-get install wrk)", file=sys.stderr)
            return 1
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    modes = (False, True) if args.group_commit == "both" else (args.group_commit == "on",)
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"{args.connections} connections for {args.seconds} s; {args.workers} workers x {args.threads} threads\n"
        "| database | group commit | req/s | p50 ms | p99 ms | max ms | 201s | saved | errors | all 201s sequenced, log verified |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        flush=True,
    )
    failed = False
    for database in databases:
        rates: dict[bool, float] = {}
        for mode in modes:
            r = run_one(database, mode, args)
            rates[mode] = r["created"] / args.seconds
            errors = r["bad"] + r["socket_errors"]
            label = database + ("" if database == "sqlite" else " (fsync off)" if args.pg_fsync_off else " (fsync on)")
            print(
                f"| {label} | {'on' if mode else 'off'} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} "
                f"| {r['created']:,.0f} | {r['saved']:,} | {errors:.0f} | {'yes' if r['ok'] else 'NO ' + json.dumps({k: v for k, v in r.items() if k not in ('rps', 'p50', 'p99', 'max')})} |",
                flush=True,
            )
            failed = failed or not r["ok"]
        if len(rates) == 2 and rates[False]:
            print(f"({database}: group commit on/off = {rates[True] / rates[False]:.2f}x accepted declarations per second)", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if failed else 0
