"""Group commit: the declarations that threads of one process submit at the same moment are
written in ONE transaction, so they share one commit (one fsync) instead of queueing for
the database's write lock one by one.

``save_declaration(declaration, entry)`` is what ``submit_declaration`` calls. It returns
only once THIS declaration's transaction has committed (or raises its own error, nothing
of it saved): a receipt is never shown for a row a crash could still lose.

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
write lock through ``tallylog.registry.writeturn`` (an exclusive ``flock``, where SQLite's
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

Inside a caller's transaction (``transaction.atomic``, e.g. the volunteers' console, which
records the call in the same transaction), or when ``settings.TALLYLOG_GROUP_COMMIT`` is
False, the row is written directly, in the caller's transaction or its own, as before.
"""

from __future__ import annotations

import contextlib
import os
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from tallylog.config import config
from tallylog.registry.bulk import TableWriter, reserve_keys
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.writeturn import write_turn

# Rows per transaction: bounds the time a batch holds the write lock (a few ms).
MAX_BATCH = 256


@dataclass(eq=False)
class _Item:
    declaration: Declaration
    entry: LogEntry | None
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    lead: bool = False
    error: BaseException | None = None
    # The rows as database values, made by the submitting thread (not by the leader, while
    # the others wait): the entry's with its key first, the declaration's with its key and
    # its entry's key first; the leader fills in the keys.
    entry_row: tuple[object, ...] | None = None
    declaration_row: tuple[object, ...] = ()
    using: str = DEFAULT_DB_ALIAS

    def __post_init__(self) -> None:
        writers = _writers()
        if self.entry is not None:
            self.entry_row = writers.entries.values_of(self.entry, using=self.using)
        self.declaration_row = writers.declarations.values_of(self.declaration, using=self.using)


class GroupCommitter:
    """One process's queue of declarations waiting to be written (see the module text)."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self._lock = threading.Lock()
        self._queue: list[_Item] = []
        self._leading = False
        self._conn: BaseDatabaseWrapper | None = None  # SQLite: kept open, one leader at a time
        self._wal: str | None = None  # SQLite in WAL mode: the file synced after each batch
        # Batches written and rows in them, for tests and benchmarks.
        self.batches = 0
        self.rows = 0

    def save(self, declaration: Declaration, entry: LogEntry | None) -> None:
        """Write ``entry`` (if any) and ``declaration`` (with ``entry`` as its entry);
        return when committed. Raises the error that made its own write fail."""
        item = _Item(declaration, entry, using=self.using)
        with self._lock:
            self._queue.append(item)
            if not self._leading:
                self._leading = item.lead = True
        while not item.done:
            if item.lead:
                self._lead()
            else:
                item.wake.wait()
                item.wake.clear()
        if item.error is not None:
            raise item.error

    def _lead(self) -> None:
        batch: list[_Item] = []
        try:
            self._write(batch)
        finally:
            with self._lock:
                if not batch:  # the turn failed before the batch was taken: it fails with it
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                for item in batch:
                    item.lead = False
                    if not item.done:  # _write was interrupted (BaseException): never leave a waiter
                        item.done, item.error = True, RuntimeError("group commit interrupted")
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].wake.set()
                else:
                    self._leading = False
            for item in batch:
                item.wake.set()

    def _write(self, batch: list[_Item]) -> None:
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
            if any(item.error is not None for item in batch):
                self._conn.close()  # it may be what failed: a new one next time

    @staticmethod
    def _sync_wal(wal: str, batch: list[_Item]) -> None:
        try:
            fd = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            error = OperationalError(f"the database's write-ahead log could not be synced: {exc}")
            for item in batch:
                if item.error is None:
                    item.error = error

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

    def _write_batch(self, batch: list[_Item]) -> None:
        try:
            if self._conn is not None and self._conn.connection is None:
                self._wal = _open_with_own_sync(self._conn)
            with transaction.atomic(using=self.using):
                write_rows(batch, using=self.using)
        except Exception:
            for item in batch:
                _forget_keys(item)
        else:
            self.batches += 1
            self.rows += len(batch)
            for item in batch:
                item.done = True
            return
        # The batch failed: each item alone, so that only the bad ones fail.
        fatal: BaseException | None = None
        for item in batch:
            if fatal is not None:
                item.error = fatal
            else:
                try:
                    with transaction.atomic(using=self.using):
                        write_rows([item], using=self.using)
                    self.batches += 1
                    self.rows += 1
                except Exception as exc:
                    _forget_keys(item)
                    item.error = exc
                    if isinstance(exc, (OperationalError, InterfaceError)):
                        fatal = exc
            item.done = True


def _open_with_own_sync(conn: BaseDatabaseWrapper) -> str | None:
    """Open ``conn``; if its database is a file in WAL mode, make its commits skip their
    fsync (``synchronous=NORMAL``: the committer syncs the write-ahead log itself once it
    has left the write turn) and return the log's path."""
    conn.ensure_connection()
    if conn.is_in_memory_db():
        return None
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0].lower() != "wal":
            return None
        cursor.execute("PRAGMA synchronous=NORMAL")
    return f"{conn.settings_dict['NAME']}-wal"


def write_rows(batch: list[_Item], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert the batch's entries, then its declarations (inside the caller's transaction):
    their keys reserved in one query (``reserve_keys``), the rows written as the
    tuples their threads made, in one statement per table (``TableWriter``: no per-value
    SQL compilation). The instances get their keys."""
    with_entry = [item for item in batch if item.entry is not None]
    entry_ids, declaration_ids = reserve_keys([(LogEntry, len(with_entry)), (Declaration, len(batch))], using=using)
    entry_rows = []
    for item, pk in zip(with_entry, entry_ids, strict=True):
        assert item.entry is not None and item.entry_row is not None
        item.entry.pk = pk
        item.declaration.entry = item.entry
        entry_rows.append((pk, *item.entry_row[1:]))
    declaration_rows = []
    for item, pk in zip(batch, declaration_ids, strict=True):
        item.declaration.pk = pk
        declaration_rows.append((pk, item.declaration.entry_id, *item.declaration_row[2:]))
    writers = _writers()
    writers.entries.write(entry_rows, using=using)
    writers.declarations.write(declaration_rows, using=using)
    for item in batch:
        for obj in (item.entry, item.declaration):
            if obj is not None:
                obj._state.adding = False
                obj._state.db = using


@dataclass(frozen=True)
class _Writers:
    entries: TableWriter
    declarations: TableWriter


@functools.cache
def _writers() -> _Writers:
    """The table writers of whole rows: every column, the keys first (built once)."""

    def every_column(model: type[Model], first: tuple[str, ...]) -> tuple[str, ...]:
        return (*first, *(f.attname for f in model._meta.concrete_fields if f.attname not in first))

    return _Writers(
        TableWriter(LogEntry, every_column(LogEntry, ("id",))),
        TableWriter(Declaration, every_column(Declaration, ("id", "entry_id"))),
    )


def _forget_keys(item: _Item) -> None:
    """After a rollback: the rows do not exist, so the objects must not keep their keys."""
    for obj in (item.entry, item.declaration):
        if obj is not None:
            obj.pk = None
            obj._state.adding = True
            obj._state.db = None
    if item.entry is not None:
        item.declaration.entry = item.entry


_committers: dict[str, GroupCommitter] = {}
_committers_lock = threading.Lock()


def committer(using: str = DEFAULT_DB_ALIAS) -> GroupCommitter:
    """This process's committer for database ``using``."""
    with _committers_lock:
        if using not in _committers:
            _committers[using] = GroupCommitter(using)
        return _committers[using]


def group_commit_enabled() -> bool:
    """``TALLYLOG_GROUP_COMMIT`` (default on)."""
    return config().group_commit


def save_declaration(declaration: Declaration, entry: LogEntry | None, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Save a new ``declaration`` and, when it is published at once, its new ``entry``,
    committed before this returns: grouped with other threads' rows in one transaction,
    or directly inside the caller's transaction when there is one."""
    if connections[using].in_atomic_block or not group_commit_enabled():
        with transaction.atomic(using=using):
            write_rows([_Item(declaration, entry, using=using)], using=using)
        return
    committer(using).save(declaration, entry)
