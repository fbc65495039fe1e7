"""Bulk import end to end — parse, validate, insert, sequence into the log — into SQLite
and PostgreSQL: rows/s, peak memory, disk; a growth table and a projection to 400 million.

    python -m bench scale                      # 100,000 rows, SQLite and PostgreSQL, direct
    python -m bench scale --rows 1000000 --engine sqlite --mode both
    python -m bench scale --growth             # 1M and 10M rows, both engines (long)
    python -m bench scale --huge               # 10M rows

Modes: ``direct`` is ``tallylog import --sequence`` with the sequencer lease free (each batch
one pass of the commit protocol); ``queue`` imports with the entries queued, then runs the
sequencer's passes until nothing waits (the only way before direct sequencing). Each run
is a fresh home and a fresh database in a child process, so peak memory is the child's
own (the worker processes' peak is shown beside it). SQLite runs as tallylog configures
it (WAL, synchronous=FULL: every commit is durable); PostgreSQL is scripts/pg-test.sh's
throwaway server, with fsync OFF (its figures are not disk-bound). The log's tiles are
written with syncfs in both. The input is generated once per size (JSON Lines,
realistic Chinese aliases, a statement on one row in five, historical dates on half).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_TEST = REPO / "scripts" / "pg-test.sh"
TARGET = 400_000_000

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌玉兰云飞鹏宇浩然思远"
STATEMENTS = ("退出中共，还我自由。", "天灭中共，退党保平安。", "我声明退出共青团和少先队。", "良心选择。")
ORG_SETS = (["party"], ["league"], ["pioneers"], ["league", "pioneers"], ["party", "league", "pioneers"])
REGIONS = ("beijing", "shanghai", "guangdong", "sichuan", "henan", "overseas", "")


def generate(path: Path, rows: int, seed: int = 6) -> None:
    """Write ``rows`` realistic declarations as JSON Lines."""
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            row: dict[str, object] = {
                "alias": rnd.choice(SURNAMES) + rnd.choice(GIVEN) + (rnd.choice(GIVEN) if i % 2 else ""),
                "orgs": rnd.choice(ORG_SETS),
            }
            if i % 5 == 0:
                row["statement"] = rnd.choice(STATEMENTS)
            region = rnd.choice(REGIONS)
            if region:
                row["region"] = region
            if i % 2 == 0:
                row["declared_on"] = f"{rnd.randint(2005, 2025)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def child(args: argparse.Namespace) -> int:
    """Inside the child: set up the home, import, sequence; print one JSON line of figures."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tallylog.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from tallylog.home import Home
    from tallylog.registry.campaigns.defaults import ensure_default_campaign
    from tallylog.registry.imports.importer import import_file

    call_command("migrate", verbosity=0)
    campaign, _ = ensure_default_campaign()
    home = Home.from_env()
    if not args.import_only:
        from tallylog.composition import ensure_signing_key, get_log
        from tallylog.registry.entries.sequencer import sequence_pending

        ensure_signing_key(home, "bench.example/scale")
    path = Path(args.child)
    direct = args.mode == "direct" and not args.import_only
    t0 = time.perf_counter()
    result = import_file(
        campaign,
        path,
        fmt="jsonl",
        report_path=home.path / "report.csv",
        batch_size=args.batch,
        jobs=args.jobs,
        log=get_log() if direct else None,
    )
    t1 = time.perf_counter()
    sequenced = result.sequenced
    if not args.import_only and not direct:
        log = get_log()
        while n := sequence_pending(log, batch_size=args.sequence_batch):
            sequenced += n
    t2 = time.perf_counter()
    if direct:  # one pass did both: the import's time is the end-to-end time
        t1 = t2
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SELECT pg_database_size(current_database())")
            db_bytes = c.fetchone()[0]
    else:
        db_bytes = sum(p.stat().st_size for p in home.path.glob("db.sqlite3*"))
    print(
        json.dumps(
            {
                "imported": result.imported,
                "rejected": result.rejected,
                "sequenced": sequenced,
                "import_s": t1 - t0,
                "sequence_s": t2 - t1,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "db_bytes": db_bytes,
                "log_bytes": du(home.log_dir),
            }
        ),
        flush=True,
    )
    return 0


def run_one(engine: str, data: Path, mode: str, args: argparse.Namespace) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="tallylog-bench-scale-", dir=args.workdir))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["TALLYLOG_HOME"] = str(work / "home")
    pg_dir = None
    try:
        from tallylog.home import Home

        Home.from_env(work / "home").ensure()
        if engine == "postgresql":
            out = subprocess.run(["bash", str(PG_TEST), "start"], capture_output=True, text=True, check=True)
            values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
            env["DATABASE_URL"], pg_dir = values["DATABASE_URL"], values["PGTEST_DIR"]
        cmd = [
            sys.executable, "-m", "bench.bench_scale", "--child", str(data),
            "--batch", str(args.batch), "--sequence-batch", str(args.sequence_batch),
            "--jobs", str(args.jobs), "--mode", mode,
        ] + (["--import-only"] if args.import_only else [])
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"bench child failed ({engine}):\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if pg_dir:
            subprocess.run(["bash", str(PG_TEST), "stop", pg_dir], check=False)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows to import (repeatable; default 100000)")
    parser.add_argument("--huge", action="store_true", help="10,000,000 rows")
    parser.add_argument("--growth", action="store_true", help="1M and 10M rows: the growth table")
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--mode",
        choices=("direct", "queue", "both"),
        default="direct",
        help="direct: import --sequence in one pass per batch; queue: import, then the "
        "sequencer's passes (the way before); both: each, in the same run",
    )
    parser.add_argument("--batch", type=int, default=10_000, help="import rows per transaction")
    parser.add_argument("--sequence-batch", type=int, default=100_000, help="entries per sequencer pass (queue mode)")
    parser.add_argument("--jobs", type=int, default=1, help="importer worker processes (default 1; 0: none)")
    parser.add_argument("--import-only", action="store_true", help="parse, validate and insert; no sequencing")
    parser.add_argument("--workdir", help="where the temporary homes go (default: the system's temp dir)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    sizes = args.rows or ([1_000_000, 10_000_000] if args.growth else [10_000_000] if args.huge else [100_000])
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    modes = ("queue", "direct") if args.mode == "both" else (args.mode,)
    print(
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; import batch {args.batch}, jobs {args.jobs}, "
        f"sequencer batch {args.sequence_batch}\n"
        "| engine | mode | rows | import rows/s | sequence rows/s | end to end rows/s | peak RSS MB (worker) | db MB | log MB |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="tallylog-bench-data-", dir=args.workdir) as tmp:
        for rows in sizes:
            data = Path(tmp) / f"rows-{rows}.jsonl"
            generate(data, rows)
            for engine in engines:
                for mode in modes:
                    r = run_one(engine, data, mode, args)
                    total = r["import_s"] + r["sequence_s"]
                    seq_rate = f"{r['sequenced'] / r['sequence_s']:,.0f}" if r["sequence_s"] else "(in import)"
                    results.append((engine, mode, rows, r, total))
                    print(
                        f"| {engine} | {mode} | {rows:,} | {r['imported'] / r['import_s']:,.0f} | "
                        f"{seq_rate} | {rows / total:,.0f} | "
                        f"{r['peak_rss_mb']:.0f} ({r['workers_rss_mb']:.0f}) | {r['db_bytes'] / 1e6:,.0f} | {r['log_bytes'] / 1e6:,.0f} |",
                        flush=True,
                    )
            data.unlink()
    print(f"\nProjection to {TARGET:,} rows (linear in rows from the largest run; load {os.getloadavg()[0]:.2f}):")
    for engine in engines:
        for mode in modes:
            runs = [x for x in results if x[0] == engine and x[1] == mode]
            if not runs:
                continue
            _, _, rows, r, total = max(runs, key=lambda x: x[2])
            scale = TARGET / rows
            print(
                f"- {engine} {mode}: {total * scale / 3600:,.1f} h, database {r['db_bytes'] * scale / 1e9:,.0f} GB, "
                f"log {r['log_bytes'] * scale / 1e9:,.0f} GB, peak memory ~{r['peak_rss_mb']:.0f} MB (flat)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
