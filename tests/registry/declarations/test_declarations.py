"""Submitting, moderating, redacting and finding declarations (no sequencing here)."""

from __future__ import annotations

import datetime
import hashlib
import hmac

import pytest
from django.conf import settings

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import (
    DeclarationInvalid,
    InvalidTransition,
    find_by_receipt,
    publish,
    receipt_hash,
    redact,
    reject,
    submit_declaration,
)
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.declarations.regions import REGIONS, region_choices, region_name
from tallylog.registry.entries.models import LogEntry


def test_auto_policy_publishes_at_once(campaign: Campaign) -> None:
    s = submit_declaration(campaign, alias="  张三 ", orgs=["party", "league", "party"], statement="退")
    d = Declaration.objects.get(pk=s.declaration.pk)
    assert d.status == Declaration.Status.PUBLISHED
    assert d.alias == "张三"
    assert d.orgs == ["league", "party"]
    assert d.entry is not None and d.entry.log_index is None
    body = d.entry.body
    assert body == {
        "kind": "declaration",
        "campaign": "three-withdrawals",
        "channel": "web",
        "commit": leaf.commitment(bytes(d.salt), d.public_content()),
        "tag": leaf.receipt_tag(s.receipt_code, d.tag_salt),
        "orgs": ["league", "party"],
        "tag_salt": d.tag_salt,
    }
    assert d.public_content() == {"alias": "张三", "statement": "退", "region": ""}


def test_receipt_code_is_stored_only_as_a_keyed_hash(campaign: Campaign) -> None:
    s = submit_declaration(campaign, alias="李四", orgs=["pioneers"])
    digits = leaf.normalise_receipt_code(s.receipt_code)
    assert len(digits) == 25
    d = Declaration.objects.get(pk=s.declaration.pk)
    expected = hmac.new(settings.TALLYLOG_RECEIPT_KEY.encode(), digits.encode(), hashlib.sha256).digest()
    assert bytes(d.receipt_hash) == expected == receipt_hash(s.receipt_code)
    row = Declaration.objects.filter(pk=d.pk).values().get()
    for value in row.values():
        assert digits not in str(value) and s.receipt_code not in str(value)


def test_find_by_receipt_accepts_typed_variants(campaign: Campaign) -> None:
    s = submit_declaration(campaign, alias="王五", orgs=["league"])
    digits = leaf.normalise_receipt_code(s.receipt_code)
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in digits)
    for typed in (s.receipt_code, digits, " ".join(s.receipt_code.split("-")), fullwidth):
        assert find_by_receipt(typed) == s.declaration
    other = ("1" if digits[0] != "1" else "2") + digits[1:]
    assert find_by_receipt(other) is None
    assert find_by_receipt("not a code") is None
    assert find_by_receipt("") is None


def test_review_policy_keeps_pending_until_a_moderator_publishes(review_campaign: Campaign) -> None:
    s = submit_declaration(review_campaign, alias="赵六", orgs=["party"])
    d = s.declaration
    assert d.status == Declaration.Status.PENDING and d.entry_id is None
    assert LogEntry.objects.count() == 0
    publish(d)
    assert d.status == Declaration.Status.PUBLISHED and d.entry_id is not None
    assert LogEntry.objects.count() == 1
    with pytest.raises(InvalidTransition):
        publish(d)
    with pytest.raises(InvalidTransition):
        reject(d, "too late")


def test_hold_for_review_overrides_auto(campaign: Campaign) -> None:
    s = submit_declaration(campaign, alias="洪水", orgs=["party"], hold_for_review=True)
    assert s.declaration.status == Declaration.Status.PENDING
    assert LogEntry.objects.count() == 0


def test_rejected_is_never_logged(review_campaign: Campaign) -> None:
    d = submit_declaration(review_campaign, alias="垃圾", orgs=["party"]).declaration
    with pytest.raises(DeclarationInvalid) as exc:
        reject(d, "   ")
    assert "reason" in exc.value.errors
    reject(d, "spam")
    d.refresh_from_db()
    assert d.status == Declaration.Status.REJECTED and d.reject_reason == "spam"
    with pytest.raises(InvalidTransition):
        publish(d)
    assert LogEntry.objects.count() == 0 and d.entry_id is None


def test_redact_erases_content_keeps_entry(campaign: Campaign) -> None:
    s = submit_declaration(campaign, alias="孙七", orgs=["party"], statement="秘密", region="beijing")
    d = s.declaration
    entry_id = d.entry_id
    body = dict(d.entry.body)
    redact(d)
    d.refresh_from_db()
    assert (d.alias, d.statement, d.region, d.salt) == ("", "", "", None)
    assert d.is_redacted and d.redacted_by == "declarant"
    assert d.entry_id == entry_id and LogEntry.objects.get(pk=entry_id).body == body
    redact(d, by="moderator", reason="abuse")  # idempotent: the first redaction stands
    d.refresh_from_db()
    assert d.redacted_by == "declarant"
    assert find_by_receipt(s.receipt_code) == d
    with pytest.raises(ValueError):
        redact(d, by="somebody")


def test_redacted_while_pending_then_published(review_campaign: Campaign) -> None:
    d = submit_declaration(review_campaign, alias="周八", orgs=["party"]).declaration
    redact(d, by="moderator", reason="duplicate")
    publish(d)
    d.refresh_from_db()
    assert d.alias == "" and d.salt is None and d.entry is not None


def test_normalisation(campaign: Campaign) -> None:
    decomposed = "e\u0301"  # NFD é
    s = submit_declaration(
        campaign,
        alias=f"\u202e{decomposed}\u200b  李\x00四\t ",
        orgs=["league"],
        statement="第一行\r\n\r\n\r\n\r\n第二行\x07  \n",
        region=" shanghai ",
    )
    d = s.declaration
    assert d.alias == "\u00e9 李四"
    assert d.statement == "第一行\n\n第二行"
    assert d.region == "shanghai"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"alias": ""}, "alias"),
        ({"alias": " \u200b\x00 "}, "alias"),
        ({"alias": "长" * 41}, "alias"),
        ({"orgs": []}, "orgs"),
        ({"orgs": ["party", "communist-party"]}, "orgs"),
        ({"orgs": "party"}, "orgs"),
        ({"orgs": None}, "orgs"),
        ({"statement": "话" * 1001}, "statement"),
        ({"region": "atlantis"}, "region"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"declared_on": "2026-13-01"}, "declared_on"),
        ({"declared_on": "yesterday"}, "declared_on"),
        ({"declared_on": datetime.date.today() + datetime.timedelta(days=2)}, "declared_on"),
        ({"declared_on": datetime.date(1900, 1, 1)}, "declared_on"),
        ({"declared_on": datetime.datetime(2020, 1, 1)}, "declared_on"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(campaign: Campaign, fields: dict, field: str) -> None:
    data = {"alias": "好人", "orgs": ["party"], **fields}
    with pytest.raises(DeclarationInvalid) as exc:
        submit_declaration(campaign, **data)
    assert list(exc.value.errors) == [field]
    assert all(isinstance(m, str) and m for m in exc.value.errors[field])
    assert Declaration.objects.count() == 0 and LogEntry.objects.count() == 0


def test_every_bad_field_reported_at_once(campaign: Campaign) -> None:
    with pytest.raises(DeclarationInvalid) as exc:
        submit_declaration(campaign, alias="", orgs=[], statement="x" * 2000, region="mars", channel="pigeon")
    assert set(exc.value.errors) == {"alias", "orgs", "statement", "region", "channel"}


def test_closed_or_petition_campaign_refuses(campaign: Campaign) -> None:
    campaign.is_active = False
    campaign.save()
    with pytest.raises(DeclarationInvalid) as exc:
        submit_declaration(campaign, alias="好人", orgs=["party"])
    assert "campaign" in exc.value.errors
    petition = Campaign.objects.create(slug="petition", kind=Campaign.Kind.PETITION, title_zh_hans="请愿")
    with pytest.raises(DeclarationInvalid) as exc:
        submit_declaration(petition, alias="好人", orgs=["party"])
    assert "campaign" in exc.value.errors
    assert Declaration.objects.count() == 0


def test_messages_are_translated(campaign: Campaign) -> None:
    from django.utils import translation

    with translation.override("en"), pytest.raises(DeclarationInvalid) as en:
        submit_declaration(campaign, alias="", orgs=["party"])
    assert "alias" in en.value.errors["alias"][0]


def test_crash_inside_submit_saves_nothing(campaign: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    # The crash comes after the log entry's insert, before the declaration's (the two
    # inserts of declarations.committer.write_rows, which submit_declaration writes through).
    from tallylog.registry.declarations import committer
    from tallylog.registry.entries.models import LogEntry

    def boom(batch: list, *, using: str = "default") -> None:
        LogEntry.objects.using(using).bulk_create([item.entry for item in batch if item.entry])
        assert LogEntry.objects.count() == 1
        raise RuntimeError("injected")

    monkeypatch.setattr(committer, "write_rows", boom)
    with pytest.raises(RuntimeError):
        submit_declaration(campaign, alias="好人", orgs=["party"])
    assert Declaration.objects.count() == 0
    assert LogEntry.objects.count() == 0


def test_regions() -> None:
    assert len(REGIONS) == 35 and len({r.code for r in REGIONS}) == 35
    assert REGIONS[-1].code == "overseas"
    assert region_name("guangdong", "zh-hant") == "廣東"
    assert region_name("guangdong", "en") == "Guangdong"
    assert region_name("nowhere", "en") == ""
    assert region_choices("zh-hans")[0] == ("beijing", "北京")
    for r in REGIONS:
        assert r.code and r.zh_hans and r.zh_hant and r.en


def test_flood_of_identical_web_declarations_is_held_for_review(campaign: Campaign) -> None:
    from django.core.cache import cache
    from django.test import override_settings

    cache.clear()
    with override_settings(TALLYLOG_FLOOD_THRESHOLD=3, TALLYLOG_FLOOD_WINDOW=3600):
        statuses = [
            submit_declaration(campaign, alias=f"水军 {i}", orgs=["party"], statement="同一句话").declaration.status
            for i in range(4)
        ]
        phone = submit_declaration(campaign, alias="水军", orgs=["party"], statement="同一句话", channel="phone")
    cache.clear()
    assert statuses == ["published", "published", "pending", "pending"]
    assert phone.declaration.status == "published"  # volunteers are not screened
