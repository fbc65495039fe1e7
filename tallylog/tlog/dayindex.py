"""The day index: which log indexes each UTC day's entries hold, published beside the
tiles as ``day-index.json`` so that a reader can fetch one day's entry bundles only.

::

    {"days":[{"day":"2026-11-24","start":210,"end":460},…]}

``end`` is exclusive; days ascend and their ranges do not overlap. The day index is NOT
signed: a reader that trusts it to narrow a search must say so when the search fails
(the entries themselves are still authenticated against the signed tree). The log writes
it through its ``TileStore`` (``store.write(DAY_INDEX_PATH, format_day_index(days))``),
with the store's atomicity and durability.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass

from tallylog.tlog.errors import FormatError

__all__ = ["DAY_INDEX_PATH", "MAX_DAY_INDEX_SIZE", "DayRange", "format_day_index", "parse_day_index"]

DAY_INDEX_PATH = "day-index.json"
MAX_DAY_INDEX_SIZE = 1 << 20
"""~50 bytes a day: a mebibyte is more than fifty years."""


@dataclass(frozen=True)
class DayRange:
    """The log indexes [start, end) of the entries of one UTC ``day`` (``YYYY-MM-DD``)."""

    day: str
    start: int
    end: int


def format_day_index(days: Sequence[DayRange]) -> bytes:
    """``day-index.json`` of ``days`` (compact JSON and a newline). Inverse of
    ``parse_day_index``."""
    out = json.dumps(
        {"days": [{"day": d.day, "start": d.start, "end": d.end} for d in days]}, separators=(",", ":")
    ).encode() + b"\n"
    parse_day_index(out)  # the writer never publishes what the reader refuses
    return out


def parse_day_index(data: bytes) -> list[DayRange]:
    """The days of a ``day-index.json``. JSON whitespace is free; anything else is checked:
    a ``days`` list of ``{"day", "start", "end"}`` objects, each day a real ``YYYY-MM-DD``
    date, ``0 ≤ start ≤ end`` whole numbers, days ascending and ranges not overlapping.
    ``FormatError`` names the first fault. Inverse of ``format_day_index``."""
    if len(data) > MAX_DAY_INDEX_SIZE:
        raise FormatError(f"larger than {MAX_DAY_INDEX_SIZE} bytes")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"not UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("days"), list):
        raise FormatError("no list of days")
    days: list[DayRange] = []
    for item in value["days"]:
        if not isinstance(item, dict) or set(item) != {"day", "start", "end"}:
            raise FormatError(f"a day must have exactly day, start and end: {item!r}")
        day, start, end = item["day"], item["start"], item["end"]
        if not isinstance(day, str) or len(day) != 10 or not _is_date(day):
            raise FormatError(f"{day!r} is not a date YYYY-MM-DD")
        if not (type(start) is int and type(end) is int and 0 <= start <= end):
            raise FormatError(f"bad range for {day}")
        if days and (day <= days[-1].day or start < days[-1].end):
            raise FormatError(f"{day} is out of order or overlaps the day before")
        days.append(DayRange(day, start, end))
    return days


def _is_date(text: str) -> bool:
    try:
        return datetime.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
