"""Petition signatures in the JSON API: a django-ninja ``Router`` that ``tallylog.api.urls``
mounts at ``/api/v1/campaigns/`` (paths ``/api/v1/campaigns/{slug}/signatures``).

``GET``: the count, the count in the log, the target, counts by country and the public
signatures (newest first, cursor ``before``), each with the salt and content that open its
leaf's commitment. ``POST``: sign, with the same rules and messages as the web form
(``actions.sign_petition``). Errors are ``{"error": {"code", "message", "fields"?}}``
with a 4xx status (503 when the confirmation mail could not be sent).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Router

from tallylog.api.bodies import MAX_DEPTH, too_deep
from tallylog.api.errors import too_deep_response
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.petitions import actions
from tallylog.registry.petitions.models import Signature, is_open, petition_summary
from tallylog.safety.errors import error_response
from tallylog.safety.ratelimit import check_rate

router = Router(tags=["petitions"])
PAGE_MAX = 100
SIGN_FIELDS = {"name", "show_name", "country", "email"}

_SIGN_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["name", "show_name", "country"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 80},
            "show_name": {"type": "boolean", "description": "show the name on the public page"},
            "country": {"type": "string", "description": "ISO 3166-1 alpha-2 code", "example": "CA"},
            "email": {"type": "string", "description": "required when the petition asks for confirmation"},
        },
    }}},
}


# The JSON schema of ``tallylog.safety.errors.ErrorOut``, written out: these endpoints answer
# plain responses, so django-ninja does not derive it.
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
    }},
}
_OBJECT = {"type": "object"}


def _documented(ok: dict[int, str], errors: tuple[int, ...], **extra: Any) -> dict[str, Any]:
    """The ``response`` and ``openapi_extra`` arguments of an endpoint that answers with
    plain JSON responses: exactly its success statuses (so django-ninja adds no generic
    200 of its own) and every error status, each with the JSON error body; ``extra`` goes
    into the operation's OpenAPI object as it is (e.g. ``requestBody``)."""
    doc: dict[int, Any] = {
        status: {"description": text, "content": {"application/json": {"schema": _OBJECT}}}
        for status, text in ok.items()
    }
    for status in errors:
        doc[status] = {
            "description": "error",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }
    # Integer keys, as django-ninja's own: its statuses and these merge into one each.
    return {"response": dict.fromkeys(ok), "openapi_extra": {**extra, "responses": doc}}


def _petition(slug: str) -> Campaign | None:
    return Campaign.objects.petitions().filter(slug=slug).first()


@router.get(
    "/{slug}/signatures",
    summary="A petition's count and public signatures",
    **_documented({200: "the petition and a page of public signatures"}, (400, 404, 422, 429)),
)
def list_signatures(request: HttpRequest, slug: str, before: int | None = None, limit: int = 50) -> HttpResponse:
    campaign = _petition(slug)
    if campaign is None:
        return error_response(404, "unknown_campaign", _("No petition with this name."))
    if not 1 <= limit <= PAGE_MAX:
        return error_response(400, "invalid", _("limit must be between 1 and %(max)d.") % {"max": PAGE_MAX})
    summary = petition_summary(campaign)
    # Logged signatures only, by log index (random within a batch): never by database id,
    # which follows the order of signing (SECURITY.md, "Times blurred").
    rows = (
        Signature.objects.for_campaign(campaign).counted().filter(show_name=True, entry__log_index__isnull=False)
        .select_related("entry")
    )
    if before is not None:
        rows = rows.filter(entry__log_index__lt=before)
    page = list(rows.order_by("-entry__log_index")[:limit])
    return JsonResponse({
        "campaign": campaign.slug,
        "title": campaign.localized("title", get_language()),
        "open": is_open(campaign),
        "closes_at": campaign.closes_at.isoformat() if campaign.closes_at else None,
        "target": campaign.target,
        "count": summary["count"],
        "in_log": summary["in_log"],
        "by_country": dict(summary["by_country"]),
        "signatures": [
            {
                "name": s.name,
                "country": s.country,
                "day": s.counted_at.date().isoformat() if s.counted_at else None,
                "index": s.entry.log_index if s.entry else None,
                "salt": bytes(s.salt).hex() if s.salt else None,
                "content": s.public_content(),
            }
            for s in page
        ],
        "next": page[-1].entry.log_index if len(page) == limit and page[-1].entry is not None else None,
    })


@router.post(
    "/{slug}/signatures",
    summary="Sign a petition",
    **_documented(
        {201: "counted; the receipt code, shown once", 202: "awaiting email confirmation"},
        (400, 404, 409, 413, 415, 422, 429, 503),
        requestBody=_SIGN_BODY,
    ),
)
def sign(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _petition(slug)
    if campaign is None:
        return error_response(404, "unknown_campaign", _("No petition with this name."))
    if request.content_type != "application/json":
        return error_response(415, "unsupported_media_type", _("Send the signature as application/json."))
    if too_deep(request.body):
        return too_deep_response(MAX_DEPTH)
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return error_response(400, "malformed_json", _("The body is not valid JSON: %(error)s") % {"error": exc})
    if not isinstance(data, dict):
        return error_response(400, "invalid", _("The body must be a JSON object."))
    unknown = sorted(set(data) - SIGN_FIELDS)
    if unknown:
        return error_response(400, "invalid", _("Unknown field: %(fields)s.") % {"fields": ", ".join(unknown)},
                      {f: [_("Unknown field.")] for f in unknown})
    strings = {k: data.get(k, "") for k in ("name", "country", "email")}
    wrong = sorted(k for k, v in strings.items() if not isinstance(v, str))
    if wrong:
        return error_response(400, "invalid", _("These fields must be strings: %(fields)s.") % {"fields": ", ".join(wrong)},
                      {f: [_("Must be a string.")] for f in wrong})
    # The `sign` limit, as for the web form: per source, per email address and per petition.
    check_rate(request, "sign", campaign.slug, subject=strings["email"].strip().lower() or None)
    try:
        signed = actions.sign_petition(
            campaign, show_name=data.get("show_name"),  # type: ignore[arg-type]  # checked by the action
            channel="api", language=get_language(), **strings,
        )
    except actions.SignatureInvalid as exc:
        status = {"closed": 409, "duplicate": 409, "awaiting_confirmation": 409, "mail_failed": 503}.get(exc.code, 400)
        message = " ".join(m for messages in exc.errors.values() for m in messages)
        return error_response(status, exc.code, message, exc.errors)
    if not signed.counted:
        return JsonResponse({"status": "awaiting_confirmation", "receipt": None, "id": signed.signature.pk}, status=202)
    return JsonResponse({"status": "counted", "receipt": signed.receipt_code, "id": signed.signature.pk}, status=201)
