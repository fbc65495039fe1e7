"""Newsletter: double opt-in, one-click unsubscribe (RFC 8058), and resumable sending,
all through a REAL SMTP server on loopback."""

from __future__ import annotations

import importlib
import io
import re
import time
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.core.mail.backends.smtp import EmailBackend
from django.test import Client
from django.utils import timezone

from tallylog.cli import main
from tallylog.registry.news.models import Post
from tallylog.registry.petitions.models import Signature
from tallylog.registry.subscribers import actions, newsletter
from tallylog.registry.subscribers.models import ConsentStatement, Delivery, Mailing, Subscriber
from tests.support.mail import link_in, text_of


@pytest.fixture
def en(db: None) -> Client:
    return Client(headers={"accept-language": "en"})


def signup(client: Client, email: str, consent: str = "1"):  # noqa: ANN201
    return client.post("/newsletter/", {"email": email, "consent": consent})


def test_double_opt_in_records_the_consent_version_and_time(en, mailbox) -> None:
    page = en.get("/newsletter/").content.decode()
    assert 'name="consent" value="1"' in page and "By submitting this form, I agree" in page
    before = timezone.now()
    response = signup(en, "Reader@Example.org")
    assert response.status_code == 200 and "Follow the link" in response.content.decode()
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "reader@example.org" and subscriber.status == Subscriber.Status.PENDING
    assert subscriber.consent.version == "1" and subscriber.consented_at >= before
    assert subscriber.language == "en"
    path = link_in(mailbox.only_to("reader@example.org"), "/newsletter/confirm/")
    assert en.get(path).status_code == 200  # a scanner's GET confirms nothing
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING
    assert en.post(path).status_code == 200
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    replay = en.post(path)
    assert replay.status_code == 409 and "already confirmed" in replay.content.decode()
    # Signing up again once confirmed sends nothing and changes nothing, and says the same.
    mailbox.clear()
    assert "Follow the link" in signup(en, "reader@example.org").content.decode()
    assert not mailbox.received and Subscriber.objects.count() == 1


@pytest.mark.parametrize(
    ("email", "consent", "message"),
    [
        ("reader@example.org", "", "Please tick the box"),
        ("not an email", "1", "is not a valid email address"),
        ("", "1", "Enter an email address."),
        ("reader@example.org", "0", "The consent statement has changed"),
    ],
)
def test_bad_sign_up_saves_nothing(en, mailbox, email, consent, message) -> None:
    response = signup(en, email, consent)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Subscriber.objects.exists() and not mailbox.received


def test_a_new_consent_version_is_what_new_subscribers_agree_to(en, mailbox) -> None:
    ConsentStatement.objects.create(version="2", text_zh_hans="二", text_zh_hant="二", text_en="Version two words.")
    page = en.get("/newsletter/").content.decode()
    assert "Version two words." in page
    assert signup(en, "x@example.org", "1").status_code == 400
    assert signup(en, "x@example.org", "2").status_code == 200
    assert Subscriber.objects.get().consent.version == "2"


def test_expired_and_forged_confirmation_links(en, mailbox, monkeypatch) -> None:
    signup(en, "late@example.org")
    subscriber = Subscriber.objects.get()
    real = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() - actions.CONFIRM_MAX_AGE - 60)
    token = actions.make_token(actions.CONFIRM_PURPOSE, f"{subscriber.pk}.{subscriber.key}")
    monkeypatch.setattr(signing.time, "time", real)
    expired = en.post(f"/newsletter/confirm/{token}/")
    assert expired.status_code == 410 and "has expired" in expired.content.decode()
    assert en.post("/newsletter/confirm/abc:def/").status_code == 400
    wrong_purpose = actions.unsubscribe_token(subscriber)  # an unsubscribe token cannot confirm
    assert en.post(f"/newsletter/confirm/{wrong_purpose}/").status_code == 400
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING
    Subscriber.objects.update(created_at=timezone.now() - timedelta(days=4))
    assert actions.purge_unconfirmed() == 1


def confirmed(email: str, language: str = "en") -> Subscriber:
    return Subscriber.objects.create(
        email=email, language=language, status=Subscriber.Status.CONFIRMED,
        consent=ConsentStatement.objects.current(), consented_at=timezone.now(), confirmed_at=timezone.now(),
    )


def test_unsubscribe_link_is_one_button_and_rfc_8058_one_click(db, mailbox) -> None:
    a = confirmed("a@example.org")
    b = confirmed("b@example.org")
    browser = Client(headers={"accept-language": "en"}, enforce_csrf_checks=True)
    path = f"/newsletter/unsubscribe/{actions.unsubscribe_token(a)}/"
    page = browser.get(path)
    assert page.status_code == 200 and b"<button" in page.content
    assert Subscriber.objects.filter(pk=a.pk).exists()
    assert browser.post(path).status_code == 200
    assert not Subscriber.objects.filter(pk=a.pk).exists()
    again = browser.post(path)
    assert again.status_code == 409 and "no longer subscribed" in again.content.decode()
    assert browser.get(path).status_code == 409
    # A mail client's one-click POST (RFC 8058 §3.2): no cookie, no CSRF token.
    one_click = browser.post(
        f"/newsletter/unsubscribe/{actions.unsubscribe_token(b)}/", "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert one_click.status_code == 200
    assert not Subscriber.objects.exists()


@pytest.fixture
def post(db: None) -> Post:
    original = Post.objects.create(
        title="Big news", slug="big-news", language="en", body="We **did** it.",
        published_at=timezone.now() - timedelta(hours=1),
    )
    Post.objects.create(
        title="大消息", slug="big-news-zh", language="zh-hans", body="我们**做到**了。",
        published_at=timezone.now() - timedelta(hours=1), translation_of=original,
    )
    return original


def test_sending_reaches_each_confirmed_subscriber_once_in_their_language(post, mailbox, en) -> None:
    english = [confirmed(f"en{i}@example.org") for i in range(4)]
    chinese = [confirmed(f"zh{i}@example.org", "zh-hans") for i in range(3)]
    traditional = confirmed("hant@example.org", "zh-hant")  # no zh-hant version: gets the original
    refused = confirmed("refuse@example.org")
    Subscriber.objects.create(email="pending@example.org", language="en", consent=ConsentStatement.objects.current(),
                              consented_at=timezone.now())
    mailing, created = newsletter.mailing_for_post(post)
    assert created and mailing.recipients == 9
    reports = []
    report = newsletter.send_mailing(mailing, batch_size=3, base_url="http://testserver", progress=lambda r: reports.append(r.sent))
    assert (report.sent, report.failed, report.remaining) == (8, 1, 0)
    assert reports == [3, 6, 8]  # progress after each batch
    assert len(mailbox.received) == 8
    today = f"{mailing.created_at:%Y-%m-%d}"
    for s in english + [traditional]:
        assert "Big news" in text_of(mailbox.only_to(s.email))
    for s in english:
        assert mailbox.only_to(s.email)["Subject"] == f"Newsletter, {today}"  # never the post's title
    assert mailbox.only_to(traditional.email)["Subject"] == f"電子通訊 {today}"  # the original post, her language's subject
    for s in chinese:
        message = mailbox.only_to(s.email)
        assert message["Subject"] == f"电子通讯 {today}" and "大消息" in text_of(message) and "我们" in text_of(message)
    assert not mailbox.to("pending@example.org")
    assert Delivery.objects.get(subscriber=refused).state == Delivery.State.FAILED
    assert "550" in Delivery.objects.get(subscriber=refused).error
    mailing.refresh_from_db()
    assert mailing.finished_at is not None

    message = mailbox.only_to("en0@example.org")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header_url = re.fullmatch(r"<(http://testserver(/newsletter/unsubscribe/\S+/))>", re.sub(r"\s+", "", message["List-Unsubscribe"]))
    assert header_url and header_url.group(1) in text_of(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<strong>did</strong>" in html and header_url.group(1) in html
    assert "http://testserver/news/big-news/" in text_of(message)
    assert Client().post(header_url.group(2), "List-Unsubscribe=One-Click",
                         content_type="application/x-www-form-urlencoded").status_code == 200
    assert not Subscriber.objects.filter(email="en0@example.org").exists()

    # Mailing the post (or its translation) again resumes the finished mailing: nobody gets it twice.
    again, created = newsletter.mailing_for_post(Post.objects.get(slug="big-news-zh"))
    assert again == mailing and not created
    assert newsletter.send_mailing(again).sent == 0
    assert len(mailbox.received) == 8


def test_a_crash_after_the_server_accepted_a_message_sends_it_to_nobody_twice(post, mailbox, monkeypatch) -> None:
    subscribers = [confirmed(f"r{i}@example.org") for i in range(10)]
    mailing, _created = newsletter.mailing_for_post(post)
    real_send = EmailBackend.send_messages
    calls = {"n": 0}

    def crash_after_fifth(self, messages):  # noqa: ANN001, ANN202 — failure injection: the process dies
        sent = real_send(self, messages)
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # after the server said 250, before "sent" was committed
        return sent

    monkeypatch.setattr(EmailBackend, "send_messages", crash_after_fifth)
    with pytest.raises(KeyboardInterrupt):
        newsletter.send_mailing(mailing, batch_size=4)
    assert len(mailbox.received) == 5
    states = dict(Delivery.objects.values_list("subscriber__email", "state"))
    assert states["r4@example.org"] == Delivery.State.SENDING
    monkeypatch.setattr(EmailBackend, "send_messages", real_send)

    report = newsletter.send_mailing(mailing, batch_size=4)
    assert (report.sent, report.uncertain, report.remaining) == (5, 1, 0)
    for s in subscribers:
        assert len(mailbox.to(s.email)) == 1
    assert Delivery.objects.get(subscriber__email="r4@example.org").state == Delivery.State.UNCERTAIN


def test_a_temporary_server_refusal_stops_and_resumes(post, mailbox) -> None:
    for i in range(5):
        confirmed(f"t{i}@example.org")
    mailing, _created = newsletter.mailing_for_post(post)
    count = {"n": 0}

    def busy_on_third(envelope):  # noqa: ANN001, ANN202
        count["n"] += 1
        if count["n"] == 3:
            from aiosmtpd.smtp import SMTP  # noqa: F401

            raise RuntimeError("server busy")  # aiosmtpd answers 500 …; use a 4xx instead below

    # aiosmtpd turns a handler exception into "500 Error"; a 4xx is what a busy server says.
    async def handle_DATA(server, session, envelope):  # noqa: ANN001, ANN202
        count["n"] += 1
        if count["n"] == 3:
            return "451 4.3.2 try again later"
        return await type(mailbox).handle_DATA(mailbox, server, session, envelope)

    mailbox.handle_DATA = handle_DATA  # type: ignore[method-assign]
    with pytest.raises(Exception, match="451"):
        newsletter.send_mailing(mailing, batch_size=10)
    assert len(mailbox.received) == 2
    assert Delivery.objects.filter(state=Delivery.State.PENDING).count() == 3
    report = newsletter.send_mailing(mailing)
    assert report.sent == 3 and len(mailbox.received) == 5
    for i in range(5):
        assert len(mailbox.to(f"t{i}@example.org")) == 1


def test_digest_in_each_language(mailbox, db) -> None:
    now = timezone.now()
    for slug, lang, age in [("e1", "en", 1), ("e2", "en", 2), ("old", "en", 30), ("h1", "zh-hans", 1)]:
        Post.objects.create(title=f"T-{slug}", slug=slug, language=lang, body="b", published_at=now - timedelta(days=age))
    confirmed("en@example.org")
    confirmed("hans@example.org", "zh-hans")
    confirmed("hant@example.org", "zh-hant")
    mailing = newsletter.mailing_for_digest(7)
    report = newsletter.send_mailing(mailing, base_url="http://testserver")
    assert (report.sent, report.skipped) == (2, 1)
    english = text_of(mailbox.only_to("en@example.org"))
    assert "T-e1" in english and "T-e2" in english and "T-old" not in english
    assert "http://testserver/news/e1/" in english
    assert mailbox.only_to("hans@example.org")["Subject"] == f"电子通讯 {mailing.created_at:%Y-%m-%d}"
    assert "T-h1" in text_of(mailbox.only_to("hans@example.org"))
    assert not mailbox.to("hant@example.org")
    with pytest.raises(newsletter.MailingError):
        newsletter.mailing_for_digest(7, now=now + timedelta(days=60))


def test_an_unpublished_post_is_not_mailed(db) -> None:
    from django.utils import translation

    translation.activate("en")
    draft = Post.objects.create(title="d", slug="d", language="en", body="b")
    with pytest.raises(newsletter.MailingError, match="not published"):
        newsletter.mailing_for_post(draft)
    assert not Mailing.objects.exists()


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_cli_send_resume_and_status(post, mailbox) -> None:
    for i in range(3):
        confirmed(f"c{i}@example.org")
    status, out, err = run_cli("newsletter", "send", str(post.pk), "--dry-run")
    assert status == 0 and "would mail post" in out and not mailbox.received
    status, out, err = run_cli("newsletter", "send", str(post.pk), "--batch", "2", "--site-url", "http://news.example")
    assert status == 0, err
    assert "sent 3" in out and "left 0" in out
    assert len(mailbox.received) == 3
    assert "http://news.example/newsletter/unsubscribe/" in mailbox.only_to("c0@example.org")["List-Unsubscribe"]
    status, out, err = run_cli("newsletter", "send", str(post.pk))
    assert status == 0 and "nothing left to send" in out and len(mailbox.received) == 3
    status, out, _err = run_cli("newsletter", "status")
    assert "finished" in out and "sent 3" in out
    status, _out, err = run_cli("newsletter", "send", "999")
    assert status == 1 and "no news post with id 999" in err
    status, _out, err = run_cli("newsletter", "resume", "999")
    assert status == 1 and "no mailing with id 999" in err


def test_cli_reports_an_unreachable_server_and_resumes(post, mailbox, settings) -> None:
    confirmed("u@example.org")
    real_port = settings.EMAIL_PORT
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = s.getsockname()[1]
    status, _out, err = run_cli("newsletter", "send", str(post.pk), "--no-progress")
    assert status == 1 and "tallylog newsletter resume" in err
    assert Delivery.objects.get().state == Delivery.State.PENDING  # nothing claimed
    settings.EMAIL_PORT = real_port
    mailing = Mailing.objects.get()
    status, out, _err = run_cli("newsletter", "resume", str(mailing.pk), "--no-progress")
    assert status == 0 and "sent 1" in out
    assert len(mailbox.to("u@example.org")) == 1


@pytest.mark.django_db(transaction=True)
def test_admin_action_sends_in_the_background(mailbox) -> None:
    # A transactional test may run after another one flushed the tables, taking the consent
    # statement that migration 0002 installs with them: put it back as that migration does.
    texts = importlib.import_module("tallylog.registry.subscribers.migrations.0002_first_consent_statement").TEXTS
    ConsentStatement.objects.get_or_create(version="1", defaults={**texts, "in_force_from": timezone.now()})
    post = Post.objects.create(title="Admin news", slug="admin-news", language="en", body="x",
                               published_at=timezone.now() - timedelta(minutes=5))
    for i in range(3):
        confirmed(f"adm{i}@example.org")
    admin = User.objects.create_superuser("root", password="pw")
    browser = Client(headers={"accept-language": "en"})
    browser.force_login(admin)
    response = browser.post("/admin/news/post/", {"action": "mail_to_subscribers", "_selected_action": [post.pk]}, follow=True)
    assert response.status_code == 200
    mailing = Mailing.objects.get(post=post)
    newsletter._threads[mailing.pk].join(timeout=30)
    assert len(mailbox.received) == 3
    mailing.refresh_from_db()
    assert mailing.finished_at is not None
    page = browser.get("/admin/subscribers/mailing/").content.decode()
    assert "sent 3" in page



def test_sign_up_is_rate_limited_per_address_so_nobody_mail_bombs_a_stranger(db, mailbox, settings) -> None:
    """The sign-up form sends a confirmation mail: one email address gets at most the
    ``subscribe`` limit of attempts, from any number of sources; then a clear 429 and no mail."""
    settings.TALLYLOG_RATE_LIMITS = "subscribe=2/3600"
    sources = [Client(REMOTE_ADDR=f"192.0.2.{n}", headers={"accept-language": "en"}) for n in (1, 2, 3)]
    assert signup(sources[0], "victim@example.org").status_code == 200
    assert signup(sources[1], "victim@example.org").status_code != 429
    mails = len(mailbox.to("victim@example.org"))
    refused = signup(sources[2], "victim@example.org")
    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    assert len(mailbox.to("victim@example.org")) == mails
    # Another address from the same source is not affected by the victim's limit.
    assert signup(sources[2], "reader@example.org").status_code == 200


def test_petition_signing_is_rate_limited_per_source(db, open_petition, mailbox, settings) -> None:
    settings.TALLYLOG_RATE_LIMITS = "sign=1/600"
    browser = Client(REMOTE_ADDR="192.0.2.7", headers={"accept-language": "en"})
    data = {"name": "Li Wei", "country": "CA", "email": ""}
    assert browser.post(f"/petitions/{open_petition.slug}/", data).status_code == 200
    refused = browser.post(f"/petitions/{open_petition.slug}/", {**data, "name": "Wang Fang"})
    assert refused.status_code == 429
    assert Signature.objects.filter(campaign=open_petition).count() == 1
