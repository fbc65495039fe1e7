"""API submissions benchmark: declarations accepted per second through the JSON API, with
p50/p99 latency, from wrk on loopback against ``tallylog serve`` (issues 3 and 6).

For each database (SQLite in the home, or a throwaway PostgreSQL server from
``scripts/pg-test.sh`` restarted with ``fsync``, ``synchronous_commit`` and
``full_page_writes`` at their durable defaults) and each group-commit mode, it:

1. makes a fresh home (``tallylog init``) with rate limits and flood screening off;
2. starts ``tallylog serve`` (granian, its sequencer included) with ``--workers`` ×
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
                        [--against REV [--rounds N]] [--through-nginx]

``--through-nginx`` runs each configuration twice, one after the other: straight to
``tallylog serve``, then through Debian's nginx with TLS, configured with exactly the block
docs/deploy.md prints (as tests/safety/test_nginx.py does; ``TALLYLOG_TRUSTED_PROXIES=1``).

Besides wrk's figures it reports the CPU time of the server's session (the master and the web
workers) per answered request, read from /proc around the measured run. The sequencer runs
in a session of its own (``tallylog serve`` starts it so) and is not counted, in this tree
and in every older one alike.

``--against REV`` compares this tree with the commit REV in the same run: REV is checked
out in a temporary git worktree, and for each of ``--rounds`` rounds the server of each
tree runs the same load, one after the other (the order alternating between rounds), so
that both see the same machine; it prints each run and the ratio of the medians. Both trees
run on this virtual environment: an older REV whose dependencies differ needs them
installed in it (before 55edce1 the server was gunicorn: ``pip install gunicorn``).

Needs ``wrk`` (Debian package ``wrk``; installed here if missing and we are root).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.bench_web import _free_port, _ms, _wait_up, remove_home
from bench.nginxfront import nginx_front

ROOT = Path(__file__).resolve().parents[1]
PG_TEST = ROOT / "scripts" / "pg-test.sh"
SETTINGS = """from tallylog.settings import *  # noqa: F401,F403

TALLYLOG_RATE_LIMITS = "off"
TALLYLOG_FLOOD_THRESHOLD = 0
TALLYLOG_GROUP_COMMIT = {group_commit!r}
TALLYLOG_PUBLISH_INTERVAL = 0  # the bench checks that every accepted declaration is logged
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
  -- Digits spelled as letters: an alias with a run of digits reads as a phone number,
  -- which the declare rules refuse (issue 15).
  local suffix = string.gsub(tid .. '-' .. math.random(1, 1000000000) .. '-' .. counter, "%d",
    function(d) return string.char(97 + tonumber(d)) end)
  local body = '{{"alias":"bench-' .. suffix .. '","orgs":["party","league"],"statement":"bench"}}'
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


def _session_cpu(session: int) -> float:
    """CPU seconds (user + system) used so far by the living processes of ``session``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[3]) == session:  # field 6 of stat(5), the session id
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def run_one(
    database: str, group_commit: bool, args: argparse.Namespace, tree: Path = ROOT, through_nginx: bool = False
) -> dict[str, Any]:
    """One server (of the source tree ``tree``), one load run, the checks; the figures."""
    home = Path(tempfile.mkdtemp(prefix="tallylog-bench-api-"))
    pg_dir = None
    server = None
    front = contextlib.ExitStack()
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
                "PYTHONPATH": os.pathsep.join([str(home / "py"), str(tree)]),
            }
        )
        if database == "postgresql":
            env["DATABASE_URL"], pg_dir = _start_postgres(fsync=not args.pg_fsync_off)
        if through_nginx:
            env["TALLYLOG_TRUSTED_PROXIES"] = "1"
        cli = [sys.executable, "-m", "tallylog.cli"]
        # Run in the home: ``python -m`` and ``-c`` put the working directory first on the
        # path, which would otherwise import this checkout's tallylog whatever ``tree`` is.
        run = functools.partial(subprocess.run, env=env, cwd=home, capture_output=True, text=True)
        where = run([sys.executable, "-c", "import tallylog; print(tallylog.__file__)"], check=True).stdout.strip()
        if not Path(where).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"bench api: the server would import tallylog from {where}, not from {tree}")
        init = run([*cli, "init", "--origin", "bench.example/api"], check=True)
        vkey = re.search(r"verifier key: (\S+)", init.stdout).group(1)  # type: ignore[union-attr]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(home / "serve.log", "w") as serve_log:  # the child keeps its own descriptor
            server = subprocess.Popen(
                [*cli, "serve", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)],
                env=env,
                cwd=home,
                stdout=subprocess.DEVNULL,
                stderr=serve_log,
                start_new_session=True,
            )
        _wait_up(base + "/api/v1/log")
        if through_nginx:
            base = f"https://127.0.0.1:{front.enter_context(nginx_front(home, port))}"
        run_wrk(base, 2, args.connections, home / "post.lua")  # warm-up (imports, connections)
        for f in home.glob("ids.*"):
            f.unlink()
        (home / "none").write_text("")
        before = json.loads(
            run([sys.executable, "-c", CHECK, str(home / "none")], check=True).stdout
        )["declarations"]
        cpu_before = _session_cpu(server.pid)
        got = run_wrk(base, args.seconds, args.connections, home / "post.lua")
        cpu = _session_cpu(server.pid) - cpu_before
        all_ids = home / "all-ids"
        all_ids.write_text("".join(f.read_text() for f in sorted(home.glob("ids.*"))))
        check: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the sequencer catches up
            out = run([sys.executable, "-c", CHECK, str(all_ids)], check=True)
            check = json.loads(out.stdout)
            if check["waiting"] == 0:
                break
            time.sleep(1)
        verify = run([*cli, "verify", "--key", vkey, str(home / "log")])
        got.update(check)
        got["created"] = float(check["ids"])
        got["cpu_ms"] = 1000 * cpu / got["requests"] if got["requests"] else 0.0
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
        front.close()
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
            remove_home(home)


def _row(label: str, mode: bool, r: dict[str, Any]) -> str:
    errors = r["bad"] + r["socket_errors"]
    verdict = "yes" if r["ok"] else "NO " + json.dumps({k: v for k, v in r.items() if k not in ("rps", "p50", "p99", "max")})
    return (
        f"| {label} | {'on' if mode else 'off'} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} "
        f"| {r['cpu_ms']:.2f} | {r['created']:,.0f} | {r['saved']:,} | {errors:.0f} | {verdict} |"
    )


@contextlib.contextmanager
def _worktree(rev: str) -> Iterator[tuple[Path, str]]:
    """Commit ``rev`` checked out in a temporary git worktree, its translations compiled;
    yields its path and short hash, and removes it afterwards."""
    short = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    path = Path(tempfile.mkdtemp(prefix="tallylog-bench-against-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "tallylog.web.messages"], cwd=path, env=dict(os.environ, PYTHONPATH=str(path)),
            check=True, capture_output=True,
        )
        yield path, short
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False, capture_output=True)
        shutil.rmtree(path.parent, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="duration of the measured load run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="web worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--group-commit", choices=("on", "off", "both"), default="both")
    parser.add_argument("--against", metavar="REV", help="compare with the server of git commit REV, in the same run")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: rounds of one run of each tree")
    parser.add_argument("--pg-fsync-off", action="store_true", help="keep pg-test.sh's fsync=off (not durable)")
    parser.add_argument("--keep", action="store_true", help="keep the homes (debugging)")
    parser.add_argument("--through-nginx", action="store_true", help="each run also through nginx with TLS (docs/deploy.md)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
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
        "| database | group commit | req/s | p50 ms | p99 ms | max ms | server CPU ms/request | 201s | saved | errors "
        "| all 201s sequenced, log verified |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        flush=True,
    )
    failed = False

    def label(database: str) -> str:
        return database + ("" if database == "sqlite" else " (fsync off)" if args.pg_fsync_off else " (fsync on)")

    if args.against:
        with _worktree(args.against) as (tree, short):
            for database in databases:
                for mode in modes:
                    rates: dict[str, list[float]] = {"this tree": [], short: []}
                    for n in range(args.rounds):
                        order = [("this tree", ROOT), (short, tree)]
                        for name, source in order if n % 2 == 0 else order[::-1]:
                            r = run_one(database, mode, args, source)
                            rates[name].append(r["created"] / args.seconds)
                            print(_row(f"{label(database)}, {name}", mode, r), flush=True)
                            failed = failed or not r["ok"]
                    mine, theirs = statistics.median(rates["this tree"]), statistics.median(rates[short])
                    print(
                        f"({label(database)}, group commit {'on' if mode else 'off'}: this tree / {short} = "
                        f"{mine / theirs:.2f}x the median accepted declarations per second, {mine:,.0f} vs {theirs:,.0f})",
                        flush=True,
                    )
    else:
        for database in databases:
            by_mode: dict[bool, float] = {}
            for mode in modes:
                r = run_one(database, mode, args)
                by_mode[mode] = r["created"] / args.seconds
                print(_row(label(database), mode, r), flush=True)
                failed = failed or not r["ok"]
                if args.through_nginx:
                    r = run_one(database, mode, args, through_nginx=True)
                    print(_row(f"{label(database)}, through nginx (TLS)", mode, r), flush=True)
                    failed = failed or not r["ok"]
            if len(by_mode) == 2 and by_mode[False]:
                print(f"({database}: group commit on/off = {by_mode[True] / by_mode[False]:.2f}x accepted declarations per second)", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if failed else 0
