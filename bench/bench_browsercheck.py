"""The receipt check in the browser (/verify/, issue 14 §3): its time and the bytes it
downloads, in Debian's Chromium (headless), from a static copy on a plain file server.

    python -m bench browsercheck                          # 10,000 and 1,000,000 entries
    python -m bench browsercheck --sizes 10000 --repeat 1
    python -m bench browsercheck --serve --sizes 60000    # through `tallylog serve`, gzip

For each size it builds a log with ``tallylog.tlog.Appender`` in a temporary directory,
the entries spread over days of at most ``--per-day`` (60,000) entries, with the
declarant's v2 entry two thirds into the last full day; renders the verify page as
``tallylog export-static`` does; serves the directory with ``http.server`` on loopback;
and opens ``/en/verify/#CODE/DAY`` in a fresh browser context each time (no cache).
"check" is the page's own timing (``data-ms``: from reading the code to the verdict,
signature and tiles included); "load + check" adds the page load; "bytes" are the log
files the page downloaded (bodies, ``data-bytes``) and everything on the wire
(Playwright's sizes, headers included).

``--serve`` measures the same check against ``tallylog serve`` instead (issue 14 §5: entry
bundles gzip-compressed for a client that accepts it, as Chromium does): for each size N a
fresh home gets N declarations in one day, today's (``bench_scale.generate``, imported with
``tallylog import --sequence --receipts``), and the check looks for the receipt two thirds
into the day at ``/verify/#CODE/DAY``. "wire bytes" are then the compressed bodies and their
headers; "log bytes" the bodies the page read once decoded.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CODE = "31415-92653-58979-32384-62643"


def build(root: Path, size: int, per_day: int) -> tuple[str, str, int]:
    """A log of ``size`` entries in ``root/log`` and the verify page; returns the day
    searched, the verifier key and the index of the declarant's entry."""
    from tests.browser.verifysite import build_log, render_verify_page

    first = datetime.date(2026, 10, 1)
    days: list[tuple[str, int]] = []
    left = size
    while left > 0:
        n = min(per_day, left)
        days.append(((first + datetime.timedelta(days=len(days))).isoformat(), n))
        left -= n
    full = [i for i, (_, n) in enumerate(days) if n == max(n for _, n in days)]
    target = full[-1]
    start = sum(n for _, n in days[:target])
    index = start + 2 * days[target][1] // 3
    vkey = build_log(root / "log", days, {index: (CODE, 2)})
    render_verify_page(root, vkey, langs=("en",))
    return days[target][0], vkey, index


@contextlib.contextmanager
def served_home(root: Path, size: int) -> Iterator[tuple[str, str, int, str]]:
    """``tallylog serve`` on a home of ``size`` declarations imported today; yields its
    origin, the day, the index of the declarant's entry and its receipt code."""
    import csv

    from bench.bench_scale import generate
    from tests.support.serverproc import Server, run_cli, server_env

    home = root / "home"
    env = server_env(home, TALLYLOG_RATE_LIMITS="off", TALLYLOG_FLOOD_THRESHOLD="0")
    for args in (("init",), ("import", str(root / "rows.jsonl"), "--campaign", "three-withdrawals",
                             "--sequence", "--receipts", str(root / "receipts.csv"))):
        if args[0] == "import":
            generate(root / "rows.jsonl", size, seed=14)
        done = run_cli(home, *args, env=env, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"tallylog {args[0]}: {done.stderr}")
    with open(root / "receipts.csv", newline="", encoding="utf-8") as f:
        codes = [row["receipt"] for row in csv.DictReader(f)]
    code = codes[2 * len(codes) // 3]
    server = Server(home, root / "logs", env_extra={"TALLYLOG_RATE_LIMITS": "off", "TALLYLOG_FLOOD_THRESHOLD": "0"})
    server.start()
    try:
        found = server.get(f"/api/v1/receipts/{code}").json()
        day = json.loads(found["leaf"])["day"]
        yield f"http://127.0.0.1:{server.port}", day, int(found["index"]), code
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench browsercheck")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--per-day", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help="through `tallylog serve` (gzip), one day of SIZE entries")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from tests.browser.verifysite import run_check, serve
    from tests.support.chromium import Visit, browser

    print(f"{'entries':>10} {'day size':>9} {'build s':>8} {'check ms (best/median)':>23} "
          f"{'load+check ms':>14} {'log bytes':>11} {'wire bytes':>11}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-browsercheck-") as tmp:
            root = Path(tmp)
            started = time.perf_counter()
            with contextlib.ExitStack() as stack:
                if args.serve:
                    origin, day, index, code = stack.enter_context(served_home(root, size))
                    url = f"{origin}/verify/#{code}/{day}"
                    day_size = size
                else:
                    day, _vkey, index = build(root, size, args.per_day)
                    origin = stack.enter_context(serve(root))
                    url = f"{origin}/en/verify/#{CODE}/{day}"
                    day_size = min(args.per_day, size)
                built = time.perf_counter() - started
                checks, totals, log_bytes, wire = [], [], 0, 0
                b = stack.enter_context(browser())
                for _ in range(args.repeat):
                    context = b.new_context(locale="en")
                    page = context.new_page()
                    visit = Visit(page)
                    t0 = time.perf_counter()
                    outcome = run_check(page, url)
                    totals.append((time.perf_counter() - t0) * 1000)
                    if outcome.status != "included" or outcome.index != index:
                        print(f"bench browsercheck: the check said {outcome}", file=sys.stderr)
                        return 1
                    checks.append(outcome.ms)
                    log_bytes, wire = outcome.bytes, visit.transferred()
                    context.close()
            print(f"{size:>10,} {day_size:>9,} {built:>8.1f} {min(checks):>11,} / {statistics.median(checks):>9,.0f} "
                  f"{min(totals):>14,.0f} {log_bytes:>11,} {wire:>11,}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
