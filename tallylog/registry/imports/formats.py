"""Reading bulk-import files: JSON Lines and CSV, streamed (schema in docs/import.md).

Plain Python, no database: ``read_rows`` yields one ``Row`` per record, with its line
number in the file, in bounded memory whatever the file's size. A record that cannot be
read (bad JSON, a field of the wrong type, an unknown field) comes out as a ``Row`` with
``error`` set, so the importer reports it and carries on. Problems with the whole file (an
unknown CSV column, a file that is not UTF-8 at all) raise ``ImportFileError`` before a
single row is read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("jsonl", "csv")
FIELDS = ("alias", "orgs", "statement", "region", "declared_on", "channel")
REQUIRED_COLUMNS = ("alias", "orgs")
# Longer lines are rejected without being held in memory whole.
MAX_LINE_BYTES = 64 * 1024
# CSV: organisation codes within the ``orgs`` cell are separated by any of these.
_ORG_SEPARATORS = re.compile(r"[\s;,|]+")
_HASH_CHUNK = 1 << 20
_FIELD_SET = frozenset(FIELDS)
_DECODER = json.JSONDecoder()
_ABSENT = object()


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (nothing was read from it)."""


@dataclass(frozen=True)
class Row:
    """One record: ``line`` is the line it starts on (1-based); ``end_line`` the line it
    ends on (a quoted CSV cell may span lines). Either ``fields`` or ``error`` is set."""

    line: int
    end_line: int
    fields: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class FileSummary:
    """The SHA-256 of a file's content (its identity for resuming) and its line count."""

    sha256: str
    lines: int
    size: int


def summarise(path: Path) -> FileSummary:
    """Hash and count the lines of ``path`` in one streaming pass."""
    digest = hashlib.sha256()
    lines = size = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    if last != b"\n":
        lines += 1  # a last line without a newline
    return FileSummary(digest.hexdigest(), lines, size)


def guess_format(path: Path) -> str | None:
    """``jsonl`` or ``csv`` from the file name's extension, or None."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv",):
        return "csv"
    return None


def read_rows(path: Path, fmt: str, *, after_line: int = 0) -> Iterator[Row]:
    """The records of ``path`` that end after line ``after_line``, in file order."""
    if fmt == "jsonl":
        return _read_jsonl(path, after_line)
    if fmt == "csv":
        return _read_csv(path, after_line)
    raise ImportFileError(f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")


def _read_jsonl(path: Path, after_line: int) -> Iterator[Row]:
    with open(path, "rb") as f:
        number = 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                    raw = f.readline(MAX_LINE_BYTES + 1)
                if number > after_line:
                    yield Row(number, number, error=f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if number <= after_line:
                continue
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte order mark
            if not raw or raw.isspace():
                continue  # blank lines are allowed and ignored
            yield _jsonl_row(number, raw)


def _jsonl_row(number: int, raw: bytes) -> Row:
    try:
        text = raw.decode("utf-8")
        # json.loads(text) without its per-call checks: it refuses a leading U+FEFF (kept
        # for that message), then calls this decoder.
        value = json.loads(text) if text.startswith("\ufeff") else _DECODER.decode(text)
    except UnicodeDecodeError:
        return Row(number, number, error="not UTF-8")
    except json.JSONDecodeError as exc:
        return Row(number, number, error=f"not JSON: {exc.msg} at column {exc.colno}")
    if type(value) is not dict:
        return Row(number, number, error="not a JSON object")
    # The common case, without a Python loop: known fields, every value a string but
    # ``orgs``, a list of strings (JSON gives exact types).
    orgs = value.get("orgs", _ABSENT)
    strings = list(map(type, value.values())).count(str)
    if _FIELD_SET.issuperset(value) and (
        strings == len(value)
        if orgs is _ABSENT
        else strings == len(value) - 1
        and type(orgs) is list
        and list(map(type, orgs)).count(str) == len(orgs)
    ):
        return Row(number, number, value)
    unknown = sorted(set(value) - _FIELD_SET)
    if unknown:
        return Row(number, number, error=f"unknown field {unknown[0]!r}")
    fields: dict[str, Any] = {}
    for name, item in value.items():
        if item is None:
            continue
        if name == "orgs":
            if not isinstance(item, list) or not all(isinstance(o, str) for o in item):
                return Row(number, number, error="orgs: give a list of organisation codes")
        elif not isinstance(item, str):
            return Row(number, number, error=f"{name}: give a string")
        fields[name] = item
    return Row(number, number, fields=fields)


def _read_csv(path: Path, after_line: int) -> Iterator[Row]:
    # Bytes that are not UTF-8 become lone surrogates, caught per row below.
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"line 1: not a CSV header: {exc}") from None
        columns = _csv_columns(header)
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                end = reader.line_num
                if end > after_line:
                    yield Row(start, end, error=f"not CSV: {exc}")
                start = end + 1
                continue
            end = reader.line_num
            line, start = start, end + 1
            if end <= after_line or not any(cell.strip() for cell in record):
                continue
            yield _csv_row(line, end, columns, record)


def _csv_columns(header: list[str]) -> list[str]:
    columns = [c.strip().lower() for c in header]
    unknown = [c for c in columns if c not in FIELDS]
    if unknown:
        raise ImportFileError(f"line 1: unknown column {unknown[0]!r} (columns: {', '.join(FIELDS)})")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportFileError(f"line 1: the header lacks the column {missing[0]!r}")
    if len(set(columns)) != len(columns):
        raise ImportFileError("line 1: a column is named twice")
    return columns


def _csv_row(line: int, end: int, columns: list[str], record: list[str]) -> Row:
    if len(record) != len(columns):
        return Row(line, end, error=f"{len(record)} cells, the header has {len(columns)}")
    try:
        "".join(record).encode("utf-8")
    except UnicodeEncodeError:
        return Row(line, end, error="not UTF-8")
    fields: dict[str, Any] = {}
    for name, cell in zip(columns, record, strict=True):
        if name == "orgs":
            fields[name] = [o for o in _ORG_SEPARATORS.split(cell) if o]
        elif cell != "":
            fields[name] = cell
    return Row(line, end, fields=fields)
