"""The witness's state: for each log origin, the latest checkpoint it cosigned, in SQLite.

Contract: ``advance`` reads a log's row, lets the caller decide on it, and writes the new
row in one ``BEGIN IMMEDIATE`` transaction (so two requests cannot both pass the old-size
check: the race of tlog-witness §add-checkpoint), committed with ``synchronous=FULL``
before it returns (the witness MUST persist before responding). A trigger refuses any
update that would make a log's size smaller, whatever the code above says. Each call opens
its own connection, so the state is safe to use from many threads and processes.

Requests that a log signed but that failed a consistency check are kept in ``evidence``
(tlog-witness: the witness MAY log them, as they may prove misbehaviour). Nothing about
the sender (no address) is stored.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogState", "WitnessState"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS logs_never_shrink BEFORE UPDATE OF size ON logs
WHEN NEW.size < OLD.size BEGIN SELECT RAISE(ABORT, 'a log''s size never goes backwards'); END;
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class LogState:
    """The latest checkpoint cosigned for ``origin``: its ``size``, ``root`` and the cosigned
    ``note`` (the log's signature and ours), cosigned at ``cosigned_at`` (POSIX time)."""

    origin: str
    size: int
    root: bytes
    note: bytes
    cosigned_at: int


class WitnessState:
    """The SQLite database at ``path`` (created with its schema if absent)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")
            yield con
        finally:
            con.close()

    def get(self, origin: str) -> LogState | None:
        """The row of ``origin``, None if the witness never cosigned for it."""
        with self._connect() as con:
            row = con.execute(
                "SELECT origin, size, root, note, cosigned_at FROM logs WHERE origin = ?",
                (origin,),
            ).fetchone()
        return LogState(*row) if row else None

    def all(self) -> list[LogState]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT origin, size, root, note, cosigned_at FROM logs ORDER BY origin"
            ).fetchall()
        return [LogState(*r) for r in rows]

    def advance(
        self, origin: str, decide: Callable[[LogState | None], LogState]
    ) -> LogState:
        """Atomically: read ``origin``'s row, call ``decide(current)`` (which returns the new
        state or raises to refuse; nothing is written then), write what it returned."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute(
                    "SELECT origin, size, root, note, cosigned_at FROM logs WHERE origin = ?",
                    (origin,),
                ).fetchone()
                new = decide(LogState(*row) if row else None)
                if new.origin != origin:
                    raise AssertionError(
                        "WitnessState.advance: decide changed the origin"
                    )
                con.execute(
                    "INSERT INTO logs (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                    "note = excluded.note, cosigned_at = excluded.cosigned_at",
                    (new.origin, new.size, new.root, new.note, new.cosigned_at),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return new

    def record_evidence(self, origin: str, reason: str, request: bytes) -> None:
        """Keep a log-signed request that failed a consistency check."""
        with self._connect() as con:
            con.execute(
                "INSERT INTO evidence (origin, received_at, reason, request) VALUES (?, ?, ?, ?)",
                (origin, int(time.time()), reason, request),
            )

    def evidence(self, origin: str) -> list[tuple[str, bytes]]:
        """``(reason, request)`` of each kept request for ``origin``, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT reason, request FROM evidence WHERE origin = ? ORDER BY id",
                (origin,),
            ).fetchall()
        return [(r, bytes(b)) for r, b in rows]
