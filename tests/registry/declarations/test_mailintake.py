"""A message becomes a declaration held for review, or a reply saying what was wrong
(tallylog.registry.declarations.mailintake.answer_mail); the sender's address is kept
nowhere."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.mailintake import Outcome, answer_mail, read_letter
from tallylog.registry.declarations.models import Channel, Declaration
from tests.support.imap import message

SENDER = "lin.declarant@example.net"
FORM = "化名：小明\n退出：党 团 队\n地区：广东\n声明：我早就想退了。"
CODE = __import__("re").compile(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}")


def code_in(body: str) -> str:
    found = CODE.findall(body)
    assert len(found) == 1, body
    return found[0]


def every_stored_value() -> str:
    """Every value of every row of every table, as text."""
    values = []
    for model in apps.get_models():
        for row in model._base_manager.values_list():
            values.extend(bytes(v).hex() + repr(bytes(v)) if isinstance(v, (bytes, memoryview)) else str(v) for v in row)
    return "\n".join(values)


def test_a_message_becomes_a_declaration_held_for_review_and_the_reply_has_its_code(campaign: Campaign) -> None:
    answer = answer_mail(campaign, message(FORM))
    assert answer.outcome == Outcome.HELD
    declaration = Declaration.objects.get()
    assert declaration == answer.declaration
    assert declaration.status == Declaration.Status.PENDING  # the campaign publishes at once; mail waits
    assert declaration.channel == Channel.EMAIL
    assert (declaration.alias, declaration.orgs, declaration.region) == ("小明", ["league", "party", "pioneers"], "guangdong")
    assert declaration.statement == "我早就想退了。"
    reply = answer.reply
    assert reply is not None and reply.to == [SENDER]
    assert reply.subject == "您的来信"
    assert reply.extra_headers["In-Reply-To"] == "<m1@example.net>"
    assert reply.extra_headers["Auto-Submitted"] == "auto-replied"
    code = code_in(reply.body)
    assert find_by_receipt(code) == declaration
    assert leaf.receipt_tag(code, declaration.tag_salt) == declaration.tag
    assert "/receipt/" in reply.body


def test_the_same_message_read_twice_makes_one_declaration_and_the_same_reply(campaign: Campaign) -> None:
    first = answer_mail(campaign, message(FORM))
    again = answer_mail(campaign, message(FORM))
    assert again.outcome == Outcome.AGAIN and again.declaration == first.declaration
    assert Declaration.objects.count() == 1
    assert first.reply is not None and again.reply is not None
    assert again.reply.body == first.reply.body


def test_another_sender_or_another_message_id_is_another_declaration(campaign: Campaign) -> None:
    first = answer_mail(campaign, message(FORM))
    # A copy of the declarant's Message-ID from someone else: a declaration of their own.
    copy = answer_mail(campaign, message(FORM, sender="someone.else@example.org"))
    later = answer_mail(campaign, message(FORM, message_id="<m2@example.net>"))
    assert copy.outcome == later.outcome == Outcome.HELD
    assert Declaration.objects.count() == 3
    assert first.reply is not None and copy.reply is not None
    assert code_in(first.reply.body) != code_in(copy.reply.body)


def test_a_message_without_a_message_id_is_known_again_by_its_bytes(campaign: Campaign) -> None:
    raw = message(FORM, message_id=None)
    first, again = answer_mail(campaign, raw), answer_mail(campaign, raw)
    assert (first.outcome, again.outcome) == (Outcome.HELD, Outcome.AGAIN)
    assert again.reply is not None and "In-Reply-To" not in again.reply.extra_headers


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("化名：小明\n退出：党\n声明：有事打我电话 138 1234 5678", "zh-hans", ["声明：", "电话号码"]),
        ("alias: Ming\nwithdraw: party\nstatement: write to ming@example.org", "en", ["statement:", "email address"]),
        ("化名：明 13812345678\n退出：黨", "zh-hant", ["化名：", "電話號碼"]),
        ("化名：小明\n退出：党员", "zh-hans", ["“员”"]),
        ("alias: Ming", "en", ["withdraw:"]),
    ],
)
def test_a_message_that_cannot_be_recorded_gets_a_reply_saying_why_and_nothing_is_saved(
    campaign: Campaign, text: str, language: str, expected: list[str]
) -> None:
    answer = answer_mail(campaign, message(text))
    assert answer.outcome == Outcome.REFUSED and answer.declaration is None
    assert not Declaration.objects.exists()
    assert answer.reply is not None and answer.reply.to == [SENDER]
    for words in expected:
        assert words in answer.reply.body, answer.reply.body
    assert not CODE.search(answer.reply.body)
    # The form to write is in the reply, in the message's language.
    assert {"zh-hans": "地区：", "zh-hant": "地區：", "en": "region:"}[language] in answer.reply.body


def test_a_message_without_the_form_gets_the_form_in_the_three_languages(campaign: Campaign) -> None:
    answer = answer_mail(campaign, message("我要三退"))
    assert answer.outcome == Outcome.REFUSED and answer.reply is not None
    for label in ("地区：", "地區：", "region:"):
        assert label in answer.reply.body


def test_reply_subjects_are_neutral(campaign: Campaign) -> None:
    for text in (FORM, "化名：x\n退出：?", "alias: x\nwithdraw: party", "化名：明\n退出：黨團隊"):
        reply = answer_mail(campaign, message(text)).reply
        assert reply is not None
        assert reply.subject in ("您的来信", "您的來信", "Your message")


@pytest.mark.parametrize(
    "headers",
    [{"Auto-Submitted": "auto-replied"}, {"Precedence": "bulk"}, {"List-Id": "<news.example.org>"}, {"Return-Path": "<>"}],
)
def test_automatic_messages_are_never_answered(campaign: Campaign, headers: dict[str, str]) -> None:
    answer = answer_mail(campaign, message(FORM, headers=headers))
    assert (answer.outcome, answer.reply) == (Outcome.IGNORED, None)
    assert not Declaration.objects.exists()


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@example.net", "not an address", "a@example.net, b@example.net"])
def test_a_message_with_no_one_to_answer_is_not_recorded(campaign: Campaign, sender: str) -> None:
    assert answer_mail(campaign, message(FORM, sender=sender)).outcome == Outcome.IGNORED
    assert not Declaration.objects.exists()


def test_html_only_and_gbk_messages_are_read(campaign: Campaign) -> None:
    html = "<p>化名：小明</p><p>退出：党&nbsp;团</p><div>声明：<b>自由</b></div>"
    assert answer_mail(campaign, message(html, html=True)).outcome == Outcome.HELD
    gbk = message("化名：小红\n退出：队\n声明：鍩", charset="gb18030", message_id="<gbk@example.net>")
    gbk = gbk.replace(b"charset=\"gb18030\"", b"charset=\"gb2312\"")
    answer = answer_mail(campaign, gbk)
    assert answer.outcome == Outcome.HELD and answer.declaration is not None
    assert (answer.declaration.alias, answer.declaration.statement) == ("小红", "鍩")
    assert Declaration.objects.get(alias="小明").statement == "自由"


def test_a_message_too_big_to_read_is_refused(campaign: Campaign) -> None:
    answer = answer_mail(campaign, message(FORM), too_big=True)
    assert answer.outcome == Outcome.REFUSED and not Declaration.objects.exists()


def test_a_closed_campaign_says_so(campaign: Campaign) -> None:
    campaign.is_active = False
    campaign.save()
    answer = answer_mail(campaign, message(FORM))
    assert answer.outcome == Outcome.REFUSED and answer.reply is not None
    assert "\n- 此活动已结束。\n" in answer.reply.body


@override_settings(TALLYLOG_SITE_URL="https://declare.example.org")
def test_the_sender_address_is_stored_nowhere(campaign: Campaign) -> None:
    for n, text in enumerate((FORM, FORM, "化名：x\n退出：党\n声明：13812345678", "hello")):
        answer_mail(campaign, message(text, message_id=f"<{n}@example.net>"))
    stored = every_stored_value()
    assert Declaration.objects.count() == 2
    for needle in (SENDER, "lin.declarant", "example.net"):
        assert needle not in stored
    assert "https://declare.example.org/receipt/" in answer_mail(campaign, message(FORM, message_id="<0@example.net>")).reply.body  # type: ignore[union-attr]


HEADERS = st.sampled_from([b"From", b"Message-ID", b"Content-Type", b"Content-Transfer-Encoding",
                           b"Auto-Submitted", b"Return-Path", b"List-Id", b"MIME-Version", b"Subject"])


@settings(max_examples=300)
@given(st.lists(st.tuples(HEADERS, st.binary(max_size=60)), max_size=6), st.binary(max_size=300))
def test_any_bytes_are_read_without_an_error(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """A message Python's parser chokes on must not block the mailbox: it is read (and
    then answered or deleted) like any other."""
    letter = read_letter(b"".join(h + b": " + v + b"\r\n" for h, v in headers) + b"\r\n" + body)
    assert letter.sender is None or (letter.sender.isascii() and "@" in letter.sender)
    assert letter.message_id.startswith(("<", "sha256:"))
