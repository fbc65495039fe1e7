"""The storage floor: what SQLite alone costs to store one imported declaration — its
``declarations_declaration`` row and its ``entries_logentry`` row, sequenced — with
tallylog's own schema, and how much of it each part of the schema takes.

    python -m bench storage [--rows N] [--batch B] [--repeat R]

The tables and indexes are read from a freshly migrated database (so the bench follows
the migrations), then re-created in a scratch database per variant: as migrated; without
the secondary indexes; with foreign-key checks off; without the JSON ``CHECK``
constraints; with all three off. Each variant inserts ``--rows`` pairs with
``executemany`` in transactions of ``--batch`` rows — the way the importer's
``TableWriter`` writes them — under tallylog's pragmas (WAL, ``synchronous=FULL``, the
importer's 64 MiB page cache). Rows are fixed in shape (a Chinese alias, a leaf-sized
blob), so nothing but SQLite is timed: no parsing, validation, hashing or log. Variants
run in turn, ``--repeat`` rounds; the median of each is reported with its ratio to "as
migrated" (same minutes, same load) and the database size.

It answers one question for the import target (issue 6): how many declarations a second
can SQLite take at all, on this machine, before any of tallylog's own work.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("declarations_declaration", "entries_logentry")
JSON_CHECK = re.compile(r'CHECK \(\(JSON_VALID\("\w+"\) OR "\w+" IS NULL\)\)')
NOW = "2026-12-02 14:00:00"


def migrated_schema() -> list[str]:
    """``CREATE`` statements of the campaign, user, entry and declaration tables and
    their indexes, from a database migrated in a scratch home (a child process: Django is set
    up there, not here)."""
    with tempfile.TemporaryDirectory(prefix="tallylog-bench-storage-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["TALLYLOG_HOME"] = tmp
        env["DJANGO_SETTINGS_MODULE"] = "tallylog.settings"
        subprocess.run([sys.executable, "-m", "tallylog.cli", "init"], env=env, cwd=ROOT, check=True, capture_output=True)
        db = sqlite3.connect(Path(tmp) / "db.sqlite3")
        try:
            return [
                sql
                for (sql,) in db.execute(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN (?, ?, ?, ?) "
                    "ORDER BY type = 'index', name",
                    ("campaigns_campaign", "auth_user", *TABLES),
                )
            ]
        finally:
            db.close()


def run(schema: list[str], path: Path, rows: int, batch: int, *, indexes: bool, fk: bool, checks: bool) -> tuple[float, int]:
    """Insert ``rows`` declaration/entry pairs; return (pairs per second, database bytes)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(f"PRAGMA foreign_keys={'ON' if fk else 'OFF'}")
    db.execute("PRAGMA cache_size=-65536")
    for sql in schema:
        if sql.startswith("CREATE INDEX") and not indexes and any(f'ON "{t}"' in sql for t in TABLES):
            continue  # secondary indexes of the two tables (UNIQUE columns keep theirs)
        db.execute(sql if checks else JSON_CHECK.sub("", sql))
    columns = [row[1] for row in db.execute("PRAGMA table_info(campaigns_campaign)")]
    db.execute(
        f"INSERT INTO campaigns_campaign ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [1 if c == "id" else "[]" for c in columns],
    )
    leaf, salt = os.urandom(190), os.urandom(16)
    started = time.perf_counter()
    for first in range(1, rows + 1, batch):
        ids = range(first, min(first + batch, rows + 1))
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO entries_logentry (id, channel, log_index, leaf, campaign_id, kind, body, "
            "published_at, day, sequenced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(i, "import", i - 1, leaf, 1, "declaration", "{}", NOW, "2026-12-02", NOW) for i in ids],
        )
        db.executemany(
            "INSERT INTO declarations_declaration (alias, statement, region, declared_on, salt, orgs, "
            "channel, tag, entry_id, receipt_hash, campaign_id, status, reject_reason, created_at, "
            "published_at, redacted_at, redacted_by, moderated_by_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (f"退出者{i}", "", "", "2020-01-01", salt, '["league","party"]', "import", f"{i:064x}",
                 i, bytes(24) + i.to_bytes(8, "big"), 1, "published", "", NOW, NOW, None, "", None)
                for i in ids
            ],
        )
        db.execute("COMMIT")
    rate = rows / (time.perf_counter() - started)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return rate, path.stat().st_size


VARIANTS = {
    "as migrated": {"indexes": True, "fk": True, "checks": True},
    "no secondary indexes": {"indexes": False, "fk": True, "checks": True},
    "foreign keys off": {"indexes": True, "fk": False, "checks": True},
    "no JSON checks": {"indexes": True, "fk": True, "checks": False},
    "all three off": {"indexes": False, "fk": False, "checks": False},
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench storage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="declarations per variant")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per transaction (the importer's default)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds over the variants; the median is reported")
    args = parser.parse_args(argv)
    schema = migrated_schema()
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    sizes: dict[str, int] = {}
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.rows:,} rows, batch {args.batch:,}, "
          f"{args.repeat} rounds", flush=True)
    with tempfile.TemporaryDirectory(prefix="tallylog-bench-storage-") as tmp:
        for _ in range(args.repeat):
            for name, flags in VARIANTS.items():
                rate, size = run(schema, Path(tmp) / "floor.db", args.rows, args.batch, **flags)
                rates[name].append(rate)
                sizes[name] = size
    base = statistics.median(rates["as migrated"])
    print("| variant | declarations/s (median) | all rounds | × as migrated | µs per declaration | database MB |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for name, values in rates.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:,.0f} | {', '.join(f'{v:,.0f}' for v in values)} | {median / base:.2f} | "
            f"{1e6 / median:.1f} | {sizes[name] / 1e6:,.0f} |"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0
