"""The database speed paths: group commit, bulk row writers, bulk updates, the write turn.

They know Django's ORM and its connections, never tallylog's models: the domain
(``tallylog.registry``) passes the model classes, the rows and the function that turns a
batch into rows. Nothing here imports ``tallylog.registry``.

The contract each keeps (checked by tests/fastpath/test_groupcommit.py, test_walsync.py,
test_writeturn.py and the importer's and sequencer's tests, on SQLite and PostgreSQL):

- ``GroupCommitter(write_rows, forget=…).save(item)`` (``groupcommit``) — **durable when it
  returns**: the item's rows are committed (on SQLite in WAL mode, the write-ahead log
  holding them was fdatasynced; elsewhere the database's own commit sync). **Atomic per
  item**: all of an item's rows or none. Items saved together share one transaction; if it
  fails, each item is retried alone, so one bad item fails alone. **Safe concurrently**
  from any number of threads of a process (each waits for its own item); between
  processes the database orders the batches (on SQLite through the write turn). **Errors**: the exception its own ``write_rows`` raised — nothing
  of the item saved; an ``OperationalError``/``InterfaceError`` of the database — nothing
  of it committed, and the items behind it in that batch get the same error at once;
  ``OperationalError`` "the database's write-ahead log could not be synced" — committed,
  but it may or may not survive a power cut: the caller must treat it as not saved;
  ``RuntimeError`` "group commit interrupted" — the leader was interrupted
  (``KeyboardInterrupt``, …) before the item was written. Inside a caller's transaction
  use ``write_rows`` directly: the committer opens its own.
- ``TableWriter(model, columns).write(rows, **per_batch)`` (``tables``) — part of the
  **caller's transaction** (call it inside ``transaction.atomic``): atomic and durable
  with it, never on its own. ``rows`` are already database values (``TableWriter.Row``,
  or ``values_of(instance)``); it runs no model code (no ``save``, no signals). A writer
  may be shared by threads. **Errors** are Django's (``IntegrityError``,
  ``OperationalError``, …) on both databases; then the transaction must be rolled back.
- ``reserve_keys`` / ``reserve_ids`` — fresh primary keys, in the caller's transaction.
  PostgreSQL: drawn from the sequences, never handed out twice (also after a rollback).
  SQLite: the next after the largest ever used, safe because the transaction holds the
  write lock (``BEGIN IMMEDIATE``); after a rollback they are handed out again.
- ``update_rows`` — one ``executemany`` ``UPDATE`` in the caller's transaction; it does
  not count what changed (the caller does when it matters).
- ``write_turn(using)`` (``writeturn``) — exclusive between the threads and processes of
  one machine that write one SQLite file, for one transaction (milliseconds); re-entrant
  in a thread; nothing on PostgreSQL or an in-memory database. **Errors**: ``OSError``
  if the lock file cannot be opened (nothing held). It is not the sequencer lease
  (``tallylog.registry.entries.lease``), which makes one process the log's only writer
  for its life.
"""

from tallylog.fastpath.groupcommit import MAX_BATCH, GroupCommitter
from tallylog.fastpath.tables import (
    TableWriter,
    columns_of,
    db_value,
    reserve_ids,
    reserve_keys,
    update_rows,
)
from tallylog.fastpath.writeturn import write_turn

__all__ = [
    "MAX_BATCH",
    "GroupCommitter",
    "TableWriter",
    "columns_of",
    "db_value",
    "reserve_ids",
    "reserve_keys",
    "update_rows",
    "write_turn",
]
