"""Fast inserts: ``COPY`` on PostgreSQL, multi-row ``INSERT``s on SQLite, for bulk import
and for the group commit of submitted declarations (``tallylog.fastpath.groupcommit``).

Django's ``bulk_create`` spends most of an import's time compiling each value of each
row; ``TableWriter`` writes rows that are already tuples of database values (its typed
``Row``), and fills the columns every row of a batch shares (campaign, status, timestamps,
defaults) once per batch. Columns come from the model (``_meta.concrete_fields``), so a
field added later with a default needs no change here; a field without a default that the
caller gives neither per row nor per batch fails loudly in the database. Call ``write``
inside ``transaction.atomic()``; its errors are Django's (``IntegrityError``,
``OperationalError``, …) on both databases. See the contract in ``tallylog.fastpath``.
"""

from __future__ import annotations

import collections
import datetime
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils import timezone


def _converter(field: models.Field, db: Any) -> Callable[[Any], Any] | None:
    """How a non-null value of ``field`` becomes what the driver of ``db`` sends (JSON as
    text, SQLite dates as ISO text); None when it is sent as it is."""
    kind = field.get_internal_type()
    if kind == "JSONField":
        return functools.partial(json.dumps, ensure_ascii=False)
    if kind == "BinaryField":
        return bytes
    if kind == "DateTimeField" and db.vendor == "sqlite":
        return db.ops.adapt_datetimefield_value
    if kind == "DateField":
        return datetime.date.isoformat
    return None


def db_value(field: models.Field, value: Any, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """``value`` of ``field`` as the driver sends it (JSON as text, SQLite dates as ISO text)."""
    convert = _converter(field, connections[using])
    return value if value is None or convert is None else convert(value)


def columns_of(
    model: type[models.Model], *, first: Sequence[str] = (), last: Sequence[str] = (), but: Sequence[str] = ()
) -> tuple[str, ...]:
    """The attribute names of ``model``'s columns in the model's order, those of ``first``
    first and those of ``last`` last (in the order given), without those of ``but``: the
    ``columns`` of a ``TableWriter`` that writes ``but`` once per batch."""
    names = [f.attname for f in model._meta.concrete_fields]
    unknown = set(first) | set(last) | set(but)
    unknown.difference_update(names)
    if unknown:
        raise ValueError(f"columns_of: {model.__name__} has no field {min(unknown)}")
    skipped = {*first, *last, *but}
    return (*first, *(name for name in names if name not in skipped), *last)


def _row_type(name: str, columns: Sequence[str]) -> Any:
    """A named tuple type with one field per column (``TableWriter.Row``)."""
    return collections.namedtuple(name, columns)


class TableWriter:
    """Writes rows into ``model``'s table: each row a ``Row`` — a named tuple of database
    values (bytes, str — JSON as its text, dates as ``YYYY-MM-DD`` —, int, None) for
    ``columns`` (field attribute names, in that order; any tuple in that order will do);
    every other column takes, for the whole batch, the value given to ``write`` by name,
    else the time of the write for ``auto_now``/``auto_now_add`` fields, else the field's
    default. The primary key is written only when it is one of ``columns``."""

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        by_name = {f.attname: f for f in model._meta.concrete_fields}
        unknown = set(columns) - set(by_name)
        if unknown:
            raise ValueError(f"TableWriter: {model.__name__} has no field {sorted(unknown)[0]}")
        # The typed row: one field per column, named as the model's field attribute.
        self.Row = _row_type(f"{model.__name__}Row", columns)
        self.varying = [by_name[name] for name in columns]
        self.fixed = [
            f for f in model._meta.concrete_fields if f.attname not in columns and not f.primary_key
        ]
        q = connection.ops.quote_name  # the same quoting on SQLite and PostgreSQL
        self.table = q(model._meta.db_table)
        self.columns = ", ".join(q(f.column) for f in [*self.varying, *self.fixed])  # type: ignore[arg-type]  # concrete: has a column
        self._auto_now = [f.attname for f in self.varying if _is_auto_now(f)]
        # Per database alias: (attribute name, converter) of each of ``columns``, made once
        # (``values_of`` runs for every submitted declaration).
        self._converters: dict[str, list[tuple[str, Callable[[Any], Any] | None]]] = {}

    def values_of(self, obj: models.Model, *, using: str = DEFAULT_DB_ALIAS) -> Any:
        """The ``Row`` of an unsaved instance ``obj``: its values of ``columns`` as database
        values. ``auto_now``/``auto_now_add`` fields are set to the current time first,
        on the instance too, as saving it would (``DateTimeField.pre_save``)."""
        if self._auto_now:
            now = timezone.now()
            for name in self._auto_now:
                setattr(obj, name, now)
        converters = self._converters.get(using)
        if converters is None:
            db = connections[using]
            converters = self._converters[using] = [(f.attname, _converter(f, db)) for f in self.varying]
        row = []
        for name, convert in converters:
            value = getattr(obj, name)
            row.append(value if value is None or convert is None else convert(value))
        return self.Row._make(row)

    def write(self, rows: Sequence[tuple[Any, ...]], *, using: str = DEFAULT_DB_ALIAS, **values: Any) -> None:
        """Insert ``rows`` through database ``using``; ``values`` are the shared values of
        other columns, by attribute name."""
        if not rows:
            return
        now = timezone.now()
        shared = tuple(db_value(f, self._shared(f, values, now), using=using) for f in self.fixed)
        db = connections[using]
        with db.cursor() as cursor:
            if db.vendor == "postgresql":
                # COPY goes round Django's cursor wrapper: its errors are made Django's, and
                # it is logged with the queries when they are (tests, DEBUG), here.
                sql = f"COPY {self.table} ({self.columns}) FROM STDIN"
                started = time.monotonic()
                with db.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row + shared)
                if db.queries_logged:
                    db.queries_log.append(
                        {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"}
                    )
            else:
                # Multi-row INSERTs rather than an executemany: one statement step per
                # chunk instead of one per row. Each step releases the GIL, and a thread
                # holding the write turn can wait for it again behind the process's other
                # threads every time (the group committer's batches took 0.3-0.4 ms a row).
                width = len(self.varying) + len(self.fixed)
                per = _rows_per_insert(db, width)
                for i in range(0, len(rows), per):
                    chunk = rows[i : i + per]
                    marks = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(chunk))
                    params = [value for row in chunk for value in (row + shared if shared else row)]
                    cursor.execute(f"INSERT INTO {self.table} ({self.columns}) VALUES {marks}", params)

    @staticmethod
    def _shared(field: models.Field, values: dict[str, Any], now: Any) -> Any:
        if field.attname in values:
            return values[field.attname]
        if _is_auto_now(field):
            return now
        return field.get_default()


def _is_auto_now(field: models.Field) -> bool:
    """Whether saving sets ``field`` to the current time (``auto_now``/``auto_now_add``)."""
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


# Rows in one multi-row INSERT on SQLite at most (its statements are cached by their text:
# full chunks share one).
MAX_ROWS_PER_INSERT = 500


def _rows_per_insert(db: Any, width: int) -> int:
    """Rows of ``width`` values one SQLite INSERT may carry: ``MAX_ROWS_PER_INSERT``, or
    fewer under the open connection's limit on bound variables."""
    limit = db.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(MAX_ROWS_PER_INSERT, limit // width))


def reserve_ids(model: type[models.Model], n: int, *, using: str = DEFAULT_DB_ALIAS) -> list[int]:
    """``n`` fresh primary keys of ``model``'s table, ascending, to insert rows with (in a
    transaction). See ``reserve_keys``."""
    return reserve_keys([(model, n)], using=using)[0]


def reserve_keys(
    wanted: Sequence[tuple[type[models.Model], int]], *, using: str = DEFAULT_DB_ALIAS
) -> list[list[int]]:
    """For each ``(model, n)`` of ``wanted``, ``n`` fresh primary keys of ``model``'s table,
    ascending; all in one query.

    PostgreSQL: drawn from each column's sequence. SQLite: the ones after the largest ever
    used; the transaction already holds the database's write lock (``BEGIN IMMEDIATE``,
    tallylog's setting), so no other writer can take them.
    """
    if len({model for model, _ in wanted}) != len(wanted):
        raise ValueError("reserve_keys: each model once (SQLite would hand out the same keys twice)")
    asked = [(model, n) for model, n in wanted if n > 0]
    if not asked:
        return [[] for _ in wanted]
    db = connections[using]
    q = db.ops.quote_name
    parts, params = [], []
    for model, n in asked:
        table, pk = model._meta.db_table, model._meta.pk.column
        if db.vendor == "postgresql":
            parts.append("ARRAY(SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s))")
            params += [q(table), pk, n]
        else:
            parts.append(
                f"max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
                f"COALESCE((SELECT max({q(pk)}) FROM {q(table)}), 0))"  # type: ignore[arg-type]  # a pk has a column
            )
            params.append(table)
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        row = cursor.fetchone()
    # One value per asked model: PostgreSQL's array of keys, SQLite's largest key used.
    drawn = iter(
        sorted(value) if db.vendor == "postgresql" else list(range(int(value) + 1, int(value) + 1 + n))
        for (_, n), value in zip(asked, row, strict=True)
    )
    return [next(drawn) if n > 0 else [] for _, n in wanted]



def update_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    key: str = "id",
    where_null: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
    **values: Any,
) -> None:
    """Change many rows of ``model``'s table in ONE ``executemany`` ``UPDATE``: each of
    ``rows`` holds database values (as ``TableWriter`` rows) of ``columns`` (field attribute
    names), then the ``key`` of the row to change; ``values`` are the values, by attribute
    name, that every row gets (dates and times adapted as the ORM adapts them, once). With
    ``where_null``, a row whose column ``where_null`` is not NULL is left as it is: the
    caller counts what changed when that matters. Inside the caller's transaction; errors
    are Django's."""
    db = connections[using]
    by_name = {f.attname: f for f in model._meta.concrete_fields}
    unknown = {*columns, *values, key, *([where_null] if where_null else [])} - set(by_name)
    if unknown:
        raise ValueError(f"update_rows: {model.__name__} has no field {min(unknown)}")
    shared = tuple(_adapted(by_name[name], value, db) for name, value in values.items())

    def q(name: str) -> str:  # a field's column, quoted
        return str(db.ops.quote_name(str(by_name[name].column)))

    sql = (
        f"UPDATE {db.ops.quote_name(model._meta.db_table)} SET "
        + ", ".join(f"{q(name)} = %s" for name in (*values, *columns))
        + f" WHERE {q(key)} = %s"
        + (f" AND {q(where_null)} IS NULL" if where_null else "")
    )
    with db.cursor() as cursor:
        cursor.executemany(sql, [shared + row for row in rows] if shared else rows)


def _adapted(field: models.Field, value: Any, db: Any) -> Any:
    """``value`` of ``field`` as the ORM sends it in a query (dates and times adapted)."""
    kind = field.get_internal_type()
    if kind == "DateField":
        return db.ops.adapt_datefield_value(value)
    if kind == "DateTimeField":
        return db.ops.adapt_datetimefield_value(value)
    return value
