"""Turns at SQLite's write lock: every writer of the embedded database queues here.

SQLite lets one transaction write at a time; a writer that finds the lock taken waits in
SQLite's busy handler, which polls with sleeps of up to 100 ms, so it goes on sleeping
after the lock is free (the long tail of waiting writers, and whole seconds lost when the
sequencer's commit meets a batch of submissions). ``write_turn`` makes the writers take
turns through an exclusive ``flock(2)`` on ``<database>.write-lock`` instead: the kernel
wakes the next one the moment the lock is free. The group committer of the web workers,
the sequencer's transactions and queued bulk-import batches use it; a writer that does not
(an admin edit, the volunteers' console) still waits through SQLite's own lock alone.

Re-entrant within a thread (a nested turn is part of the outer one); nothing for another
database or an in-memory SQLite one.

Not the sequencer lease (``tallylog.registry.entries.lease.SequencerLease``): the lease
makes one process the log's only writer for as long as it runs (minutes to months, on any
database, across machines on PostgreSQL), while a write turn is held by any writer of the
database for one transaction (milliseconds), only orders the writers of one SQLite file,
and says nothing about who may append to the log. The sequencer holds both: the lease for
its life, a write turn for each commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections

_held = threading.local()


@contextlib.contextmanager
def write_turn(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Hold the exclusive turn of SQLite database ``using`` (wait for it first); open the
    write transaction inside it. The lock file is opened for each turn: ``flock`` locks
    belong to an open file, so a file shared by the process's threads would let them all
    in at once."""
    depth = getattr(_held, "depth", 0)
    conn = connections[using]
    name = str(conn.settings_dict.get("NAME") or "")
    fd = None
    if depth == 0 and conn.vendor == "sqlite" and name and not conn.is_in_memory_db():  # type: ignore[attr-defined]  # SQLite's wrapper only
        fd = os.open(f"{name}.write-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
    _held.depth = depth + 1
    try:
        yield
    finally:
        _held.depth = depth
        if fd is not None:
            os.close(fd)  # releases the lock
