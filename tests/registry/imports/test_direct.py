"""Direct sequencing: ``import_file(..., log=...)`` logs each batch in one pass of the
sequencer's commit protocol. Checked by the real verifier and recount (``tallylog verify``
/ ``recount`` on the log directory), against the queue, with the sequencer lease taken, and
with a crash injected at every step of the protocol followed by a resumed import."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from tallylog import leaf
from tallylog.composition import LogServices
from tallylog.home import Home
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import find_by_receipt, submit_declaration
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries import sequencer
from tallylog.registry.entries.models import LogDay, LogEntry, LogState, TallyCount
from tallylog.registry.entries.tally import tally
from tallylog.registry.imports import importer
from tallylog.registry.imports.importer import import_file
from tallylog.registry.imports.models import ImportRun
from tests.registry.entries.test_sequencer import (
    Crash,
    CrashingStore,
    check_log,
    holding_the_lease,
    published_checkpoint,
    restarted,
)
from tests.registry.imports.conftest import write_jsonl
from tests.support.cli import tallylog

pytestmark = pytest.mark.django_db


def rows(n: int, start: int = 0) -> list[dict[str, object]]:
    """``n`` good rows; every third one with a statement, region and historical date."""
    out: list[dict[str, object]] = []
    for i in range(start, start + n):
        row: dict[str, object] = {"alias": f"声明人{i}", "orgs": [["party"], ["league", "party"], ["pioneers"]][i % 3]}
        if i % 3 == 0:
            row.update(statement="退出", region="beijing", declared_on="2005-03-01")
        if i % 4 == 1:
            row["channel"] = "phone"
        out.append(row)
    return out


def recount(home: Home, log: LogServices) -> dict[str, object]:
    """``tallylog recount --json`` on the log directory: verifies every tile, then counts."""
    return json.loads(tallylog("recount", home.log_dir, "--key", log.verifier_key, "--json").stdout)


def stored_tally(campaign: Campaign) -> dict[str, object]:
    """The maintained TallyCount of ``campaign``, in ``recount``'s shape."""
    dims = {d: TallyCount.objects.for_campaign(campaign, d) for d in ("org", "channel", "day")}
    total = TallyCount.objects.total(campaign)
    return {"total": total, "kinds": {"declaration": total}, "orgs": dims["org"], "channels": dims["channel"], "days": dims["day"]}


def assert_logged_exactly_once(home: Home, log: LogServices, campaign: Campaign, n: int) -> None:
    """Every declaration logged once, the log verifies, the recount equals the tally."""
    assert LogEntry.objects.awaiting_sequence().count() == 0
    assert LogEntry.objects.count() == Declaration.objects.count() == n
    assert LogState.current().size == n == published_checkpoint(log).size
    check_log(log)
    assert f" at size {n}, root " in tallylog("verify", home.log_dir, "--key", log.verifier_key).stdout
    counted = recount(home, log)
    assert counted["size"] == n
    assert counted["campaigns"][campaign.slug] == stored_tally(campaign)  # type: ignore[index]
    tags = {leaf.parse_leaf(bytes(d))["tag"] for d in LogEntry.objects.values_list("leaf", flat=True)}
    assert len(tags) == n


@pytest.mark.server
def test_direct_import_logs_every_row_as_the_sequencer_would(
    campaign: Campaign, home: Home, log: LogServices, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [*rows(250), {"alias": "", "orgs": ["party"]}, *rows(49, 250)])
    result = import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv", batch_size=64, log=log)

    assert (result.direct, result.imported, result.rejected, result.sequenced) == (True, 299, 1, 299)
    assert_logged_exactly_once(home, log, campaign, 299)
    today = datetime.datetime.now(datetime.UTC).date()
    # The leaf is byte for byte what the sequencer writes for the declaration's fields.
    for d in Declaration.objects.select_related("entry").order_by("id"):
        e = d.entry
        assert e.day == today and e.sequenced_at is not None and e.log_index is not None
        assert bytes(e.leaf) == leaf.encode_leaf(
            kind="declaration",
            campaign=campaign.slug,
            day=today.isoformat(),
            channel=d.channel,
            commit=leaf.commitment(bytes(d.salt), d.public_content()),
            tag=d.tag,
            orgs=d.orgs,
            tag_salt=d.tag_salt,
        )
        assert d.status == Declaration.Status.PUBLISHED
    # File order is log order; one day range; the milestones carry their checkpoint.
    aliases = list(Declaration.objects.order_by("entry__log_index").values_list("alias", flat=True))
    assert aliases == [r["alias"] for r in [*rows(250), *rows(49, 250)]]
    assert LogDay.objects.index() == [{"day": today.isoformat(), "start": 0, "end": 299}]
    assert json.loads((home.log_dir / "day-index.json").read_text())["days"][-1]["end"] == 299
    t = tally(campaign)
    assert [m.threshold for m in t.milestones] == [1, 10, 100]
    assert all(m.checkpoint for m in t.milestones)
    # Nothing to claim without a receipt code: receipt hashes are unique and match no code.
    hashes = [bytes(h) for h in Declaration.objects.values_list("receipt_hash", flat=True)]
    assert len(set(hashes)) == 299 and all(h[:24] == bytes(24) for h in hashes)


def test_bad_rows_are_reported_with_their_lines(campaign: Campaign, log: LogServices, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [*rows(3), {"alias": "x", "orgs": ["nope"]}, "{broken", "", *rows(2, 3), {"alias": "y", "orgs": ["party"], "channel": "owl"}],
    )
    report = tmp_path / "r.csv"
    result = import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=2, log=log)
    assert (result.imported, result.rejected, result.direct) == (5, 3, True)
    lines = [line.split(",")[:2] for line in report.read_text().splitlines()[1:]]
    assert lines == [["4", "orgs"], ["5", ""], ["9", "channel"]]
    assert ImportRun.objects.get().lines_done == 9
    check_log(log)


def test_receipt_codes_of_a_direct_import_find_their_entries(
    campaign: Campaign, log: LogServices, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", rows(4))
    receipts = tmp_path / "codes.csv"
    import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv", receipts_path=receipts, log=log)
    for line in receipts.read_text().splitlines()[1:]:
        _, code = line.split(",")
        found = find_by_receipt(code)
        assert found is not None and found.log_index is not None
        assert leaf.receipt_matches(leaf.parse_leaf(bytes(found.entry.leaf)), code)


@pytest.mark.server
def test_entries_waiting_in_the_queue_are_logged_first_and_never_twice(
    campaign: Campaign, home: Home, log: LogServices, tmp_path: Path
) -> None:
    submit_declaration(campaign, alias="早到", orgs=["party"])
    sequencer.sequence_pending(log, batch_size=10)
    waiting = [submit_declaration(campaign, alias=f"排队{i}", orgs=["league"]).declaration for i in range(3)]
    path = write_jsonl(tmp_path / "in.jsonl", rows(20))
    result = import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv", batch_size=8, log=log)
    assert (result.direct, result.sequenced) == (True, 23)
    assert sorted(Declaration.objects.get(pk=d.pk).log_index for d in waiting) == [1, 2, 3]  # shuffled (issue 15)
    assert_logged_exactly_once(home, log, campaign, 24)
    assert sequencer.sequence_pending(log, batch_size=10) == 0


@pytest.mark.server
def test_without_the_sequencer_lease_rows_are_queued_for_the_running_sequencer(
    campaign: Campaign, home: Home, log: LogServices, tmp_path: Path
) -> None:
    with holding_the_lease(home):
        path = write_jsonl(tmp_path / "in.jsonl", rows(12))
        result = import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv", batch_size=5, log=log)
    assert (result.direct, result.imported, result.sequenced) == (False, 12, 0)
    assert LogEntry.objects.awaiting_sequence().count() == 12 and LogState.current().size == 0
    assert all(e.body["campaign"] == campaign.slug for e in LogEntry.objects.all())
    while sequencer.sequence_pending(log, batch_size=5):  # the sequencer, once it runs
        pass
    assert_logged_exactly_once(home, log, campaign, 12)


def test_leaves_take_the_pass_day_not_the_workers_guess(
    campaign: Campaign, log: LogServices, tmp_path: Path
) -> None:
    submit_declaration(campaign, alias="未来", orgs=["party"])
    later = datetime.date(2099, 1, 1)
    sequencer.sequence_pending(log, batch_size=10, day=later)  # the last logged day is ahead of today
    path = write_jsonl(tmp_path / "in.jsonl", rows(5))
    import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv", jobs=2, log=log)
    days = {leaf.parse_leaf(bytes(d))["day"] for d in LogEntry.objects.values_list("leaf", flat=True)}
    assert days == {"2099-01-01"}
    assert LogDay.objects.index() == [{"day": "2099-01-01", "start": 0, "end": 6}]
    with pytest.raises(ValueError):
        import_file(campaign, write_jsonl(tmp_path / "b.jsonl", rows(1, 9)), fmt="jsonl",
                    report_path=tmp_path / "r2.csv", log=log, day=datetime.date(2098, 1, 1))
    check_log(log)


@pytest.mark.server
@pytest.mark.parametrize("jobs", [1, 2])
def test_worker_processes_give_the_same_log(
    campaign: Campaign, home: Home, log: LogServices, tmp_path: Path, jobs: int
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [*rows(40), "[1]", *rows(30, 40)])
    result = import_file(campaign, path, fmt="jsonl", report_path=tmp_path / "r.csv", batch_size=7, jobs=jobs, log=log)
    assert (result.imported, result.rejected) == (70, 1)
    aliases = list(Declaration.objects.order_by("entry__log_index").values_list("alias", flat=True))
    assert aliases == [r["alias"] for r in [*rows(40), *rows(30, 40)]]
    assert_logged_exactly_once(home, log, campaign, 70)


# -- crash injection: every step of the protocol, then the same import again ------------


STEPS = ["_write", "_commit", "_add_tallies", "_milestones", "_publish", "run_pass"]


@pytest.mark.server
@pytest.mark.parametrize("step", STEPS)
def test_crash_in_each_step_then_resume(
    campaign: Campaign, home: Home, log: LogServices, tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", rows(50))
    report = tmp_path / "r.csv"
    module = importer if step == "_write" else sequencer
    real = getattr(module, step)
    calls = {"n": 0}

    def crash_on_third(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] < 3:
            return real(*args, **kwargs)
        if step in ("_publish", "run_pass"):
            real(*args, **kwargs)  # the checkpoint (or whole pass) goes out; then the crash
        raise Crash(step)

    monkeypatch.setattr(module, step, crash_on_third)
    with pytest.raises(Crash):
        import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=10, log=log)
    monkeypatch.setattr(module, step, real)
    check_log(log)
    committed = ImportRun.objects.get().lines_done
    assert committed == 20  # two batches committed (recover and the drain count as calls too)
    assert LogState.current().size == Declaration.objects.count() == committed

    fresh = restarted(home)
    result = import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=10, log=fresh)
    assert result.skipped_lines == committed and result.imported == 50 - committed
    assert_logged_exactly_once(home, fresh, campaign, 50)
    aliases = list(Declaration.objects.order_by("entry__log_index").values_list("alias", flat=True))
    assert aliases == [r["alias"] for r in rows(50)]


@pytest.mark.server
@pytest.mark.parametrize("written", [False, True], ids=["nothing-written", "written"])
def test_crash_at_every_store_write_then_resume(
    campaign: Campaign, home: Home, log: LogServices, tmp_path: Path, written: bool
) -> None:
    data = rows(300)
    path = write_jsonl(tmp_path / "in.jsonl", data)
    report = tmp_path / "r.csv"
    # How many store writes the import makes, from a log holding one batch.
    probe_path = write_jsonl(tmp_path / "probe.jsonl", rows(300, 1000))
    probe = restarted(home)
    counter = CrashingStore(probe.store, fail_at=0, written=False)
    probe.store = counter
    import_file(campaign, probe_path, fmt="jsonl", report_path=tmp_path / "p.csv", batch_size=100, log=probe)
    writes = counter.writes
    assert writes >= 6
    sizes = [published_checkpoint(probe).size]
    crashes = 0
    for fail_at in range(1, writes + 1, max(1, writes // 12)):
        crashing = restarted(home)
        crashing.store = CrashingStore(crashing.store, fail_at, written)
        try:
            import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=100, log=crashing)
        except (Crash, sequencer.SequencerError):
            crashes += 1
        check_log(crashing)
        sizes.append(published_checkpoint(crashing).size)
    fresh = restarted(home)
    import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=100, log=fresh)
    sizes.append(published_checkpoint(fresh).size)
    assert crashes >= 6
    assert sizes == sorted(sizes), "a published checkpoint went backwards"
    assert_logged_exactly_once(home, fresh, campaign, 600)


def test_rows_with_contact_details_never_reach_the_log(campaign: Campaign, log: LogServices, tmp_path: Path) -> None:
    """The direct path (each batch logged in the import's own pass) screens rows like the
    queued one: a phone number or an address is reported, and no leaf is made for it."""
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [*rows(2), {"alias": "老王", "orgs": ["party"], "statement": "电话 138 1234 5678"},
         {"alias": "wang@example.com", "orgs": ["party"]}],
    )
    report = tmp_path / "r.csv"
    result = import_file(campaign, path, fmt="jsonl", report_path=report, batch_size=2, log=log)
    assert (result.imported, result.rejected, result.direct) == (2, 2, True)
    text = report.read_text(encoding="utf-8")
    assert [line.split(",")[:2] for line in text.splitlines()[1:]] == [["3", "statement"], ["4", "alias"]]
    assert "138" not in text and "example.com" not in text
    assert LogEntry.objects.filter(log_index__isnull=False).count() == 2
    assert not Declaration.objects.filter(alias__in=["老王", "wang@example.com"]).exists()
    check_log(log)
