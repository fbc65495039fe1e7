"""Crashes lose nothing (issue 7, item 5).

A load generator submits declarations through the API of the real server (``tallylog
serve``: granian workers and the sequencer) while the whole process group is killed with
SIGKILL at random moments, at least ``KILLS`` times, and restarted each time; a poller
reads ``/log/checkpoint`` throughout. Afterwards:

- every declaration whose receipt the client received has a log index (looked up by its
  receipt), the leaf at that index carries the receipt's tag, and that tag occurs in the
  log exactly once;
- the log verifies (``tallylog verify`` over HTTP, with the verifier key);
- no checkpoint the server ever published was smaller than an earlier one, and two
  checkpoints of the same size never had different root hashes.

The seed is printed; set ``TALLYLOG_CRASH_SEED`` to replay a run.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import itertools
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tallylog.leaf import parse_leaf, receipt_matches
from tests.support.serverproc import CAMPAIGN, Server, request, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.server]

KILLS = 50
LOAD_THREADS = 3
SOURCES = [f"127.94.{a}.{b}" for a in range(1, 5) for b in range(2, 250)]
TILE_WIDTH = 256
ALIAS_LETTERS = "自由光明真善忍觉醒新生平安福德仁义礼智信勇春夏秋冬山河星月"


@dataclass
class Record:
    lock: threading.Lock = field(default_factory=threading.Lock)
    receipts: list[str] = field(default_factory=list)
    sent: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    failed: int = 0
    held: int = 0
    malformed: list[str] = field(default_factory=list)
    checkpoints: list[tuple[int, str]] = field(default_factory=list)
    polls: int = 0


def load(port: int, record: Record, stop: threading.Event, worker: int) -> None:
    n = 0
    rng = random.Random(worker)
    while not stop.is_set():
        n += 1
        # Distinct letters in every alias: digits alone would look like a flood and be held.
        alias = "".join(rng.choice(ALIAS_LETTERS) for _ in range(8))
        body = {"alias": alias, "orgs": rng.sample(["party", "league", "pioneers"], rng.randint(1, 3))}
        with record.lock:
            record.sent += 1
        try:
            r = request(port, "POST", f"/api/v1/campaigns/{CAMPAIGN}/declarations", body=body,
                        source=rng.choice(SOURCES), timeout=5)
        except (OSError, http.client.HTTPException):  # killed mid-request: not accepted
            with record.lock:
                record.failed += 1
            time.sleep(0.02)
            continue
        with record.lock:
            if r.status == 201 and r.json()["status"] == "published":
                record.receipts.append(r.json()["receipt"])
            elif r.status == 201:
                record.held += 1
            else:
                record.refused[r.status] += 1


def poll(port: int, record: Record, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            r = request(port, "GET", "/log/checkpoint", timeout=2)
        except (OSError, http.client.HTTPException):
            time.sleep(0.02)
            continue
        record.polls += 1
        if r.status == 200:
            lines = r.text.split("\n")
            if len(lines) > 3 and lines[1].isdigit():
                record.checkpoints.append((int(lines[1]), lines[2]))
            else:
                record.malformed.append(r.text)
        time.sleep(0.02)


def tile_path(n: int) -> str:
    """C2SP tlog-tiles index path: 3-digit groups, all but the last prefixed with x."""
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    return "/".join([f"x{g}" for g in reversed(groups[1:])] + [groups[0]])


def read_entries(port: int, size: int) -> list[bytes]:
    """All ``size`` entries of the served log, from its entry bundles."""
    entries: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        path = f"/log/tile/entries/{tile_path(n)}" + (f".p/{width}" if width < TILE_WIDTH else "")
        r = request(port, "GET", path)
        assert r.status == 200, (path, r.status)
        data, i, count = r.body, 0, 0
        while i < len(data):
            length = int.from_bytes(data[i : i + 2], "big")
            entries.append(data[i + 2 : i + 2 + length])
            i += 2 + length
            count += 1
        assert count == width, (path, count, width)
    return entries


def test_tile_path():
    assert tile_path(0) == "000"
    assert tile_path(67) == "067"
    assert tile_path(1234067) == "x001/x234/067"


def test_kill_9_loses_no_accepted_declaration(tmp_path: Path):
    seed = int(os.environ.get("TALLYLOG_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed {seed}")
    rng = random.Random(seed)
    home = tmp_path / "home"
    init = run_cli(home, "init")
    assert init.returncode == 0, init.stderr
    vkey = next(line.split(": ", 1)[1] for line in init.stdout.splitlines() if line.startswith("verifier key:"))
    server = Server(home, tmp_path / "logs", env_extra={"TALLYLOG_SEQUENCER_INTERVAL": "0.1"})
    record = Record()
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(server.port, record, stop, w)) for w in range(LOAD_THREADS)]
    threads.append(threading.Thread(target=poll, args=(server.port, record, stop)))
    kills = 0
    try:
        server.start()
        for t in threads:
            t.start()
        for kills in range(1, KILLS + 1):  # noqa: B007 (the count so far, read after the loop)
            # A random moment: right after start-up, mid-load, or after a sequencer pass or two.
            time.sleep(rng.choice([rng.uniform(0, 0.15), rng.uniform(0.15, 0.8), rng.uniform(0.8, 2.0)]))
            server.kill()
            server.start()
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    try:
        # Every accepted declaration gets sequenced after the last restart.
        deadline = time.monotonic() + 120
        pending = list(record.receipts)
        indexes: dict[str, int] = {}
        while pending and time.monotonic() < deadline:
            still = []
            for n, code in enumerate(pending):
                r = server.post("/api/v1/receipts", {"code": code}, source=SOURCES[n % len(SOURCES)])
                assert r.status == 200, (code, r.status, r.text)
                index = r.json()["index"]
                if index is None:
                    still.append(code)
                else:
                    indexes[code] = index
            pending = still
            if pending:
                time.sleep(0.5)
        lost = pending
        size = int(server.get("/log/checkpoint").text.split("\n")[1])
        entries = read_entries(server.port, size)
        verify = run_cli(home, "verify", f"http://127.0.0.1:{server.port}/log/", "--key", vkey, timeout=300)
    finally:
        server.stop()

    print(
        f"kills {kills}, requests sent {record.sent}, accepted {len(record.receipts)}, "
        f"held {record.held}, refused {dict(record.refused)}, connection failures {record.failed}, "
        f"checkpoint polls {record.polls}, log size {size}, lost {len(lost)}"
    )
    assert kills >= KILLS
    assert len(record.receipts) >= KILLS, "the load generator hardly got anything through"
    assert record.held == 0, "distinct declarations were held as a flood"
    assert lost == [], f"{len(lost)} accepted declarations never sequenced"
    assert len(set(indexes.values())) == len(indexes), "two receipts share a log index"
    tags = Counter(parse_leaf(e)["tag"] for e in entries)
    for code, index in indexes.items():
        found = parse_leaf(entries[index])
        assert receipt_matches(found, code), f"leaf {index} is not receipt {code}'s"
        assert tags[found["tag"]] == 1, f"receipt {code} is in the log {tags[found['tag']]} times"
    assert verify.returncode == 0, verify.stdout + verify.stderr
    sizes = [s for s, _ in record.checkpoints]
    assert record.checkpoints, "no checkpoint was ever read"
    assert record.malformed == [], "a torn or malformed checkpoint was served"
    assert all(a <= b for a, b in itertools.pairwise(sizes)), "a published checkpoint went backwards"
    roots: dict[int, str] = {}
    for s, root in record.checkpoints:
        assert roots.setdefault(s, root) == root, f"two checkpoints of size {s} with different roots"
        assert len(base64.b64decode(root)) == hashlib.sha256().digest_size
