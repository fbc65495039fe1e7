"""Sequencer election: exactly one active sequencer, any number of standbys.

A log has one writer (ARCHITECTURE.md, "The sequencer's commit protocol"). Every
``tallylog sequence`` process (and the one inside ``tallylog serve``) asks for the
*sequencer lease* before it touches the log; the one that gets it is the active
sequencer, the others are standbys that retry every second and take over as soon as the
active one is gone::

    with SequencerLease(home, database) as lease:   # blocks while another process leads
        while running:
            with lease:                             # re-entrant; checks the lease is still ours
                sequence_pending(...)

The lease is

- on PostgreSQL, the session advisory lock ``LOCK_KEY`` (``pg_try_advisory_lock``) held on
  a dedicated connection for the life of the active sequencer. PostgreSQL releases it when
  that session ends: the process exits or is killed (its socket closes at once), or its
  machine vanishes (TCP keepalives, set on the session, end it within about 25 seconds).
  Because the lock lives in the database every machine shares, the sequencers may run on
  different machines.
- on SQLite (one machine), ``flock`` on ``HOME/sequencer.lock`` (the registry's
  ``entries.locks.FileWriterLock``): the kernel releases it when the process dies. On
  PostgreSQL that lock file is taken too, first: two processes sharing a home never
  both write its log directory.

Both are exclusive between processes and re-entrant within one. Re-entering a
PostgreSQL lease checks its session is alive; if the session was lost and another
sequencer took the lock meanwhile, ``LeaseLost`` is raised and this process must stop
writing (the database also refuses a stale writer's commit: ``sequencer._commit`` checks
the committed size under a row lock).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from tallylog.home import Home
from tallylog.registry.entries.locks import LOCK_NAME, FileWriterLock, ReentrantLock, SequencerBusy

__all__ = [
    "LOCK_KEY",
    "AdvisoryLock",
    "BothLocks",
    "LeaseLost",
    "SequencerBusy",
    "SequencerLease",
    "lease_lock",
]

log = logging.getLogger("tallylog.leader")

# The advisory lock's key: the first 8 bytes of SHA-256 of a fixed name, as a signed
# bigint. Advisory locks are per database, so one key serves every tallylog database.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"tallylog sequencer lease v1").digest()[:8], "big", signed=True)
# How often a standby asks for the lease.
POLL_SECONDS = 1.0
# Server-side TCP keepalives on the lease's session: a vanished machine's lease is freed
# after about idle + interval * count seconds.
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


class LeaseLost(RuntimeError):
    """This process held the sequencer lease, lost it, and another sequencer has it now."""


class Lock(Protocol):
    """What both kinds of lease lock do (``FileWriterLock`` and ``AdvisoryLock``)."""

    def acquire(self, *, wait: bool = True, poll: float | None = None) -> None: ...

    def release(self) -> None: ...

    @property
    def held(self) -> bool: ...


class AdvisoryLock(ReentrantLock):
    """A PostgreSQL session advisory lock on a dedicated autocommit connection.

    Re-entrant within the process, exclusive between sessions. ``acquire(wait=True)``
    retries every ``poll`` seconds (also while the database is unreachable: a standby
    outlives a database restart); ``acquire(wait=False)`` raises ``SequencerBusy`` at
    once. Use ``for_database`` to share one lock per database within a process.
    """

    poll = POLL_SECONDS

    def __init__(self, params: Mapping[str, Any], key: int = LOCK_KEY) -> None:
        super().__init__()
        self.params = dict(params)
        self.key = key
        self._conn: Any = None

    @classmethod
    def for_database(cls, database: Mapping[str, Any], key: int = LOCK_KEY) -> "AdvisoryLock":
        """The process's lock for a Django ``DATABASES`` entry."""
        params = connection_params(database)
        ident = (params.get("host"), params.get("port"), params.get("dbname"), key)
        return cls.shared(ident, params, key)

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend process holding the lock (None when not connected)."""
        return self._conn.info.backend_pid if self._conn is not None else None

    def _take(self, *, wait: bool, poll: float) -> None:
        import psycopg

        announced = False
        while True:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row and row[0]:
                    log.info("holding the sequencer lease (PostgreSQL advisory lock %d)", self.key)
                    return
                reason = "another sequencer holds the lease"
            except psycopg.Error as exc:
                self._close(unlock=False)
                reason = f"couldn't reach the database: {exc}".strip()
            if not wait:
                self._close(unlock=False)
                raise SequencerBusy(reason)
            if not announced:
                log.info("standing by: %s; retrying every %g s", reason, poll)
                announced = True
            time.sleep(poll)

    def _give_back(self) -> None:
        self._close(unlock=True)

    def _recheck(self) -> None:
        """On re-entry: make sure the lease's session is alive, or take the lock again."""
        import psycopg

        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")
                return
            except psycopg.Error:
                log.warning("the sequencer lease's database session was lost")
                self._close(unlock=False)
        try:
            self._take(wait=False, poll=0)
        except SequencerBusy as exc:
            raise LeaseLost(f"lost the sequencer lease: {exc}") from None

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(**self.params, autocommit=True)
        for name, value in KEEPALIVE.items():
            conn.execute(f"SET {name} = {int(value)}")
        return conn

    def _close(self, *, unlock: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if unlock:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except Exception:
            log.warning("couldn't unlock the sequencer lease; closing its session frees it")
        finally:
            conn.close()


def connection_params(database: Mapping[str, Any]) -> dict[str, Any]:
    """psycopg connection keywords for a Django ``DATABASES`` entry (PostgreSQL)."""
    params: dict[str, Any] = {
        "dbname": database.get("NAME") or "",
        "application_name": "tallylog-sequencer-lease",
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE["tcp_keepalives_idle"],
        "keepalives_interval": KEEPALIVE["tcp_keepalives_interval"],
        "keepalives_count": KEEPALIVE["tcp_keepalives_count"],
    }
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if database.get(key):
            params[name] = database[key]
    for name, value in (database.get("OPTIONS") or {}).items():
        if name in ("sslmode", "sslrootcert", "sslcert", "sslkey", "passfile", "service"):
            params[name] = value
    return params


def is_postgresql(database: Mapping[str, Any]) -> bool:
    return str(database.get("ENGINE", "")).endswith("postgresql")


class BothLocks:
    """The home's lock file, then the database's advisory lock; released in reverse.

    On PostgreSQL the lease is both: the advisory lock elects one sequencer among all
    machines, and the home's lock file keeps two processes sharing one home (one log
    directory) from both writing it, whatever database each was pointed at. Always
    taken in this order, so two sequencers never wait on each other crosswise.
    """

    def __init__(self, file: FileWriterLock, advisory: AdvisoryLock) -> None:
        self.file = file
        self.advisory = advisory

    def acquire(self, *, wait: bool = True, poll: float | None = POLL_SECONDS) -> None:
        self.file.acquire(wait=wait, poll=poll)
        try:
            self.advisory.acquire(wait=wait, poll=poll)
        except BaseException:
            self.file.release()
            raise

    def release(self) -> None:
        try:
            self.advisory.release()
        finally:
            self.file.release()

    @property
    def held(self) -> bool:
        return self.file.held and self.advisory.held


def lease_lock(home: Home, database: Mapping[str, Any] | None = None) -> Lock:
    """The process's lease lock: on PostgreSQL the home's lock file *and* the advisory
    lock (``BothLocks``), else the home's lock file.

    ``database`` is a Django ``DATABASES`` entry (default: ``settings.DATABASES["default"]``).
    """
    if database is None:
        from django.conf import settings

        database = settings.DATABASES["default"]
    file = FileWriterLock.for_path(str(home.path / LOCK_NAME))
    if is_postgresql(database):
        return BothLocks(file, AdvisoryLock.for_database(database))
    return file


class SequencerLease:
    """The sequencer lease as a context manager (see the module docstring).

    ``with SequencerLease(home) as lease:`` blocks until this process leads (or raises
    ``SequencerBusy`` at once with ``wait=False``); entering ``lease`` again inside is
    cheap and re-checks the lease (``LeaseLost``). While waiting, each lock is asked again
    every ``poll`` seconds (None: at each lock's own pace).
    """

    def __init__(
        self,
        home: Home,
        database: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        poll: float | None = POLL_SECONDS,
    ) -> None:
        self.lock = lease_lock(home, database)
        self.wait = wait
        self.poll = poll

    @property
    def held(self) -> bool:
        return self.lock.held

    def __enter__(self) -> "SequencerLease":
        self.lock.acquire(wait=self.wait, poll=self.poll)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.lock.release()
