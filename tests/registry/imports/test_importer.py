"""The bulk importer against a real database: good rows in, bad rows reported, resumable."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import pytest

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.imports.importer import import_file
from tallylog.registry.imports.models import ImportRun
from tallylog.registry.imports.validation import CampaignClosed
from tests.registry.imports.conftest import write_jsonl

pytestmark = pytest.mark.django_db


def rows(n: int, start: int = 1) -> list[dict[str, object]]:
    return [{"alias": f"alias-{i}", "orgs": ["party", "league"]} for i in range(start, start + n)]


def report_lines(path: Path) -> list[list[str]]:
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_good_rows_are_imported_and_bad_rows_reported(campaign: Campaign, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"alias": " 张\u200b三 ", "orgs": ["league", "party"], "declared_on": "2004-12-01",
             "region": "beijing", "statement": "退出"},
            {"alias": "", "orgs": ["party"]},
            {"alias": "x", "orgs": ["nope"], "declared_on": "1900-01-01"},
            {"alias": "phone caller", "orgs": ["pioneers"], "channel": "phone"},
            "{broken",
            {"alias": "y", "orgs": ["party"], "channel": "carrier-pigeon"},
        ],
    )
    report = tmp_path / "report.csv"
    result = import_file(campaign, path, fmt="jsonl", report_path=report)

    assert (result.imported, result.rejected) == (2, 4)
    first, second = Declaration.objects.order_by("id")
    assert first.alias == "张三"  # normalised by the registry's rules
    assert first.orgs == ["league", "party"]
    assert first.channel == "import"  # the default channel of an import
    assert second.channel == "phone"
    assert first.status == Declaration.Status.PUBLISHED and first.published_at is not None
    # The historical date is part of the public content the leaf commits to.
    assert first.declared_on == datetime.date(2004, 12, 1)
    assert first.public_content()["declared_on"] == "2004-12-01"
    body = first.entry.body
    assert body["commit"] == leaf.commitment(bytes(first.salt), first.public_content())
    assert body == {
        "kind": "declaration",
        "campaign": campaign.slug,
        "channel": "import",
        "commit": body["commit"],
        "tag": first.tag,
        "orgs": ["league", "party"],
        "tag_salt": first.tag_salt,  # a leaf v2 (a random tag: no receipt code)
    }
    assert len(first.tag_salt) == 32
    assert LogEntry.objects.awaiting_sequence().count() == 2
    leaf.encode_leaf(day="2026-01-01", **body)  # a valid leaf once the sequencer adds the day

    lines = report_lines(report)
    assert lines[0] == ["line", "field", "reason"]
    by_line: dict[str, list[str]] = {}
    for line, field, _reason in lines[1:]:
        by_line.setdefault(line, []).append(field)
    assert by_line == {"2": ["alias"], "3": ["orgs", "declared_on"], "5": [""], "6": ["channel"]}
    assert any(r[2].startswith("not JSON") for r in lines)
    run = ImportRun.objects.get()
    assert (run.imported, run.rejected, run.lines_done) == (2, 4, 6)
    assert run.finished_at is not None


def test_without_receipts_nobody_holds_a_code(campaign: Campaign, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", rows(3))
    import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv")
    tags = list(Declaration.objects.values_list("tag", flat=True))
    assert len(set(tags)) == 3 and all(len(t) == 64 for t in tags)
    assert len(set(bytes(h) for h in Declaration.objects.values_list("receipt_hash", flat=True))) == 3


def test_receipts_file_is_private_and_its_codes_find_their_declarations(
    campaign: Campaign, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [*rows(2), {"alias": "", "orgs": ["party"]}, *rows(1, 3)])
    receipts = tmp_path / "receipts.csv"
    import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv", receipts_path=receipts)
    assert stat.S_IMODE(os.stat(receipts).st_mode) == 0o600
    lines = receipts.read_text().splitlines()
    assert lines[0] == "line,receipt"
    found = {}
    for entry in lines[1:]:
        line, code = entry.split(",")
        declaration = find_by_receipt(code)
        assert declaration is not None and declaration.tag == leaf.receipt_tag(code, declaration.tag_salt)
        found[line] = declaration.alias
    assert found == {"1": "alias-1", "2": "alias-2", "4": "alias-3"}


def test_running_again_skips_what_was_imported(campaign: Campaign, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [*rows(5), {"alias": "", "orgs": []}])
    first = import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv")
    again = import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv")
    assert (first.imported, again.already_done, again.imported) == (5, True, 0)
    assert Declaration.objects.count() == 5
    # The same file into another campaign is another import.
    other = Campaign.objects.create(slug="other", title_zh_hans="另一个")
    other.organisations.create(code="party", name_zh_hans="党")
    other.organisations.create(code="league", name_zh_hans="团")
    import_file(other, path, fmt="jsonl", report_path=tmp_path / "r2.csv")
    assert Declaration.objects.filter(campaign=other).count() == 5


class Interrupted(Exception):
    pass


def test_an_interrupted_import_resumes_after_the_last_committed_batch(
    campaign: Campaign, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [*rows(7), {"alias": "", "orgs": ["party"]}, *rows(9, 8)])
    report = tmp_path / "r.csv"
    seen: list[int] = []

    def stop_after_two_batches(advanced: int, total: int) -> None:
        seen.append(advanced)
        if len(seen) == 3:  # the initial call, then two committed batches
            raise Interrupted

    with pytest.raises(Interrupted):
        import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=5,
                    progress=stop_after_two_batches)
    assert Declaration.objects.count() == 9  # 10 lines committed, one of them bad
    assert ImportRun.objects.get().lines_done == 10

    result = import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=5)
    assert (result.skipped_lines, result.imported, result.rejected) == (10, 7, 0)
    aliases = sorted(Declaration.objects.values_list("alias", flat=True))
    assert aliases == sorted(f"alias-{i}" for i in range(1, 17))
    assert [r[0] for r in report_lines(report)] == ["line", "8"]  # appended, not rewritten
    run = ImportRun.objects.get()
    assert (run.imported, run.rejected, run.lines_done) == (16, 1, 17)


def test_a_closed_campaign_takes_no_import(campaign: Campaign, tmp_path: Path) -> None:
    campaign.is_active = False
    campaign.save()
    path = write_jsonl(tmp_path / "in.jsonl", rows(2))
    with pytest.raises(CampaignClosed):
        import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv")
    assert Declaration.objects.count() == 0 and not ImportRun.objects.exists()


def test_csv_import(campaign: Campaign, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "alias,orgs,statement,region,declared_on,channel\n"
        "甲,party;league,,guangdong,2010-06-04,phone\n"
        "乙,pioneers,\"很长\n的声明\",,,\n"
        "丙,,,,,\n",
        encoding="utf-8",
    )
    result = import_file(campaign, path, fmt="csv", report_path=tmp_path / "r.csv")
    assert (result.imported, result.rejected) == (2, 1)
    a, b = Declaration.objects.order_by("id")
    assert (a.region, a.declared_on, a.channel) == ("guangdong", datetime.date(2010, 6, 4), "phone")
    assert (b.statement, b.channel) == ("很长\n的声明", "import")
    assert report_lines(tmp_path / "r.csv")[1][:2] == ["5", "orgs"]


def test_imported_rows_are_whole_rows_and_ids_carry_on(campaign: Campaign, tmp_path: Path) -> None:
    from tallylog.registry.declarations.actions import submit_declaration

    before = submit_declaration(campaign, alias="before", orgs=["party"])
    path = write_jsonl(tmp_path / "in.jsonl", rows(3))
    import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv")
    after = submit_declaration(campaign, alias="after", orgs=["party"])  # no id collision
    imported = Declaration.objects.filter(channel="import").select_related("entry")
    assert len(imported) == 3
    for d in imported:
        assert d.created_at is not None and d.reject_reason == "" and d.redacted_at is None
        assert d.entry.published_at is not None and d.entry.log_index is None
        assert before.declaration.entry_id < d.entry_id < after.declaration.entry_id
    assert LogEntry.objects.count() == 5


def test_worker_processes_import_the_same_rows_in_file_order(campaign: Campaign, tmp_path: Path) -> None:
    data = [*rows(40), {"alias": "", "orgs": ["party"]}, *rows(25, 41)]
    one, two = write_jsonl(tmp_path / "one.jsonl", data), write_jsonl(tmp_path / "two.jsonl", [*data, ""])
    import_file(campaign, one, fmt="jsonl", report_path=tmp_path / "r1.csv", batch_size=7)
    first = list(Declaration.objects.order_by("id").values_list("alias", "entry_id"))
    result = import_file(campaign, two, fmt="jsonl", report_path=tmp_path / "r2.csv", batch_size=7, jobs=2)
    assert (result.imported, result.rejected) == (65, 1)
    second = list(Declaration.objects.order_by("id").values_list("alias", "entry_id"))[65:]
    assert [a for a, _ in second] == [a for a, _ in first]  # file order
    assert [e for _, e in second] == sorted(e for _, e in second)
    assert report_lines(tmp_path / "r1.csv") == report_lines(tmp_path / "r2.csv")


def test_the_planner_knows_the_imported_rows(campaign: Campaign, tmp_path: Path) -> None:
    # PostgreSQL plans the declarations list by its statistics: stale ones (the tables'
    # size before a bulk import) gave a scan and sort of every row instead of the index
    # walk. The import refreshes them itself; SQLite is left without statistics, as it was.
    from django.db import connection

    path = write_jsonl(tmp_path / "in.jsonl", rows(300))
    import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv")
    tables = [Declaration._meta.db_table, LogEntry._meta.db_table]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s) ORDER BY relname", [tables])
            counts = {Declaration._meta.db_table: Declaration.objects.count(), LogEntry._meta.db_table: LogEntry.objects.count()}
            assert {name: int(n) for name, n in cursor.fetchall()} == counts
            assert counts[Declaration._meta.db_table] >= 300
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            assert cursor.fetchall() == []


def test_rows_carrying_contact_details_go_to_the_report_not_the_pages(campaign: Campaign, tmp_path: Path) -> None:
    """An old file may hold what people once typed to be called back: the same screen as
    every other channel keeps it off the public pages (the row is reported, the rest imported)."""
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"alias": "老王", "orgs": ["party"], "statement": "有事打我电话 138 1234 5678"},
            {"alias": "wang＠example.com", "orgs": ["league"]},
            {"alias": "李四", "orgs": ["party"], "statement": "一三八一二三四五六七八"},
            {"alias": "张三", "orgs": ["party"], "declared_on": "2005-03-01", "statement": "2005-03-01 退出"},
        ],
    )
    report = tmp_path / "report.csv"
    result = import_file(campaign, path, fmt="jsonl", report_path=report)
    assert (result.imported, result.rejected) == (1, 3)
    assert list(Declaration.objects.values_list("alias", flat=True)) == ["张三"]  # a date is no phone number
    lines = report_lines(report)[1:]
    assert [(line[0], line[1]) for line in lines] == [("1", "statement"), ("2", "alias"), ("3", "statement")]
    from tallylog.registry.declarations.contact import contact_errors

    phone, email = (contact_errors(x=text)["x"][0] for text in ("138 1234 5678", "a@example.com"))
    assert [line[2] for line in lines] == [phone, email, phone]
    assert "138" not in report.read_text(encoding="utf-8")  # the report names the field, not the number
    assert "example.com" not in report.read_text(encoding="utf-8")


def test_a_csv_file_is_screened_as_well(campaign: Campaign, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "alias,orgs,statement,region,declared_on,channel\n"
        "甲,party,,,,\n"
        "乙,party,\"回电\n一三八一二三四五六七八\",,,\n"
        "bing (at) example.com,league,,,,\n",
        encoding="utf-8",
    )
    result = import_file(campaign, path, fmt="csv", report_path=tmp_path / "r.csv")
    assert (result.imported, result.rejected) == (1, 2)
    assert [line[:2] for line in report_lines(tmp_path / "r.csv")[1:]] == [["3", "statement"], ["5", "alias"]]
    assert list(Declaration.objects.values_list("alias", flat=True)) == ["甲"]
