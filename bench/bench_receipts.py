"""The declarant's private receipt check (issue 15 item 2): the time to scan one day's
entry bundles for the entry of a receipt code, with leaf v2's salted tags (one SHA-256
per entry) against v1's unsalted ones (one substring search per entry), and what a
memory-hard function per entry (Argon2id) would cost instead.

    python -m bench receipts                  # 60,000 entries on the day, best of 5
    python -m bench receipts --entries 6000 --repeat 1

It builds a real log in a temporary directory with ``tallylog log append`` (a day of
1,000 entries, then the measured day), then times, in this process:
- ``scan``: ``tallylog.leaf.receipt_matcher`` over the day's leaves in memory (the cost
  the tag design adds; a browser page does the same work);
- ``check-receipt --day``: ``find_receipt`` from the directory, as the command runs it
  (read the day's bundles, authenticate each against the signed tiles, scan, prove);
and once, ``tallylog check-receipt --day`` as a command (with Python's start-up).
Argon2id is timed on a few hashes and multiplied by the day's entries.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DAY_BEFORE = "2026-12-02"
DAY = "2026-12-03"
BEFORE = 1000


def best(repeat: int, run: Callable[[], object]) -> float:
    """The best of ``repeat`` timings of ``run()``, in seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def leaves(n: int, version: int, codes: dict[int, str]) -> list[bytes]:
    """``n`` declaration leaves of ``DAY`` as the registry writes them; entry ``i`` in
    ``codes`` gets that receipt code's tag, the others a random code's."""
    from tallylog import leaf

    orgs = (["party"], ["league"], ["pioneers"], ["league", "pioneers"], ["league", "party", "pioneers"])
    out = []
    for i in range(n):
        code = codes.get(i) or leaf.new_receipt_code()
        tag, salt = leaf.new_receipt_tag(code) if version == 2 else (leaf.receipt_tag_v1(code), None)
        out.append(
            leaf.encode_leaf(
                kind="declaration", campaign="three-withdrawals", day=DAY, channel="web",
                commit=hashlib.sha256(b"c%d" % i).hexdigest(), tag=tag, orgs=orgs[i % 5], tag_salt=salt,
            )
        )
    return out


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tallylog.cli", *args], input=stdin, capture_output=True, check=True, timeout=900
    )


def build_log(tmp: Path, day: list[bytes], before: list[bytes]) -> tuple[Path, str]:
    """A signed log in ``tmp/log``: ``before`` on ``DAY_BEFORE``, then ``day``; its verifier key."""
    key = tmp / "key"
    vkey = cli("keygen", "--origin", "bench.example/receipts", "--out", str(key)).stdout.decode().splitlines()[-1]
    log = tmp / "log"
    cli("log", "append", str(log), "--key", str(key), "--batch", "4096", stdin=b"".join(e + b"\n" for e in before + day))
    index = {"days": [
        {"day": DAY_BEFORE, "start": 0, "end": len(before)},
        {"day": DAY, "start": len(before), "end": len(before) + len(day)},
    ]}
    (log / "day-index.json").write_text(json.dumps(index))
    return log, vkey


def argon2_seconds(memory_kib: int, samples: int) -> float:
    """Seconds per Argon2id hash (time cost 1, one lane, ``memory_kib``), best of ``samples``."""
    from argon2.low_level import Type, hash_secret_raw

    salt = os.urandom(16)
    return best(samples, lambda: hash_secret_raw(b"0188670025123456789024680", salt, 1, memory_kib, 1, 32, Type.ID))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench receipts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=60_000, help="entries on the day (default 60,000)")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args(argv)
    n = args.entries

    from tallylog import leaf
    from tallylog.cli.auditcmds import day_range
    from tallylog.tlog import LogClient, note

    def find_receipt(location: str, verifier: note.Verifier, matches, day: str) -> dict:
        """The whole private check of one day, as ``tallylog check-receipt --day`` runs it."""
        client = LogClient.open(location, verifier)
        start, end = day_range(client, day)
        [(index, entry, _proof)] = client.search(start, min(end, client.size), matches)
        return {"index": index, "entry": leaf.parse_leaf(entry)}

    code = "01886-70025-12345-67890-24680"
    target = n * 2 // 3  # the declarant's entry: two thirds into the day
    print(f"{n:,} entries on {DAY} (after {BEFORE:,} on {DAY_BEFORE}); {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for version in (1, 2):
        day = leaves(n, version, {target: code})
        before = leaves(BEFORE, version, {})
        matches = leaf.receipt_matcher(code)
        assert [i for i, d in enumerate(day) if matches(d)] == [target]
        scan = best(args.repeat, lambda: [d for d in day if matches(d)])  # noqa: B023
        with tempfile.TemporaryDirectory(prefix="tallylog-bench-receipts-") as tmp:
            log, vkey = build_log(Path(tmp), day, before)
            verifier = note.Verifier(vkey)
            found = find_receipt(str(log), verifier, matches, day=DAY)
            assert found["index"] == BEFORE + target and found["entry"]["v"] == version
            check = best(args.repeat, lambda: find_receipt(str(log), verifier, matches, day=DAY))  # noqa: B023
            started = time.perf_counter()
            out = cli("check-receipt", code, "--source", str(log), "--key", vkey, "--day", DAY).stdout.decode()
            command = time.perf_counter() - started
            assert f"number {BEFORE + target} of {BEFORE + n}" in out
        rows.append((f"v{version}" + (" (unsalted, before issue 15)" if version == 1 else " (salted tag)"), scan, check, command))
        print(f"v{version}: scan {scan * 1000:.0f} ms, check-receipt --day {check * 1000:.0f} ms, "
              f"as a command {command:.2f} s", flush=True)
    print()
    print("| leaf | scan of the day's leaves (ms) | per entry (µs) | `find_receipt --day` (ms) | `tallylog check-receipt --day` (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, scan, check, command in rows:
        print(f"| {name} | {scan * 1000:,.0f} | {scan / n * 1e6:.2f} | {check * 1000:,.0f} | {command:.2f} |")
    print()
    print("| Argon2id per entry instead (t=1, p=1) | per hash (ms) | the day's scan, one core (s) |")
    print("| --- | ---: | ---: |")
    for memory in (1024, 19 * 1024, 64 * 1024):
        per = argon2_seconds(memory, 3 if memory > 20000 else 10)
        print(f"| {memory // 1024} MiB | {per * 1000:.1f} | {per * n:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
