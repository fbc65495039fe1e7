"""Group commit: the items that threads of one process save at the same moment are written
in ONE transaction, so they share one commit (one fsync) instead of queueing for the
database's write lock one by one.

``GroupCommitter(write_rows, forget=...).save(item)`` returns only once THIS item's
transaction has committed (or raises its own error, nothing of it saved): a receipt is
never shown for a row a crash could still lose. What an item is and how a batch of them
becomes rows is the caller's: ``write_rows(batch, using=...)`` inserts them inside the
transaction the committer opened (``tallylog.registry.declarations.committer`` passes the
declarations' and their log entries' writer); ``forget(item)`` undoes what ``write_rows``
did to an item's objects when its transaction was rolled back.

How (the leader/follower scheme of LevelDB's writer queue and PostgreSQL's group commit):
each caller appends its item to the process's queue. If no thread is writing, the caller
becomes the *leader*: it waits for the write turn, then takes the whole queue (at most
``MAX_BATCH`` items: also those queued while it waited) and writes it in one transaction on
its own database connection, marks every item done and wakes its
thread, then hands the leadership to the first item still queued (whose thread wakes up
and writes the next batch). While one batch commits, the next one gathers: under load the
batch grows with the commit latency, with no timer and no extra thread; alone, a caller
writes its own row at once.

If a batch fails, it is rolled back and retried item by item, each in its own
transaction, so that one bad row fails alone with its own error. When the database
itself fails (``OperationalError``/``InterfaceError``: locked, gone, disk full) during the
retry, the remaining items get that error without waiting for it again.

On SQLite, the leaders of the web worker processes and the sequencer take turns at the
write lock through ``tallylog.fastpath.writeturn`` (an exclusive ``flock``, where SQLite's
own busy handler would poll with sleeps of up to 100 ms).

On SQLite in WAL mode the committer's connection commits with ``synchronous=NORMAL``: the
commit writes the batch's frames to the write-ahead log but does not wait for the disk, and
the leader, once it has left the write turn, syncs the log itself (``fdatasync``) before it
wakes anyone. A caller still returns only once its row is on the disk, as with
``synchronous=FULL`` (which every other connection keeps), but the other process's leader
no longer waits for this one's sync to begin its own batch. Whoever commits after it in the
log (the sequencer included, before it publishes) syncs this batch's frames with its own.
A sync that fails fails the batch's callers (their rows may or may not survive a power cut).

On SQLite, where Django opens a connection per request (and opening one costs about half a
millisecond of CPU: the functions it registers), leaders write through one connection the
committer keeps open, used by one leader at a time; after a failed write it is closed and
reopened. On PostgreSQL the leader writes through its own thread's connection, which
``CONN_MAX_AGE`` keeps open anyway.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from django.db import (
    DEFAULT_DB_ALIAS,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper

from tallylog.fastpath.writeturn import write_turn

__all__ = ["MAX_BATCH", "GroupCommitter", "RowWriter"]

# Rows per transaction: bounds the time a batch holds the write lock (a few ms).
MAX_BATCH = 256

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class RowWriter(Protocol[T_contra]):
    """Inserts a batch of items inside the open transaction of database ``using``."""

    def __call__(self, batch: Sequence[T_contra], *, using: str) -> None: ...


@dataclass(eq=False)
class _Waiter(Generic[T]):
    """An item in the queue, and how its thread learns that it was written."""

    item: T
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    lead: bool = False
    error: BaseException | None = None


class GroupCommitter(Generic[T]):
    """One process's queue of items waiting to be written (see the module text).

    ``write_rows(batch, using=…)`` writes a batch of items inside the committer's
    transaction; ``forget(item)`` runs for each item of a batch that was rolled back.
    """

    def __init__(
        self,
        write_rows: RowWriter[T],
        *,
        forget: Callable[[T], None] = lambda item: None,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        self.write_rows = write_rows
        self.forget = forget
        self.using = using
        self._lock = threading.Lock()
        self._queue: list[_Waiter[T]] = []
        self._leading = False
        self._conn: BaseDatabaseWrapper | None = None  # SQLite: kept open, one leader at a time
        self._wal: str | None = None  # SQLite in WAL mode: the file synced after each batch
        # Batches written and rows in them, for tests and benchmarks.
        self.batches = 0
        self.rows = 0

    def save(self, item: T) -> None:
        """Write ``item``; return when committed. Raises the error that made its own
        write fail."""
        waiter = _Waiter(item)
        with self._lock:
            self._queue.append(waiter)
            if not self._leading:
                self._leading = waiter.lead = True
        while not waiter.done:
            if waiter.lead:
                self._lead()
            else:
                waiter.wake.wait()
                waiter.wake.clear()
        if waiter.error is not None:
            raise waiter.error

    def _lead(self) -> None:
        batch: list[_Waiter[T]] = []
        try:
            self._write(batch)
        finally:
            with self._lock:
                if not batch:  # the turn failed before the batch was taken: it fails with it
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                for waiter in batch:
                    waiter.lead = False
                    if not waiter.done:  # _write was interrupted (BaseException): never leave a waiter
                        waiter.done, waiter.error = True, RuntimeError("group commit interrupted")
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].wake.set()
                else:
                    self._leading = False
            for waiter in batch:
                waiter.wake.set()

    def _write(self, batch: list[_Waiter[T]]) -> None:
        """Wait for the write turn, then move the queue's first ``MAX_BATCH`` items into
        ``batch`` and write them. Taken only once the turn is ours, so that whatever was
        queued while this leader waited for it (another process's batch being written)
        joins this batch instead of waiting for the next one."""
        with write_turn(self.using), self._connection():
            with self._lock:
                batch.extend(self._queue[:MAX_BATCH])
                del self._queue[:MAX_BATCH]
            self._write_batch(batch)
        if self._conn is not None:
            if self._wal is not None:
                self._sync_wal(self._wal, batch)
            if any(waiter.error is not None for waiter in batch):
                self._conn.close()  # it may be what failed: a new one next time

    @staticmethod
    def _sync_wal(wal: str, batch: list[_Waiter[T]]) -> None:
        try:
            fd = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            error = OperationalError(f"the database's write-ahead log could not be synced: {exc}")
            for waiter in batch:
                if waiter.error is None:
                    waiter.error = error

    @contextlib.contextmanager
    def _connection(self) -> Iterator[None]:
        """On SQLite, make the committer's own connection this thread's for the write."""
        if connections[self.using].vendor != "sqlite":
            yield
            return
        if self._conn is None:
            self._conn = connections.create_connection(self.using)
            self._conn.inc_thread_sharing()  # leaders are different threads, one at a time
        own = connections[self.using]
        connections[self.using] = self._conn
        try:
            yield
        except BaseException:
            self._conn.close()
            raise
        finally:
            connections[self.using] = own

    def _write_batch(self, batch: list[_Waiter[T]]) -> None:
        try:
            if self._conn is not None and self._conn.connection is None:
                self._wal = _open_with_own_sync(self._conn)
            with transaction.atomic(using=self.using):
                self.write_rows([waiter.item for waiter in batch], using=self.using)
        except Exception:
            for waiter in batch:
                self.forget(waiter.item)
        else:
            self.batches += 1
            self.rows += len(batch)
            for waiter in batch:
                waiter.done = True
            return
        # The batch failed: each item alone, so that only the bad ones fail.
        fatal: BaseException | None = None
        for waiter in batch:
            if fatal is not None:
                waiter.error = fatal
            else:
                try:
                    with transaction.atomic(using=self.using):
                        self.write_rows([waiter.item], using=self.using)
                    self.batches += 1
                    self.rows += 1
                except Exception as exc:
                    self.forget(waiter.item)
                    waiter.error = exc
                    if isinstance(exc, (OperationalError, InterfaceError)):
                        fatal = exc
            waiter.done = True


def _open_with_own_sync(conn: BaseDatabaseWrapper) -> str | None:
    """Open ``conn``; if its database is a file in WAL mode, make its commits skip their
    fsync (``synchronous=NORMAL``: the committer syncs the write-ahead log itself once it
    has left the write turn) and return the log's path."""
    conn.ensure_connection()
    if conn.is_in_memory_db():  # type: ignore[attr-defined]  # SQLite's wrapper only
        return None
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0].lower() != "wal":
            return None
        cursor.execute("PRAGMA synchronous=NORMAL")
    return f"{conn.settings_dict['NAME']}-wal"
