"""The default shared cache: one SQLite file on a memory file system, for every worker.

What ``make run`` and a one-machine ``tallylog serve`` count rate limits, the flood screen
and the login throttle in (``tallylog.config.caches``), so that the documented limits
hold whatever the number of worker processes, and a lockout survives a restart of
tallylog. The file lives on tmpfs (``/dev/shm``), never on a disk: the daily hashing key
and the keyed hashes of client addresses (docs/safety.md) go nowhere a restart, a backup
or a seized disk would keep them, exactly as in Redis run without persistence. Check
``tallylog.safety.E001`` refuses a LOCATION that is not on a memory file system.

Every operation is one SQLite statement or transaction, so ``add`` (first writer wins) and
``incr`` are atomic across processes and threads (Django's file and database caches do a
read then a write, and lose counts under concurrency). Expired rows are deleted as they are
met, and all of them every ``PURGE_EVERY`` writes.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

PURGE_EVERY = 1000
_SCHEMA = "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"


class MemoryFileCache(BaseCache):
    """Django cache backend on an SQLite database at ``LOCATION`` (a path on tmpfs)."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.path = Path(location)
        self._local = threading.local()
        self._writes = 0

    # -- the connection (one per thread and process) ---------------------------------

    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # memory: nothing to make durable
            conn.execute(_SCHEMA)
            os.chmod(self.path, 0o600)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _expiry(self, timeout: Any) -> float:
        """When an entry set now with ``timeout`` expires (BaseCache gives the time itself)."""
        expires = self.get_backend_timeout(timeout)
        return float("inf") if expires is None else float(expires)

    def _wrote(self, conn: sqlite3.Connection, writes: int = 1) -> None:
        self._writes += writes
        if self._writes // PURGE_EVERY != (self._writes - writes) // PURGE_EVERY:
            conn.execute("DELETE FROM cache WHERE expires <= ?", (time.time(),))

    # -- BaseCache ---------------------------------------------------------------------

    def validate_key(self, key: str) -> None:
        """Nothing to check: any text is a key of this table. (Django's base class warns, a
        character at a time in Python, about keys memcached would refuse; our keys are short
        ASCII, and its cost was most of ``count_many``'s own.)"""

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        conn = self._db()
        blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        cursor = conn.execute(
            "INSERT INTO cache (key, value, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires "
            "WHERE cache.expires <= ?",
            (key, blob, self._expiry(timeout), time.time()),
        )
        self._wrote(conn)
        return cursor.rowcount == 1

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        row = self._db().execute("SELECT value FROM cache WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return default if row is None else pickle.loads(row[0])

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        conn = self._db()
        blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        conn.execute("INSERT OR REPLACE INTO cache (key, value, expires) VALUES (?, ?, ?)", (key, blob, self._expiry(timeout)))
        self._wrote(conn)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        cursor = self._db().execute(
            "UPDATE cache SET expires = ? WHERE key = ? AND expires > ?", (self._expiry(timeout), key, time.time())
        )
        return cursor.rowcount == 1

    def delete(self, key: str, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._db().execute("DELETE FROM cache WHERE key = ?", (key,)).rowcount == 1

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT value FROM cache WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(row[0]) + delta
            conn.execute("UPDATE cache SET value = ? WHERE key = ?", (pickle.dumps(value, pickle.HIGHEST_PROTOCOL), key))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return value

    def count_many(self, keys: list[str], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[int]:
        """Add one to each counter of ``keys``, in one transaction; their new counts, in order.

        For each key what ``add(key, 0, timeout)`` then ``incr(key)`` do (a missing or
        expired counter starts again at 1 and expires ``timeout`` from now; a live one keeps
        its expiry), atomic across processes and threads alike, in one write transaction
        instead of two a key (``tallylog.registry.keyed.count_in_windows``: the flood
        screen counts some twenty keys a submission)."""
        names = [self.make_and_validate_key(key, version=version) for key in keys]
        conn = self._db()
        counts: list[int] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            now, expires = time.time(), self._expiry(timeout)
            for name in names:
                row = conn.execute("SELECT value FROM cache WHERE key = ? AND expires > ?", (name, now)).fetchone()
                count = 1 if row is None else pickle.loads(row[0]) + 1
                blob = pickle.dumps(count, pickle.HIGHEST_PROTOCOL)
                if row is None:
                    conn.execute("INSERT OR REPLACE INTO cache (key, value, expires) VALUES (?, ?, ?)", (name, blob, expires))
                else:
                    conn.execute("UPDATE cache SET value = ? WHERE key = ?", (blob, name))
                counts.append(count)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._wrote(conn, len(names))
        return counts

    def has_key(self, key: str, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._db().execute("SELECT 1 FROM cache WHERE key = ? AND expires > ?", (key, time.time())).fetchone() is not None

    def clear(self) -> None:
        self._db().execute("DELETE FROM cache")

    def close(self, **kwargs: Any) -> None:
        pass  # kept open for the thread's next request
