"""Backups that are proven (``tallylog backup`` / ``restore``, tallylog.ops.backup): a home
backed up, restored into a fresh home (and, on the PostgreSQL pass of ``make test``, a
fresh database), its log verified against the backup's checkpoint, sequencing resumed with
no entry lost or logged twice, the new checkpoint consistent with the old; the order of
the copies (log, then database) shown safe by a backup whose database is ahead of its log;
the refusals; and ``tallylog status`` on the restored site."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tallylog.tlog import LogClient
from tests.support.postgres import fresh_database
from tests.support.serverproc import CAMPAIGN, REPO, Server, request, run_cli, server_env, shared_cache_dir

# Commands, and pg_dump: on the PostgreSQL pass a backup of the suite's database (both passes).
pytestmark = [pytest.mark.server, pytest.mark.both_databases]

SUITE_DATABASE = os.environ.get("DATABASE_URL", "")
POSTGRES = SUITE_DATABASE.startswith(("postgres://", "postgresql://"))


@dataclass
class Site:
    """A home (and its database: SQLite in the home, or a fresh PostgreSQL database)."""

    home: Path
    database_url: str

    @property
    def env(self) -> dict[str, str]:
        return server_env(self.home, **({"DATABASE_URL": self.database_url} if self.database_url else {}))

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_cli(self.home, *args, env=self.env, timeout=300)
        if ok:
            assert result.returncode == 0, f"tallylog {' '.join(args)} failed:\n{result.stderr}"
        return result

    def declare(self, aliases: list[str], *, sequence: bool = True) -> None:
        """Import declarations (queued), then log every waiting one unless ``sequence`` is False."""
        path = self.home.parent / f"{aliases[0]}.jsonl"
        path.write_text("".join(json.dumps({"alias": a, "orgs": ["party"]}) + "\n" for a in aliases))
        self.run("import", str(path), "--campaign", CAMPAIGN)
        if sequence:
            self.run("sequence", "--once")

    def django(self, code: str) -> None:
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "tallylog.settings"}
        script = "import django\ndjango.setup()\n" + code
        subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, check=True, capture_output=True)


@pytest.fixture
def new_site(tmp_path: Path) -> Iterator[Callable[[str], Site]]:
    """``new_site(name)``: a home under tmp_path, on SQLite, or on the PostgreSQL pass on a
    fresh database of the suite's server (dropped afterwards)."""
    with contextlib.ExitStack() as stack:

        def make(name: str) -> Site:
            url = stack.enter_context(fresh_database(SUITE_DATABASE, "backup")) if POSTGRES else ""
            return Site(tmp_path / name, url)

        yield make


def verifier_key(init_output: str) -> str:
    return next(line.split(": ", 1)[1] for line in init_output.splitlines() if line.startswith("verifier key: "))


def leaves(site: Site, vkey: str) -> list[bytes]:
    client = LogClient.open(str(site.home / "log"), vkey)
    return client.entries(0, client.size)


def commits(entries: list[bytes]) -> list[str]:
    return [json.loads(e)["commit"] for e in entries]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_restore_verifies_and_resumes_without_loss_or_duplicate(new_site, tmp_path: Path) -> None:  # noqa: ANN001
    a = new_site("a")
    vkey = verifier_key(a.run("init").stdout)
    a.declare([f"first-{i}" for i in range(5)])
    a.declare([f"waiting-{i}" for i in range(3)], sequence=False)  # published, not yet logged

    backup = tmp_path / "backup"
    out = a.run("backup", str(backup)).stdout
    assert f"backup: {backup}" in out and "log checkpoint size: 5" in out
    manifest = json.loads((backup / "MANIFEST.json").read_text())
    assert manifest["checkpoint_size"] == 5 and manifest["database"] == ("postgresql" if POSTGRES else "sqlite")
    assert {"secrets.json", "signing.key", "log/checkpoint"} <= set(manifest["files"])
    assert mode(backup) == 0o700
    assert all(mode(backup / rel) == 0o600 for rel in manifest["files"])

    b = new_site("b")
    out = b.run("restore", str(backup)).stdout
    assert "log now at size 5" in out and f"verifier key: {vkey}" in out
    assert mode(b.home) == 0o700
    private = ["secrets.json", "signing.key"] + ([] if POSTGRES else ["db.sqlite3"])
    assert all(mode(b.home / name) == 0o600 for name in private)

    # The restored log verifies against the backup's checkpoint (a consistency proof).
    state = tmp_path / "audit.state"
    shutil.copyfile(backup / "log" / "checkpoint", state)
    out = b.run("verify", str(b.home / "log"), "--key", vkey, "--state", str(state)).stdout
    assert "at size 5" in out and "consistent with the checkpoint verified before, at size 5" in out

    # Sequencing resumes: the three waiting at the backup, then two new ones.
    assert "sequenced 3 entries; log size 8" in b.run("sequence", "--once").stdout
    b.declare(["after-0", "after-1"])
    out = b.run("verify", str(b.home / "log"), "--key", vkey, "--state", str(state)).stdout
    assert "at size 10" in out and "consistent with the checkpoint verified before, at size 5" in out

    # None lost, none twice: the same first five, the three waiting ones, the two new.
    a.run("sequence", "--once")  # the original logs its waiting three too
    restored, original = leaves(b, vkey), leaves(a, vkey)
    assert len(restored) == 10 and len(set(commits(restored))) == 10
    assert restored[:5] == original[:5]
    assert set(commits(restored[5:8])) == set(commits(original[5:8]))
    assert not set(commits(restored[8:])) & set(commits(original))

    # The restored site is healthy; a stalled sequencer is named, with a non-zero exit.
    status = b.run("status")
    assert "log: 10 entries; checkpoint of size 10" in status.stdout and "status: healthy" in status.stdout
    b.django(
        "import datetime\nfrom django.utils import timezone\nfrom tallylog.registry.entries.models import LogState\n"
        "LogState.objects.update(last_pass_at=timezone.now() - datetime.timedelta(hours=1))\n"
    )
    stalled = b.run("status", ok=False)
    assert stalled.returncode == 1 and "status: UNHEALTHY" in stalled.stdout
    assert "tallylog status: unhealthy: the sequencer's last pass was 36" in stalled.stderr


def test_a_database_ahead_of_the_log_is_restored_whole(new_site, tmp_path: Path) -> None:  # noqa: ANN001
    """The backup's order: the log is copied first, so a sequencer pass during the backup
    leaves the database ahead of the log, never behind. Built here deterministically: the
    log of a backup taken before a pass, the database of one taken after it. The restore
    rebuilds the missing tiles from the database's leaves: the same log, entry for entry."""
    a = new_site("a")
    vkey = verifier_key(a.run("init").stdout)
    a.declare([f"first-{i}" for i in range(5)])
    a.declare([f"during-{i}" for i in range(3)], sequence=False)
    before, after = tmp_path / "before", tmp_path / "after"
    a.run("backup", str(before))
    a.run("sequence", "--once")  # the pass "during" the backup
    a.run("backup", str(after))

    mixed = tmp_path / "mixed"
    shutil.copytree(after, mixed)
    shutil.rmtree(mixed / "log")
    shutil.copytree(before / "log", mixed / "log")
    manifest = json.loads((after / "MANIFEST.json").read_text())
    old = json.loads((before / "MANIFEST.json").read_text())
    files = {k: v for k, v in manifest["files"].items() if not k.startswith("log/")}
    files.update({k: v for k, v in old["files"].items() if k.startswith("log/")})
    manifest.update(files=files, checkpoint_size=old["checkpoint_size"])
    (mixed / "MANIFEST.json").write_text(json.dumps(manifest))

    b = new_site("b")
    assert "log now at size 8" in b.run("restore", str(mixed)).stdout
    state = tmp_path / "audit.state"
    shutil.copyfile(before / "log" / "checkpoint", state)
    out = b.run("verify", str(b.home / "log"), "--key", vkey, "--state", str(state)).stdout
    assert "at size 8" in out and "consistent with the checkpoint verified before, at size 5" in out
    assert leaves(b, vkey) == leaves(a, vkey)
    assert "sequenced 0 entries; log size 8" in b.run("sequence", "--once").stdout


def test_backup_while_declarations_arrive_and_the_sequencer_runs(new_site, tmp_path: Path) -> None:  # noqa: ANN001
    """A backup of a live site: declarations keep arriving through the API and the running
    sequencer logs them while ``tallylog backup`` copies. Whatever the interleaving, the
    restored log verifies against the backup's checkpoint, and once resumed it holds every
    declaration of the restored database exactly once."""
    a = new_site("a")
    vkey = verifier_key(a.run("init").stdout)
    # One writer from one address, fast: no rate limit, no flood screen (near-copy aliases).
    env = {"TALLYLOG_SEQUENCER_INTERVAL": "0.05", "TALLYLOG_RATE_LIMITS": "off", "TALLYLOG_FLOOD_THRESHOLD": "0"}
    if a.database_url:
        env["DATABASE_URL"] = a.database_url
    server = Server(a.home, tmp_path / "logs", env_extra=env)
    server.start()
    stop = threading.Event()
    answers: list[int] = []

    def declare_until_stopped() -> None:
        while not stop.is_set():
            body = {"alias": f"live-{len(answers)}", "orgs": ["party"]}
            answers.append(request(server.port, "POST", f"/api/v1/campaigns/{CAMPAIGN}/declarations", body=body).status)

    def wait_for(n: int) -> None:
        while len(answers) < n and writer.is_alive():
            stop.wait(0.05)

    writer = threading.Thread(target=declare_until_stopped, daemon=True)
    writer.start()
    try:
        wait_for(20)
        backup = tmp_path / "backup"
        a.run("backup", str(backup))
        wait_for(len(answers) + 10)
    finally:
        stop.set()
        writer.join(timeout=60)
        server.stop()
        shutil.rmtree(shared_cache_dir(a.home), ignore_errors=True)
    assert len(answers) >= 30 and set(answers) == {201}

    b = new_site("b")
    b.run("restore", str(backup))
    state = tmp_path / "audit.state"
    shutil.copyfile(backup / "log" / "checkpoint", state)
    size = json.loads((backup / "MANIFEST.json").read_text())["checkpoint_size"]
    out = b.run("verify", str(b.home / "log"), "--key", vkey, "--state", str(state)).stdout
    assert f"consistent with the checkpoint verified before, at size {size}" in out
    b.run("sequence", "--once")
    status = b.run("status").stdout
    logged = int(re.search(r"^log: (\d+) entries", status, re.M)[1])  # type: ignore[index]
    received = sum(int(n) for n in re.findall(r"^  \w+: (\d+) / \d+$", status, re.M))
    assert "0 entries waiting" in status and logged == received >= size
    restored = leaves(b, vkey)
    assert len(restored) == logged and len(set(commits(restored))) == logged
    assert restored[:size] == leaves(a, vkey)[:size]


def test_refusals_name_what_is_wrong(new_site, tmp_path: Path) -> None:  # noqa: ANN001
    a = new_site("a")
    a.run("init")
    a.declare(["one", "two"])
    backup = tmp_path / "backup"
    a.run("backup", str(backup))

    again = a.run("backup", str(backup), ok=False)
    assert again.returncode == 1 and "the backup directory" in again.stderr and "is not empty" in again.stderr

    taken = a.run("restore", str(backup), ok=False)  # into the home it came from: not empty
    assert taken.returncode == 1
    assert f"couldn't restore: the home {a.home} is not empty (it holds " in taken.stderr
    assert "give a new or empty directory" in taken.stderr

    b = new_site("b")
    assert "no MANIFEST.json" in b.run("restore", str(tmp_path), ok=False).stderr
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    bundle = next(p for p in sorted((damaged / "log" / "tile" / "entries").rglob("*")) if p.is_file())
    bundle.write_bytes(bundle.read_bytes()[:-1] + b"?")
    refused = b.run("restore", str(damaged), ok=False)
    rel = bundle.relative_to(damaged).as_posix()
    assert f"the backup is damaged: {rel} does not match its SHA-256" in refused.stderr
    assert not b.home.exists()  # nothing written
    if POSTGRES:
        # A database that has tables is never written over.
        used = Site(tmp_path / "c", a.database_url)
        refused = used.run("restore", str(backup), ok=False)
        assert "is not empty (it has" in refused.stderr and "restore into a new, empty database" in refused.stderr
        assert not used.home.exists()
        # A dump pg_restore cannot read (its manifest made to match): nothing left in the home.
        garbage = tmp_path / "garbage"
        shutil.copytree(backup, garbage)
        (garbage / "database.dump").write_bytes(b"not a dump")
        manifest = json.loads((garbage / "MANIFEST.json").read_text())
        manifest["files"]["database.dump"] = hashlib.sha256(b"not a dump").hexdigest()
        (garbage / "MANIFEST.json").write_text(json.dumps(manifest))
        fresh = new_site("d")
        refused = fresh.run("restore", str(garbage), ok=False)
        assert "couldn't restore the PostgreSQL database: pg_restore said:" in refused.stderr
        assert "drop and create it again" in refused.stderr
        assert not fresh.home.exists()
