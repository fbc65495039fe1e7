"""Group commit on a real SQLite file (the suite's own database is in memory): the committer's
commits skip their fsync, and it syncs the write-ahead log itself once it has left the
write turn, before any caller returns; a failed sync fails the batch's callers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.serverproc import REPO, run_cli, server_env

pytestmark = pytest.mark.server  # starts subprocesses (see tests/conftest.py)

SCRIPT = """
import fcntl, json, os, sqlite3, sys
import django
django.setup()
from django.conf import settings
from django.db import OperationalError, connection
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations import committer
from tallylog.registry.declarations.actions import submit_declaration

db = settings.DATABASES["default"]["NAME"]
campaign = Campaign.objects.get(slug="three-withdrawals")
real_fdatasync = os.fdatasync
syncs = []


def observed_fdatasync(fd):
    lock = os.open(db + ".write-lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        turn_free = True
    except BlockingIOError:
        turn_free = False
    finally:
        os.close(lock)  # releases it again
    other = sqlite3.connect(db)
    committed = other.execute("select alias from declarations_declaration").fetchall()
    other.close()
    syncs.append({
        "wal": os.fstat(fd).st_ino == os.stat(db + "-wal").st_ino,
        "turn_free": turn_free,
        "committed": [a for (a,) in committed],
    })
    if MODE == "fail":
        raise OSError(5, "Input/output error")
    real_fdatasync(fd)


os.fdatasync = observed_fdatasync
MODE = sys.argv[1]
out = {}
try:
    submit_declaration(campaign, alias="first", orgs=["party"], channel="api")
    out["returned"] = True
except OperationalError as exc:
    out["returned"], out["error"] = False, str(exc)
out["syncs"] = syncs
own = committer._committers["default"]._conn
if own.connection is not None:
    with own.cursor() as cursor:
        out["committer_synchronous"] = cursor.execute("PRAGMA synchronous").fetchone()[0]
with connection.cursor() as cursor:
    out["orm_synchronous"] = cursor.execute("PRAGMA synchronous").fetchone()[0]
MODE = "ok"
submit_declaration(campaign, alias="second", orgs=["party"], channel="api")
out["after"] = syncs[-1]
print(json.dumps(out))
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    done = run_cli(path, "init")
    assert done.returncode == 0, done.stderr
    return path


def _run(home: Path, mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        env=server_env(home, DJANGO_SETTINGS_MODULE="tallylog.settings"),
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_log_is_synced_after_the_turn_before_the_caller_returns(home: Path) -> None:
    out = _run(home, "ok")
    assert out["returned"] is True
    # One sync for the batch: of the write-ahead log, once the row was committed and the
    # write turn free again (another process's batch may commit meanwhile).
    [sync] = out["syncs"][:1]
    assert sync == {"wal": True, "turn_free": True, "committed": ["first"]}
    assert out["committer_synchronous"] == 1  # NORMAL: its commits leave the sync to it
    assert out["orm_synchronous"] == 2  # FULL: every other connection syncs its commits
    assert out["after"]["committed"] == ["first", "second"]


def test_a_failed_sync_fails_the_callers_and_the_next_batch_syncs_again(home: Path) -> None:
    out = _run(home, "fail")
    assert out["returned"] is False
    assert out["error"] == "the database's write-ahead log could not be synced: [Errno 5] Input/output error"
    assert len(out["syncs"]) >= 2 and out["syncs"][0]["turn_free"] is True
    # The row was committed (a sync that fails leaves it unknown whether it would survive
    # a power cut, so its caller is not told it was saved); the committer's connection
    # was closed after the failure, and the next batch opened it afresh and synced.
    assert out["after"]["wal"] is True and out["after"]["committed"] == ["first", "second"]
