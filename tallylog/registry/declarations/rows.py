"""The rows of log entries and declarations as the fast paths write them
(``tallylog.fastpath.TableWriter``): the ONE place their shapes are defined, for the group
committer (``declarations.committer``) and the bulk importer (``imports.importer``) alike.

Columns are the models' own (``fastpath.columns_of``): a field added to a model with a
default needs no change here. Two ways of writing, one shape per table and way:

- submitted one at a time (the committer): every column per row, the keys first
  (``entries()``, ``declarations()``), made from the unsaved instances by
  ``TableWriter.values_of``;
- imported by the batch (the importer): the columns that differ between the rows of a batch
  (``imported_entries()``, ``imported_declarations()``); the others (campaign, kind,
  status, day, times) are given once per batch to ``write``. An imported entry has one
  shape whether it is queued (``log_index``, ``leaf`` None; ``body`` the queue's input) or
  sequenced in the same transaction (``body`` ``{}``: the leaf carries every field).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from tallylog.fastpath import TableWriter, columns_of
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry

# A row of ``entries()`` / ``declarations()`` (their ``Row`` types, built from the models).
EntryRow = tuple[Any, ...]
DeclarationRow = tuple[Any, ...]


class ImportedDeclaration(NamedTuple):
    """What a bulk-import worker prepares of a declaration, as database values: the
    columns of ``imported_declarations()`` but the two the writing process adds."""

    alias: str
    statement: str
    region: str
    declared_on: str | None  # YYYY-MM-DD
    salt: bytes
    orgs: str  # JSON text
    channel: str
    tag: str
    tag_salt: str | None  # hex; None for a declaration made before leaf v2


# Added by the importer's writing process, in this order, after an ``ImportedDeclaration``.
IMPORT_KEYS = ("entry_id", "receipt_hash")
# Given once per batch by the importer.
_IMPORTED_ENTRY_PER_BATCH = ("campaign_id", "kind", "published_at", "day", "sequenced_at")
_IMPORTED_DECLARATION_PER_BATCH = (
    "id", "campaign_id", "status", "reject_reason", "created_at", "published_at",
    "moderated_by_id", "redacted_at", "redacted_by", "redaction_reason", "legacy_url",
)


@functools.cache
def entries() -> TableWriter:
    """Submitted entries: every column, the key first."""
    return TableWriter(LogEntry, columns_of(LogEntry, first=("id",)))


@functools.cache
def declarations() -> TableWriter:
    """Submitted declarations: every column, the key and the entry's key first."""
    return TableWriter(Declaration, columns_of(Declaration, first=("id", "entry_id")))


def with_keys(row: tuple[Any, ...], *keys: Any) -> tuple[Any, ...]:
    """A row of ``entries()`` or ``declarations()`` with its first fields (the keys) set."""
    return (*keys, *row[len(keys) :])


@functools.cache
def imported_entries() -> TableWriter:
    """Imported entries, queued or sequenced: ``id``, ``channel``, ``body``, ``log_index``,
    ``leaf`` per row."""
    return TableWriter(LogEntry, columns_of(LogEntry, first=("id",), but=_IMPORTED_ENTRY_PER_BATCH))


@functools.cache
def imported_declarations() -> TableWriter:
    """Imported declarations: an ``ImportedDeclaration`` and ``IMPORT_KEYS`` per row."""
    writer = TableWriter(
        Declaration, columns_of(Declaration, last=IMPORT_KEYS, but=_IMPORTED_DECLARATION_PER_BATCH)
    )
    if writer.Row._fields != ImportedDeclaration._fields + IMPORT_KEYS:
        raise AssertionError(
            f"imported_declarations: Declaration's columns {writer.Row._fields} "
            "are not ImportedDeclaration's and IMPORT_KEYS"
        )
    return writer
