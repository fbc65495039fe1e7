"""Group commit of submitted declarations: ``save_declaration`` is what
``submit_declaration`` calls. It returns only once THIS declaration's transaction has
committed (or raises its own error, nothing of it saved): a receipt is never shown for a
row a crash could still lose.

The declarations that threads of one process submit at the same moment are written in ONE
transaction by the process's ``tallylog.fastpath.groupcommit.GroupCommitter`` (its module
says how, and ``tallylog.fastpath`` what it promises); this module says what is written:
each declaration with its log entry, as rows of ``tallylog.registry.declarations.rows``
(the bulk importer's too), their keys reserved in one query.

Inside a caller's transaction (``transaction.atomic``, e.g. the volunteers' console, which
records the call in the same transaction), or when ``settings.TALLYLOG_GROUP_COMMIT`` is
False, the row is written directly, in the caller's transaction or its own, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from tallylog.config import config
from tallylog.fastpath import GroupCommitter, reserve_keys
from tallylog.registry.declarations import rows
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry


@dataclass(eq=False)
class _Item:
    """A declaration to save, with its new entry (None: not published yet), and their
    rows, made by the submitting thread (not by the leader, while the others wait); the
    leader fills in the keys."""

    declaration: Declaration
    entry: LogEntry | None
    entry_row: rows.EntryRow | None = None
    declaration_row: rows.DeclarationRow | None = None
    using: str = DEFAULT_DB_ALIAS

    def __post_init__(self) -> None:
        if self.entry is not None:
            self.entry_row = rows.entries().values_of(self.entry, using=self.using)
        self.declaration_row = rows.declarations().values_of(self.declaration, using=self.using)


def write_rows(batch: Sequence[_Item], *, using: str = DEFAULT_DB_ALIAS) -> None:
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
        entry_rows.append(rows.with_keys(item.entry_row, pk))
    declaration_rows = []
    for item, pk in zip(batch, declaration_ids, strict=True):
        assert item.declaration_row is not None
        item.declaration.pk = pk
        declaration_rows.append(rows.with_keys(item.declaration_row, pk, item.declaration.entry_id))
    rows.entries().write(entry_rows, using=using)
    rows.declarations().write(declaration_rows, using=using)
    for item in batch:
        for obj in (item.entry, item.declaration):
            if obj is not None:
                obj._state.adding = False
                obj._state.db = using


def _forget_keys(item: _Item) -> None:
    """After a rollback: the rows do not exist, so the objects must not keep their keys."""
    for obj in (item.entry, item.declaration):
        if obj is not None:
            obj.pk = None
            obj._state.adding = True
            obj._state.db = None
    if item.entry is not None:
        item.declaration.entry = item.entry


_committers: dict[str, GroupCommitter[_Item]] = {}
_committers_lock = threading.Lock()


def new_committer(using: str = DEFAULT_DB_ALIAS) -> GroupCommitter[_Item]:
    """A committer of declarations for database ``using`` (``committer`` keeps the
    process's one)."""
    # ``write_rows`` looked up at each batch: tests replace it.
    return GroupCommitter(lambda batch, *, using: write_rows(batch, using=using), forget=_forget_keys, using=using)


def committer(using: str = DEFAULT_DB_ALIAS) -> GroupCommitter[_Item]:
    """This process's committer for database ``using``."""
    with _committers_lock:
        if using not in _committers:
            _committers[using] = new_committer(using)
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
    committer(using).save(_Item(declaration, entry, using=using))
