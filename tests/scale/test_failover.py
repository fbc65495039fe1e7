"""One sequencer among many: kill -9 the active one mid-batch, the standby carries on.

Two `tallylog sequence` processes on a real PostgreSQL server, each with its own home (as
on two machines: same secrets and signing key, separate log directories), elected by the
sequencer lease (tallylog/registry/entries/lease.py). Declarations keep arriving from a writer process
while a burst of imported ones keeps the active sequencer busy; the active one is killed
with SIGKILL while entries wait. The standby must take over, rebuild its log directory
from the database, and finish: its log verifies (`tallylog verify`, the tallylog.tlog
client), and every accepted declaration's entry is in the log exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tallylog.home import Home
from tests.scale.conftest import REPO

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

PATIENCE = 300.0  # a bound against a hung test, not a speed claim
BURST = 60_000  # imported entries that keep the active sequencer busy
WRITER = """
import os, sys
import django
django.setup()
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import submit_declaration
campaign = Campaign.objects.get(slug="three-withdrawals")
def letters(i):  # distinct aliases the flood screen does not fold together (it drops digits)
    return "".join(chr(ord("a") + int(d)) for d in str(i))
for i in range(int(sys.argv[1])):
    submission = submit_declaration(campaign, alias=f"writer {letters(i)}", orgs=["party"], channel="api")
    print(submission.declaration.pk, flush=True)
"""


def _env(home: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TALLYLOG_HOME=str(home), DATABASE_URL=url, DJANGO_SETTINGS_MODULE="tallylog.settings")
    env.pop("TALLYLOG_SEQUENCER_BATCH", None)
    env["TALLYLOG_PUBLISH_INTERVAL"] = "0"  # sequence as soon as entries wait (no batch schedule)
    env["TALLYLOG_FLOOD_THRESHOLD"] = "0"  # the writer's aliases differ by one letter: near-copies the flood screen would hold
    return env


def _tallylog(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tallylog.cli", *args], env=env, cwd=REPO, capture_output=True, text=True
    )


def _sequencer(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tallylog.cli", "sequence", "--batch", "1500", "--interval", "0.05"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _one(url: str, sql: str) -> int:
    with psycopg.connect(url) as c:
        row = c.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _bundle_path(n: int, width: int) -> str:
    """C2SP tlog-tiles path of entry bundle ``n`` (``.p/W`` when partial)."""
    digits = f"{n:03d}"
    groups = [digits[max(i - 3, 0) : i] for i in range(len(digits), 0, -3)][::-1]
    groups = [g.zfill(3) for g in groups]
    path = "tile/entries/" + "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    return path + (f".p/{width}" if width < 256 else "")


def _entries(log_dir: Path, size: int) -> list[bytes]:
    """The ``size`` entries of a log directory, read from its entry bundles (C2SP
    tlog-tiles: each entry a big-endian uint16 length and its bytes)."""
    out: list[bytes] = []
    for n in range((size + 255) // 256):
        width = min(256, size - 256 * n)
        data = (log_dir / _bundle_path(n, width)).read_bytes()
        pos = 0
        while pos < len(data):
            length = int.from_bytes(data[pos : pos + 2], "big")
            out.append(data[pos + 2 : pos + 2 + length])
            pos += 2 + length
        assert len(out) == 256 * n + width, f"bundle {n} holds the wrong number of entries"
    return out


def test_bundle_paths_follow_tlog_tiles() -> None:
    assert _bundle_path(0, 256) == "tile/entries/000"
    assert _bundle_path(1234067, 256) == "tile/entries/x001/x234/067"
    assert _bundle_path(5, 7) == "tile/entries/005.p/7"


def test_kill_9_the_active_sequencer_mid_batch_and_the_standby_finishes(
    pg_database: str, tmp_path: Path
) -> None:
    home_a, home_b = Home.from_env(tmp_path / "a"), Home.from_env(tmp_path / "b")
    env_a, env_b = _env(home_a.path, pg_database), _env(home_b.path, pg_database)
    init = _tallylog("init", "--origin", "example.org/failover", env=env_a)
    assert init.returncode == 0, init.stderr
    vkey = next(line for line in init.stdout.split() if line.startswith("example.org/failover+"))
    # Machine B: the same secrets and signing key, its own (empty) log directory.
    home_b.path.mkdir()
    for name in ("secrets.json", "signing.key"):
        shutil.copy2(home_a.path / name, home_b.path / name)

    burst = tmp_path / "burst.jsonl"
    burst.write_text("".join(json.dumps({"alias": f"imported-{i}", "orgs": ["league"]}) + "\n" for i in range(BURST)))
    imported = _tallylog("import", str(burst), "--campaign", "three-withdrawals", env=env_a)
    assert imported.returncode == 0, imported.stderr

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, "1500"], env=env_a, cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    active = _sequencer(env_a, tmp_path / "a.log")
    standby = None
    try:
        size = "SELECT size FROM entries_logstate WHERE id = 1"
        waiting = "SELECT count(*) FROM entries_logentry WHERE log_index IS NULL"
        _wait_for(lambda: _one(pg_database, size) > 0, "the first sequencer to commit a batch")
        standby = _sequencer(env_b, tmp_path / "b.log")
        _wait_for(lambda: "standing by" in (tmp_path / "b.log").read_text(), "the standby to stand by")
        _wait_for(lambda: _one(pg_database, size) >= 6000, "a few batches")
        # Only the lease holder writes: the standby has published nothing yet.
        assert not (home_b.log_dir / "checkpoint").exists(), "the standby wrote while the leader lived"
        assert not (home_b.log_dir / "tile").exists(), "the standby wrote while the leader lived"
        assert _one(pg_database, waiting) > 0  # work in flight: the kill lands mid-batch
        os.kill(active.pid, signal.SIGKILL)
        active.wait()
        killed_at = _one(pg_database, size)

        accepted = [int(line) for line in writer.stdout]  # type: ignore[union-attr]
        assert writer.wait() == 0
        _wait_for(lambda: _one(pg_database, waiting) == 0, "the standby to sequence everything")
        assert _one(pg_database, size) > killed_at
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=PATIENCE) == 0, (tmp_path / "b.log").read_text()[-3000:]
    finally:
        for proc in (writer, active, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    assert len(accepted) == 1500
    log_b = home_b.log_dir
    verified = _tallylog("verify", str(log_b), "--key", vkey, env=env_b)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    with psycopg.connect(pg_database) as c:
        total = c.execute("SELECT size FROM entries_logstate WHERE id = 1").fetchone()[0]
        rows = c.execute(
            "SELECT d.id, d.tag, e.log_index FROM declarations_declaration d "
            "JOIN entries_logentry e ON e.id = d.entry_id"
        ).fetchall()
        entries = c.execute("SELECT count(*) FROM entries_logentry").fetchone()[0]
    assert total == entries == len(rows) == BURST + 1500
    in_log = Counter(json.loads(e)["tag"] for e in _entries(log_b, total))
    assert set(in_log.values()) == {1}, "an entry is in the log twice"
    tags = {pk: tag for pk, tag, _ in rows}
    assert all(tags[pk] in in_log for pk in accepted), "an accepted declaration is missing"
    assert set(in_log) == set(tags.values())
    assert sorted(index for _, _, index in rows) == list(range(total))
