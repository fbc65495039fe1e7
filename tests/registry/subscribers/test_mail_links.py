"""Mail's links and subjects, through a REAL SMTP server on loopback: every link is the one
configured site URL (host and port) followed by the path, a post's relative Markdown links
included; subjects never name a petition or a post; with no site URL nothing is sent; and
the pages where people type their address say that their mail provider reads our mail."""

from __future__ import annotations

import io
import os
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest
from django.test import Client
from django.utils import timezone

from tallylog.cli import main
from tallylog.registry.news.models import Post
from tallylog.registry.petitions import actions as petition_actions
from tallylog.registry.petitions.models import Signature
from tallylog.registry.subscribers import actions, newsletter
from tallylog.registry.subscribers.models import ConsentStatement, Mailing, Subscriber
from tests.support.mail import link_in, make_petition, text_of

SITE = "http://news.example:8123"

LANGUAGES = [
    ("en", "Please confirm your email address", "Newsletter, ", "Your mail provider can read every message we send you"),
    ("zh-hans", "请确认您的电子邮件地址", "电子通讯 ", "您的邮件服务商能读到我们发给您的每一封邮件"),
    ("zh-hant", "請確認您的電子郵件地址", "電子通訊 ", "您的郵件服務商能讀到我們寄給您的每一封郵件"),
]


@pytest.fixture
def site(mailbox, settings):  # noqa: ANN001, ANN201
    settings.TALLYLOG_SITE_URL = SITE
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "news.example"]
    return mailbox


def confirmed(email: str, language: str = "en") -> Subscriber:
    return Subscriber.objects.create(
        email=email, language=language, consent=ConsentStatement.objects.current(),
        consented_at=timezone.now(), status=Subscriber.Status.CONFIRMED, confirmed_at=timezone.now(),
    )


BODY = (
    "The tally is [on the transparency page](/transparency/), checked [in your browser](/verify/ \"check\").\n\n"
    "See [the previous post](earlier/) and [a friend](https://friend.example/x), or [write](mailto:a@b.example).\n\n"
    "[the log]: /log/\n\nAlso [the log].\n"
)


def test_a_post_mails_absolute_links_with_the_configured_host_and_port(site, db) -> None:
    post = Post.objects.create(title="Milestone reached", slug="milestone", language="en", body=BODY,
                               published_at=timezone.now())
    confirmed("reader@example.org")
    mailing, _created = newsletter.mailing_for_post(post)
    report = newsletter.send_mailing(mailing)  # no base URL given: the configured one
    assert report.sent == 1
    message = site.only_to("reader@example.org")
    text = text_of(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    for part in (text, html):
        assert f"{SITE}/transparency/" in part and f"{SITE}/verify/" in part
        assert f"{SITE}/news/milestone/earlier/" in part  # relative to the post's page, as on the web
        assert f"{SITE}/log/" in part and f"{SITE}/news/milestone/" in part
        assert "https://friend.example/x" in part and "mailto:a@b.example" in part
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith((f"{SITE}/", "https://friend.example/", "mailto:")) for h in hrefs), hrefs
    assert not re.search(r"\]\(/|\]: /", text), text  # no Markdown link left relative
    unsubscribe = re.sub(r"\s+", "", message["List-Unsubscribe"])
    assert re.fullmatch(rf"<{re.escape(SITE)}/newsletter/unsubscribe/[^>\s]+/>", unsubscribe), unsubscribe
    assert unsubscribe[1:-1] in text and unsubscribe[1:-1] in html
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == f"Newsletter, {mailing.created_at:%Y-%m-%d}"
    assert "Milestone" not in message["Subject"]
    # The header's link is the one that unsubscribes (RFC 8058 one-click POST), on this site.
    path = unsubscribe[1:-1].removeprefix(SITE)
    assert Client(HTTP_HOST="news.example:8123").post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    ).status_code == 200
    assert not Subscriber.objects.filter(email="reader@example.org").exists()


@pytest.mark.parametrize(("language", "confirm", "newsletter_word", "_notice"), LANGUAGES)
def test_subjects_name_neither_the_petition_nor_the_post(site, db, language, confirm, newsletter_word, _notice) -> None:
    petition = make_petition()
    petition_actions.sign_petition(petition, name="李", show_name=False, country="CN", email="s@example.org",
                                   language=language)
    message = site.only_to("s@example.org")
    assert message["Subject"] == confirm
    for title in ("Free them", "释放他们", "釋放他們"):
        assert title not in message["Subject"]
    assert link_in(message, "/petitions/confirm/") and f"{SITE}/petitions/confirm/" in text_of(message)

    actions.subscribe("n@example.org", consent_version=ConsentStatement.objects.current().version, language=language)
    message = site.only_to("n@example.org")
    assert message["Subject"] == confirm
    assert f"{SITE}/newsletter/confirm/" in text_of(message)

    post = Post.objects.create(title="Free them now", slug="p", language=language, body="b", published_at=timezone.now())
    confirmed("r@example.org", language)
    mailing, _created = newsletter.mailing_for_post(post)
    newsletter.send_mailing(mailing)
    message = site.only_to("r@example.org")
    assert message["Subject"] == f"{newsletter_word}{mailing.created_at:%Y-%m-%d}"
    assert "Free them now" in text_of(message)  # the news is in the body


@pytest.mark.parametrize(("language", "_confirm", "_word", "notice"), LANGUAGES)
def test_the_pages_that_take_an_address_say_the_provider_reads_our_mail(db, language, _confirm, _word, notice) -> None:
    make_petition()
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    for path in ("/newsletter/", "/petitions/free-them/"):
        page = client.get(path).content.decode()
        assert 'id="mail-notice"' in page, path
        found = re.search(r'<p class="hint" id="mail-notice">([^<]*)</p>', page)
        assert found and found.group(1).startswith(notice), (path, found)
        assert ("mainland China" if language == "en" else "中国大陆" if language == "zh-hans" else "中國大陸") in found.group(1)


@pytest.mark.parametrize("headers", [{"HTTP_HOST": "localhost"}, {"HTTP_X_FORWARDED_HOST": "evil.example"}])
def test_a_confirmation_links_to_the_site_url_whatever_host_the_request_named(site, db, settings, headers) -> None:
    """Host-header poisoning: a signer's request names another host the site answers (or a
    forwarded one): the confirmation link is still the configured site URL."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    client = Client(HTTP_ACCEPT_LANGUAGE="en", **headers)
    response = client.post("/newsletter/", {"email": "h@example.org", "consent": ConsentStatement.objects.current().version})
    assert response.status_code in (200, 302), response.content
    text = text_of(site.only_to("h@example.org"))
    links = re.findall(r"https?://\S+", text)
    assert links and all(link.startswith(SITE + "/") for link in links), text


def test_no_site_url_no_mail_and_a_specific_message(mailbox, settings, db) -> None:
    del settings.TALLYLOG_SITE_URL  # as in a process with nothing configured (and not started by serve)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    make_petition()
    response = client.post("/petitions/free-them/", {"name": "Li", "country": "CA", "email": "x@example.org"})
    assert response.status_code == 503
    assert "This site cannot send mail yet: its operator has not set its public address." in response.content.decode()
    assert not Signature.objects.exists()
    response = client.post("/newsletter/", {"email": "y@example.org", "consent": ConsentStatement.objects.current().version})
    assert response.status_code == 503 and "cannot send mail yet" in response.content.decode()
    assert not Subscriber.objects.exists()

    post = Post.objects.create(title="t", slug="t", language="en", body="b", published_at=timezone.now())
    confirmed("c@example.org")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["newsletter", "send", str(post.pk)])
    assert status == 1 and "TALLYLOG_SITE_URL is not set" in err.getvalue() and "--site-url" in err.getvalue()
    assert not Mailing.objects.exists()  # refused before anything was created
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["newsletter", "send", str(post.pk), "--site-url", "http://x.example/news/"])
    assert status == 1 and "--site-url must be the site's root URL" in err.getvalue()
    assert not mailbox.received


@pytest.mark.server
def test_serve_without_a_site_url_links_to_where_it_listens(mailbox, settings, tmp_path) -> None:
    """`tallylog serve --port P` on loopback with no TALLYLOG_SITE_URL: mail links to
    http://localhost:P (the URL it prints), never another port; and it says so."""
    from tests.support.serverproc import Server, WebClient, init_home

    init_home(tmp_path / "home")
    server = Server(tmp_path / "home", tmp_path / "logs", args=("--workers", "1", "--no-sequencer"), env_extra={
        "TALLYLOG_EMAIL_HOST": "127.0.0.1", "TALLYLOG_EMAIL_PORT": str(settings.EMAIL_PORT),
    })
    server.start()
    try:
        client = WebClient(server.port, headers={"Accept-Language": "en"})
        version = re.search(r'name="consent" value="([^"]+)"', client.get("/newsletter/").text)
        assert version
        page = client.submit("/newsletter/", {"email": "dev@example.org", "consent": version.group(1)})
        assert page.status == 200, page.text
        message = mailbox.only_to("dev@example.org")
        assert message["Subject"] == "Please confirm your email address"
        assert f"http://localhost:{server.port}/newsletter/confirm/" in text_of(message)
        assert f"links in mail point to http://localhost:{server.port}" in server.stderr_tail()
    finally:
        server.stop()


@pytest.mark.server
def test_a_relay_with_a_login_over_starttls_from_the_environment(tmp_path) -> None:
    """TALLYLOG_EMAIL_SECURITY=starttls, _USER and _PASSWORD reach Django's SMTP backend: a
    real server on loopback that demands STARTTLS, then a login, takes the message; its
    certificate is checked (an untrusted one: nothing sent, the password not given)."""
    import ssl
    import subprocess
    import sys

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.support.mail import Mailbox
    from tests.support.serverproc import REPO, free_port, server_env
    from tests.support.tls import make_certificate

    cert = make_certificate(tmp_path / "certs", "example.org")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, cert.with_name("privkey.pem"))
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"updates@example.org", b"s3cret"))

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=tls, require_starttls=True,
                            auth_required=True, auth_require_tls=True, authenticator=authenticate)
    controller.start()
    try:
        def send(**extra: str) -> subprocess.CompletedProcess[str]:
            env = server_env(tmp_path / "home", DJANGO_SETTINGS_MODULE="tallylog.settings", TALLYLOG_SECRET_KEY="k" * 50,
                             TALLYLOG_RECEIPT_KEY="r" * 50, TALLYLOG_EMAIL_HOST="127.0.0.1",
                             TALLYLOG_EMAIL_PORT=str(controller.port), TALLYLOG_EMAIL_SECURITY="starttls",
                             TALLYLOG_EMAIL_USER="updates@example.org", TALLYLOG_EMAIL_FROM="Updates <updates@example.org>",
                             **{"SSL_CERT_FILE": str(cert), **extra})
            code = ("import django; django.setup(); from django.core.mail import send_mail; "
                    "send_mail('Please confirm your email address', 'body', None, ['reader@example.org'])")
            return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)

        done = send(TALLYLOG_EMAIL_PASSWORD="s3cret")
        assert done.returncode == 0, done.stderr
        message = box.only_to("reader@example.org")
        assert message["From"] == "Updates <updates@example.org>"
        assert logins == [(b"updates@example.org", b"s3cret")]
        untrusted = send(TALLYLOG_EMAIL_PASSWORD="s3cret", SSL_CERT_FILE=str(tmp_path / "none.pem"))
        assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
        assert len(box.received) == 1 and len(logins) == 1
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("host", "allowed", "derived"),
    [
        ("127.0.0.1", None, "http://localhost:8123"),  # make run: the URL serve prints
        ("::1", None, "http://localhost:8123"),
        ("0.0.0.0", None, None),  # every address: the name people use is unknown
        ("192.0.2.7", None, None),
        ("127.0.0.1", ["example.org"], None),  # behind a proxy for example.org: localhost would be refused
    ],
)
def test_serve_derives_the_site_url_only_where_it_is_right(settings, monkeypatch, host, allowed, derived) -> None:
    from tallylog.cli.sitecmds import _settle_site_url
    from tallylog.config import reset_config
    from tallylog.registry.subscribers.emails import SiteURLMissing, site_url

    del settings.TALLYLOG_SITE_URL
    monkeypatch.delenv("TALLYLOG_SITE_URL", raising=False)
    if allowed is not None:
        settings.ALLOWED_HOSTS = allowed
    reset_config()
    try:
        _settle_site_url(host, 8123)
        if derived is None:
            with pytest.raises(SiteURLMissing):
                site_url()
        else:
            assert site_url() == derived
    finally:
        os.environ.pop("TALLYLOG_SITE_URL", None)  # serve sets it in its own process's environment
        reset_config()
