"""E-mail addresses and signed links, shared by petitions (confirmation) and the newsletter.

Addresses are personal and never enter the transparency log. Where only "have we seen this
address before?" must be answered, a keyed hash (``email_hash``) is stored instead of the
address. Links sent by mail carry a token made with Django's signing (``make_token`` /
``read_token``): HMAC-signed with ``SECRET_KEY``, salted per purpose, timestamped so
``read_token`` refuses it after ``max_age`` seconds.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from tallylog.config import config

EMAIL_MAX = 254
EMAIL_HASH_PREFIX = b"tallylog email v1\n"


def normalise_email(text: str) -> str:
    """The address as stored and compared: stripped, lower-cased, at most 254 characters.

    Raises ``ValidationError`` with a specific message for anything that is not one address.
    """
    address = text.strip().lower()
    if not address:
        raise ValidationError(_("Enter an email address."), code="required")
    if len(address) > EMAIL_MAX:
        raise ValidationError(_("This email address is too long."), code="too_long")
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError(
            _("“%(value)s” is not a valid email address."), code="invalid", params={"value": text.strip()}
        ) from None
    return address


def email_hash(address: str) -> bytes:
    """HMAC-SHA256 of a normalised address under the receipt key: comparable, not reversible
    without the key (used to refuse a second signature with the same address)."""
    key = settings.TALLYLOG_RECEIPT_KEY.encode()
    return hmac.new(key, EMAIL_HASH_PREFIX + address.encode(), hashlib.sha256).digest()


class TokenError(Exception):
    """A link token that is malformed, forged, for another purpose, or too old.

    ``expired`` tells the two cases apart so the page can say which.
    """

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def make_token(purpose: str, value: str) -> str:
    """A URL-safe token carrying ``value``, signed for ``purpose``; inverse of ``read_token``."""
    return signing.TimestampSigner(salt=f"tallylog.{purpose}").sign(value)


def read_token(purpose: str, token: str, max_age: int) -> str:
    """The value ``make_token(purpose, value)`` signed, if at most ``max_age`` seconds old.

    Raises ``TokenError`` otherwise. Replays are refused by the caller, which checks that
    the action the token authorises has not been done already.
    """
    try:
        return signing.TimestampSigner(salt=f"tallylog.{purpose}").unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise TokenError(expired=True) from None
    except signing.BadSignature:
        raise TokenError(expired=False) from None


class SiteURLMissing(Exception):
    """No site URL to put in mail: ``TALLYLOG_SITE_URL`` is not set, and this process was
    not started by a ``tallylog serve`` that could derive it. Nothing may be sent, since
    every link in it would point to a guess."""

    def __init__(self) -> None:
        super().__init__(
            "TALLYLOG_SITE_URL is not set, so links in mail would point nowhere: set it to the site's "
            "public URL (like https://example.org; docs/petitions.md, \"Mail\")."
        )


def mail_not_configured() -> str:
    """What a reader is told when ``SiteURLMissing`` stops a confirmation mail."""
    return str(_("This site cannot send mail yet: its operator has not set its public address. Nothing was saved."))


def confirmation_subject() -> str:
    """The subject of every confirmation mail, in the active language: neutral, since a
    mail provider reads (and lists, and indexes) it before anyone opens the message."""
    return str(_("Please confirm your email address"))


def site_url() -> str:
    """The public base URL of every link in every mail (no trailing slash): the configured
    ``TALLYLOG_SITE_URL``, which ``tallylog serve`` sets, when it is unset, to where it
    listens on a loopback address (a development run). Raises ``SiteURLMissing`` when
    there is none: mail is refused rather than sent with links to a guessed host or port."""
    url = config().site_url
    if not url:
        raise SiteURLMissing()
    return url.rstrip("/")
