"""Newsletter subscription actions: subscribe, confirm, unsubscribe, purge.

Double opt-in: ``subscribe`` records the address with the consent statement it agreed to
(version and time) and mails a confirmation link; only ``confirm_subscription`` makes it a
recipient. ``unsubscribe`` deletes the subscriber; its links (in every newsletter, and the
RFC 8058 ``List-Unsubscribe`` header) work without login.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from smtplib import SMTPException

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tallylog.registry.news.models import site_language
from tallylog.registry.subscribers.emails import (
    SiteURLMissing,
    TokenError,
    confirmation_subject,
    mail_not_configured,
    make_token,
    normalise_email,
    read_token,
    site_url,
)
from tallylog.registry.subscribers.models import ConsentStatement, Subscriber

CONFIRM_PURPOSE = "newsletter-confirm"
CONFIRM_MAX_AGE = 3 * 24 * 3600
UNSUBSCRIBE_PURPOSE = "newsletter-unsubscribe"
UNSUBSCRIBE_MAX_AGE = 365 * 24 * 3600  # a link in an old newsletter still works for a year


class SubscriptionInvalid(Exception):
    """The sign-up was refused; nothing was saved. ``code`` (``invalid``, ``consent``,
    ``mail_failed``) and ``errors`` (field → messages) as for ``SignatureInvalid``."""

    def __init__(self, code: str, errors: dict[str, list[str]]) -> None:
        self.code = code
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class LinkInvalid(Exception):
    """A confirmation or unsubscribe link that does nothing; ``code`` is ``expired``,
    ``invalid``, ``replayed`` or ``unknown``, the message says which for the reader."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Subscribed:
    subscriber: Subscriber | None  # None when the address was already confirmed
    mailed: bool


def subscribe(email: str, *, consent_version: str, language: str) -> Subscribed:
    """Record a sign-up and mail its confirmation link (valid ``CONFIRM_MAX_AGE`` seconds).

    ``consent_version`` is the version of the statement the form showed: it must be the
    one in force (a stale form is refused, so nobody is recorded as agreeing to words they
    did not see). Signing up again while unconfirmed mails a fresh link; an address
    already confirmed gets no mail and no change (the page says the same either way, so
    the form does not reveal who is subscribed). Raises ``SubscriptionInvalid``.
    """
    errors: dict[str, list[str]] = {}
    try:
        address = normalise_email(email)
    except ValidationError as exc:
        errors["email"] = list(exc.messages)
    statement = ConsentStatement.objects.current()
    if not consent_version:
        errors["consent"] = [_("Please tick the box to agree to the statement: we cannot sign you up without your consent.")]
    elif consent_version != statement.version:
        errors["consent"] = [_("The consent statement has changed since this form was shown. Please read it again and agree.")]
    if errors:
        raise SubscriptionInvalid("consent" if "consent" in errors and "email" not in errors else "invalid", errors)
    now = timezone.now()
    try:
        with transaction.atomic():
            subscriber = Subscriber.objects.select_for_update().filter(email=address).first()
            if subscriber is not None and subscriber.status == Subscriber.Status.CONFIRMED:
                return Subscribed(None, mailed=False)
            if subscriber is None:
                subscriber = Subscriber(email=address)
            subscriber.language = site_language(language)
            subscriber.consent = statement
            subscriber.consented_at = now
            subscriber.save()
            _mail_confirmation(subscriber)
    except IntegrityError:
        return Subscribed(None, mailed=False)  # the same address signed up concurrently
    return Subscribed(subscriber, mailed=True)


def _mail_confirmation(subscriber: Subscriber) -> None:
    try:
        base_url = site_url()
    except SiteURLMissing:
        raise SubscriptionInvalid("mail_failed", {"email": [mail_not_configured()]}) from None
    token = make_token(CONFIRM_PURPOSE, f"{subscriber.pk}.{subscriber.key}")
    link = base_url + reverse("subscribers:confirm", kwargs={"token": token})
    with translation.override(subscriber.language):
        subject = confirmation_subject()  # neutral: a mail provider reads it first
        body = render_to_string(
            "subscribers/confirm_email.txt",
            {"link": link, "days": CONFIRM_MAX_AGE // 86400,
             "statement": subscriber.consent.localized("text", subscriber.language)},
        )
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [subscriber.email]).send()
    except (SMTPException, OSError):
        raise SubscriptionInvalid("mail_failed", {"email": [
            _("We could not send the confirmation email just now; nothing was saved. Please try again later.")
        ]}) from None


def _subscriber_for(purpose: str, token: str, max_age: int, what: str) -> Subscriber | None:
    try:
        value = read_token(purpose, token, max_age)
    except TokenError as exc:
        if exc.expired:
            raise LinkInvalid("expired", _("This %(what)s link has expired.") % {"what": what}) from None
        raise LinkInvalid("invalid", _("This %(what)s link is not valid. Check that you copied all of it.") % {"what": what}) from None
    pk, _sep, key = value.partition(".")
    return Subscriber.objects.select_for_update().filter(pk=int(pk), key=key).first()


def confirm_subscription(token: str) -> Subscriber:
    """Confirm the subscription a link names. Raises ``LinkInvalid`` for a forged or
    expired link, one already used (``replayed``) or one whose sign-up is gone."""
    with transaction.atomic():
        subscriber = _subscriber_for(CONFIRM_PURPOSE, token, CONFIRM_MAX_AGE, _("confirmation"))
        if subscriber is None:
            raise LinkInvalid("unknown", _("This sign-up no longer exists (it was unsubscribed or expired). Please sign up again."))
        if subscriber.status == Subscriber.Status.CONFIRMED:
            raise LinkInvalid("replayed", _("This subscription is already confirmed: nothing more to do."))
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = timezone.now()
        subscriber.save(update_fields=["status", "confirmed_at"])
        return subscriber


def unsubscribe_token(subscriber: Subscriber) -> str:
    """The token of ``subscriber``'s unsubscribe link; read by ``unsubscribe``."""
    return make_token(UNSUBSCRIBE_PURPOSE, f"{subscriber.pk}.{subscriber.key}")


def unsubscribe_url(subscriber_pk: int, key: str, base_url: str) -> str:
    """The absolute one-click unsubscribe link for a subscriber (by id and key, so a
    mailing can build it without loading the model)."""
    token = make_token(UNSUBSCRIBE_PURPOSE, f"{subscriber_pk}.{key}")
    return base_url.rstrip("/") + reverse("subscribers:unsubscribe", kwargs={"token": token})


def check_unsubscribe_token(token: str) -> None:
    """Raise ``LinkInvalid`` unless ``token`` would unsubscribe someone now (for the page
    shown before the one click)."""
    with transaction.atomic():
        if _subscriber_for(UNSUBSCRIBE_PURPOSE, token, UNSUBSCRIBE_MAX_AGE, _("unsubscribe")) is None:
            raise LinkInvalid("replayed", _("This address is no longer subscribed: you will receive no more newsletters."))


def unsubscribe(token: str) -> None:
    """Delete the subscriber an unsubscribe link names, with its delivery records.

    Raises ``LinkInvalid``: ``replayed`` when already unsubscribed, ``expired`` or
    ``invalid`` for a bad link.
    """
    with transaction.atomic():
        subscriber = _subscriber_for(UNSUBSCRIBE_PURPOSE, token, UNSUBSCRIBE_MAX_AGE, _("unsubscribe"))
        if subscriber is None:
            raise LinkInvalid("replayed", _("This address is no longer subscribed: you will receive no more newsletters."))
        subscriber.delete()


def purge_unconfirmed(now: datetime | None = None) -> int:
    """Delete sign-ups whose confirmation link expired unused; return how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=CONFIRM_MAX_AGE)
    deleted, _by_model = Subscriber.objects.unconfirmed_before(cutoff).delete()
    return deleted
