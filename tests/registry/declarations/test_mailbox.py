"""The email intake's mailbox against a REAL IMAP server (Dovecot, tests/support/imap.py)
and the suite's real SMTP server on loopback: messages in, declarations held for review,
replies out, messages deleted; crash-safe (tallylog.registry.declarations.mailbox)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tallylog.config import imap_url
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.mailbox import MAX_MESSAGE_BYTES, MailboxError, PassReport, read_mailbox
from tallylog.registry.declarations.mailintake import answer_mail
from tallylog.registry.declarations.models import Channel, Declaration
from tests.support.imap import Dovecot, message, running_dovecot
from tests.support.mail import Mailbox, text_of

pytestmark = pytest.mark.server

SENDER = "lin.declarant@example.net"
FORM = "化名：小明\n退出：党 团 队\n声明：我早就想退了。"
CODE = re.compile(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server


def code_of(reply: object) -> str:
    found = CODE.findall(text_of(reply))  # type: ignore[arg-type]
    assert len(found) == 1
    return found[0]


def test_a_pass_answers_every_message_and_empties_the_mailbox(
    campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    dovecot.append(message(FORM))
    dovecot.append(message("alias: Ming\nwithdraw: party\nstatement: call 138 1234 5678", sender="ming@example.org",
                           message_id="<m2@example.org>"))
    dovecot.append(message(FORM, headers={"Auto-Submitted": "auto-replied"}, message_id="<bounce@example.net>"))
    dovecot.append(message("x" * (MAX_MESSAGE_BYTES + 10), sender="big@example.org", message_id="<big@example.org>"))

    report = read_mailbox(imap_url(dovecot.url), campaign)

    assert report == PassReport(held=1, refused=2, ignored=1, left=0)
    assert dovecot.messages() == []
    declaration = Declaration.objects.get()
    assert (declaration.status, declaration.channel) == (Declaration.Status.PENDING, Channel.EMAIL)
    reply = mailbox.only_to(SENDER)
    assert reply["Subject"] == "您的来信"
    assert reply["In-Reply-To"] == "<m1@example.net>"
    assert find_by_receipt(code_of(reply)) == declaration
    refused = text_of(mailbox.only_to("ming@example.org"))
    assert "phone number" in refused and not CODE.search(refused)
    assert "too long" in text_of(mailbox.only_to("big@example.org"))
    assert len(mailbox.received) == 3  # the automatic message got no answer


def test_a_reply_that_cannot_be_sent_keeps_the_message_and_the_next_pass_sends_the_same_code(
    campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    dovecot.append(message(FORM))

    def relay_down(envelope: object) -> None:
        raise ConnectionResetError("the relay went away")

    mailbox.on_data = relay_down
    with pytest.raises(MailboxError, match="couldn't send a reply: SMTP") as caught:
        read_mailbox(imap_url(dovecot.url), campaign)
    assert SENDER not in str(caught.value)
    assert caught.value.report.left == 1
    # The declaration was saved; the message stays for the next pass.
    assert Declaration.objects.count() == 1 and len(dovecot.messages()) == 1

    mailbox.on_data = None
    assert read_mailbox(imap_url(dovecot.url), campaign) == PassReport(again=1)
    assert Declaration.objects.count() == 1 and dovecot.messages() == []
    assert find_by_receipt(code_of(mailbox.only_to(SENDER))) == Declaration.objects.get()


def test_a_crash_after_the_declaration_was_saved_loses_nothing_and_doubles_nothing(
    campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    raw = message(FORM)
    dovecot.append(raw)
    # What a crash between saving and replying leaves: the declaration, the message, no reply.
    saved = answer_mail(campaign, dovecot.messages()[0])
    assert saved.reply is not None and mailbox.received == []

    assert read_mailbox(imap_url(dovecot.url), campaign) == PassReport(again=1)
    assert list(Declaration.objects.all()) == [saved.declaration]
    assert code_of(mailbox.only_to(SENDER)) == CODE.findall(saved.reply.body)[0]
    # A crash after the reply and before the deletion: the same reply once more, still one.
    dovecot.append(raw)
    read_mailbox(imap_url(dovecot.url), campaign)
    assert Declaration.objects.count() == 1
    assert [code_of(m) for m in mailbox.to(SENDER)] == [CODE.findall(saved.reply.body)[0]] * 2


def test_a_wrong_password_or_mailbox_is_a_clear_error(campaign: Campaign, dovecot: Dovecot) -> None:
    url = imap_url(dovecot.url)
    assert url is not None
    with pytest.raises(MailboxError, match=r"couldn't read the mailbox: .*[Aa]uthentication failed"):
        read_mailbox(url._replace(password="wrong"), campaign)
    with pytest.raises(MailboxError, match="couldn't read the mailbox: no mailbox 'Nowhere'"):
        read_mailbox(url._replace(mailbox="Nowhere"), campaign)
    with pytest.raises(MailboxError, match="couldn't read the mailbox"):
        read_mailbox(url._replace(port=1), campaign)


def test_the_mailbox_keeps_no_address_once_answered(campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox) -> None:
    dovecot.append(message(FORM))
    read_mailbox(imap_url(dovecot.url), campaign)
    for path in dovecot.files():
        assert SENDER.encode() not in path.read_bytes(), path
    assert SENDER not in dovecot.log()


def test_a_message_that_cannot_be_answered_stays_and_does_not_hold_up_the_others(
    campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tallylog.registry.declarations import mailbox as mailbox_module

    def database_down_for_the_first(campaign: Campaign, raw: bytes, **kwargs: bool) -> object:
        if b"<m1@example.net>" in raw:
            raise ConnectionError("database down: lin.declarant@example.net")
        return answer_mail(campaign, raw, **kwargs)

    monkeypatch.setattr(mailbox_module, "answer_mail", database_down_for_the_first)
    dovecot.append(message(FORM))
    dovecot.append(message(FORM, sender="ming@example.org", message_id="<m2@example.org>"))
    with pytest.raises(MailboxError, match=r"couldn't answer 1 message\(s\), left in the mailbox: ConnectionError") as caught:
        read_mailbox(imap_url(dovecot.url), campaign)
    assert caught.value.report == PassReport(held=1, failed=1, left=1)
    assert SENDER not in str(caught.value) + str(caught.value.report)
    assert len(dovecot.messages()) == 1 and mailbox.to(SENDER) == []
    monkeypatch.undo()
    assert read_mailbox(imap_url(dovecot.url), campaign) == PassReport(held=1)
    assert Declaration.objects.count() == 2


def test_a_reply_address_refused_for_good_lets_the_message_go(
    campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    dovecot.append(message(FORM, sender="refuse-me@example.org"))
    assert read_mailbox(imap_url(dovecot.url), campaign) == PassReport(unreachable=1)
    assert dovecot.messages() == [] and mailbox.received == []
    assert Declaration.objects.get().status == Declaration.Status.PENDING  # the moderator decides


def test_imaps_checks_the_server_certificate(
    campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = imap_url(dovecot.tls_url)
    assert url is not None and url.tls
    with pytest.raises(MailboxError, match=r"couldn't read the mailbox: .*CERTIFICATE_VERIFY_FAILED"):
        read_mailbox(url, campaign)
    # Trusted (as the system's store would trust a real server's): read over TLS.
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.certificate))
    dovecot.append(message(FORM))
    assert read_mailbox(url, campaign) == PassReport(held=1)
    assert "TLS" in dovecot.log()


def test_a_dry_run_says_what_a_pass_would_do_and_changes_nothing(
    campaign: Campaign, dovecot: Dovecot, mailbox: Mailbox
) -> None:
    dovecot.append(message(FORM))
    dovecot.append(message("alias: Ming", sender="ming@example.org", message_id="<m2@example.org>"))
    before = dovecot.messages()
    assert read_mailbox(imap_url(dovecot.url), campaign, dry_run=True) == PassReport(held=1, refused=1, left=2)
    assert not Declaration.objects.exists() and mailbox.received == []
    assert dovecot.messages() == before
    # The pass itself then does it all.
    assert read_mailbox(imap_url(dovecot.url), campaign) == PassReport(held=1, refused=1)
