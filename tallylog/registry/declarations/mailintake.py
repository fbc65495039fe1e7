"""Declarations by email: one message in, one reply out (docs/email-intake.md).

``answer_mail`` is the ONE place a message becomes a declaration: it reads the form the
declarant wrote (``tallylog.registry.declarations.mailform``), submits it through
``submit_declaration`` with channel ``email``, held for a moderator's review, and returns
the reply to send: the receipt code, or what was wrong (then nothing is saved).
``tallylog.registry.declarations.mailbox`` fetches the messages, sends the replies and
deletes the messages; ``tallylog mail-intake`` runs it.

The sender's address is used for the reply and nothing else: it is not stored, not logged,
not written to a file. What makes a second reading of the same message find the first
one's declaration instead of making another is its receipt code, derived from the message
(``receipt_code_for_token`` of its Message-ID and its sender): a crash after the
declaration was saved and before the reply went out, or before the message was deleted,
gives the same code again, which finds the saved declaration by its keyed hash, the only
form in which the code is stored. The sender is part of what the code is made from, so that
someone who copies a declarant's Message-ID into a message of their own gets a new
declaration, not the declarant's code (a copy sent with the declarant's address as its
sender has its reply go to the declarant).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import html
import re
from dataclasses import dataclass
from email.message import EmailMessage as ParsedMessage

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError
from django.urls import reverse
from django.utils import translation
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from tallylog.config import config
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import (
    DeclarationInvalid,
    find_by_receipt,
    receipt_code_for_token,
    submit_declaration,
)
from tallylog.registry.declarations.mailform import (
    MAX_TEXT,
    FormNotUnderstood,
    guess_language,
    org_example,
    read_form,
)
from tallylog.registry.declarations.models import Channel, Declaration

LANGUAGES = ("zh-hans", "zh-hant", "en")
# Declared as GB 2312 or GBK, Chinese mail is often GBK or GB 18030: read it as GB 18030,
# which holds both.
_GB = frozenset({"gb2312", "gb_2312-80", "euc-cn", "gbk", "x-gbk", "cp936", "gb18030"})
_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,250}>")  # printable ASCII but <, > and spaces
_SPACES = re.compile(r"\s+")
_BREAKS = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_AUTOMATIC_SENDERS = ("mailer-daemon@", "postmaster@", "noreply@", "no-reply@")


class Outcome:
    HELD = "held"  # a new declaration, held for review; the reply has its code
    AGAIN = "again"  # taken before (a crash before the reply or the deletion): the same reply
    REFUSED = "refused"  # nothing saved; the reply says what was wrong
    IGNORED = "ignored"  # no one to answer (no sender, an automatic message): nothing saved, no reply


@dataclass(frozen=True)
class Letter:
    """What ``answer_mail`` reads of a message. ``sender`` is never stored nor logged."""

    sender: str | None  # None: no address to answer
    message_id: str  # its Message-ID, or "sha256:…" of the whole message when it has none
    text: str | None  # the text the declarant wrote; None: no text part
    automatic: bool  # an automatic message (bounce, auto-reply, list): never answered


@dataclass(frozen=True)
class Answer:
    """``answer_mail``'s result: the ``Outcome``, the reply to send (None: none), and the
    declaration (held or found again)."""

    outcome: str
    reply: EmailMessage | None
    declaration: Declaration | None = None


def read_letter(raw: bytes) -> Letter:
    """The sender, the Message-ID and the text of the RFC 5322 message ``raw``. Never
    raises: whatever a message holds, it is answered or deleted, and never blocks the
    mailbox. Headers are read as they were sent (``raw_items``: Python's structured header
    parser raises on some malformed ones), addresses with ``email.utils.getaddresses``."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, ParsedMessage), "read_letter: email.policy.default gives EmailMessage"
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), _SPACES.sub(" ", str(value)).strip())
    message_id = headers.get("message-id", "")
    if not _MESSAGE_ID.fullmatch(message_id):
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    return Letter(
        sender=_sender(headers.get("from", "")),
        message_id=message_id,
        text=_text_of(message),
        automatic=_automatic(headers),
    )


def _sender(value: str) -> str | None:
    """The one address of a From header; None when there is not exactly one, or when it is
    not a plain ASCII address (a reply to it could not be sent)."""
    addresses = [a for _, a in email.utils.getaddresses([value]) if a]
    if len(addresses) != 1 or not addresses[0].isascii():
        return None
    try:
        validate_email(addresses[0])
    except ValidationError:
        return None
    return addresses[0]


def _automatic(headers: dict[str, str]) -> bool:
    """RFC 3834 §2: an automatic message is never answered automatically (mail loops)."""
    sender = headers.get("from", "").lower()
    return (
        headers.get("auto-submitted", "no").lower() not in ("no", "")
        or headers.get("precedence", "").lower() in ("bulk", "junk", "list")
        or "list-id" in headers
        or headers.get("return-path") == "<>"
        or any(s in sender for s in _AUTOMATIC_SENDERS)
    )


def _text_of(message: ParsedMessage) -> str | None:
    """The plain text of ``message`` (its HTML part's text when it has no plain one);
    None when it has none, or none that Python's parser can read."""
    try:
        return _text_or_none(message)
    except Exception:  # noqa: BLE001 -- email's parser raises many kinds on malformed MIME: "no text"
        return None


def _text_or_none(message: ParsedMessage) -> str | None:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return None
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    charset = (part.get_content_charset() or "utf-8").lower()
    try:
        text = payload.decode("gb18030" if charset in _GB else charset, errors="replace")
    except LookupError:
        text = payload.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        text = html.unescape(strip_tags(_BREAKS.sub("\n", text)))
    return text


def mail_token(letter: Letter) -> str:
    """What ``letter``'s receipt code is made from (``receipt_code_for_token``): its
    Message-ID and its sender. Form tokens never hold a NUL: the two never meet."""
    return f"mail\x00{letter.message_id}\x00{(letter.sender or '').lower()}"


def answer_mail(campaign: Campaign, raw: bytes, *, too_big: bool = False) -> Answer:
    """Take the message ``raw`` (with ``too_big``: only its header, the rest being over the
    size the mailbox reads) as a declaration of ``campaign``, held for review; the reply.

    A message read a second time gets the first reading's declaration and the same reply
    (module docstring). Nothing is saved when the reply says what was wrong."""
    letter = read_letter(raw)
    if letter.sender is None or letter.automatic:
        return Answer(Outcome.IGNORED, None)
    code = receipt_code_for_token(mail_token(letter))
    language = guess_language(letter.text or "")
    with translation.override(language):
        found = find_by_receipt(code)
        if found is not None:
            return Answer(Outcome.AGAIN, _received(letter, code), found)
        organisations = {
            o.code: [o.name_zh_hans, o.name_zh_hant, o.name_en] for o in campaign.organisations.all()
        }
        if too_big or letter.text is None or len(letter.text) > MAX_TEXT:
            problem = _("Your message is too long, or has no text we can read: write the form as plain text in "
                        "the message itself, without attachments.")
            return Answer(Outcome.REFUSED, _refused(letter, [problem], organisations, blank=False))
        try:
            form = read_form(letter.text, organisations)
            submission = submit_declaration(
                campaign,
                alias=form.alias,
                orgs=form.orgs,
                statement=form.statement,
                region=form.region,
                channel=Channel.EMAIL,
                hold_for_review=True,
                known_orgs=frozenset(organisations),
                receipt_code=code,
            )
        except FormNotUnderstood as exc:
            return Answer(Outcome.REFUSED, _refused(letter, exc.problems, organisations, blank=exc.blank))
        except DeclarationInvalid as exc:
            problems = [f"{_field_label(name)} {m}".strip() for name, ms in exc.errors.items() for m in ms]
            return Answer(Outcome.REFUSED, _refused(letter, problems, organisations, blank=False))
        except IntegrityError:
            # Another reader of the same mailbox saved this message's declaration first.
            found = find_by_receipt(code)
            if found is None:
                raise
            return Answer(Outcome.AGAIN, _received(letter, code), found)
        return Answer(Outcome.HELD, _received(letter, code), submission.declaration)


def _field_label(name: str) -> str:
    labels = {"alias": _("alias:"), "orgs": _("withdraw:"), "region": _("region:"), "statement": _("statement:")}
    return labels.get(name, "")


def _reply(letter: Letter, body: str) -> EmailMessage:
    """A reply to ``letter``: a neutral subject (a mail provider reads subjects), marked
    automatic (RFC 3834) so that an auto-responder does not answer it."""
    assert letter.sender is not None, "_reply: a letter without a sender is never answered"
    headers = {"Auto-Submitted": "auto-replied"}
    if not letter.message_id.startswith("sha256:"):
        headers.update({"In-Reply-To": letter.message_id, "References": letter.message_id})
    return EmailMessage(subject=_("Your message"), body=body, to=[letter.sender], headers=headers)


def _received(letter: Letter, code: str) -> EmailMessage:
    link = config().site_url.rstrip("/") + reverse("web:receipt")
    body = "\n\n".join([
        _("We received your message. A moderator reads it before it is published."),
        _("Your receipt code:") + "\n\n    " + code,
        _("Write the code down and keep it safe: with it you can check that your declaration was counted, and "
          "take its text down later. We do not keep the code, and we keep no record of your address."),
        _("Check it here: %(link)s") % {"link": link},
        _("If others can read this mailbox, delete this message once you have written the code down."),
    ])
    return _reply(letter, body + "\n")


def _refused(letter: Letter, problems: list[str], organisations: dict[str, list[str]], *, blank: bool) -> EmailMessage:
    paragraphs = [
        _("We could not record your message, and we kept nothing of it:"),
        "\n".join(f"- {p}" for p in problems),
        _("Please write again, with these lines in the message (the subject does not matter):"),
        guide(organisations),
    ]
    if blank:  # perhaps not read in the language it was written in: the form in each
        current = translation.get_language()
        for language in LANGUAGES:
            if language != current:
                with translation.override(language):
                    paragraphs.append(guide(organisations))
    return _reply(letter, "\n\n".join(paragraphs) + "\n")


def guide(organisations: dict[str, list[str]]) -> str:
    """The form, in the active language, with a word on what is published."""
    form = _(
        "alias: (any name you choose)\n"
        "withdraw: %(orgs)s (one or more)\n"
        "region: (optional: your province)\n"
        "statement: (optional: a few words; the lines below it too)"
    ) % {"orgs": org_example(organisations)}
    warning = _("The alias, the region and the statement are published for everyone to read, forever: write no "
                "phone number, no email address, nothing that tells who you are.")
    return form + "\n\n" + warning
