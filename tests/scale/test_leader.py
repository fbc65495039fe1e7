"""Sequencer election on a real PostgreSQL server and on the home's lock file."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tallylog.home import Home
from tallylog.registry.entries.lease import (
    LEASE_KEY,
    AdvisoryLeaseLock,
    FileLeaseLock,
    LeaseBusy,
    LeaseLost,
    SequencerLease,
    connection_params,
)
from tests.scale.conftest import REPO, django_database

# A generous bound for a standby to take over (it polls every 0.1 s here): a safety net
# against a hung test, not a speed claim.
PATIENCE = 60.0


def lease_holders(url: str) -> list[int]:
    """The backend pids holding the sequencer lease's advisory lock."""
    with psycopg.connect(url) as c:
        rows = c.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND ((classid::bigint << 32) | objid::bigint) = %s",
            (LEASE_KEY,),
        ).fetchall()
    return [pid for (pid,) in rows]


def terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        assert c.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def test_the_lease_is_exclusive_between_sessions_and_reentrant_within_one(pg_database: str) -> None:
    params = connection_params(django_database(pg_database))
    first, other = AdvisoryLeaseLock(params), AdvisoryLeaseLock(params)  # as two processes would
    first.acquire()
    try:
        first.acquire()  # re-entrant
        first.release()
        assert first.held
        with pytest.raises(LeaseBusy, match="another sequencer holds the lease"):
            other.acquire(wait=False)
        assert lease_holders(pg_database) == [first.backend_pid]
    finally:
        first.release()
    assert not first.held and lease_holders(pg_database) == []
    other.acquire(wait=False)  # free again once released
    other.release()


def test_a_lost_session_is_taken_again_when_nobody_else_took_over(pg_database: str) -> None:
    lock = AdvisoryLeaseLock(connection_params(django_database(pg_database)))
    lock.acquire()
    try:
        lost = lock.backend_pid
        assert lost is not None
        terminate(pg_database, lost)
        lock.acquire()  # re-entry notices and takes the lock again
        assert lock.backend_pid != lost
        assert lease_holders(pg_database) == [lock.backend_pid]
        lock.release()
    finally:
        lock.release()


def test_a_lost_lease_taken_by_another_sequencer_raises_lease_lost(pg_database: str) -> None:
    params = connection_params(django_database(pg_database))
    lock, other = AdvisoryLeaseLock(params), AdvisoryLeaseLock(params)
    lock.acquire()
    try:
        terminate(pg_database, lock.backend_pid)  # type: ignore[arg-type]
        other.acquire(wait=False)  # the standby takes over
        with pytest.raises(LeaseLost, match="lost the sequencer lease"):
            lock.acquire()
        assert lease_holders(pg_database) == [other.backend_pid]
        other.release()
    finally:
        lock.release()


def test_an_unreachable_database_is_busy_without_wait() -> None:
    lock = AdvisoryLeaseLock({"host": "127.0.0.1", "port": 1, "dbname": "x", "connect_timeout": 2})
    with pytest.raises(LeaseBusy, match="couldn't reach the database"):
        lock.acquire(wait=False)
    assert not lock.held


def test_sqlite_uses_the_homes_lock_file(tmp_path: Path) -> None:
    home = Home.from_env(tmp_path)
    lease = SequencerLease(home, {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db")})
    (lock,) = lease.locks
    assert isinstance(lock, FileLeaseLock) and lock.path == str(tmp_path / "sequencer.lock")


def test_postgresql_takes_the_homes_lock_file_too(pg_database: str, tmp_path: Path) -> None:
    home = Home.from_env(tmp_path)
    lock = SequencerLease(home, django_database(pg_database), wait=False)
    file, advisory = lock.locks
    assert isinstance(file, FileLeaseLock) and isinstance(advisory, AdvisoryLeaseLock)
    other_home = FileLeaseLock(str(tmp_path / "sequencer.lock"))  # as another process would
    lock.acquire()
    try:
        with pytest.raises(LeaseBusy):
            other_home.acquire(wait=False)
        assert lease_holders(pg_database) == [advisory.backend_pid]
    finally:
        lock.release()
    assert not lock.held and lease_holders(pg_database) == []
    other_home.acquire(wait=False)  # the home's lock is free again
    try:
        with pytest.raises(LeaseBusy):  # and the lease needs it
            lock.acquire()
        assert lease_holders(pg_database) == []
    finally:
        other_home.release()


HOLDER = """
import json, sys, time
from tallylog.home import Home
from tallylog.registry.entries.lease import LeaseBusy, SequencerLease
home, database = Home.from_env(sys.argv[1]), json.loads(sys.argv[2])
try:
    SequencerLease(home, database, wait=False).__enter__()
except LeaseBusy:
    print("standing by", flush=True)
    SequencerLease(home, database, poll=0.1).__enter__()
print("leading", flush=True)
time.sleep(600)
"""


def _start_holder(home: Path, database: dict[str, object]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home), json.dumps(database)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def _says(proc: subprocess.Popen[str], what: str) -> bool:
    """Whether the next line ``proc`` prints (within PATIENCE seconds) is ``what``."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], PATIENCE)
    return bool(ready) and proc.stdout.readline().strip() == what


@pytest.mark.server
@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_a_standby_takes_over_when_the_leader_is_killed(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if engine == "postgresql":
        url = request.getfixturevalue("pg_database")
        database = django_database(url)
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    leader = _start_holder(tmp_path, database)
    standby = None
    try:
        assert _says(leader, "leading")
        standby = _start_holder(tmp_path, database)
        assert _says(standby, "standing by")  # the lease is exclusive
        if engine == "postgresql":
            holders = lease_holders(url)
            assert len(holders) == 1
        os.kill(leader.pid, signal.SIGKILL)
        leader.wait()
        assert _says(standby, "leading")
        if engine == "postgresql":
            assert lease_holders(url) not in ([], holders)
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
            proc.wait()
