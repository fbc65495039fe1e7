"""Validation and leaf encoding (issue 6): rows/s of ``CampaignRules.clean`` on realistic
rows, ``encode_leaf``/s, ``clean_text``/s and JSON Lines parse rows/s — each against the
implementation it replaced (kept verbatim in tests/support/reference.py, the reference the
equivalence tests compare with), as a ratio measured in the same run.

    python -m bench validate                 # 200,000 rows, best of 3
    python -m bench validate --rows 20000 --repeat 1
    python -m bench validate --profile       # cProfile of CampaignRules.clean instead

Rows come from ``bench_scale.generate`` (Chinese aliases, a statement on one in five,
a region on most, a historical date on half), read with ``formats.read_rows``. One
process, one core; no database (the campaign is an unsaved model instance).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _setup_django() -> None:
    os.environ.setdefault("TALLYLOG_HOME", tempfile.mkdtemp(prefix="tallylog-bench-validate-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tallylog.settings")
    import django

    django.setup()


# --- Measuring. ---------------------------------------------------------------------------


def best_rates(n: int, before: Callable[[], object], after: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Items per second of ``before`` and ``after`` (each handling ``n`` items), best of
    ``repeat`` runs taken in turn, so that both see the same load from other processes."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, run in enumerate((before, after)):
            gc.collect()
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return n / best[0], n / best[1]


def leaf_bodies(n: int) -> list[dict[str, Any]]:
    orgs = (["party"], ["league"], ["pioneers"], ["league", "pioneers"], ["party", "league", "pioneers"])
    return [
        {
            "kind": "declaration",
            "campaign": "three-withdrawals",
            "day": "2026-11-25",
            "channel": "import",
            "commit": hashlib.sha256(b"c%d" % i).hexdigest(),
            "tag": hashlib.sha256(b"t%d" % i).hexdigest(),
            "orgs": orgs[i % 5],
        }
        for i in range(n)
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="realistic rows (default 200,000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--profile", action="store_true", help="cProfile CampaignRules.clean and stop")
    args = parser.parse_args(argv)
    _setup_django()

    from bench.bench_scale import generate
    from tallylog import leaf
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.declarations.validation import clean_text
    from tallylog.registry.imports.formats import read_rows
    from tallylog.registry.imports.validation import CampaignRules
    from tests.support.reference import (
        reference_canonical_json,
        reference_clean_text,
        reference_encode_leaf,
        reference_parse_leaf,
        reference_read_jsonl,
        reference_rules_clean,
    )

    with tempfile.TemporaryDirectory(prefix="tallylog-bench-validate-") as tmp:
        path = Path(tmp) / "rows.jsonl"
        generate(path, args.rows)
        rows = [r.fields for r in read_rows(path, "jsonl")]
        parse_old, parse_new = best_rates(
            len(rows),
            lambda: sum(1 for _ in reference_read_jsonl(path)),
            lambda: sum(1 for _ in read_rows(path, "jsonl")),
            args.repeat,
        )

    campaign = Campaign(slug="three-withdrawals", kind=Campaign.Kind.DECLARATION, is_active=True)
    rules = CampaignRules(campaign, frozenset({"party", "league", "pioneers"}))
    for fields in rows[:1000]:  # the same results, or the ratio means nothing
        assert rules.clean(fields) == reference_rules_clean(rules, fields), fields

    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(lambda: [rules.clean(f) for f in rows])
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        return 0

    texts = [(f["alias"], False) for f in rows] + [(f["statement"], True) for f in rows if "statement" in f]
    # The slow path: pasted text with line breaks, tabs, zero-width and bidi characters.
    awkward = [
        (f"  {t}\u200b\r\n\r\n\r\n\t{t[::-1]}\u202e {i} ", i % 2 == 0) for i, (t, _) in enumerate(texts[:20_000])
    ]
    clean_text(awkward[0][0])  # build the dropped-character classes outside the timing
    bodies = leaf_bodies(min(args.rows, 100_000))
    assert [leaf.encode_leaf(**b) for b in bodies[:1000]] == [reference_encode_leaf(**b) for b in bodies[:1000]]

    print(f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}; "
          f"{len(rows):,} rows, best of {args.repeat}")
    print("| measure | before /s | after /s | ratio |\n| --- | ---: | ---: | ---: |")
    encoded = [leaf.encode_leaf(**b) for b in bodies]
    contents = [{**rules.clean(f), "campaign": "three-withdrawals"} for f in rows[: len(bodies)]]
    for content in contents:
        content["declared_on"] = content["declared_on"] and content["declared_on"].isoformat()
    salt = bytes(16)
    figures = [
        ("CampaignRules.clean (rows)", len(rows),
         lambda: [reference_rules_clean(rules, f) for f in rows], lambda: [rules.clean(f) for f in rows]),
        ("clean_text (the rows' aliases and statements)", len(texts),
         lambda: [reference_clean_text(t, multiline=m) for t, m in texts],
         lambda: [clean_text(t, multiline=m) for t, m in texts]),
        ("clean_text (awkward pasted text, slow path)", len(awkward),
         lambda: [reference_clean_text(t, multiline=m) for t, m in awkward],
         lambda: [clean_text(t, multiline=m) for t, m in awkward]),
        ("encode_leaf", len(bodies),
         lambda: [reference_encode_leaf(**b) for b in bodies], lambda: [leaf.encode_leaf(**b) for b in bodies]),
        ("parse_leaf (strict, unchanged but for canonical_json)", len(encoded),
         lambda: [reference_parse_leaf(d) for d in encoded], lambda: [leaf.parse_leaf(d) for d in encoded]),
        ("commitment (canonical_json + SHA-256)", len(contents),
         lambda: [hashlib.sha256(salt + reference_canonical_json(c)).hexdigest() for c in contents],
         lambda: [leaf.commitment(salt, c) for c in contents]),
    ]
    for name, n, before, after in figures:
        old, new = best_rates(n, before, after, args.repeat)
        print(f"| {name} | {old:,.0f} | {new:,.0f} | {new / old:.1f}× |", flush=True)
    print(f"| read_rows JSON Lines (rows) | {parse_old:,.0f} | {parse_new:,.0f} | {parse_new / parse_old:.1f}× |")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
