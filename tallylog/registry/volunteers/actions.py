"""The console's side-effecting actions, each the one place it happens.

The console pages, the console API (``api.py``) and the ``tallylog staff`` commands all
call these. Each checks who may do it (``by``: the acting staff member, or None for an
operator at the command line), validates, and either does all of it in one transaction
or raises ``ConsoleError`` having saved nothing.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.models import STAFF_CHANNELS, Channel
from tallylog.registry.volunteers.models import (
    ApiToken,
    AssistedDeclaration,
    Call,
    Centre,
    Outcome,
    Role,
    Staff,
)
from tallylog.registry.volunteers.permissions import RANK, bind_to_role, sync_roles
from tallylog.registry.volunteers.validators import looks_like_phone_number

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from tallylog.registry.declarations.actions import Submission

PASSWORD_VALIDATORS: list[dict[str, Any]] = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
TOKEN_PREFIX = "tlv_"


@functools.cache
def password_validators() -> list[Any]:
    """Built once: CommonPasswordValidator reads its 20,000 passwords when it is made."""
    return password_validation.get_password_validators(PASSWORD_VALIDATORS)


class ConsoleError(Exception):
    """Bad input: ``errors`` maps a field name (or ``"__all__"``) to its messages.

    ``code`` and ``status`` say how the API reports it (``{"error": {"code", "message"}}``).

    ``members`` (a family recorded at once, ``record_family``) maps a member's position
    (0: the first) to its own field errors.
    """

    code = "invalid"
    status = 422

    def __init__(
        self,
        errors: dict[str, list[str]],
        code: str | None = None,
        *,
        members: dict[int, dict[str, list[str]]] | None = None,
    ) -> None:
        self.errors = errors
        self.members = members or {}
        if code:
            self.code = code
        super().__init__(self.message)

    @property
    def message(self) -> str:
        family = [m for messages in self.errors.values() for m in messages]
        each = [m for _, fields in sorted(self.members.items()) for messages in fields.values() for m in messages]
        return " ".join(family + each)


class NotAllowed(ConsoleError):
    """The acting staff member may not do this (another centre, another role)."""

    code = "forbidden"
    status = 403


def _from_validation_error(exc: ValidationError, code: str = "invalid") -> ConsoleError:
    if hasattr(exc, "error_dict"):
        return ConsoleError({f: [str(m) for e in errs for m in e.messages] for f, errs in exc.error_dict.items()}, code)
    return ConsoleError({"__all__": [str(m) for m in exc.messages]}, code)


# --- centres and staff ----------------------------------------------------------------


def create_centre(name: str, *, slug: str = "", by: Staff | None = None) -> Centre:
    """Create a service centre. An operator (or the command line, ``by=None``) may create
    any; a coordinator who runs no centre yet may create one, and then runs it."""
    name = " ".join(name.split())
    if by is not None and by.role != Role.OPERATOR:
        if by.role != Role.COORDINATOR:
            raise NotAllowed({"__all__": [_("Only a coordinator or an operator can create a centre.")]})
        if by.centre_id is not None:
            raise NotAllowed({"__all__": [_("A coordinator runs one centre, and you already run one.")]})
    slug = slug or slugify(name)
    centre = Centre(name=name, slug=slug)
    try:
        centre.full_clean()
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    with transaction.atomic():
        centre.save()
        if by is not None and by.role == Role.COORDINATOR:
            by.centre = centre
            by.save(update_fields=["centre"])
    return centre


def add_staff(
    username: str,
    *,
    role: str,
    password: str,
    centre: Centre | None = None,
    review_required: bool = False,
    by: Staff | None = None,
) -> Staff:
    """Create a staff member with one role (and, for a volunteer, one centre).

    A coordinator may add only volunteers, only to their own centre; an operator (or the
    command line) may add anyone. The password must pass ``PASSWORD_VALIDATORS``; it is
    stored with the configured hasher (Argon2).
    """
    if role not in Role.values:
        raise ConsoleError({"role": [_("Unknown role.")]}, "unknown_role")
    if by is not None and by.role != Role.OPERATOR:
        if not by.user.has_perm("volunteers.manage_centre_staff") or by.centre_id is None:
            raise NotAllowed({"__all__": [_("You cannot add staff.")]})
        if role != Role.VOLUNTEER:
            raise NotAllowed({"role": [_("A coordinator can add only volunteers.")]})
        if centre is None:
            centre = by.centre
        if centre is None or centre.pk != by.centre_id:
            raise NotAllowed({"centre": [_("You can add volunteers only to your own centre.")]})
    if role == Role.VOLUNTEER and centre is None:
        raise ConsoleError({"centre": [_("A volunteer belongs to a centre; name it.")]})
    if role in (Role.MODERATOR, Role.OPERATOR) and centre is not None:
        raise ConsoleError({"centre": [_("Moderators and operators belong to no centre.")]})
    User = get_user_model()
    user = User(username=username, is_staff=(role == Role.OPERATOR))
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        errors.update({f: [str(m) for e in errs for m in e.messages] for f, errs in exc.error_dict.items()})
    try:
        password_validation.validate_password(password, user, password_validators())
    except ValidationError as exc:
        errors["password"] = [str(m) for m in exc.messages]
    if errors:
        raise ConsoleError(errors)
    groups = sync_roles()
    with transaction.atomic():
        user.set_password(password)
        try:
            user.save()
        except IntegrityError:
            raise ConsoleError({"username": [_("That username is taken.")]}) from None
        user.groups.set([groups[role]])
        held_by = (Role.OPERATOR if by is None else by.role) if review_required else ""
        return Staff.objects.create(
            user=user, role=role, centre=centre, review_required=review_required, review_held_by=held_by
        )


def _check_manages(by: Staff | None, staff: Staff) -> None:
    if by is not None and not Staff.objects.managed_by(by).filter(pk=staff.pk).exists():
        raise NotAllowed({"__all__": [_("You cannot manage this staff member.")]})


def set_review_required(staff: Staff, required: bool, *, by: Staff | None = None) -> Staff:
    """Hold (or stop holding) the declarations ``staff`` records for a moderator's review.

    ``by`` (None: an operator at the command line) must manage ``staff`` and outrank them
    (``permissions.RANK``): nobody changes the hold on themselves or on someone of their
    rank or above, and only the rank that placed a hold, or a higher one, lifts it.
    Raises ``NotAllowed`` otherwise, having changed nothing.
    """
    _check_manages(by, staff)
    placer = Role.OPERATOR if by is None else by.role
    if by is not None:
        if by.pk == staff.pk:
            raise NotAllowed({"__all__": [_("Nobody can change the review hold on themselves.")]})
        if RANK[staff.role] >= RANK[by.role]:
            raise NotAllowed({"__all__": [_("You can change the review hold only of someone whose role is below yours.")]})
        if not required and staff.review_required and RANK.get(staff.review_held_by, 0) > RANK[by.role]:
            raise NotAllowed({"__all__": [_("This hold was placed by someone of a higher role: only that role or a higher one can lift it.")]})
    if required:
        if not staff.review_required or RANK.get(staff.review_held_by, 0) < RANK[placer]:
            staff.review_held_by = placer
    else:
        staff.review_held_by = ""
    staff.review_required = required
    staff.save(update_fields=["review_required", "review_held_by"])
    return staff


def deactivate(staff: Staff, *, by: Staff | None = None) -> Staff:
    """Stop ``staff`` from logging in; their records stay."""
    _check_manages(by, staff)
    if by is not None and by.pk == staff.pk:
        raise NotAllowed({"__all__": [_("You cannot deactivate yourself.")]})
    staff.user.is_active = False
    staff.user.save(update_fields=["is_active"])
    staff.user.api_tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    return staff


TOKEN_DAYS = 90
TOKEN_DAYS_MAX = 366


def issue_token(user: User, name: str = "", days: int = TOKEN_DAYS) -> str:
    """A new bearer token for the console API, valid ``days`` days (1 to ``TOKEN_DAYS_MAX``),
    returned once; only its digest is kept (``user_for_token`` is the inverse look-up)."""
    if not 1 <= days <= TOKEN_DAYS_MAX:
        raise ConsoleError({"days": [_("A token is valid from 1 to %(max)d days.") % {"max": TOKEN_DAYS_MAX}]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = timezone.now() + datetime.timedelta(days=days)
    ApiToken.objects.create(user=user, name=name, digest=hashlib.sha256(token.encode()).hexdigest(), expires_at=expires)
    return token


def revoke_token(token_id: int) -> ApiToken:
    """Revoke token ``token_id`` (from ``tallylog staff tokens``) at once; revoking twice is no error."""
    found = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if found is None:
        raise ConsoleError({"token": [_("No API token with this number.")]})
    if found.revoked_at is None:
        found.revoked_at = timezone.now()
        found.save(update_fields=["revoked_at"])
    return found


def user_for_token(token: str) -> AbstractBaseUser | None:
    """The active user a bearer token from ``issue_token`` belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    found = ApiToken.objects.usable().select_related("user", "user__staff").filter(digest=digest).first()
    return bind_to_role(found.user) if found else None


# --- calls and declarations ---------------------------------------------------------


def record_call(
    by: Staff,
    *,
    centre: Centre | None = None,
    outcome: str,
    language: str,
    duration: str,
    region: str = "",
    called_on: datetime.date | None = None,
    note: str = "",
) -> Call:
    """Log one call for ``by``'s centre. ``centre``, when given, must be theirs.

    Validation is the model's (``Call`` field validators: known outcome, language and
    duration, a known region, no future date, no phone number in the note).
    """
    if not by.user.has_perm("volunteers.add_call") or by.centre_id is None:
        raise NotAllowed({"__all__": [_("Only a volunteer or coordinator of a centre can record calls.")]})
    if centre is not None and centre.pk != by.centre_id:
        raise NotAllowed({"centre": [_("You can record calls only for your own centre.")]}, "wrong_centre")
    call = Call(
        centre_id=by.centre_id,
        volunteer=by.user,
        outcome=outcome,
        language=language,
        duration=duration,
        region=region,
        called_on=called_on or timezone.localdate(),
        note=" ".join(note.split()),
    )
    try:
        call.full_clean()
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    call.save()
    return call


def default_campaign() -> Campaign | None:
    """The campaign the console records into unless told otherwise."""
    return Campaign.objects.active().declarations().order_by("id").first()


def record_declaration(
    by: Staff,
    call: Call,
    *,
    alias: str,
    orgs: list[str],
    statement: str = "",
    region: str = "",
    channel: str = Channel.PHONE,
    campaign: Campaign | None = None,
    receipt_code: str | None = None,
) -> Submission:
    """Record one declaration during ``call``: ``record_family`` of one member, its errors
    on the fields they name; returns its ``Submission`` (declaration and receipt code)."""
    member = {"alias": alias, "orgs": orgs, "statement": statement, "region": region}
    try:
        [submission] = record_family(
            by,
            call,
            [member],
            channel=channel,
            campaign=campaign,
            receipt_codes=None if receipt_code is None else [receipt_code],
        )
    except ConsoleError as exc:
        if not exc.members:
            raise
        raise type(exc)({**exc.errors, **exc.members[0]}, exc.code) from None
    return submission


def record_family(
    by: Staff,
    call: Call,
    members: list[dict[str, Any]],
    *,
    channel: str = Channel.PHONE,
    campaign: Campaign | None = None,
    receipt_codes: list[str] | None = None,
) -> list[Submission]:
    """Record the declarations of one or more members of a family (``alias``, ``orgs``,
    ``statement``, ``region`` each) that reached the service through ``channel``, one of
    ``STAFF_CHANNELS`` (phone by default; email, fax, letter, in person), during ``call``,
    through the registry's ``submit_family``; returns their ``Submission``s (declaration
    and receipt code each) in the members' order.

    Only the volunteer who made the call records into it. The declarations are held for
    review when their coordinator requires it. All members are checked first (no phone
    number in an alias or statement, then the registry's rules): one bad member raises
    ``ConsoleError`` with its errors in ``members`` and nothing is saved. Marks the call's
    outcome ``declared`` and counts the declarations on it, in the same transaction.
    ``receipt_codes``: as ``submit_family``'s (the intake form's, made from its one-time
    token).
    """
    from tallylog.registry.declarations.actions import FamilyInvalid, submit_family

    if not by.user.has_perm("volunteers.add_assisteddeclaration") or call.volunteer_id != by.user_id:
        raise NotAllowed({"__all__": [_("You can record declarations only during your own calls.")]})
    if by.centre_id != call.centre_id:
        raise NotAllowed({"centre": [_("You can record declarations only for your own centre.")]}, "wrong_centre")
    if channel not in STAFF_CHANNELS:
        raise ConsoleError(
            {"channel": [_("Unknown channel. The console records these: %(channels)s.") % {"channels": ", ".join(STAFF_CHANNELS)}]},
            "unknown_channel",
        )
    campaign = campaign or default_campaign()
    if campaign is None:
        raise ConsoleError({"campaign": [_("There is no active declaration campaign.")]})
    phone = {
        position: {
            field: [_("This looks like a phone number. Never record a phone number; remove it.")]
            for field in ("alias", "statement")
            if looks_like_phone_number(str(member.get(field, "")))
        }
        for position, member in enumerate(members)
    }
    phone = {position: fields for position, fields in phone.items() if fields}
    if phone:
        raise ConsoleError({}, "phone_number", members=phone)
    with transaction.atomic():
        try:
            submissions = submit_family(
                campaign,
                members,
                channel=channel,
                hold_for_review=by.review_required,
                receipt_codes=receipt_codes,
            )
        except FamilyInvalid as exc:
            raise ConsoleError(exc.errors, members=exc.members) from None
        AssistedDeclaration.objects.bulk_create(
            AssistedDeclaration(declaration=s.declaration, call=call, centre_id=call.centre_id, volunteer=by.user)
            for s in submissions
        )
        Call.objects.filter(pk=call.pk).update(
            declarations=F("declarations") + len(submissions), outcome=Outcome.DECLARED
        )
    call.refresh_from_db(fields=["declarations", "outcome"])
    return submissions
