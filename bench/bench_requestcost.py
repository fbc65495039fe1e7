"""What one API declaration costs the server, counted in instructions, not timed: the
request path of ``POST /api/v1/campaigns/three-withdrawals/declarations`` through the WSGI
application (every middleware, django-ninja, ``submit_declaration``, the group commit), one
thread, under valgrind's callgrind, on a fresh home with ``bench api``'s settings (rate
limits and flood screen off, publication at once, group commit on).

    python -m bench requestcost [--requests N] [--against REV] [--production]

On a machine shared with other work, wall-clock and CPU times move by tens of percent from
run to run (bench/RESULTS.md); the number of instructions a request executes does not (it
depends only on the code, within a fraction of a percent). So this is the way to tell
whether a change made the request path dearer, and by how much: ``--against REV`` counts
the commit REV too (in a temporary git worktree, as ``bench api --against`` does) and
prints the ratio. It leaves out what instructions cannot see: time waiting for the disk
(``fdatasync``), for the write turn or for the GIL, and the kernel's work. Those are
``bench api``'s (wrk against ``tallylog serve``), which measures the rate.

``--production`` keeps the site's own rate limits and flood screen (the default settings)
instead: each request then also counts in the shared cache (per source, per campaign, and
the flood screen's keys); every request comes from an address of its own, so that none is
refused. The campaign is read once (its per-process cache is kept for good: a count must not depend
on how fast the code ran). Each count starts after ``--warm`` requests (imports, caches, the first connection) and
covers ``--requests`` more; callgrind's instrumentation is switched on and off around them
with ``callgrind_control``. Also printed: the CPU time a request takes without valgrind
(``time.process_time``, the same process layout; noisy on a busy machine).

Needs valgrind (Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.bench_api import ROOT, SETTINGS, _worktree
from bench.bench_web import remove_home

PRODUCTION = """from tallylog.settings import *  # noqa: F401,F403

TALLYLOG_PUBLISH_INTERVAL = 0
"""

# Run as a script in the home (so that its directory, not this checkout, is first on the
# path): N requests after WARM, timed, with callgrind's instrumentation on around them
# when CALLGRIND is set.
DRIVER = r'''
import io, json, os, random, string, subprocess, sys, time

from tallylog.wsgi import application
from tallylog.registry.campaigns import models as campaigns

# The campaign is re-read once a second: at a real server's rate a negligible share of
# requests, under valgrind (a hundred times slower) one in a few, and more the busier the
# machine. Kept for good here, so that the count does not depend on the speed.
campaigns.CAMPAIGN_CACHE_SECONDS = float("inf")
PATH = "/api/v1/campaigns/three-withdrawals/declarations"
STATEMENT = "I leave the party and every organisation of it"  # long enough for the flood screen's sketch


def post(rng):
    alias = "bench-" + "".join(rng.choice(string.ascii_lowercase) for _ in range(12))
    body = json.dumps({"alias": alias, "orgs": ["party", "league"], "statement": STATEMENT}).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": PATH, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1:8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)), "HTTP_ACCEPT_LANGUAGE": "en", "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    environ["REMOTE_ADDR"] = "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
    status = []
    answer = b"".join(application(environ, lambda s, h, e=None: status.append(s)))
    if not status[0].startswith("201"):
        raise SystemExit(f"bench requestcost: {status[0]} {answer[:300]!r}")


def callgrind(switch):
    if os.environ.get("CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True)


warm, n = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(n)
for _ in range(warm):
    post(rng)
callgrind("on")
cpu = time.process_time()
for _ in range(n):
    post(rng)
cpu = time.process_time() - cpu
callgrind("off")
print(json.dumps({"cpu_us": 1e6 * cpu / n}))
'''


@contextlib.contextmanager
def _home(tree: Path, production: bool = False) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh home for ``tree`` with ``bench api``'s settings (``production``: the site's
    own limits and flood screen, publication at once); its path and environment."""
    home = Path(tempfile.mkdtemp(prefix="tallylog-bench-cost-"))
    try:
        (home / "py").mkdir()
        settings = PRODUCTION if production else SETTINGS.format(group_commit=True)
        (home / "py" / "bench_api_settings.py").write_text(settings)
        (home / "driver.py").write_text(DRIVER)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(
            {
                "TALLYLOG_HOME": str(home),
                "DJANGO_SETTINGS_MODULE": "bench_api_settings",
                "PYTHONPATH": os.pathsep.join([str(home / "py"), str(tree)]),
            }
        )
        subprocess.run(
            [sys.executable, "-m", "tallylog.cli", "init", "--origin", "bench.example/cost"],
            env=env, cwd=home, check=True, capture_output=True,
        )
        yield home, env
    finally:
        remove_home(home)


def measure(tree: Path, warm: int, requests: int, production: bool = False) -> dict[str, float]:
    """Instructions and CPU microseconds a request of ``tree``'s server takes."""
    import json

    with _home(tree, production) as (home, env):
        timed = subprocess.run(
            [sys.executable, str(home / "driver.py"), str(warm), str(requests)],
            env=env, cwd=home, check=True, capture_output=True, text=True,
        )
        counted = subprocess.run(
            [
                "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={home}/callgrind.out",
                sys.executable, str(home / "driver.py"), str(warm), str(requests),
            ],
            env={**env, "CALLGRIND": "1", "PYTHONMALLOC": "malloc"}, cwd=home, check=True, capture_output=True, text=True,
        )
    found = re.search(r"Collected : (\d+)", counted.stderr)
    if found is None:
        raise RuntimeError(f"bench requestcost: no count from callgrind:\n{counted.stderr[-2000:]}")
    return {"instructions": int(found.group(1)) / requests, "cpu_us": json.loads(timed.stdout)["cpu_us"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench requestcost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests counted (after the warm-up)")
    parser.add_argument("--warm", type=int, default=50, help="requests before counting")
    parser.add_argument("--against", metavar="REV", help="count the commit REV too, and print the ratio")
    parser.add_argument("--production", action="store_true", help="with the site's rate limits and flood screen")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warm < 1:
        parser.error("--requests and --warm must be at least 1")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench requestcost: valgrind is missing (apt-get install valgrind)", file=sys.stderr)
        return 1
    limits = "the site's rate limits and flood screen" if args.production else "rate limits and flood screen off"
    print(f"{limits}; one thread, {args.warm} requests to warm, then {args.requests} counted; load average {os.getloadavg()[0]:.2f}")
    print("| tree | instructions/request | CPU µs/request (timed, noisy) |\n| --- | ---: | ---: |", flush=True)
    mine = measure(ROOT, args.warm, args.requests, args.production)
    print(f"| this tree | {mine['instructions']:,.0f} | {mine['cpu_us']:,.0f} |", flush=True)
    if args.against:
        with _worktree(args.against) as (tree, short):
            theirs = measure(tree, args.warm, args.requests, args.production)
        print(f"| {short} | {theirs['instructions']:,.0f} | {theirs['cpu_us']:,.0f} |")
        print(
            f"(this tree / {short}: {mine['instructions'] / theirs['instructions']:.3f}x the instructions a request, "
            f"{mine['cpu_us'] / theirs['cpu_us']:.2f}x the CPU time)"
        )
    return 0
