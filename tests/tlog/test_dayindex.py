"""The day index (day-index.json): round trips and the faults the reader names."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallylog.tlog.dayindex import (
    MAX_DAY_INDEX_SIZE,
    DayRange,
    format_day_index,
    parse_day_index,
)
from tallylog.tlog.errors import FormatError


@st.composite
def day_indexes(draw: st.DrawFn) -> list[DayRange]:
    import datetime

    day = draw(st.dates(datetime.date(2000, 1, 1), datetime.date(2100, 1, 1)))
    start = draw(st.integers(0, 10**12))
    out = []
    for _ in range(draw(st.integers(0, 20))):
        end = start + draw(st.integers(0, 10**6))
        out.append(DayRange(day.isoformat(), start, end))
        day += datetime.timedelta(days=draw(st.integers(1, 400)))
        start = end + draw(st.integers(0, 3))
    return out


@given(day_indexes())
def test_format_and_parse_are_inverses(days: list[DayRange]) -> None:
    data = format_day_index(days)
    assert parse_day_index(data) == days
    assert data.endswith(b"\n") and b" " not in data


def test_whitespace_is_free_as_the_sequencer_and_hand_written_files_differ() -> None:
    days = [{"day": "2026-11-23", "start": 0, "end": 200}, {"day": "2026-11-24", "start": 200, "end": 450}]
    assert parse_day_index(json.dumps({"days": days}, indent=2).encode()) == [
        DayRange("2026-11-23", 0, 200),
        DayRange("2026-11-24", 200, 450),
    ]


@pytest.mark.parametrize(
    "data, fault",
    [
        (b"\xff", "UTF-8"),
        (b"[]", "no list of days"),
        (b'{"days": {}}', "no list of days"),
        (b'{"days": [{"day": "2026-11-24", "start": 5}]}', "exactly day, start and end"),
        (b'{"days": [{"day": "2026-02-30", "start": 0, "end": 1}]}', "not a date"),
        (b'{"days": [{"day": "2026-1-2", "start": 0, "end": 1}]}', "not a date"),
        (b'{"days": [{"day": "2026-11-24", "start": 5, "end": 4}]}', "bad range"),
        (b'{"days": [{"day": "2026-11-24", "start": true, "end": 4}]}', "bad range"),
        (b'{"days": [{"day": "2026-11-24", "start": -1, "end": 4}]}', "bad range"),
        (b'{"days": [{"day": "2026-11-24", "start": 0, "end": 4.0}]}', "bad range"),
        (
            b'{"days": [{"day": "2026-11-24", "start": 0, "end": 4}, {"day": "2026-11-23", "start": 4, "end": 5}]}',
            "out of order",
        ),
        (
            b'{"days": [{"day": "2026-11-23", "start": 0, "end": 4}, {"day": "2026-11-24", "start": 3, "end": 5}]}',
            "overlaps",
        ),
        (b" " * (MAX_DAY_INDEX_SIZE + 1), "larger"),
    ],
)
def test_malformed_day_indexes_are_named(data: bytes, fault: str) -> None:
    with pytest.raises(FormatError, match=fault):
        parse_day_index(data)


def test_the_writer_refuses_what_the_reader_would() -> None:
    with pytest.raises(FormatError, match="bad range"):
        format_day_index([DayRange("2026-11-24", 5, 4)])
