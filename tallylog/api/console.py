"""The console API: a django-ninja ``Router`` (``build_router``) that ``tallylog.api.urls``
mounts at ``/api/v1/console/``.

It calls the same actions as the console pages (``actions.record_call``,
``actions.record_declaration``) and the same statistics (``stats.outreach_stats``), with
the same scope rules. Authentication: a bearer token from ``tallylog staff token USER``
(``Authorization: Bearer tlv_…``), or the console's session cookie (with its CSRF token
on writes). Errors are ``{"error": {"code", "message", "fields"?}}`` with a 4xx status.

Call records never hold a phone number or a name: unknown fields are refused, and any
string value that looks like a phone number is refused with code ``phone_number``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.responses import Status
from ninja.security import APIKeyCookie, HttpBearer
from pydantic import ConfigDict, Field

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.actions import FAMILY_MAX, Submission
from tallylog.registry.volunteers import actions, stats
from tallylog.registry.volunteers.models import AssistedDeclaration, Call, Centre, Staff, staff_of
from tallylog.registry.volunteers.validators import looks_like_phone_number
from tallylog.safety.errors import ErrorOut, error_body
from tallylog.safety.sessions import session_is_current

PAGE_SIZE = 100


class ConsoleToken(HttpBearer):
    """``Authorization: Bearer <token>`` for an active staff member."""

    def authenticate(self, request: HttpRequest, token: str) -> Staff | None:
        user = actions.user_for_token(token)
        return staff_of(user) if user is not None else None


class ConsoleSession(APIKeyCookie):
    """The console's session cookie (CSRF-checked on writes) of an active staff member."""

    def __init__(self) -> None:
        from django.conf import settings

        self.param_name = settings.SESSION_COOKIE_NAME
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Staff | None:
        if not session_is_current(request):
            return None
        return staff_of(request.user)


class CallIn(Schema):
    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(description="no_answer, hung_up, hostile, listened, thanked or declared")
    language: str = Field(description="mandarin, cantonese, other_chinese, english or other")
    duration: str = Field(description="lt1, 1-5, 5-15, 15-30 or 30+ (minutes)")
    region: str = Field("", description="a region code, or empty")
    called_on: datetime.date | None = Field(None, description="YYYY-MM-DD; default today; never in the future")
    note: str = Field("", max_length=500, description="free text: never a name or a phone number")
    centre: str | None = Field(None, description="the centre's slug; must be the caller's own")


class CallOut(Schema):
    id: int
    centre: str
    called_on: datetime.date
    outcome: str
    language: str
    region: str
    duration: str
    note: str
    declarations: int


_CHANNEL = "how the declaration reached the service: phone (the default), email, fax, letter or in-person"


class MemberIn(Schema):
    """One declarant's declaration (a family member's in ``FamilyIn``)."""

    model_config = ConfigDict(extra="forbid")

    alias: str
    orgs: list[str]
    statement: str = ""
    region: str = ""


class DeclarationIn(MemberIn):
    channel: str = Field("phone", description=_CHANNEL)
    campaign: str | None = Field(None, description="campaign slug; default the active declaration campaign")


class FamilyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    # Bounded in the schema: a body of 10,000 members is refused before any is parsed further.
    members: list[MemberIn] = Field(min_length=1, max_length=FAMILY_MAX, description="one to 10 members, each declaring for themselves")
    channel: str = Field("phone", description=_CHANNEL)
    campaign: str | None = Field(None, description="campaign slug; default the active declaration campaign")


class MemberReceiptOut(Schema):
    alias: str = Field(description="the member's alias, as recorded: read each code out with it")
    receipt: str = Field(description="the member's receipt code: it is never shown again")
    declaration: int
    status: str


class FamilyReceiptOut(Schema):
    receipts: list[MemberReceiptOut] = Field(description="in the members' order")
    call: int
    call_declarations: int


class ReceiptOut(Schema):
    receipt: str = Field(description="the receipt code: read it out to the caller; it is never shown again")
    declaration: int
    status: str
    call: int
    call_declarations: int


class RecordedOut(Schema):
    declaration: int
    call: int
    centre: str
    volunteer: str | None
    status: str
    created_at: datetime.datetime


class MonthOut(Schema):
    month: str
    outcomes: dict[str, int]
    calls: int
    declarations: int
    volunteers: int


class StatsOut(Schema):
    centre: str | None
    calls: int
    declarations: int
    declarations_per_100_calls: float | None
    active_volunteers: int
    months: list[MonthOut]


def error(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> Status[Any]:
    """The API's error answer: ``{"error": {"code", "message", "fields"?}}`` (``tallylog.safety.errors``)."""
    return Status(status, error_body(code, message, fields))


def _from_console_error(exc: actions.ConsoleError) -> Status[Any]:
    """The error answer of ``exc``; a family member's field errors under ``members[i].field``."""
    fields = dict(exc.errors)
    for position, errors in sorted(exc.members.items()):
        fields.update({f"members[{position}].{name}": messages for name, messages in errors.items()})
    return error(exc.status, exc.code, exc.message, fields)


def _call_out(call: Call) -> dict[str, Any]:
    return {
        "id": call.pk,
        "centre": call.centre.slug,
        "called_on": call.called_on,
        "outcome": call.outcome,
        "language": call.language,
        "region": call.region,
        "duration": call.duration,
        "note": call.note,
        "declarations": call.declarations,
    }


def _phone_fields(values: dict[str, Any]) -> dict[str, list[str]]:
    message = _("This looks like a phone number. Never record a phone number; remove it.")
    return {k: [message] for k, v in values.items() if isinstance(v, str) and looks_like_phone_number(v)}


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}

def list_calls(request: HttpRequest, before: int | None = None) -> Any:
    """The calls the caller may see (own, centre's or all), newest first; ``before`` = the
    smallest id of the previous page."""
    staff: Staff = request.auth  # type: ignore[attr-defined]
    if not staff.user.has_perm("volunteers.view_call"):
        return error(403, "forbidden", _("Your role does not allow this."))
    queryset = Call.objects.visible_to(staff).select_related("centre").order_by("-id")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    return Status(200, [_call_out(c) for c in queryset[:PAGE_SIZE]])


def create_call(request: HttpRequest, payload: CallIn) -> Any:
    """Log a call for the caller's own centre."""
    staff: Staff = request.auth  # type: ignore[attr-defined]
    data = payload.model_dump()
    phone = _phone_fields(data)
    if phone:
        return error(422, "phone_number", " ".join(m for ms in phone.values() for m in ms), phone)
    centre = None
    if data.pop("centre"):
        centre = Centre.objects.filter(slug=payload.centre).first()
        if centre is None:
            return error(422, "unknown_centre", _("Unknown centre."), {"centre": [_("Unknown centre.")]})
    try:
        call = actions.record_call(staff, centre=centre, **data)
    except actions.ConsoleError as exc:
        return _from_console_error(exc)
    return Status(201, _call_out(call))


def _record(
    request: HttpRequest, call_id: int, slug: str | None, members: list[dict[str, Any]], channel: str, *, one: bool
) -> tuple[Call, list[Submission]] | Status[Any]:
    """``actions.record_family`` during call ``call_id`` of the caller's, in campaign
    ``slug`` (None: the default); its call and submissions, or the error answer (``one``:
    a single declaration's, its member's errors under their plain field names)."""
    staff: Staff = request.auth  # type: ignore[attr-defined]
    call = Call.objects.visible_to(staff).filter(pk=call_id).first()
    if call is None:
        return error(404, "not_found", _("No such call."))
    campaign = None
    if slug:
        campaign = Campaign.objects.filter(slug=slug).first()
        if campaign is None:
            return error(422, "unknown_campaign", _("Unknown campaign."))
    try:
        return call, actions.record_family(staff, call, members, channel=channel, campaign=campaign)
    except actions.ConsoleError as exc:
        if one and exc.members:
            exc = actions.ConsoleError({**exc.errors, **exc.members[0]}, exc.code)
        return _from_console_error(exc)


def create_declaration(request: HttpRequest, call_id: int, payload: DeclarationIn) -> Any:
    """Record a declaration during one's own call, through ``channel`` (phone unless
    said: email, fax, letter, in-person; another is refused with code
    ``unknown_channel``); the answer holds its receipt code, once."""
    member = payload.model_dump(include={"alias", "orgs", "statement", "region"})
    done = _record(request, call_id, payload.campaign, [member], payload.channel, one=True)
    if isinstance(done, Status):
        return done
    call, [submission] = done
    return Status(201, {
        "receipt": submission.receipt_code,
        "declaration": submission.declaration.pk,
        "status": submission.declaration.status,
        "call": call.pk,
        "call_declarations": call.declarations,
    })


def create_family(request: HttpRequest, call_id: int, payload: FamilyIn) -> Any:
    """Record the declarations of several members of a family at once (each their own,
    with their own receipt code), through ``channel``: all of them or, when one member is
    refused (its errors under ``members[i].field``), none."""
    members = [m.model_dump() for m in payload.members]
    done = _record(request, call_id, payload.campaign, members, payload.channel, one=False)
    if isinstance(done, Status):
        return done
    call, submissions = done
    return Status(201, {
        "receipts": [
            {
                "alias": s.declaration.alias,
                "receipt": s.receipt_code,
                "declaration": s.declaration.pk,
                "status": s.declaration.status,
            }
            for s in submissions
        ],
        "call": call.pk,
        "call_declarations": call.declarations,
    })


def list_recorded(request: HttpRequest, before: int | None = None) -> Any:
    """Declarations recorded through the console that the caller may see, newest first."""
    staff: Staff = request.auth  # type: ignore[attr-defined]
    queryset = AssistedDeclaration.objects.visible_to(staff).select_related("declaration", "centre", "volunteer")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    return Status(200, [
        {
            "declaration": r.declaration_id,
            "call": r.call_id,
            "centre": r.centre.slug,
            "volunteer": r.volunteer.get_username() if r.volunteer else None,
            "status": r.declaration.status,
            "created_at": r.created_at,
        }
        for r in queryset.order_by("-id")[:PAGE_SIZE]
    ])


def get_stats(request: HttpRequest, centre: str = "", months: int = 12) -> Any:
    """Outreach statistics: an operator's of any centre (or all, without ``centre``), a
    coordinator's of their own centre."""
    staff: Staff = request.auth  # type: ignore[attr-defined]
    if not 1 <= months <= 120:
        return error(422, "invalid", _("months is between 1 and 120."))
    user = staff.user
    scope: Centre | None
    if user.has_perm("volunteers.view_all_stats"):
        scope = Centre.objects.filter(slug=centre).first() if centre else None
        if centre and scope is None:
            return error(404, "not_found", _("Unknown centre."))
    elif user.has_perm("volunteers.view_centre_stats") and staff.centre is not None:
        if centre and centre != staff.centre.slug:
            return error(403, "forbidden", _("You can see the statistics of your own centre only."))
        scope = staff.centre
    else:
        return error(403, "forbidden", _("Your role does not allow this."))
    outreach = stats.outreach_stats(scope, months=months)
    return Status(200, {
        "centre": scope.slug if scope else None,
        "calls": outreach.calls,
        "declarations": outreach.declarations,
        "declarations_per_100_calls": outreach.per_hundred_calls,
        "active_volunteers": outreach.active_volunteers,
        "months": [
            {
                "month": m.month.strftime("%Y-%m"),
                "outcomes": dict(m.outcomes_in_order),
                "calls": m.calls,
                "declarations": m.declarations,
                "volunteers": m.volunteers,
            }
            for m in outreach.months
        ],
    })


def build_router() -> Router:
    """A new console router (``tallylog.api.urls`` mounts one; tests may mount their own)."""
    router = Router(auth=[ConsoleToken(), ConsoleSession()], tags=["console"])
    router.add_api_operation("/calls", ["GET"], list_calls, response={200: list[CallOut], **ERRORS})
    router.add_api_operation("/calls", ["POST"], create_call, response={201: CallOut, **ERRORS})
    router.add_api_operation(
        "/calls/{call_id}/declarations", ["POST"], create_declaration, response={201: ReceiptOut, **ERRORS}
    )
    router.add_api_operation(
        "/calls/{call_id}/families", ["POST"], create_family, response={201: FamilyReceiptOut, **ERRORS}
    )
    router.add_api_operation("/recorded", ["GET"], list_recorded, response={200: list[RecordedOut], **ERRORS})
    router.add_api_operation("/stats", ["GET"], get_stats, response={200: StatsOut, **ERRORS})
    return router

