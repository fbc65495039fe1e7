"""Petition actions: the ONE place each thing happens to a signature.

The web form, the JSON API and the CLI call these functions; nothing else writes a
``Signature``. Life of a signature: signed → (if the petition requires it) awaiting email
confirmation, not counted and not logged → counted: its ``LogEntry`` is created (a
``signature`` leaf committing to name and country), its receipt code is shown once, and
the email address is erased (only its keyed hash stays, to refuse a second signature).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
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

from tallylog import leaf
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import clean_text, receipt_hash
from tallylog.registry.entries.actions import enqueue_entry
from tallylog.registry.news.models import site_language
from tallylog.registry.petitions.countries import CODES, country_name
from tallylog.registry.petitions.models import NAME_MAX, Petition, Signature, is_open
from tallylog.registry.subscribers.emails import (
    SiteURLMissing,
    TokenError,
    confirmation_subject,
    email_hash,
    mail_not_configured,
    make_token,
    normalise_email,
    read_token,
    site_url,
)

CONFIRM_PURPOSE = "petition-confirm"
CONFIRM_MAX_AGE = 3 * 24 * 3600  # seconds a confirmation link stays valid
CHANNELS = ("web", "api")


class SignatureInvalid(Exception):
    """The signature was refused; nothing was saved or counted.

    ``code`` is stable for the API (``invalid``, ``closed``, ``duplicate``,
    ``awaiting_confirmation``, ``mail_failed``); ``errors`` maps a field name (``name``,
    ``country``, ``email``, ``show_name``, ``campaign``) to translated messages.
    """

    def __init__(self, code: str, errors: dict[str, list[str]]) -> None:
        self.code = code
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class ConfirmationInvalid(Exception):
    """A confirmation link that cannot count a signature; ``code`` is ``expired``,
    ``invalid``, ``replayed`` (already confirmed), ``unknown`` (removed) or ``closed``."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Signed:
    """A saved signature; ``receipt_code`` (shown once, never stored) is None while the
    signature awaits email confirmation."""

    signature: Signature
    receipt_code: str | None

    @property
    def counted(self) -> bool:
        return self.receipt_code is not None


def _validate(
    campaign: Campaign, *, name: object, show_name: object, country: object, email: object,
    channel: str, require_email: bool,
) -> dict[str, object]:
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if campaign.kind != Campaign.Kind.PETITION:
        raise SignatureInvalid("invalid", {"campaign": [_("This campaign is not a petition.")]})
    if not is_open(campaign):
        raise SignatureInvalid("closed", {"campaign": [_("This petition is closed: it no longer takes signatures.")]})
    clean_name = clean_text(name)
    if not clean_name:
        fail("name", _("Please enter your name."))
    elif len(clean_name) > NAME_MAX:
        fail("name", _("The name is too long: at most %(max)d characters.") % {"max": NAME_MAX})
    if not isinstance(show_name, bool):
        fail("show_name", _("Say whether your name may be shown (true or false)."))
    clean_country = clean_text(country).upper()
    if not clean_country:
        fail("country", _("Choose your country or region."))
    elif clean_country not in CODES:
        fail("country", _("Unknown country or region."))
    address = ""
    raw_email = clean_text(email)
    if raw_email:
        try:
            address = normalise_email(raw_email)
        except ValidationError as exc:
            fail("email", " ".join(exc.messages))
    elif require_email:
        fail("email", _("This petition asks you to confirm your signature by email: please enter your email address."))
    if channel not in CHANNELS:
        raise ValueError(f"sign_petition: channel must be one of {CHANNELS}, not {channel!r}")
    if errors:
        raise SignatureInvalid("invalid", errors)
    return {"name": clean_name, "show_name": show_name, "country": clean_country, "email": address}


def sign_petition(
    campaign: Campaign,
    *,
    name: str,
    show_name: bool,
    country: str,
    email: str = "",
    channel: str = "web",
    language: str = "en",
) -> Signed:
    """Validate and save a signature; count it at once or mail its confirmation link.

    When the petition requires confirmation (``Petition.require_confirmation``, the
    default) an email address is required, the signature waits unconfirmed and uncounted,
    and a link (valid ``CONFIRM_MAX_AGE`` seconds, under ``TALLYLOG_SITE_URL``) is
    mailed in ``language`` with a neutral subject; ``confirm_signature`` counts it.
    Otherwise it is counted now and the receipt code returned. Raises ``SignatureInvalid``
    for bad input, a closed petition, an address that already signed, or a mail server
    that refused the link; then nothing is saved.
    """
    options = Petition.options_for(campaign)
    fields = _validate(
        campaign, name=name, show_name=show_name, country=country, email=email,
        channel=channel, require_email=options.require_confirmation,
    )
    address = str(fields.pop("email"))
    digest = email_hash(address) if address else None
    try:
        with transaction.atomic():
            if digest is not None:
                _refuse_second_signature(campaign, digest)
            signature = Signature(
                campaign=campaign, channel=channel, language=site_language(language),
                email_hash=digest, status=Signature.Status.PENDING, **fields,
            )
            if options.require_confirmation:
                signature.email = address
                signature.save()
                _mail_confirmation(signature)
                return Signed(signature, None)
            signature.save()
            return Signed(signature, _count(signature))
    except IntegrityError:
        # The same address signed in a concurrent request between our check and insert.
        raise SignatureInvalid("duplicate", {"email": [_("This email address has already signed this petition.")]}) from None


def _refuse_second_signature(campaign: Campaign, digest: bytes) -> None:
    earlier = Signature.objects.filter(campaign=campaign, email_hash=digest).first()
    if earlier is None:
        return
    if earlier.status == Signature.Status.COUNTED:
        raise SignatureInvalid("duplicate", {"email": [_("This email address has already signed this petition.")]})
    if earlier.created_at < timezone.now() - timedelta(seconds=CONFIRM_MAX_AGE):
        earlier.delete()  # its link expired unused: signing again starts afresh
        return
    raise SignatureInvalid(
        "awaiting_confirmation",
        {"email": [_("This email address has already signed and its confirmation is pending: follow the link we sent to it.")]},
    )


def _mail_confirmation(signature: Signature) -> None:
    try:
        base_url = site_url()
    except SiteURLMissing:
        raise SignatureInvalid("mail_failed", {"email": [mail_not_configured()]}) from None
    token = make_token(CONFIRM_PURPOSE, _token_value(signature))
    link = base_url + reverse("petitions:confirm", kwargs={"token": token})
    with translation.override(signature.language):
        title = signature.campaign.localized("title", signature.language)
        # The subject is what a mail provider shows and indexes first: never the petition.
        subject = confirmation_subject()
        body = render_to_string(
            "petitions/confirm_email.txt",
            {"title": title, "link": link, "name": signature.name, "days": CONFIRM_MAX_AGE // 86400},
        )
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [signature.email])
    try:
        message.send()
    except (SMTPException, OSError):
        raise SignatureInvalid(
            "mail_failed",
            {"email": [_("We could not send the confirmation email just now; nothing was saved. Please try again later.")]},
        ) from None


def _token_value(signature: Signature) -> str:
    # Bound to this signature's id and address: no other signature matches it.
    return f"{signature.pk}.{bytes(signature.email_hash or b'').hex()[:16]}"


def _count(signature: Signature) -> str:
    """Count ``signature`` (inside the caller's transaction): log it, erase the address,
    return its new receipt code."""
    code = leaf.new_receipt_code()
    salt = leaf.new_salt()
    signature.salt = salt
    signature.receipt_hash = receipt_hash(code)
    signature.tag, tag_salt = leaf.new_receipt_tag(code)  # the salt is kept in the entry
    signature.entry = enqueue_entry(
        signature.campaign,
        kind="signature",
        channel=signature.channel,
        commit=leaf.commitment(salt, signature.public_content()),
        tag=signature.tag,
        tag_salt=tag_salt,
    )
    signature.status = Signature.Status.COUNTED
    signature.counted_at = timezone.now()
    signature.email = ""
    signature.save()
    return code


def confirm_signature(token: str) -> Signed:
    """Count the signature a confirmation link names; return it with its receipt code.

    The inverse of the link ``sign_petition`` mails. Raises ``ConfirmationInvalid`` for a
    forged or expired link, a signature already confirmed (a replayed link) or removed, or
    a petition that closed meanwhile; then nothing changes.
    """
    try:
        value = read_token(CONFIRM_PURPOSE, token, CONFIRM_MAX_AGE)
    except TokenError as exc:
        if exc.expired:
            raise ConfirmationInvalid("expired", _(
                "This confirmation link has expired (links are valid for %(days)d days). Please sign again."
            ) % {"days": CONFIRM_MAX_AGE // 86400}) from None
        raise ConfirmationInvalid("invalid", _("This confirmation link is not valid. Check that you copied all of it.")) from None
    pk, _sep, bound = value.partition(".")
    with transaction.atomic():
        signature = (
            Signature.objects.select_for_update().select_related("campaign").filter(pk=int(pk)).first()
        )
        if signature is None or bytes(signature.email_hash or b"").hex()[:16] != bound:
            raise ConfirmationInvalid("unknown", _(
                "This signature no longer exists: unconfirmed signatures are removed when their link expires. Please sign again."
            ))
        if signature.status == Signature.Status.COUNTED:
            raise ConfirmationInvalid("replayed", _(
                "This signature was already confirmed and is counted. Its receipt code was shown when it was confirmed."
            ))
        if not is_open(signature.campaign):
            raise ConfirmationInvalid("closed", _("This petition closed before the signature was confirmed; it was not counted."))
        return Signed(signature, _count(signature))


def purge_unconfirmed(now: datetime | None = None) -> int:
    """Delete signatures whose confirmation link expired unused (with their addresses);
    return how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=CONFIRM_MAX_AGE)
    deleted, _by_model = Signature.objects.unconfirmed_before(cutoff).delete()
    return deleted


def find_by_receipt(code: str) -> Signature | None:
    """The counted signature whose receipt code is ``code`` (as typed), or None."""
    try:
        digest = receipt_hash(code)
    except ValueError:
        return None
    return Signature.objects.filter(receipt_hash=digest).select_related("campaign", "entry").first()


CSV_HEADER = ("id", "name", "name_public", "country", "country_name", "channel", "counted_at", "log_index")


def _csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def signatures_csv(campaign: Campaign, chunk: int = 2000) -> Iterator[str]:
    """The counted signatures of ``campaign`` as CSV lines (for operators; includes names
    not shown publicly, never an email address), streamed in constant memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row: tuple[object, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(v) for v in row])
        return buffer.getvalue()

    yield line(CSV_HEADER)
    rows = (
        Signature.objects.for_campaign(campaign).counted().order_by("id")
        .values_list("id", "name", "show_name", "country", "channel", "counted_at", "entry__log_index")
    )
    for pk, name, show, country, channel, counted_at, index in rows.iterator(chunk_size=chunk):
        yield line((pk, name, "yes" if show else "no", country, country_name(country, "en"),
                    channel, counted_at.isoformat() if counted_at else "", index))
