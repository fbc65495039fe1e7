"""Declaration actions: the ONE place each thing happens to a declaration.

The web form, the JSON API, the volunteers' console, bulk import and the CLI all call
these functions; none of them writes a ``Declaration`` any other way.

Life of a declaration (ARCHITECTURE.md): submitted → pending → published (its
``LogEntry`` is created, the sequencer later gives it a log index) or rejected (never
logged); optionally redacted (public content removed, the leaf and the count stay).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tallylog import leaf
from tallylog.leaf import (
    new_receipt_code,  # a name here, so tests can make codes collide
)
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.committer import save_declaration
from tallylog.registry.declarations.flood import flood_suspected
from tallylog.registry.declarations.models import (
    REASON_MAX,
    Channel,
    Declaration,
    RedactedBy,
    RedactionReason,
)
from tallylog.registry.declarations.validation import (  # noqa: F401 (re-exported)
    EARLIEST_DECLARED_ON,
    DeclarationInvalid,
    clean_text,
    validate_declaration,
)
from tallylog.registry.entries.actions import enqueue_entry, new_entry

# Volunteers (phone) and bulk import are trusted staff paths: only public submissions are
# screened for floods.
FLOOD_CHECKED_CHANNELS = frozenset({Channel.WEB, Channel.API})
# The most members of a family that declare in one submission (``submit_family``).
FAMILY_MAX = 10


class InvalidTransition(Exception):
    """The declaration is not in a state that allows this action (e.g. publishing a rejected one)."""


@dataclass(frozen=True)
class Submission:
    """A saved declaration and its receipt code. The code is shown once and never stored."""

    declaration: Declaration
    receipt_code: str


def receipt_hash(code: str) -> bytes:
    """HMAC-SHA256 of the normalised receipt code under ``settings.TALLYLOG_RECEIPT_KEY``.

    The only form in which a receipt code is stored. Raises ``ValueError`` for a string
    that is not a receipt code (``tallylog.leaf.normalise_receipt_code``).
    """
    key = settings.TALLYLOG_RECEIPT_KEY
    if not key:
        raise RuntimeError("TALLYLOG_RECEIPT_KEY is not set (system check tallylog.E001)")
    digits = leaf.normalise_receipt_code(code)
    return hmac.new(key.encode(), digits.encode(), hashlib.sha256).digest()


def submit_declaration(
    campaign: Campaign,
    *,
    alias: str,
    orgs: Iterable[str],
    statement: str = "",
    region: str = "",
    channel: str = Channel.WEB,
    declared_on: datetime.date | str | None = None,
    hold_for_review: bool = False,
    known_orgs: frozenset[str] | None = None,
    receipt_code: str | None = None,
) -> Submission:
    """Normalise, validate and save a declaration; return it with its new receipt code.

    Raises ``DeclarationInvalid`` (nothing saved) for bad input. The declaration is
    published at once when ``campaign.policy == "auto"`` and not ``hold_for_review``
    (e.g. a flood detector's verdict); otherwise it waits, pending, for a moderator.
    Everything happens in one transaction: a crash saves all of it or none. It returns
    only after that transaction has committed: outside a caller's transaction,
    declarations submitted at the same moment by several threads share one commit
    (``tallylog.registry.declarations.committer``). ``known_orgs``, the campaign's
    organisation codes, saves their query (``Campaign.objects.cached``). ``receipt_code``
    (default: a fresh one) is a form's ``receipt_code_for_token``.
    """
    fields = validate_declaration(
        campaign,
        alias=alias,
        orgs=orgs,
        statement=statement,
        region=region,
        channel=channel,
        declared_on=declared_on,
        known_orgs=known_orgs,
    )
    return _submit_valid(campaign, fields, hold_for_review=hold_for_review, receipt_code=receipt_code)


def _submit_valid(
    campaign: Campaign, fields: dict[str, Any], *, hold_for_review: bool, receipt_code: str | None
) -> Submission:
    """Save one declaration of ``validate_declaration``'s cleaned ``fields``: published at
    once or pending (``submit_declaration`` says when)."""
    auto = campaign.policy == Campaign.Policy.AUTO and not hold_for_review
    if auto and fields["channel"] in FLOOD_CHECKED_CHANNELS:
        # Many near-identical declarations in a short time: hold them for a moderator.
        auto = not flood_suspected(campaign.slug, fields["alias"], fields["statement"])
    declaration, code = new_declaration(campaign, fields, receipt_code=receipt_code)
    entry = None
    if auto:
        # The entry is saved first, so the declaration is written once, already published.
        entry = new_entry(campaign, **entry_body(declaration))
        declaration.status = Declaration.Status.PUBLISHED
        declaration.published_at = timezone.now()
    save_declaration(declaration, entry)
    return Submission(declaration=declaration, receipt_code=code)


# The fields of one member of a family (``submit_family``).
MEMBER_FIELDS = ("alias", "orgs", "statement", "region")


class FamilyInvalid(DeclarationInvalid):
    """A family's submission failed validation; nothing was saved.

    ``members`` maps a member's position (0: the first) to its field errors, as
    ``DeclarationInvalid.errors``; ``errors`` holds the family's own (field ``members``:
    none, or too many).
    """

    def __init__(self, members: dict[int, dict[str, list[str]]], errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(errors or {})
        self.members = members
        parts = [f"{k}: {' '.join(v)}" for k, v in self.errors.items()]
        parts += [f"member {i + 1}: {k}: {' '.join(v)}" for i, fields in sorted(members.items()) for k, v in fields.items()]
        self.args = ("; ".join(parts),)


def submit_family(
    campaign: Campaign,
    members: Sequence[Mapping[str, Any]],
    *,
    channel: str = Channel.WEB,
    hold_for_review: bool = False,
    known_orgs: frozenset[str] | None = None,
    receipt_codes: Sequence[str] | None = None,
) -> list[Submission]:
    """Several members of a family declaring in one submission: each member (a mapping of
    ``MEMBER_FIELDS``: alias and orgs, optionally statement and region) becomes a
    declaration of its own, with its own receipt code, all through one channel; returns
    their ``Submission``s in the members' order.

    Every member is validated before anything is saved: one bad member raises
    ``FamilyInvalid`` naming it, and nothing is saved; so does a family of no member or
    of more than ``FAMILY_MAX``. The declarations are saved in one transaction: all or
    none. ``receipt_codes`` (default: fresh ones), one per member, are a form's
    ``receipt_code_for_token(token, member=i)``. One member is ``submit_declaration``.
    """
    if not members:
        raise FamilyInvalid({}, {"members": [_("Name at least one member of the family.")]})
    if len(members) > FAMILY_MAX:
        raise FamilyInvalid(
            {}, {"members": [_("At most %(max)d members of a family declare in one form.") % {"max": FAMILY_MAX}]}
        )
    if receipt_codes is not None and len(receipt_codes) != len(members):
        raise ValueError(f"submit_family: {len(receipt_codes)} receipt codes for {len(members)} members")
    cleaned: list[dict[str, Any]] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for position, member in enumerate(members):
        unknown = set(member) - set(MEMBER_FIELDS)
        if unknown:
            raise ValueError(f"submit_family: unknown member field {sorted(unknown)[0]!r}")
        try:
            cleaned.append(
                validate_declaration(
                    campaign,
                    alias=member.get("alias", ""),
                    orgs=member.get("orgs", ()),
                    statement=member.get("statement", ""),
                    region=member.get("region", ""),
                    channel=channel,
                    known_orgs=known_orgs,
                )
            )
        except DeclarationInvalid as exc:
            errors[position] = exc.errors
    if errors:
        raise FamilyInvalid(errors)
    codes: Sequence[str | None] = receipt_codes if receipt_codes is not None else [None] * len(members)
    with transaction.atomic():
        return [
            _submit_valid(campaign, fields, hold_for_review=hold_for_review, receipt_code=code)
            for fields, code in zip(cleaned, codes, strict=True)
        ]


def receipt_code_for_token(token: str, member: int = 0) -> str:
    """The receipt code of the form sent with the one-time ``token`` (of its ``member``-th
    member, 0 the first, when a family declares in one form): HMAC-SHA256 under
    ``TALLYLOG_RECEIPT_KEY`` of ``"receipt" ‖ NUL ‖ token`` for the first member and of
    ``"receipt member" ‖ NUL ‖ decimal(member) ‖ NUL ‖ token`` for the others, reduced to
    25 decimal digits (the reduction's bias is below 2⁻¹⁶⁰) and grouped as
    ``new_receipt_code`` does.

    The same form sent again (a response lost on the way, a double click) gets the same
    codes without the codes being stored anywhere: they are made again from the token,
    which only the form and the person sending it hold. The messages are distinct for
    every (token, member) pair (the prefixes differ at their eighth byte; the member's
    digits end at the first NUL), and the messages of ``receipt_hash`` are 25 ASCII
    digits, never ``receipt…``: one key serves them all apart. Whoever holds the key and
    a token holds its codes, so the pages answer with them only within a short window
    after the first sending (``tallylog.safety.formtokens``).
    """
    key = settings.TALLYLOG_RECEIPT_KEY
    if not key:
        raise RuntimeError("TALLYLOG_RECEIPT_KEY is not set (system check tallylog.E001)")
    if member < 0:
        raise ValueError(f"receipt_code_for_token: member {member} is negative")
    prefix = b"receipt\x00" if member == 0 else b"receipt member\x00" + str(member).encode() + b"\x00"
    digest = hmac.new(key.encode(), prefix + token.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big") % 10**leaf.RECEIPT_DIGITS
    return leaf.format_receipt_code(f"{number:0{leaf.RECEIPT_DIGITS}d}")


def new_declaration(
    campaign: Campaign, fields: dict[str, Any], *, receipt_code: str | None = None
) -> tuple[Declaration, str]:
    """An unsaved pending ``Declaration`` of ``validate_declaration``'s cleaned ``fields``,
    with a fresh salt and receipt code (``receipt_code`` when given); returns it and the
    code (shown once, never stored).

    For bulk import: save many with ``bulk_create``, then give each published one its
    ``LogEntry`` built from ``entry_body``. ``submit_declaration`` does both for one.
    """
    code = new_receipt_code() if receipt_code is None else receipt_code
    tag, tag_salt = leaf.new_receipt_tag(code)
    declaration = Declaration(
        campaign=campaign,
        salt=leaf.new_salt(),
        receipt_hash=receipt_hash(code),
        tag=tag,
        tag_salt=tag_salt,
        **fields,
    )
    return declaration, code


def entry_body(declaration: Declaration) -> dict[str, Any]:
    """The ``enqueue_entry`` fields of ``declaration``'s leaf (all but ``day``); without
    ``tag_salt`` for a declaration made before leaf v2 (its leaf is v1)."""
    salt = bytes(declaration.salt) if declaration.salt is not None else b""
    if not salt:
        # Redacted while pending: commit to content nobody can open.
        salt = leaf.new_salt()
    body = {
        "kind": "declaration",
        "channel": declaration.channel,
        "commit": leaf.commitment(salt, declaration.public_content()),
        "tag": declaration.tag,
        "orgs": list(declaration.orgs),
    }
    if declaration.tag_salt is not None:
        body["tag_salt"] = declaration.tag_salt
    return body


def _publish(declaration: Declaration, *, moderator: Any) -> None:
    entry = enqueue_entry(declaration.campaign, **entry_body(declaration))
    declaration.entry = entry
    declaration.status = Declaration.Status.PUBLISHED
    declaration.published_at = timezone.now()
    declaration.moderated_by = moderator
    declaration.save(update_fields=["entry", "status", "published_at", "moderated_by"])


def _locked(declaration: Declaration) -> Declaration:
    """Re-read ``declaration`` under a row lock (inside a transaction)."""
    return Declaration.objects.select_for_update().select_related("campaign").get(pk=declaration.pk)


def publish(declaration: Declaration, *, moderator: Any = None) -> None:
    """Publish a pending declaration: it gets its ``LogEntry`` and the sequencer logs it.

    Raises ``InvalidTransition`` unless it is pending. The inverse decision is ``reject``.
    """
    with transaction.atomic():
        current = _locked(declaration)
        if current.status != Declaration.Status.PENDING:
            raise InvalidTransition(_("Only a pending declaration can be published."))
        _publish(current, moderator=moderator)
    _refresh(declaration, current)


def reject(declaration: Declaration, reason: str, *, moderator: Any = None) -> None:
    """Reject a pending declaration with a reason. A rejected declaration is never logged.

    Raises ``DeclarationInvalid`` (field ``reason``) when the reason is empty or too long,
    ``InvalidTransition`` unless the declaration is pending. See ``publish``.
    """
    clean_reason = clean_text(reason)
    if not clean_reason or len(clean_reason) > REASON_MAX:
        raise DeclarationInvalid(
            {"reason": [_("Give a reason of at most %(max)d characters.") % {"max": REASON_MAX}]}
        )
    with transaction.atomic():
        current = _locked(declaration)
        if current.status != Declaration.Status.PENDING:
            raise InvalidTransition(_("Only a pending declaration can be rejected."))
        current.status = Declaration.Status.REJECTED
        current.reject_reason = clean_reason
        current.moderated_by = moderator
        current.save(update_fields=["status", "reject_reason", "moderated_by"])
    _refresh(declaration, current)


def redact(declaration: Declaration, *, by: str = RedactedBy.DECLARANT, reason: str = "") -> None:
    """Withdraw a declaration's content: alias, statement, region and salt are erased.

    The leaf (and so the count) stays: it holds only a salted commitment, which cannot be
    opened once the salt is gone; public pages show "withdrawn by request". Idempotent.
    ``by`` is ``"declarant"`` (with their receipt code) or ``"moderator"``, who must give
    ``reason``, one of ``RedactionReason`` (published: pages and the API say who removed
    the content and, for a moderator, why).
    """
    if by not in RedactedBy.values:
        raise ValueError(f"redact: by must be one of {RedactedBy.values}, not {by!r}")
    if by == RedactedBy.MODERATOR and reason not in RedactionReason.values:
        raise ValueError(f"redact: a moderator's reason must be one of {RedactionReason.values}, not {reason!r}")
    if by == RedactedBy.DECLARANT and reason:
        raise ValueError("redact: the declarant's own withdrawal has no reason")
    with transaction.atomic():
        current = _locked(declaration)
        if current.redacted_at is None:
            current.alias = ""
            current.statement = ""
            current.region = ""
            current.salt = None
            current.redacted_at = timezone.now()
            current.redacted_by = by
            current.redaction_reason = reason
            current.save(
                update_fields=["alias", "statement", "region", "salt", "redacted_at", "redacted_by", "redaction_reason"]
            )
    _refresh(declaration, current)


def find_by_receipt(code: str) -> Declaration | None:
    """The declaration whose receipt code is ``code`` (as typed: spaces, dashes and
    full-width digits allowed), found through its keyed hash; None if there is none or
    ``code`` is not a receipt code."""
    try:
        digest = receipt_hash(code)
    except ValueError:
        return None
    return (
        Declaration.objects.by_receipt_hash(digest).select_related("campaign", "entry").first()
    )


def made_within(declaration: Declaration, seconds: float) -> bool:
    """Whether ``declaration`` was submitted less than ``seconds`` ago (False once its
    times are cut to the day, at sequencing)."""
    return declaration.created_at >= timezone.now() - datetime.timedelta(seconds=seconds)


def find_family_by_receipts(codes: list[str]) -> list[tuple[str, Declaration]]:
    """The declarations of one submission's receipt ``codes`` (``submit_family``'s), each
    with its code; ``[]`` when it was not recorded (a family is recorded whole or not at
    all, so the first code tells, at one query while nothing was)."""
    first = find_by_receipt(codes[0]) if codes else None
    if first is None:
        return []
    found = [(codes[0], first), *((code, find_by_receipt(code)) for code in codes[1:])]
    return [(code, declaration) for code, declaration in found if declaration is not None]


def _refresh(target: Declaration, source: Declaration) -> None:
    """Copy the saved state into the caller's instance so it sees the change."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
