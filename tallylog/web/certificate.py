"""The certificate of declaration (issue 14 §4): a printable page, in Chinese and English
on one A4 sheet, of one logged declaration — alias (or that it was withdrawn),
organisations, day, log index and the checkpoint that covers it — carrying the entry's
C2SP tlog-proof (``tallylog.tlog.proof.format_proof``, the entry in its ``extra`` line)
as a QR code, so that anyone can check it offline with ``tallylog verify-proof``.

- ``GET /certificate/<index>/``: the certificate of the declaration at that log index
  (public: the index, alias and organisations are on the declaration's page already).
- ``POST /certificate/`` with ``code``: from the receipt shown after declaring and from the
  receipt page; the receipt code travels in the body, never in a URL. A logged entry
  covered by the checkpoint redirects to its certificate; otherwise the page says when to
  come back.
"""

from __future__ import annotations

import math
from typing import Any

import segno
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST, require_safe

from tallylog.composition import get_log
from tallylog.config import config
from tallylog.registry.declarations.actions import find_by_receipt
from tallylog.registry.declarations.models import Declaration
from tallylog.registry.entries.published import (
    EntryProof,
    current_checkpoint,
    entry_proof,
)
from tallylog.safety.ratelimit import check_rate
from tallylog.tlog.proof import TlogProof, format_proof
from tallylog.web.flows import private
from tallylog.web.forms import ReceiptForm


def proof_text(proof: EntryProof) -> bytes:
    """The c2sp.org/tlog-proof@v1 of ``proof``'s entry, the entry carried in ``extra``."""
    note = proof.checkpoint.text.encode("utf-8")
    return format_proof(TlogProof(proof.index, tuple(proof.proof), note, proof.leaf))


def qr_svg(data: bytes) -> str:
    """``data`` as a QR code (error correction M, byte mode), an inline SVG element with no
    style attribute and no external reference (the site's CSP allows no inline style)."""
    return str(segno.make(data, error="m", micro=False).svg_inline(scale=2, border=4, omitsize=True))


def _names(d: Declaration, lang: str) -> list[str]:
    return [o.localized("name", lang) for o in d.campaign.organisations.all() if o.code in d.orgs]


@require_safe
def certificate(request: HttpRequest, index: int) -> HttpResponse:
    d = (
        Declaration.objects.published()
        .select_related("campaign", "entry")
        .filter(entry__log_index=index)
        .first()
    )
    if d is None:
        raise Http404("no published declaration at this log index")
    proof = entry_proof(d.entry, current_checkpoint())
    if proof is None:
        return not_yet(request, status=404)
    chinese = "zh-hant" if translation.get_language() == "zh-hant" else "zh-hans"
    text = proof_text(proof)
    context: dict[str, Any] = {
        "d": d,
        "chinese": chinese,
        "orgs_zh": _names(d, chinese),
        "orgs_en": _names(d, "en"),
        "day": d.entry.day.isoformat() if d.entry and d.entry.day else "",
        "proof": proof,
        "proof_text": text.decode("utf-8"),
        "qr": mark_safe(qr_svg(text)),
        "verifier_key": get_log().verifier_key,
    }
    return render(request, "web/certificate.html", context)


def not_yet(request: HttpRequest, *, pending: bool = False, status: int = 200) -> HttpResponse:
    context = {"pending": pending, "interval": max(1, math.ceil(config().sequencer_interval))}  # whole seconds: a plural needs an integer
    return private(render(request, "web/certificate_wait.html", context, status=status))


@require_POST
def certificate_by_receipt(request: HttpRequest) -> HttpResponse:
    check_rate(request, "receipt")
    form = ReceiptForm(request.POST)
    found = find_by_receipt(form.cleaned_data["code"]) if form.is_valid() else None
    if found is None:
        return private(render(request, "web/receipt.html", {"form": form, "verifier_key": get_log().verifier_key}, status=404))
    if found.status != Declaration.Status.PUBLISHED:
        return not_yet(request, pending=found.status == Declaration.Status.PENDING)
    proof = entry_proof(found.entry, current_checkpoint())
    if proof is None:
        return not_yet(request)
    return HttpResponseRedirect(reverse("web:certificate", args=[proof.index]), status=303)
