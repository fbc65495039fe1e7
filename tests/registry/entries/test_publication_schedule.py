"""Issue 15 item 1: publication in batches at fixed clock times, a random order within a
batch, and nothing finer than the day kept for a logged entry (SECURITY.md, "Times
blurred"). Every test here failed before: entries were logged in id order, at once,
with their times to the microsecond."""

from __future__ import annotations

import datetime

from django.test import override_settings

from tallylog.composition import LogServices
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import submit_declaration
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.models import LogEntry
from tallylog.registry.entries.schedule import (
    last_boundary,
    midnight,
    next_batch_at,
    next_boundary,
    shuffled,
)
from tallylog.registry.entries.sequencer import SequencerThread, sequence_pending

UTC = datetime.UTC


def at(hh: int, mm: int, ss: int = 0, us: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 12, 3, hh, mm, ss, us, tzinfo=UTC)


def test_batches_are_at_multiples_of_the_interval_since_midnight_utc() -> None:
    assert last_boundary(at(8, 14, 59, 999), 900) == at(8, 0)
    assert next_boundary(at(8, 14, 59, 999), 900) == at(8, 15)
    assert next_boundary(at(8, 15), 900) == at(8, 30)  # a boundary belongs to the interval after it
    # 7 minutes does not divide a day: the day's last batch is at midnight, and the next
    # day starts again from 00:00.
    assert next_boundary(at(23, 58), 420) == midnight(at(0, 0).date() + datetime.timedelta(days=1))
    assert next_boundary(at(8, 0, 1), 0) == at(8, 0, 1)
    # Not the local time: a time in another zone gives the same boundaries.
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    assert next_boundary(at(8, 14).astimezone(beijing), 900) == at(8, 15)


def test_the_receipt_time_is_the_next_batch_rounded_up_to_the_minute() -> None:
    with override_settings(TALLYLOG_PUBLISH_INTERVAL=900):
        assert next_batch_at(at(8, 14, 59)) == at(8, 15)
    with override_settings(TALLYLOG_PUBLISH_INTERVAL=90):
        assert next_batch_at(at(8, 15, 1)) == at(8, 17)  # 08:16:30 → about 08:17


def test_shuffled_keeps_every_item_and_draws_every_order() -> None:
    seen = {tuple(shuffled("abc")) for _ in range(600)}
    assert seen == {("a", "b", "c"), ("a", "c", "b"), ("b", "a", "c"), ("b", "c", "a"), ("c", "a", "b"), ("c", "b", "a")}


def test_a_batch_is_logged_in_a_random_order_not_in_submission_order(campaign: Campaign, log: LogServices) -> None:
    ids = [submit_declaration(campaign, alias=f"d{i}", orgs=["party"]).declaration.pk for i in range(40)]
    assert sequence_pending(log, batch_size=1000) == 40
    by_index = list(
        Declaration.objects.filter(pk__in=ids).order_by("entry__log_index").values_list("pk", flat=True)
    )
    assert sorted(by_index) == ids
    assert by_index != ids  # 1 chance in 40! of a false failure


def test_logging_cuts_every_time_of_the_entry_and_its_declaration_to_the_day(campaign: Campaign, log: LogServices) -> None:
    d = submit_declaration(campaign, alias="Lin", orgs=["party"]).declaration
    before = Declaration.objects.get(pk=d.pk)
    assert before.created_at != midnight(before.created_at)  # a time, until logged
    day = datetime.date(2026, 12, 3)
    sequence_pending(log, batch_size=10, day=day)
    after = Declaration.objects.select_related("entry").get(pk=d.pk)
    entry = after.entry
    assert after.created_at == after.published_at == midnight(day)
    assert entry.published_at == entry.sequenced_at == midnight(day) and entry.day == day


@override_settings(TALLYLOG_PUBLISH_INTERVAL=900)
def test_the_sequencer_logs_only_what_waited_at_the_last_batch_time(campaign: Campaign, log: LogServices) -> None:
    thread = SequencerThread(log, batch_size=100)  # not started: its schedule, step by step
    now = last_boundary(datetime.datetime.now(UTC), 900)
    thread._boundary = now + datetime.timedelta(days=1)  # no batch time goes by in this test
    first = [submit_declaration(campaign, alias=f"a{i}", orgs=["party"]).declaration for i in range(3)]
    assert sequence_pending(log, batch_size=100, upto=thread._due_upto()) == 0  # before the batch time
    thread._boundary = now - datetime.timedelta(seconds=900)  # a batch time went by
    due = thread._due_upto()
    later = submit_declaration(campaign, alias="later", orgs=["party"]).declaration  # after it
    assert sequence_pending(log, batch_size=100, upto=due) == 3
    assert LogEntry.objects.awaiting_sequence().get() == Declaration.objects.get(pk=later.pk).entry
    assert all(Declaration.objects.get(pk=d.pk).log_index is not None for d in first)


def test_a_signature_is_cut_to_the_day_too(log: LogServices) -> None:
    from tallylog.registry.petitions.actions import sign_petition
    from tallylog.registry.petitions.models import Signature
    from tests.support.mail import make_petition

    petition = make_petition("stand", confirm=False)
    signed = sign_petition(petition, name="Lin", country="CN", show_name=True)
    sequence_pending(log, batch_size=10, day=datetime.date(2026, 12, 3))
    s = Signature.objects.get(pk=signed.signature.pk)
    assert s.created_at == s.counted_at == midnight(datetime.date(2026, 12, 3))
