"""Page weight: bytes each public page transfers in a real browser (Debian's Chromium).

Starts ``tallylog serve`` on a fresh home filled by ``tallylog demo``, loads each page
with JavaScript off in Simplified Chinese on a first visit (nothing cached), and reports
for each: bytes on the wire
(response headers and bodies of every request the page made), the number of requests,
and requests to any other host (must be 0). Target: home and declare under 30 KB.

    python -m bench pages [--count N] [--write]

``--write`` appends the table to bench/RESULTS.md under "Page weight".
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.pageweight import ROOT, TARGET, arguments, write_results

PAGES = [
    ("home", "/"),
    ("declare", "/declare/"),
    ("declarations", "/declarations/"),
    ("declaration", None),  # the first one linked from the list
    ("receipt", "/receipt/"),
    ("transparency", "/transparency/"),
]


def measure(count: int) -> list[tuple[str, str, int, int, int]]:
    """(name, path, bytes, requests, foreign requests) for each page."""
    sys.path.insert(0, str(ROOT))
    from tests.support.chromium import Visit, browser
    from tests.support.serverproc import Server, init_home, run_cli

    rows = []
    with tempfile.TemporaryDirectory(prefix="tallylog-bench-pages-") as tmp:
        home = Path(tmp) / "home"
        init_home(home)
        demo = run_cli(home, "demo", "--count", str(count), "--seed", "7", timeout=900)
        if demo.returncode != 0:
            raise SystemExit(f"tallylog demo failed: {demo.stderr}")
        server = Server(home, Path(tmp) / "logs")
        server.start()
        origin = f"http://127.0.0.1:{server.port}"
        try:
            with browser() as b:
                declaration = "/declarations/1/"
                for name, path in PAGES:
                    # A fresh context for each page: a first visit, nothing cached.
                    context = b.new_context(java_script_enabled=False, locale="zh-CN", base_url=origin)
                    page = context.new_page()
                    visit = Visit(page)
                    if path is None:
                        path = declaration
                    page.goto(path, wait_until="load")
                    rows.append((name, path, visit.transferred(), len(visit.requests), len(visit.foreign_requests(origin))))
                    if name == "declarations":
                        links = page.locator("a[href*='/declarations/']").evaluate_all(
                            "els => els.map(e => e.getAttribute('href')).filter(h => /\\/declarations\\/\\d+\\/?$/.test(h))"
                        )
                        declaration = links[0] if links else declaration
                    context.close()
        finally:
            server.stop()
    return rows


def table(rows: list[tuple[str, str, int, int, int]]) -> str:
    lines = ["| page | path | bytes | KB | requests | other hosts |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name, path, size, requests, foreign in rows:
        lines.append(f"| {name} | `{path}` | {size} | {size / 1024:.1f} | {requests} | {foreign} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = arguments("pages", __doc__, argv, count=3000, counted="demo declarations")
    rows = measure(args.count)
    text = table(rows)
    print(text)
    over = [name for name, _, size, _, _ in rows if name in ("home", "declare") and size >= TARGET]
    foreign = [name for name, *_, n in rows if n]
    if args.write:
        write_results(
            "Page weight (bench/bench_pages.py)", "pages", args.count,
            f": Debian Chromium headless, JavaScript off, zh-CN, {args.count} demo declarations; bytes on "
            f"the wire per page load (headers + bodies of every request). Target: home and declare "
            f"< {TARGET // 1024} KB, no other host.",
            text,
        )  # fmt: skip
    if foreign:
        print(f"pages requesting other hosts: {', '.join(foreign)}", file=sys.stderr)
    if over:
        print(f"over {TARGET // 1024} KB: {', '.join(over)}", file=sys.stderr)
    return 1 if over or foreign else 0
