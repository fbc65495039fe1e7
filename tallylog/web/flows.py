"""The public pages that take input: declare, check my receipt, withdraw my content.

The receipt code never touches the server's storage in clear: the declare POST renders
it directly (``Cache-Control: no-store``) instead of keeping it in the session for a
redirect, and lookups send it in a POST body, never in a URL that could be logged.
A one-time form token stops a refreshed or re-sent form from declaring twice, and gives
the receipt codes (one per member of a family declaring in one form): the form sent again
within the window (a lost response, a double click) shows the same codes again, made again
from the token and each member's position (``tallylog.safety.formtokens``).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from tallylog.composition import get_log
from tallylog.registry.declarations.actions import (
    FAMILY_MAX,
    FamilyInvalid,
    find_by_receipt,
    find_family_by_receipts,
    made_within,
    receipt_code_for_token,
    redact,
    submit_family,
)
from tallylog.registry.declarations.models import Channel, Declaration
from tallylog.registry.entries.published import current_checkpoint
from tallylog.safety import familyforms, formtokens
from tallylog.safety.ratelimit import check_rate
from tallylog.web.forms import (
    DeclarationForm,
    ReceiptForm,
    WithdrawForm,
    add_registry_errors,
)
from tallylog.web.public import campaign_or_404
from tallylog.web.views import declaration_context

_TOKEN_SCOPE = "declare"


def private(response: HttpResponse) -> HttpResponse:
    """Never cached by the browser or any proxy (``Cache-Control: no-store`` and friends)."""
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    return response


def _member_forms(campaign: Any, organisations: list[Any]) -> familyforms.MakeForm[DeclarationForm]:
    """How the declare page makes one member's form (``tallylog.safety.familyforms``)."""

    def make(prefix: str | None, data: Any, initial: Any) -> DeclarationForm:
        return DeclarationForm(campaign, organisations, data, prefix=prefix, initial=initial)

    return make


@require_http_methods(["GET", "HEAD", "POST"])
def declare(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """The declare form: one person, or several members of a family (``Add a family
    member``, without JavaScript: the page comes back with one row more). Each member
    becomes a declaration of their own with their own receipt code
    (``submit_family``); the form's token gives the codes, so the same form sent again
    shows the same codes and declares nobody twice."""
    campaign = campaign_or_404(slug)
    organisations = list(campaign.organisations.all())
    lang = translation.get_language()
    context: dict[str, Any] = {"campaign": campaign, "title": campaign.localized("title", lang)}
    make = _member_forms(campaign, organisations)
    if request.method != "POST":
        return _declare_page(request, familyforms.family_forms(make, None, max_members=FAMILY_MAX), context)
    family = familyforms.family_forms(make, request.POST, max_members=FAMILY_MAX)
    if family.editing:
        if request.POST.get(familyforms.ACTION) == familyforms.ADD and not family.errors:
            family.forms[-1].fields["alias"].widget.attrs["autofocus"] = True  # type the new member's alias next
        return _declare_page(request, family, context, status=400 if family.errors else 200)
    if not family.is_valid():
        return _declare_page(request, family, context)
    filled = family.filled()
    for _member in filled:  # each member counts against the limits, as one declaration
        check_rate(request, "declare", campaign.slug)
    members = [
        {
            "alias": form.cleaned_data["alias"],
            "orgs": list(form.cleaned_data["orgs"]),
            "statement": form.cleaned_data["statement"],
            "region": form.cleaned_data["region"],
        }
        for form in filled
    ]
    token = request.POST.get("token", "")
    if not formtokens.ours(token):
        token = ""  # not one of ours: no check, fresh codes
    codes = [receipt_code_for_token(token, position) for position in range(len(members))] if token else None

    def declare() -> list[tuple[str, Declaration]]:
        submissions = submit_family(campaign, members, channel=Channel.WEB, receipt_codes=codes)
        return [(s.receipt_code, s.declaration) for s in submissions]

    try:
        sent = formtokens.send_once(
            _TOKEN_SCOPE,
            token,
            make=declare,
            find=lambda: find_family_by_receipts(codes or []) or None,
            recent=lambda found: all(made_within(d, formtokens.REPLAY_SECONDS) for _code, d in found),
        )
    except FamilyInvalid as exc:
        family.errors += [m for messages in exc.errors.values() for m in messages]
        for position, errors in exc.members.items():
            add_registry_errors(filled[position], errors)
        return _declare_page(request, family, context)
    if sent.result is None:
        in_flight = sent.outcome is formtokens.Outcome.IN_FLIGHT
        context.update({"in_flight": in_flight, "replay_minutes": formtokens.REPLAY_SECONDS // 60})
        return private(render(request, "web/declare_sent.html", context))
    return _receipt_page(request, context, sent.result, again=sent.outcome is formtokens.Outcome.AGAIN)


def _receipt_page(
    request: HttpRequest,
    context: dict[str, Any],
    receipts: list[tuple[str, Declaration]],
    *,
    again: bool = False,
) -> HttpResponse:
    """The receipt codes, once, each with the alias it belongs to (``again``: the same
    form was sent again within the window)."""
    context = {
        **context,
        "receipts": receipts,
        "pending": any(d.status == Declaration.Status.PENDING for _code, d in receipts),
        "again": again,
        "replay_minutes": formtokens.REPLAY_SECONDS // 60,
    }
    return private(render(request, "web/receipt_once.html", context))


def _declare_page(
    request: HttpRequest,
    family: familyforms.Family[DeclarationForm],
    context: dict[str, Any],
    status: int | None = None,
) -> HttpResponse:
    context = {
        **context,
        "family": family,
        "members_max": FAMILY_MAX,
        "token": formtokens.new_token(),
    }
    if status is None:
        status = 400 if family.has_errors else 200
    return private(render(request, "web/declare.html", context, status=status))


def declare_again(request: HttpRequest, slug: str | None, *, status: int) -> HttpResponse:
    """The declare form filled in with what ``request`` POSTed (every member), with a fresh
    one-time token and a note saying it was not sent yet: the page of a failed CSRF
    check (``tallylog.web.csrf``). Nothing is validated or saved."""
    campaign = campaign_or_404(slug)
    organisations = list(campaign.organisations.all())
    lang = translation.get_language()
    family = familyforms.family_again(_member_forms(campaign, organisations), request.POST, max_members=FAMILY_MAX)
    context = {"campaign": campaign, "title": campaign.localized("title", lang), "not_sent": True}
    return _declare_page(request, family, context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def receipt(request: HttpRequest) -> HttpResponse:
    """Check my receipt: the code goes in a POST body; the answer is never cached."""
    context: dict[str, Any] = {"verifier_key": get_log().verifier_key}
    if request.method != "POST":
        context["form"] = ReceiptForm()
        return private(render(request, "web/receipt.html", context))
    check_rate(request, "receipt")
    form = ReceiptForm(request.POST)
    context["form"] = form
    status = 400
    if form.is_valid():
        found = find_by_receipt(form.cleaned_data["code"])
        if found is None:
            form.add_error("code", _no_such_receipt())
        else:
            status = 200
            context.update(declaration_context(found, current_checkpoint()))
            context["found"] = found
    return private(render(request, "web/receipt.html", context, status=status))


def _no_such_receipt() -> str:
    from django.utils.translation import gettext as _

    return _("No declaration has this receipt code. Check the digits and try again.")


@require_http_methods(["GET", "HEAD", "POST"])
def withdraw(request: HttpRequest) -> HttpResponse:
    """Withdraw my content, in two steps: the code, then a confirmation.

    The leaf and the count stay; alias, statement and region leave every public page
    (``tallylog.registry.declarations.actions.redact``).
    """
    if request.method != "POST":
        return private(render(request, "web/withdraw.html", {"form": ReceiptForm(), "step": "code"}))
    check_rate(request, "receipt")
    confirming = request.POST.get("step") == "confirm"
    form: ReceiptForm = WithdrawForm(request.POST) if confirming else ReceiptForm(request.POST)
    context: dict[str, Any] = {"form": form, "step": "confirm" if confirming else "code"}
    if not form.is_valid():
        if confirming and "code" in form.errors:
            context["step"] = "code"
        context.update(_found_context(form))
        return private(render(request, "web/withdraw.html", context, status=400))
    found = find_by_receipt(form.cleaned_data["code"])
    if found is None or found.status == Declaration.Status.REJECTED:
        form.add_error("code", _no_such_receipt())
        context["step"] = "code"
        return private(render(request, "web/withdraw.html", context, status=400))
    if not confirming:
        context.update({"step": "confirm", "found": found, "code": form.cleaned_data["code"]})
        context["form"] = WithdrawForm(initial={"code": form.cleaned_data["code"]})
        return private(render(request, "web/withdraw.html", context))
    redact(found, by="declarant")
    context.update({"step": "done", "found": found})
    return private(render(request, "web/withdraw.html", context))


def _found_context(form: ReceiptForm) -> dict[str, Any]:
    """On a failed confirmation, show again what would be withdrawn."""
    code = form.cleaned_data.get("code") if hasattr(form, "cleaned_data") else None
    if not code:
        return {}
    found = find_by_receipt(code)
    return {"found": found, "code": code} if found is not None else {}
