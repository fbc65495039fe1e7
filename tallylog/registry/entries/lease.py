"""The sequencer lease: the exclusive right to append to the log. Exactly one active
sequencer, any number of standbys.

A log has one writer (ARCHITECTURE.md, "The sequencer's commit protocol"). Every
process that appends to it — ``tallylog sequence``, the sequencer inside ``tallylog
serve``, a direct ``tallylog import``, ``tallylog demo`` — holds the *sequencer lease*
before it touches the log; the one that gets it is the active sequencer, the others are
standbys that retry and take over as soon as the active one is gone::

    with SequencerLease(home) as lease:   # blocks while another process holds it
        while running:
            with lease:                   # re-entrant; checks the lease is still ours
                sequence_pending(...)

The lease is held through one or two locks, always taken in this order and given back in
reverse, so two sequencers never wait on each other crosswise:

1. ``flock`` on ``HOME/sequencer.lock`` (``FileLeaseLock``), always: the kernel releases it
   when the process dies; it keeps two processes sharing one home (one log directory) from
   both writing it, whatever database each was pointed at.
2. on PostgreSQL, also the session advisory lock ``LEASE_KEY`` (``pg_try_advisory_lock``,
   ``AdvisoryLeaseLock``) held on a dedicated connection for the life of the active
   sequencer. PostgreSQL releases it when that session ends: the process exits or is
   killed (its socket closes at once), or its machine vanishes (TCP keepalives, set on the
   session, end it within about 25 seconds). Because the lock lives in the database every
   machine shares, the sequencers may run on different machines.

Each lock is exclusive between processes and re-entrant within one. Not holding the lease
when it is asked for without waiting raises ``LeaseBusy``. Re-entering a PostgreSQL lease
checks its session is alive; if the session was lost and another sequencer took the lock
meanwhile, ``LeaseLost`` is raised and this process must stop writing (the database also
refuses a stale writer's commit: ``sequencer._commit`` checks the committed size under a
row lock).

Not the write turn (``tallylog.fastpath.write_turn``): that one orders the writers of one
SQLite file for one transaction each, whoever they are; the lease says who may append to
the log, for as long as it runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, Self

from tallylog.home import Home

__all__ = [
    "LEASE_FILE",
    "LEASE_KEY",
    "AdvisoryLeaseLock",
    "FileLeaseLock",
    "LeaseBusy",
    "LeaseLost",
    "SequencerLease",
    "connection_params",
]

log = logging.getLogger("tallylog.lease")

# The lease's lock file, in the home.
LEASE_FILE = "sequencer.lock"
# The advisory lock's key: the first 8 bytes of SHA-256 of a fixed name, as a signed
# bigint. Advisory locks are per database, so one key serves every tallylog database.
LEASE_KEY = int.from_bytes(hashlib.sha256(b"tallylog sequencer lease v1").digest()[:8], "big", signed=True)
# How often a standby asks PostgreSQL for the lease.
POLL_SECONDS = 1.0
# Server-side TCP keepalives on the lease's session: a vanished machine's lease is freed
# after about idle + interval * count seconds.
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


class LeaseBusy(RuntimeError):
    """Another process holds the sequencer lease (or, on PostgreSQL, the database could
    not be reached to ask for it)."""


class LeaseLost(RuntimeError):
    """This process held the sequencer lease, lost it, and another sequencer has it now."""


class LeaseLock(Protocol):
    """What each lock the lease is held through does (``FileLeaseLock``,
    ``AdvisoryLeaseLock``)."""

    def acquire(self, *, wait: bool = True, poll: float | None = None) -> None: ...

    def release(self) -> None: ...

    @property
    def held(self) -> bool: ...


class _ProcessLock:
    """The bookkeeping both lease locks share: re-entrant within the process, one
    instance per resource and process (``shared``), exclusive between processes by
    the subclass's mechanism.

    The first ``acquire`` of a thread takes the resource (``_take``); a nested one only
    re-checks it (``_recheck``); the last ``release`` gives it back (``_give_back``).
    A thread holds ``_mutex`` from its first ``acquire`` to its last ``release``, so
    other threads of the process wait there rather than on the resource.
    """

    # How often ``acquire(wait=True)`` retries while another process holds the resource.
    poll: float = 0.2
    _shared: dict[tuple[object, ...], _ProcessLock] = {}
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._depth = 0

    @classmethod
    def shared(cls, ident: tuple[object, ...], *args: object) -> Self:
        """The process's one instance of ``cls(*args)`` for the resource ``ident``."""
        with _ProcessLock._shared_lock:
            key = (cls, *ident)
            if key not in _ProcessLock._shared:
                _ProcessLock._shared[key] = cls(*args)
            return _ProcessLock._shared[key]  # type: ignore[return-value]  # the entry for (cls, …) is a cls

    def acquire(self, *, wait: bool = True, poll: float | None = None) -> None:
        """Take the lock (blocking, retrying every ``poll`` seconds, unless ``wait`` is
        false: then ``LeaseBusy`` at once); nested calls re-check and count."""
        self._mutex.acquire()
        try:
            if self._depth == 0:
                self._take(wait=wait, poll=self.poll if poll is None else poll)
            else:
                self._recheck()
            self._depth += 1
        except BaseException:
            self._mutex.release()
            raise

    def release(self) -> None:
        """Undo one ``acquire``; the last gives the resource back."""
        if self._depth <= 0:
            raise AssertionError(f"{type(self).__name__}.release: not held")
        self._depth -= 1
        try:
            if self._depth == 0:
                self._give_back()
        finally:
            self._mutex.release()

    @property
    def held(self) -> bool:
        return self._depth > 0

    def _take(self, *, wait: bool, poll: float) -> None:
        raise NotImplementedError

    def _recheck(self) -> None:
        """On re-entry; the resource is already held (nothing to do by default)."""

    def _give_back(self) -> None:
        raise NotImplementedError


class FileLeaseLock(_ProcessLock):
    """The lease's lock on a file (``flock``): process-wide, re-entrant, exclusive between
    processes. ``wait`` blocks until the lock is free, polling every ``poll`` seconds;
    otherwise ``LeaseBusy`` is raised at once."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_path(cls, path: str) -> FileLeaseLock:
        """The process's lock on ``path``."""
        return cls.shared((path,), path)

    def _take(self, *, wait: bool, poll: float) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    raise LeaseBusy(f"another sequencer holds {self.path}") from None
                time.sleep(poll)
        self._fd = fd

    def _give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class AdvisoryLeaseLock(_ProcessLock):
    """The lease's PostgreSQL session advisory lock on a dedicated autocommit connection.

    Re-entrant within the process, exclusive between sessions. ``acquire(wait=True)``
    retries every ``poll`` seconds (also while the database is unreachable: a standby
    outlives a database restart); ``acquire(wait=False)`` raises ``LeaseBusy`` at
    once. Use ``for_database`` to share one lock per database within a process.
    """

    poll = POLL_SECONDS

    def __init__(self, params: Mapping[str, Any], key: int = LEASE_KEY) -> None:
        super().__init__()
        self.params = dict(params)
        self.key = key
        self._conn: Any = None

    @classmethod
    def for_database(cls, database: Mapping[str, Any], key: int = LEASE_KEY) -> AdvisoryLeaseLock:
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
                raise LeaseBusy(reason)
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
        except LeaseBusy as exc:
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


class SequencerLease:
    """The sequencer lease of ``home`` as a context manager (see the module docstring).

    ``with SequencerLease(home) as lease:`` blocks until this process holds it (or raises
    ``LeaseBusy`` at once with ``wait=False``); entering ``lease`` again inside is cheap and
    re-checks it (``LeaseLost``). While waiting, each lock is asked again every ``poll``
    seconds (None: at each lock's own pace). ``database`` is a Django ``DATABASES`` entry
    (default: ``settings.DATABASES["default"]``). ``locks``: the home's lock file, then on
    PostgreSQL the advisory lock.
    """

    def __init__(
        self,
        home: Home,
        database: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        poll: float | None = None,
    ) -> None:
        if database is None:
            from django.conf import settings

            database = settings.DATABASES["default"]
        self.locks: tuple[LeaseLock, ...] = (FileLeaseLock.for_path(str(home.path / LEASE_FILE)),)
        if is_postgresql(database):
            self.locks += (AdvisoryLeaseLock.for_database(database),)
        self.wait = wait
        self.poll = poll

    @property
    def held(self) -> bool:
        return all(lock.held for lock in self.locks)

    def acquire(self) -> None:
        """Take each lock in order; on failure give back those taken."""
        taken: list[LeaseLock] = []
        try:
            for lock in self.locks:
                lock.acquire(wait=self.wait, poll=self.poll)
                taken.append(lock)
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise

    def release(self) -> None:
        """Give back each lock, in reverse order."""
        try:
            if len(self.locks) > 1:
                self.locks[1].release()
        finally:
            self.locks[0].release()

    def __enter__(self) -> SequencerLease:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
