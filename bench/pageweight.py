"""What the page-weight benchmarks share (``bench_pages``, ``bench_volunteers``): the page
budget, their command line (``--count``, ``--write``) and the dated section they append to
bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
# A page and everything it loads stays under this many bytes (STYLE.md: tens of KB).
TARGET = 30 * 1024


def arguments(name: str, doc: str, argv: list[str], *, count: int, counted: str) -> argparse.Namespace:
    """``python -m bench NAME [--count N] [--write]``: ``count`` is the default N, ``counted``
    says what N counts; the description is the first line of ``doc``."""
    parser = argparse.ArgumentParser(prog=f"python -m bench {name}", description=doc.splitlines()[0])
    parser.add_argument("--count", type=int, default=count, help=f"{counted} (default {count})")
    parser.add_argument("--write", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args(argv)


def write_results(heading: str, name: str, count: int, setup: str, text: str) -> None:
    """Append ``text`` to bench/RESULTS.md under ``## heading``, after a line saying when, on
    how many cores and with which command it was measured, followed by ``setup``."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(
            f"\n## {heading}\n\n{stamp}, {os.cpu_count()} cores, "
            f"`python -m bench {name} --count {count}`{setup}\n\n{text}\n"
        )
