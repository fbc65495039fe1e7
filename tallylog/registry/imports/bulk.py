"""Fast inserts for bulk import: ``COPY`` on PostgreSQL, ``executemany`` on SQLite.

Django's ``bulk_create`` spends most of an import's time compiling each value of each
row; these helpers write rows already in database form, for the importer's two tables.
Columns come from the model (``_meta.concrete_fields``), so a field added later with a
default needs no change here; a field without a default that the caller does not give
fails loudly in the database. Call them inside ``transaction.atomic()``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _converter(field: models.Field) -> Converter:  # type: ignore[type-arg]
    """The function turning a Python value of ``field`` into what the driver sends."""
    kind = field.get_internal_type()
    sqlite = connection.vendor == "sqlite"
    if kind == "JSONField":
        return lambda v: None if v is None else json.dumps(v, ensure_ascii=False)
    if kind == "BinaryField":
        return lambda v: None if v is None else bytes(v)
    if kind == "DateTimeField" and sqlite:
        return _memo(connection.ops.adapt_datetimefield_value)
    if kind == "DateField" and sqlite:
        return _memo(connection.ops.adapt_datefield_value)
    return _identity


def _memo(convert: Converter) -> Converter:
    """``convert`` remembering its last answer: a batch repeats one timestamp."""
    last: list[Any] = [object(), None]

    def memo(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return memo


class TableWriter:
    """Writes rows (dicts by attribute name, e.g. ``campaign_id``) into ``model``'s table.

    Fields a row leaves out get their default; ``auto_now``/``auto_now_add`` fields get
    the time of the write. The primary key is written only when ``with_pk``.
    """

    def __init__(self, model: type[models.Model], *, with_pk: bool) -> None:
        self.model = model
        self.fields = [
            f for f in model._meta.concrete_fields if with_pk or not f.primary_key
        ]
        self.columns = [f.column for f in self.fields]
        self._convert = [_converter(f) for f in self.fields]
        self._stamped = {
            f.attname for f in self.fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        }
        self._defaults = {
            f.attname: f.get_default() for f in self.fields if f.attname not in self._stamped
        }

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        now = timezone.now()
        fill = {**self._defaults, **{name: now for name in self._stamped}}
        pick = operator.itemgetter(*[f.attname for f in self.fields])
        columns = zip(*[pick({**fill, **row}) for row in rows])
        tuples = list(
            zip(*[col if conv is _identity else list(map(conv, col)) for col, conv in zip(columns, self._convert)])
        )
        table = connection.ops.quote_name(self.model._meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for t in tuples:
                        copy.write_row(t)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuples)


def reserve_ids(model: type[models.Model], n: int) -> list[int]:
    """``n`` fresh primary keys of ``model``'s table, to insert rows with (in a transaction).

    PostgreSQL: drawn from the column's sequence. SQLite: the ones after the largest ever
    used; the transaction already holds the database's write lock (``BEGIN IMMEDIATE``,
    tallylog's setting), so no other writer can take them.
    """
    if n <= 0:
        return []
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [connection.ops.quote_name(table), pk, n],
            )
            return [row[0] for row in cursor.fetchall()]
        q = connection.ops.quote_name
        cursor.execute(
            f"SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
            f"COALESCE((SELECT max({q(pk)}) FROM {q(table)}), 0))",
            [table],
        )
        start = int(cursor.fetchone()[0]) + 1
        return list(range(start, start + n))
