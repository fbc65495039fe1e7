"""Mailing a news post, or a digest of recent posts, to the confirmed subscribers.

A ``Mailing`` fixes its recipients when it is created (one ``Delivery`` row per confirmed
subscriber, in one statement). ``send_mailing`` then walks the pending deliveries in
batches, each batch over one SMTP connection, and keeps every recipient's state committed
around each send so that it can stop at any moment and be resumed without anyone getting
the message twice:

1. commit ``sending`` for the recipient (in the same transaction that settles the previous
   one). A crash here leaves one ``sending`` row that was never sent;
2. hand the message to the SMTP server. A crash before the server's reply leaves the same;
3. commit ``sent`` (or ``failed`` when the server refused that recipient). A crash before
   this commit leaves a ``sending`` row that *was* sent.

On resume, rows left ``sending`` are marked ``uncertain`` and not sent again: at most once
is the promise (a crash costs at most one recipient, reported), never twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from smtplib import SMTPDataError, SMTPRecipientsRefused, SMTPSenderRefused

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tallylog.registry.news.markdown import html_with_absolute_links, markdown_with_absolute_links
from tallylog.registry.news.models import Post
from tallylog.registry.subscribers.actions import unsubscribe_url
from tallylog.registry.subscribers.emails import SiteURLMissing, site_url
from tallylog.registry.subscribers.models import Delivery, Mailing, Subscriber

BATCH_SIZE = 200
logger = logging.getLogger(__name__)
_UNSUBSCRIBE = "@@UNSUBSCRIBE_URL@@"  # placeholder filled in per recipient


class MailingError(Exception):
    """A mailing that cannot be created or sent (message says why)."""


def mailing_for_post(post: Post) -> tuple[Mailing, bool]:
    """The mailing of ``post`` (or of the original it translates), created with its
    recipients if new; returns it and whether it was created. A post is mailed once:
    asking again returns the same mailing, which ``send_mailing`` resumes."""
    root = post.translation_of or post
    if not root.is_published:
        raise MailingError(_("Post %(id)s is not published yet: publish it before mailing it.") % {"id": root.pk})
    with transaction.atomic():
        mailing = Mailing.objects.select_for_update().filter(post=root).first()
        if mailing is not None:
            return mailing, False
        return _create(Mailing(kind=Mailing.Kind.POST, post=root)), True


def mailing_for_digest(days: int, now: datetime | None = None) -> Mailing:
    """A new mailing of the posts published in the last ``days`` days."""
    if days < 1:
        raise MailingError(_("A digest covers at least one day."))
    since = (now or timezone.now()) - timedelta(days=days)
    if not Post.objects.published(now).filter(published_at__gt=since).exists():
        raise MailingError(_("No post was published in the last %(days)d days: nothing to send.") % {"days": days})
    with transaction.atomic():
        return _create(Mailing(kind=Mailing.Kind.DIGEST, digest_since=since))


def _create(mailing: Mailing) -> Mailing:
    mailing.save()
    table = Delivery._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (mailing_id, subscriber_id, state, error) "
            f"SELECT %s, id, %s, '' FROM {Subscriber._meta.db_table} WHERE status = %s ORDER BY id",
            [mailing.pk, Delivery.State.PENDING, Subscriber.Status.CONFIRMED],
        )
        mailing.recipients = cursor.rowcount
    mailing.save(update_fields=["recipients"])
    return mailing


@dataclass
class SendReport:
    """What one ``send_mailing`` run did, and what is left."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    uncertain: int = 0  # left ``sending`` by an earlier, interrupted run
    remaining: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Edition:
    """A mailing's message in one language, with a placeholder for the unsubscribe link."""

    subject: str
    text: str
    html: str


class _Composer:
    """Renders a mailing once per language; ``message`` fills in the recipient."""

    def __init__(self, mailing: Mailing, base_url: str) -> None:
        self.mailing = mailing
        self.base_url = base_url
        self.editions: dict[str, _Edition | None] = {}

    def edition(self, language: str) -> _Edition | None:
        if language not in self.editions:
            with translation.override(language):
                self.editions[language] = self._render(language)
        return self.editions[language]

    def _render(self, language: str) -> _Edition | None:
        context: dict[str, object] = {"base_url": self.base_url, "unsubscribe_url": _UNSUBSCRIBE}
        # Neutral: the subject is what a mail provider shows, lists and indexes first; the
        # news itself is in the body (the sign-up page says the provider can read it too).
        subject = _("Newsletter, %(date)s") % {"date": f"{self.mailing.created_at:%Y-%m-%d}"}
        if self.mailing.kind == Mailing.Kind.POST:
            assert self.mailing.post is not None, "_Composer: post mailing without a post"
            post = self.mailing.post.version_for(language)
            post_url = self.base_url + post.get_absolute_url()
            context.update(
                post=post,
                post_url=post_url,
                # Links in the post (``/transparency/``) resolved as on its page on the web.
                body_text=markdown_with_absolute_links(post.body, post_url),
                body_html=html_with_absolute_links(post.body_html, post_url),
            )
            name = "post"
        else:
            posts = list(
                Post.objects.published(self.mailing.created_at).in_language(language)
                .filter(published_at__gt=self.mailing.digest_since).newest_first()
            )
            if not posts:
                return None
            heading = _("News digest: %(n)d new posts") % {"n": len(posts)} if len(posts) > 1 else posts[0].title
            context.update(heading=heading)
            context.update(posts=[(p, self.base_url + p.get_absolute_url()) for p in posts])
            name = "digest"
        context["subject"] = subject
        return _Edition(
            subject=subject,
            text=render_to_string(f"subscribers/{name}_email.txt", context),
            html=render_to_string(f"subscribers/{name}_email.html", context),
        )

    def message(self, edition: _Edition, email: str, unsubscribe: str) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(
            edition.subject,
            edition.text.replace(_UNSUBSCRIBE, unsubscribe),
            settings.DEFAULT_FROM_EMAIL,
            [email],
            headers={
                # RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe button
                # that POSTs "List-Unsubscribe=One-Click" to this HTTPS URL.
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(edition.html.replace(_UNSUBSCRIBE, unsubscribe), "text/html")
        return message


def send_mailing(
    mailing: Mailing,
    *,
    batch_size: int = BATCH_SIZE,
    base_url: str | None = None,
    progress: Callable[[SendReport], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> SendReport:
    """Send ``mailing`` to every recipient still pending, in batches; resumable.

    ``progress`` is called after each batch with the running report; ``stop`` (checked
    between messages) ends the run early, leaving the rest pending. Raises the SMTP or
    network error that stopped the run after recording it; run again to resume. Several
    runs on one mailing at once are safe: each recipient is claimed by one of them.
    """
    base = _base_url(base_url)
    report = SendReport()
    with transaction.atomic():
        report.uncertain = Delivery.objects.filter(mailing=mailing, state=Delivery.State.SENDING).update(
            state=Delivery.State.UNCERTAIN, error="interrupted while sending: maybe delivered"
        )
    composer = _Composer(mailing, base)
    last_id = 0
    while not (stop and stop()):
        batch = list(
            Delivery.objects.filter(mailing=mailing, state=Delivery.State.PENDING, id__gt=last_id)
            .order_by("id")
            .values_list("id", "subscriber_id", "subscriber__email", "subscriber__language", "subscriber__key")[
                :batch_size
            ]
        )
        if not batch:
            break
        last_id = batch[-1][0]
        _send_batch(composer, batch, report, stop)
        if progress:
            progress(report)
    report.remaining = Delivery.objects.filter(mailing=mailing, state=Delivery.State.PENDING).count()
    if report.remaining == 0 and mailing.finished_at is None:
        mailing.finished_at = timezone.now()
        mailing.save(update_fields=["finished_at"])
    return report


def _base_url(base_url: str | None) -> str:
    """``base_url``, else the site URL; ``MailingError`` when there is none."""
    if base_url:
        return base_url.rstrip("/")
    try:
        return site_url()
    except SiteURLMissing as exc:
        raise MailingError(str(exc)) from None


def _send_batch(
    composer: _Composer,
    batch: list[tuple[int, int, str, str, str]],
    report: SendReport,
    stop: Callable[[], bool] | None,
) -> None:
    """Send one batch over one SMTP connection (see the module docstring for the states)."""
    settle: tuple[int, str, str] | None = None  # the previous recipient's outcome, to commit
    smtp = get_connection(fail_silently=False)
    smtp.open()  # fails before anything is claimed when the server cannot be reached
    try:
        for delivery_id, subscriber_id, email, language, key in batch:
            if stop and stop():
                break
            edition = composer.edition(language)
            with transaction.atomic():  # step 1: settle the previous recipient, claim this one
                if settle is not None:
                    _set_state(*settle)
                    settle = None
                if edition is None:
                    _set_state(delivery_id, Delivery.State.SKIPPED, "", Delivery.State.PENDING)
                    report.skipped += 1
                    continue
                if not _set_state(delivery_id, Delivery.State.SENDING, "", Delivery.State.PENDING):
                    continue  # another run took it, or the subscriber left
            message = composer.message(edition, email, unsubscribe_url(subscriber_id, key, composer.base_url))
            try:
                smtp.send_messages([message])  # step 2; opens the connection the first time
            except SMTPRecipientsRefused as exc:
                settle = (delivery_id, Delivery.State.FAILED, _smtp_reason(exc))
                report.failed += 1
                continue
            except (SMTPSenderRefused, SMTPDataError) as exc:
                if exc.smtp_code >= 500 and isinstance(exc, SMTPDataError):
                    settle = (delivery_id, Delivery.State.FAILED, _smtp_reason(exc))
                    report.failed += 1
                    continue
                # Refused before or at the data: not delivered, so it can be tried again.
                settle = (delivery_id, Delivery.State.PENDING, "")
                report.errors.append(_smtp_reason(exc))
                raise
            except Exception as exc:
                # The connection broke mid-message: the server may have accepted it.
                settle = (delivery_id, Delivery.State.UNCERTAIN, f"interrupted: {exc!r}")
                report.uncertain += 1
                report.errors.append(repr(exc))
                raise
            settle = (delivery_id, Delivery.State.SENT, "")  # step 3, committed with the next claim
            report.sent += 1
    finally:
        if settle is not None:
            with transaction.atomic():
                _set_state(*settle)
        smtp.close()


def _set_state(delivery_id: int, state: str, error: str, expected: str = Delivery.State.SENDING) -> bool:
    """Move one delivery from ``expected`` to ``state``; False if it was not ``expected``."""
    return Delivery.objects.filter(pk=delivery_id, state=expected).update(state=state, error=error[:200]) == 1


def _smtp_reason(exc: Exception) -> str:
    if isinstance(exc, SMTPRecipientsRefused):
        codes = [f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values()]
        return "refused: " + "; ".join(codes)
    code = getattr(exc, "smtp_code", "")
    message = getattr(exc, "smtp_error", b"")
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


_threads: dict[int, threading.Thread] = {}


def send_in_background(mailing: Mailing, base_url: str | None = None) -> threading.Thread:
    """Start ``send_mailing`` in a thread of this process (the admin action), unless one
    is already running for this mailing; return the thread. ``MailingError`` at once when
    there is no site URL for its links. A process that dies with it
    leaves the mailing resumable (``tallylog newsletter resume``)."""
    running = _threads.get(mailing.pk)
    if running is not None and running.is_alive():
        return running
    base_url = _base_url(base_url)  # refused here, in the caller's request, when there is none

    def run() -> None:
        try:
            send_mailing(Mailing.objects.get(pk=mailing.pk), base_url=base_url)
        except Exception:  # noqa: BLE001 — logged; the mailing stays resumable
            logger.exception("mailing %s stopped", mailing.pk)
        finally:
            db_connection.close()

    thread = threading.Thread(target=run, name=f"mailing-{mailing.pk}", daemon=True)
    _threads[mailing.pk] = thread
    thread.start()
    return thread

