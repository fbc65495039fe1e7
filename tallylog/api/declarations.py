"""The declaration endpoints of the JSON API: the log, campaigns, tallies, declarations
and receipts (a django-ninja ``Router`` mounted at ``/api/v1/`` by ``tallylog.api.urls``).

A client that may lose an answer sends an ``Idempotency-Key`` header with each declaration
(a fresh random value of 16 to 64 characters): the same key sent again with the same
declaration within 30 minutes gets the first answer again, with the same receipt code, and
declares nothing more; the same key with another declaration is another request (a client
that reuses keys never gets another declaration's code). The code is made again from the
key and a SHA-256 of the declaration (``receipt_code_for_token``), never stored; only the
form-token machinery's claim (a SHA-256 of the key and a time) is kept, for a day
(``tallylog.safety.formtokens``).

Endpoints call the same registry functions as the pages (``submit_declaration``,
``find_by_receipt``, ``tally``); every error is a JSON body
``{"error": {"code", "message", "fields"?}}`` with a 4xx status (``tallylog.api.errors``). The OpenAPI schema is at ``/api/v1/openapi.json``; there is
no interactive documentation page, which would load scripts from another host.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Path, Query, Router

from tallylog.api.bodies import render
from tallylog.api.errors import ApiError
from tallylog.api.schemas import (
    CampaignOut,
    DeclarationIn,
    DeclarationOut,
    DeclarationPage,
    LogOut,
    ReceiptIn,
    ReceiptOut,
    SubmittedOut,
    TallyOut,
)
from tallylog.composition import get_log
from tallylog.config import config
from tallylog.registry.campaigns.models import LANGS, Campaign, cached_campaign
from tallylog.registry.declarations.actions import (
    find_by_receipt,
    made_within,
    receipt_code_for_token,
    submit_declaration,
)
from tallylog.registry.declarations.models import Channel, Declaration
from tallylog.registry.entries.cosigning import witness_report
from tallylog.registry.entries.published import current_checkpoint, entry_proof
from tallylog.registry.entries.schedule import next_batch_at, publish_interval
from tallylog.registry.entries.tally import tally
from tallylog.safety import formtokens
from tallylog.safety.errors import ErrorOut

LANG_CODES = {"zh_hans": "zh-hans", "zh_hant": "zh-hant", "en": "en"}
ERRORS: dict[int, Any] = {400: ErrorOut, 404: ErrorOut, 413: ErrorOut, 415: ErrorOut, 422: ErrorOut, 429: ErrorOut}
# An Idempotency-Key (draft-ietf-httpapi-idempotency-key-header: a structured-field
# String, so quoted; a bare token is taken too): 16 to 64 URL-safe characters.
_IDEMPOTENCY_KEY = re.compile(r'"(?P<quoted>[A-Za-z0-9._~+/=:-]{16,64})"|(?P<bare>[A-Za-z0-9._~+/=:-]{16,64})')
_KEY_SCOPE = "api-declare"
MAX_PAGE = 200


router = Router()


def _by_lang(obj: Any, field: str) -> dict[str, str]:
    return {LANG_CODES[s]: getattr(obj, f"{field}_{s}") for s in LANGS}


def _campaign(slug: str, *, declarations: bool = False) -> Campaign:
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        raise ApiError(404, "unknown_campaign", f"No campaign {slug!r}.")
    if declarations and campaign.kind != Campaign.Kind.DECLARATION:
        raise ApiError(404, "unknown_campaign", f"Campaign {slug!r} takes no declarations.")
    return campaign


def declaration_out(d: Declaration) -> dict[str, Any]:
    entry = d.entry if d.entry is not None and d.entry.log_index is not None else None  # None: not sequenced
    return {
        "id": d.pk if d.legacy_url else None,
        "campaign": d.campaign.slug,
        "alias": d.alias,
        "statement": d.statement,
        "region": d.region,
        "orgs": list(d.orgs),
        "channel": d.channel,
        "day": entry.day if entry else None,
        "index": entry.log_index if entry else None,
        "redacted": d.is_redacted,
        "redacted_by": d.redacted_by or None,
        "redaction_reason": d.redaction_reason or None,
        "leaf": bytes(entry.leaf).decode("utf-8") if entry and entry.leaf is not None else None,
        "salt": bytes(d.salt).hex() if d.salt is not None and not d.is_redacted else None,
    }


@router.get("/log", response={200: LogOut, **ERRORS}, summary="The log: origin, verifier key, size")
def get_log_info(request: HttpRequest) -> dict[str, Any]:
    log = get_log()
    checkpoint = current_checkpoint()
    witnesses = witness_report(checkpoint.text.encode("utf-8") if checkpoint else None, log.verifier_key)
    return {
        "origin": log.origin,
        "verifier_key": log.verifier_key,
        "size": checkpoint.size if checkpoint else 0,
        "checkpoint": checkpoint.text if checkpoint else None,
        "witness_quorum": config().witness_quorum,
        "witnesses": [
            {
                "name": w.name,
                "verifier_key": w.vkey,
                "cosigned_size": w.cosigned_size,
                "behind": w.behind,
                "cosigned_at": w.cosigned_at,
                "on_checkpoint": w.on_checkpoint,
                "last_error": w.last_error,
            }
            for w in witnesses
        ],
    }


@router.get("/campaigns", response={200: list[CampaignOut], **ERRORS}, summary="Active campaigns")
def list_campaigns(request: HttpRequest) -> list[dict[str, Any]]:
    campaigns = Campaign.objects.active().prefetch_related("organisations")
    return [
        {
            "slug": c.slug,
            "kind": c.kind,
            "policy": c.policy,
            "is_active": c.is_active,
            "title": _by_lang(c, "title"),
            "text": _by_lang(c, "text"),
            "organisations": [{"code": o.code, "name": _by_lang(o, "name")} for o in c.organisations.all()],
            "target": c.target,
            "closes_at": c.closes_at,
        }
        for c in campaigns
    ]


@router.get("/campaigns/{slug}/tally", response={200: TallyOut, **ERRORS}, summary="A campaign's tally")
def get_tally(request: HttpRequest, slug: str) -> dict[str, Any]:
    campaign = _campaign(slug)
    t = tally(campaign, today=timezone.now().date())
    return {
        "campaign": campaign.slug,
        "total": t.total,
        "by_org": t.by_org,
        "by_channel": t.by_channel,
        "today": t.today,
        "this_week": t.this_week,
        "by_day": [{"day": d, "count": n} for d, n in t.by_day],
        "milestones": [
            {"threshold": m.threshold, "reached_at": m.reached_at, "tree_size": m.tree_size, "checkpoint": m.checkpoint}
            for m in t.milestones
        ],
    }


@router.post(
    "/campaigns/{slug}/declarations",
    response={200: SubmittedOut, 201: SubmittedOut, **ERRORS, 409: ErrorOut},
    summary="Declare (the receipt code in the answer is never shown again)",
)
def post_declaration(request: HttpRequest, slug: str, payload: DeclarationIn) -> HttpResponse:
    # The hot path: the campaign and its organisation codes from this process's cache
    # (at most a second old; see tallylog.registry.campaigns.models.cached_campaign).
    cached = cached_campaign(slug)
    if cached is None:
        raise ApiError(404, "unknown_campaign", f"No campaign {slug!r}.")
    campaign = cached.campaign
    if campaign.kind != Campaign.Kind.DECLARATION:
        raise ApiError(404, "unknown_campaign", f"Campaign {slug!r} takes no declarations.")
    key = _idempotency_key(request)
    if key:
        # The key counts with what it was sent with: the same key with another declaration
        # (or campaign) is another request, which never finds the first one's code.
        key = f"{key}\x00{slug}\x00{_fingerprint(payload)}"
    code = receipt_code_for_token(f"api\x00{key}") if key else None

    def declare() -> tuple[Declaration, str]:
        submission = submit_declaration(
            campaign,
            channel=Channel.API,
            alias=payload.alias,
            orgs=payload.orgs,
            statement=payload.statement,
            region=payload.region,
            known_orgs=cached.org_codes,
            receipt_code=code,
        )
        return submission.declaration, submission.receipt_code

    def find() -> tuple[Declaration, str] | None:
        found = find_by_receipt(code) if code else None
        return (found, code) if found is not None and code else None

    sent = formtokens.send_once(
        _KEY_SCOPE,
        key or "",
        make=declare,
        find=find,
        recent=lambda found: made_within(found[0], formtokens.REPLAY_SECONDS),
    )
    if sent.outcome is formtokens.Outcome.IN_FLIGHT:
        raise ApiError(409, "in_flight", "A declaration with this Idempotency-Key is still being saved: send it again in a few seconds.")
    if sent.outcome is formtokens.Outcome.TOO_LATE or sent.result is None:
        raise ApiError(422, "idempotency_key_used", "This Idempotency-Key was used more than 30 minutes ago: its answer is not given again.")
    declaration, receipt = sent.result
    return _submitted(request, declaration, receipt, status=201 if sent.outcome is formtokens.Outcome.NEW else 200)


def _fingerprint(payload: DeclarationIn) -> str:
    """SHA-256 of the declaration as sent (its fields in a fixed order)."""
    fields = json.dumps(payload.model_dump(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(fields.encode("utf-8", "surrogatepass")).hexdigest()


def _idempotency_key(request: HttpRequest) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    match = _IDEMPOTENCY_KEY.fullmatch(raw.strip())
    if match is None:
        raise ApiError(
            400,
            "bad_idempotency_key",
            "Idempotency-Key must be 16 to 64 characters of A-Z a-z 0-9 . _ ~ + / = : - (a fresh random value per declaration).",
        )
    return match.group("quoted") or match.group("bare")


def _submitted(request: HttpRequest, d: Declaration, code: str, *, status: int) -> HttpResponse:
    # Rendered directly: the body is SubmittedOut by construction (tests/api checks it
    # against the schema), and re-validating it costs a tenth of the request's CPU. 200
    # (not 201): the answer to a key sent again, nothing new was made.
    index = d.log_index if status == 200 else None
    body = {"id": None, "receipt": code, "status": d.status, "campaign": d.campaign.slug, "index": index}
    return render(request, body, status=status)


@router.get("/campaigns/{slug}/declarations", response={200: DeclarationPage, **ERRORS}, summary="Declarations, newest first")
def list_declarations(
    request: HttpRequest,
    slug: str,
    before: int | None = Query(None, ge=0, description="log index cursor: entries below it"),
    day: datetime.date | None = Query(None, description="UTC day it entered the log"),
    org: str | None = Query(None, max_length=32, description="organisation code"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> dict[str, Any]:
    campaign = _campaign(slug, declarations=True)
    rows = Declaration.objects.listed(campaign).select_related("campaign")
    if org:
        # An unknown code answers at once, naming the known ones (never a walk of the index).
        codes = sorted(campaign.organisations.values_list("code", flat=True))
        if org not in codes:
            message = f"Unknown organisation {org!r}: org must be one of {', '.join(codes)}."
            raise ApiError(400, "unknown_filter", message, {"org": [f"one of {', '.join(codes)}"]})
        rows = rows.with_org(org)
    rows = rows.in_index_range(day, before=before)
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return {
        "items": [declaration_out(d) for d in page],
        "next_before": page[-1].log_index if more else None,
    }


@router.get("/entries/{index}", response={200: DeclarationOut, **ERRORS}, summary="One logged declaration, by log index")
def get_entry(request: HttpRequest, index: int = Path(..., ge=0)) -> dict[str, Any]:
    d = Declaration.objects.visible().select_related("campaign", "entry").filter(entry__log_index=index).first()
    if d is None:
        raise ApiError(404, "unknown_declaration", f"No logged declaration at index {index}.")
    return declaration_out(d)


@router.get(
    "/declarations/{id}",
    response={200: DeclarationOut, **ERRORS},
    summary="One declaration made before issue 15, by its old database id (newer ones: /entries/{index})",
    deprecated=True,
)
def get_declaration(request: HttpRequest, id: int = Path(..., ge=0)) -> dict[str, Any]:
    # Database ids follow the order of submission: only those already public answer.
    d = Declaration.objects.visible().select_related("campaign", "entry").filter(pk=id, legacy_url=True).first()
    if d is None:
        raise ApiError(404, "unknown_declaration", f"No published declaration {id}.")
    return declaration_out(d)


def _receipt(code: str) -> dict[str, Any]:
    d = find_by_receipt(code)
    if d is None:
        raise ApiError(404, "unknown_receipt", "No declaration has this receipt code.")
    proof = entry_proof(d.entry) if d.status == Declaration.Status.PUBLISHED else None
    waiting = d.status == Declaration.Status.PUBLISHED and d.log_index is None
    return {
        "id": d.pk if d.legacy_url else None,
        "campaign": d.campaign.slug,
        "status": d.status,
        "redacted": d.is_redacted,
        "redacted_by": d.redacted_by or None,
        "redaction_reason": d.redaction_reason or None,
        "index": proof.index if proof else None,
        "next_batch_at": next_batch_at() if waiting and publish_interval() else None,
        "leaf": proof.leaf.decode("utf-8") if proof else None,
        "leaf_hash": proof.leaf_hash_b64 if proof else None,
        "inclusion_proof": proof.proof_b64 if proof else [],
        "tree_size": proof.checkpoint.size if proof else None,
        "checkpoint": proof.checkpoint.text if proof else None,
    }


@router.get("/receipts/{code}", response={200: ReceiptOut, **ERRORS}, summary="Find my entry and its inclusion proof")
def get_receipt(request: HttpRequest, code: str) -> dict[str, Any]:
    return _receipt(code)


@router.post(
    "/receipts",
    response={200: ReceiptOut, **ERRORS},
    summary="The same, with the code in the body (it stays out of URLs and access logs)",
)
def post_receipt(request: HttpRequest, payload: ReceiptIn) -> dict[str, Any]:
    return _receipt(payload.code)
