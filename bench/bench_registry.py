"""Registry benchmark: declarations submitted per second (``submit_declaration``, SQLite,
one process) and entries sequenced per second (``sequence_pending``: leaves, tiles,
commit transaction, checkpoint), on a fresh temporary home.

    python -m bench registry [--submit N] [--sequence N] [--batch B]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def alias(i: int) -> str:
    """A distinct alias per ``i`` (digits as Chinese numerals: the flood screen, which
    ignores digits, sees distinct declarants, as it would on a real site)."""
    return "声明人" + "".join("零一二三四五六七八九"[int(c)] for c in str(i))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench registry")
    parser.add_argument("--submit", type=int, default=2000, help="declarations submitted one by one")
    parser.add_argument("--sequence", type=int, default=50_000, help="entries then sequenced")
    parser.add_argument("--batch", type=int, default=4096, help="sequencer batch size")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="tallylog-bench-registry-")
    from tallylog.cli import main as cli

    if cli(["init", "--home", home, "--origin", "bench.example/registry"]) != 0:
        return 1
    from django.db import transaction

    from tallylog.composition import get_log
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.declarations.actions import submit_declaration
    from tallylog.registry.entries.sequencer import sequence_pending

    campaign = Campaign.objects.get(slug="three-withdrawals")
    log = get_log()

    latencies = []
    started = time.perf_counter()
    for i in range(args.submit):
        t = time.perf_counter()
        submit_declaration(campaign, alias=alias(i), orgs=["party", "league"], statement="声明退出")
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(
        f"submit_declaration: {args.submit} in {elapsed:.2f} s = {args.submit / elapsed:,.0f}/s; "
        f"p50 {statistics.median(latencies) * 1000:.2f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms"
    )

    # Fill the queue faster than one by one, then time the sequencer alone.
    remaining = args.sequence - args.submit
    chunk = 2000
    while remaining > 0:
        with transaction.atomic():
            for i in range(min(chunk, remaining)):
                submit_declaration(campaign, alias=alias(remaining + i), orgs=["pioneers"], channel="phone")
        remaining -= chunk
    passes = []
    started = time.perf_counter()
    total = 0
    while True:
        t = time.perf_counter()
        n = sequence_pending(log, batch_size=args.batch)
        if not n:
            break
        passes.append(time.perf_counter() - t)
        total += n
    elapsed = time.perf_counter() - started
    print(
        f"sequence_pending: {total} entries in {elapsed:.2f} s = {total / elapsed:,.0f} entries/s "
        f"(batch {args.batch}, {len(passes)} passes, median pass {statistics.median(passes) * 1000:.0f} ms); "
        f"cores {os.cpu_count()}"
    )
    return 0
