"""Reading import files: records, line numbers, and errors that name the line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tallylog.registry.imports.formats import (
    MAX_LINE_BYTES,
    ImportFileError,
    Row,
    guess_format,
    read_rows,
    summarise,
)
from tests.registry.imports.conftest import write_jsonl


def test_jsonl_rows_carry_their_line_numbers_and_errors(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"alias": "王", "orgs": ["party"], "declared_on": "2005-03-01"},
            "",
            "{not json",
            '["a list"]',
            {"alias": "x", "orgs": ["party"], "email": "x@example.org"},
            {"alias": "x", "orgs": "party"},
            {"alias": 7, "orgs": ["party"]},
            {"alias": "李", "orgs": ["league"], "statement": None},
        ],
    )
    rows = list(read_rows(path, "jsonl"))
    assert [r.line for r in rows] == [1, 3, 4, 5, 6, 7, 8]
    assert rows[0] == Row(1, 1, {"alias": "王", "orgs": ["party"], "declared_on": "2005-03-01"})
    assert rows[1].error.startswith("not JSON")
    assert rows[2].error == "not a JSON object"
    assert rows[3].error == "unknown field 'email'"
    assert rows[4].error == "orgs: give a list of organisation codes"
    assert rows[5].error == "alias: give a string"
    assert rows[6].fields == {"alias": "李", "orgs": ["league"]}


def test_jsonl_resumes_after_a_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"alias": str(i), "orgs": ["party"]} for i in range(1, 6)])
    assert [r.fields["alias"] for r in read_rows(path, "jsonl", after_line=3)] == ["4", "5"]


def test_jsonl_rejects_an_overlong_line_and_reads_on(tmp_path: Path) -> None:
    long = '{"alias": "' + "x" * (MAX_LINE_BYTES * 3) + '", "orgs": ["party"]}'
    path = write_jsonl(tmp_path / "a.jsonl", [long, {"alias": "ok", "orgs": ["party"]}])
    rows = list(read_rows(path, "jsonl"))
    assert rows[0] == Row(1, 1, error=f"line longer than {MAX_LINE_BYTES} bytes")
    assert rows[1] == Row(2, 2, {"alias": "ok", "orgs": ["party"]})


def test_jsonl_bad_utf8_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"alias": "\xff", "orgs": ["party"]}\n{"alias": "ok", "orgs": ["party"]}\n')
    rows = list(read_rows(path, "jsonl"))
    assert rows[0].error == "not UTF-8"
    assert rows[1].fields["alias"] == "ok"


def test_csv_rows_with_multiline_cells_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "\ufeffAlias,orgs,statement,declared_on\n"
        '张三,party;league,"first line\nsecond line",2004-12-01\n'
        "\n"
        "李四,party league|pioneers,,\n"
        "only,two\n"
        "王五,pioneers,,\n",
        encoding="utf-8",
    )
    rows = list(read_rows(path, "csv"))
    assert rows[0] == Row(
        2,
        3,
        {
            "alias": "张三",
            "orgs": ["party", "league"],
            "statement": "first line\nsecond line",
            "declared_on": "2004-12-01",
        },
    )
    assert rows[1] == Row(5, 5, {"alias": "李四", "orgs": ["party", "league", "pioneers"]})
    assert rows[2] == Row(6, 6, error="2 cells, the header has 4")
    assert rows[3].line == 7
    assert [r.line for r in read_rows(path, "csv", after_line=3)] == [5, 6, 7]
    # A record is skipped only when it ends by the resume point: lines 2-3 are one record.
    assert [r.line for r in read_rows(path, "csv", after_line=2)] == [2, 5, 6, 7]


def test_csv_bad_utf8_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"alias,orgs\n\xe7\x8e,party\nok,party\n")
    rows = list(read_rows(path, "csv"))
    assert rows[0] == Row(2, 2, error="not UTF-8")
    assert rows[1].fields == {"alias": "ok", "orgs": ["party"]}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("alias,orgs,email", "line 1: unknown column 'email'"),
        ("alias,statement", "line 1: the header lacks the column 'orgs'"),
        ("alias,orgs,alias", "line 1: a column is named twice"),
    ],
)
def test_csv_header_problems_stop_the_whole_file(tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "a.csv"
    path.write_text(header + "\nx,party\n")
    with pytest.raises(ImportFileError) as info:
        list(read_rows(path, "csv"))
    assert str(info.value).startswith(message)


def test_summary_hashes_and_counts_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"a\nb\nc")
    summary = summarise(path)
    assert (summary.lines, summary.size) == (3, 5)
    assert summary.sha256 == hashlib.sha256(b"a\nb\nc").hexdigest()
    path.write_bytes(b"a\nb\nc\n")
    assert summarise(path).lines == 3


def test_format_is_guessed_from_the_extension() -> None:
    assert guess_format(Path("x.jsonl")) == "jsonl"
    assert guess_format(Path("x.NDJSON")) == "jsonl"
    assert guess_format(Path("x.csv")) == "csv"
    assert guess_format(Path("x.txt")) is None
    with pytest.raises(ImportFileError):
        read_rows(Path("x"), "xml")
