"""Petition signing end to end: real SMTP server on loopback, real database, real log."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client
from django.utils import timezone

from tallylog import leaf
from tallylog.registry.entries.models import LogEntry, TallyCount
from tallylog.registry.entries.sequencer import sequence_pending
from tallylog.registry.petitions import actions
from tallylog.registry.petitions.models import Signature
from tests.support.mail import link_in, make_petition, text_of

RECEIPT = re.compile(r"\d{5}-\d{5}-\d{5}-\d{5}-\d{5}")


@pytest.fixture
def browser() -> Client:
    return Client(headers={"accept-language": "en"})


def sign(browser: Client, slug: str, **fields: str):  # noqa: ANN201
    data = {"name": "Li Wei", "country": "CA", "email": "", **fields}
    return browser.post(f"/petitions/{slug}/", data)


def test_double_opt_in_counts_only_after_the_link_is_followed(browser, petition, mailbox) -> None:
    response = sign(browser, petition.slug, email="Li.Wei@Example.org", show_name="on")
    assert response.status_code == 200
    assert "we sent you an email" in response.content.decode()
    signature = Signature.objects.get()
    assert signature.status == Signature.Status.PENDING
    assert signature.email == "li.wei@example.org"
    assert not LogEntry.objects.exists()
    assert "0 signatures" in browser.get(f"/petitions/{petition.slug}/").content.decode()

    message = mailbox.only_to("li.wei@example.org")
    assert message["Subject"] == "Please confirm your email address"  # never the petition: the provider reads it
    path = link_in(message, "/petitions/confirm/")
    page = browser.get(path)  # what a mail scanner would do: it must change nothing
    assert page.status_code == 200 and b"Confirm my signature" in page.content
    assert Signature.objects.get().status == Signature.Status.PENDING

    confirmed = browser.post(path)
    assert confirmed.status_code == 200
    assert confirmed["Cache-Control"] == "no-store"
    code = RECEIPT.search(confirmed.content.decode()).group(0)
    signature.refresh_from_db()
    assert signature.status == Signature.Status.COUNTED
    assert signature.email == ""  # erased once confirmed
    assert bytes(signature.receipt_hash) == actions.receipt_hash(code)
    assert actions.find_by_receipt(code) == signature
    entry = signature.entry
    assert entry.kind == "signature" and entry.channel == "web"
    assert entry.body["tag"] == leaf.receipt_tag(code, entry.body["tag_salt"])
    assert entry.body["commit"] == leaf.commitment(bytes(signature.salt), {"country": "CA", "name": "Li Wei"})
    assert "example.org" not in repr(entry.body)
    assert "1 signature" in browser.get(f"/petitions/{petition.slug}/").content.decode()

    replay = browser.post(path)
    assert replay.status_code == 409
    assert "already confirmed" in replay.content.decode()
    assert LogEntry.objects.count() == 1


def test_counted_signatures_enter_the_log_as_signature_leaves(browser, open_petition, log) -> None:
    response = sign(browser, open_petition.slug, name="王芳", country="TW", email="fang@example.org")
    code = RECEIPT.search(response.content.decode()).group(0)
    assert sequence_pending(log, batch_size=100) == 1
    entry = LogEntry.objects.get()
    data = bytes(entry.leaf)
    parsed = leaf.parse_leaf(data)
    signature = Signature.objects.get()
    assert parsed["kind"] == "signature" and parsed["campaign"] == open_petition.slug
    assert "orgs" not in parsed
    assert parsed["commit"] == leaf.commitment(bytes(signature.salt), {"country": "TW", "name": "王芳"})
    assert parsed["v"] == 2 and leaf.receipt_matches(parsed, code)
    assert b"@" not in data and "王芳".encode() not in data
    assert signature.email == "" and signature.email_hash  # address never stored, its hash kept
    assert TallyCount.objects.for_campaign(open_petition, "total") == {"": 1}
    assert "1 of them are already in the public transparency log" in browser.get(
        f"/petitions/{open_petition.slug}/"
    ).content.decode()


def test_a_second_signature_with_the_same_email_is_refused(browser, open_petition) -> None:
    assert sign(browser, open_petition.slug, email="a@example.org").status_code == 200
    again = sign(browser, open_petition.slug, name="Someone else", email=" A@EXAMPLE.ORG ")
    assert again.status_code == 400
    assert "already signed this petition" in again.content.decode()
    assert Signature.objects.count() == 1 and LogEntry.objects.count() == 1
    # The same address may sign another petition.
    other = make_petition("other", confirm=False)
    assert sign(browser, other.slug, email="a@example.org").status_code == 200


def test_signing_again_while_unconfirmed_says_so_and_saves_nothing(browser, petition, mailbox) -> None:
    sign(browser, petition.slug, email="b@example.org")
    again = sign(browser, petition.slug, email="b@example.org")
    assert again.status_code == 400
    assert "confirmation is pending" in again.content.decode()
    assert Signature.objects.count() == 1
    assert len(mailbox.to("b@example.org")) == 1


def _old_token(monkeypatch, value: str, age: int) -> str:
    real = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() - age)
    try:
        return actions.make_token(actions.CONFIRM_PURPOSE, value)
    finally:
        monkeypatch.setattr(signing.time, "time", real)


def test_expired_and_forged_links_are_refused(browser, petition, mailbox, monkeypatch) -> None:
    sign(browser, petition.slug, email="c@example.org")
    signature = Signature.objects.get()
    token = _old_token(monkeypatch, actions._token_value(signature), actions.CONFIRM_MAX_AGE + 60)
    expired = browser.post(f"/petitions/confirm/{token}/")
    assert expired.status_code == 410
    assert "has expired" in expired.content.decode()
    forged = browser.post(f"/petitions/confirm/{token[:-3]}xyz/")
    assert forged.status_code == 400
    assert "not valid" in forged.content.decode()
    other_purpose = actions.make_token("newsletter-confirm", actions._token_value(signature))
    assert browser.post(f"/petitions/confirm/{other_purpose}/").status_code == 400
    assert Signature.objects.get().status == Signature.Status.PENDING
    assert not LogEntry.objects.exists()


def test_an_expired_unconfirmed_signature_is_purged_and_may_sign_again(browser, petition, mailbox) -> None:
    sign(browser, petition.slug, email="d@example.org")
    Signature.objects.update(created_at=timezone.now() - timedelta(days=4))
    again = sign(browser, petition.slug, email="d@example.org")
    assert again.status_code == 200
    assert Signature.objects.count() == 1
    Signature.objects.update(created_at=timezone.now() - timedelta(days=4))
    assert actions.purge_unconfirmed() == 1
    assert not Signature.objects.exists()


def test_a_closed_petition_takes_no_signature(browser, db, mailbox) -> None:
    closed = make_petition("closed", confirm=False, closes_at=timezone.now() - timedelta(hours=1))
    page = browser.get("/petitions/closed/")
    assert "This petition is closed" in page.content.decode() and b'name="name"' not in page.content
    response = sign(browser, "closed", email="e@example.org")
    assert response.status_code == 400
    assert "closed" in response.content.decode()
    assert not Signature.objects.exists()
    closed.is_active = False
    closed.closes_at = None
    closed.save()
    assert sign(browser, "closed").status_code == 400


def test_a_petition_that_closes_before_confirmation_does_not_count_it(browser, petition, mailbox) -> None:
    sign(browser, petition.slug, email="f@example.org")
    path = link_in(mailbox.only_to("f@example.org"), "/petitions/confirm/")
    petition.closes_at = timezone.now() - timedelta(seconds=1)
    petition.save()
    response = browser.post(path)
    assert response.status_code == 410
    assert "closed before the signature was confirmed" in response.content.decode()
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "  "}, "name", "Please enter your name."),
        ({"name": "x" * 81}, "name", "The name is too long"),
        ({"country": ""}, "country", "Choose your country or region."),
        ({"email": "not-an-address"}, "email", "is not a valid email address"),
        ({"email": ""}, "email", "please enter your email address"),
    ],
)
def test_bad_input_gets_a_specific_error_and_saves_nothing(browser, petition, mailbox, fields, field, message) -> None:
    response = sign(browser, petition.slug, **{"email": "g@example.org", **fields})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Signature.objects.exists() and not mailbox.received


def test_an_unknown_country_is_refused_by_the_action(petition) -> None:
    with pytest.raises(actions.SignatureInvalid) as info:
        actions.sign_petition(petition, name="X", show_name=False, country="ZZ", email="h@example.org")
    assert info.value.code == "invalid" and "country" in info.value.errors


def test_mail_server_down_saves_nothing(browser, petition, settings) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = s.getsockname()[1]  # nothing listens there
    settings.TALLYLOG_SITE_URL = "http://testserver"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    response = sign(browser, petition.slug, email="i@example.org")
    assert response.status_code == 503
    assert "could not send the confirmation email" in response.content.decode()
    assert not Signature.objects.exists()


def test_petition_page_shows_progress_public_names_and_countries(browser, open_petition, log) -> None:
    open_petition.target = 4
    open_petition.save()
    sign(browser, open_petition.slug, name="Shown One", country="CA", show_name="on")
    sign(browser, open_petition.slug, name="Hidden Two", country="CA")
    sign(browser, open_petition.slug, name="Shown Three", country="DE", show_name="on")
    assert "Shown One" not in browser.get(f"/petitions/{open_petition.slug}/").content.decode()  # not logged yet
    sequence_pending(log, batch_size=100)
    page = browser.get(f"/petitions/{open_petition.slug}/").content.decode()
    assert "3 signatures" in page
    assert '<progress max="4" value="3">75%</progress>' in page
    assert "Shown One" in page and "Shown Three" in page and "Hidden Two" not in page
    assert re.search(r"<td>Canada</td><td class=\"n\">2</td>", page)
    assert re.search(r"<td>Germany</td><td class=\"n\">1</td>", page)
    assert "<svg" in page and "Canada: 2" in page
    assert "<script" not in page and " style=" not in page


def test_petition_page_query_count_does_not_grow_with_signatures(browser, open_petition, django_assert_num_queries) -> None:
    def queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert browser.get(f"/petitions/{open_petition.slug}/").status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        actions.sign_petition(open_petition, name=f"n{i}", show_name=True, country="CA")
    few = queries()
    for i in range(30):
        actions.sign_petition(open_petition, name=f"m{i}", show_name=True, country=["FR", "JP", "US"][i % 3])
    assert queries() == few


def test_csv_export_is_for_staff_and_safe_in_spreadsheets(browser, open_petition) -> None:
    actions.sign_petition(open_petition, name="=HYPERLINK(\"x\")", show_name=False, country="CA", email="j@example.org")
    actions.sign_petition(open_petition, name="Public", show_name=True, country="FR")
    url = f"/petitions/{open_petition.slug}/signatures.csv"
    assert browser.get(url).status_code == 302  # to the admin login
    staff = User.objects.create_user("op", password="pw", is_staff=True)
    browser.force_login(staff)
    response = browser.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(actions.CSV_HEADER)
    assert [r[1] for r in rows[1:]] == ["'=HYPERLINK(\"x\")", "Public"]
    assert rows[1][2] == "no" and rows[1][4] == "Canada"
    assert "j@example.org" not in repr(rows)


def test_confirmation_mail_is_in_the_signers_language(petition, mailbox) -> None:
    actions.sign_petition(petition, name="李", show_name=False, country="CN", email="k@example.org", language="zh-hant")
    message = mailbox.only_to("k@example.org")
    assert message["Subject"] == "請確認您的電子郵件地址" and "釋放他們" in text_of(message)
    assert "http://testserver/petitions/confirm/" in text_of(message)
