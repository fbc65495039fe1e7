"""Petition pages: the list, one petition (with its signing form), confirmation, CSV.

Mounted at /petitions/ by tallylog/urls.py; URL names in the ``petitions`` namespace.
"""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.entries.models import Milestone
from tallylog.registry.petitions import actions
from tallylog.registry.petitions.countries import country_name
from tallylog.registry.petitions.models import Petition, Signature, is_open, petition_summary
from tallylog.safety.ratelimit import check_rate
from tallylog.web.charts import hbar_chart
from tallylog.web.forms import SignatureForm, add_registry_errors

RECENT = 10
CHART_ROWS = 15


def petition_list(request: HttpRequest) -> HttpResponse:
    petitions = Campaign.objects.petitions().active().order_by("-id")
    return render(request, "petitions/list.html", {"petitions": petitions})


def _page(
    request: HttpRequest, campaign: Campaign, form: SignatureForm, status: int = 200, *, not_sent: bool = False
) -> HttpResponse:
    summary = petition_summary(campaign)
    language = get_language()
    rows = [(code, country_name(code, language), n) for code, n in summary["by_country"]]
    context = {
        "campaign": campaign,
        "title": campaign.localized("title", language),
        "text": campaign.localized("text", language),
        "open": is_open(campaign),
        "require_confirmation": Petition.options_for(campaign).require_confirmation,
        "form": form,
        "recent": [
            (s.name, country_name(s.country, language), s.counted_at)
            for s in Signature.objects.for_campaign(campaign).recent_public()[:RECENT]
        ],
        "countries": rows,
        "chart": hbar_chart([(name, n) for _code, name, n in rows[:CHART_ROWS]], label=_("Signatures by country or region"))
        if rows else "",
        "milestones": Milestone.objects.filter(campaign=campaign).order_by("threshold"),
        "not_sent": not_sent,
        **summary,
    }
    return render(request, "petitions/detail.html", context, status=status)


def _petition(slug: str) -> Campaign:
    return get_object_or_404(Campaign.objects.petitions(), slug=slug)


@require_http_methods(["GET", "HEAD", "POST"])
def petition_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _petition(slug)
    if request.method != "POST":
        return _page(request, campaign, SignatureForm())
    form = SignatureForm(request.POST)
    if not form.is_valid():
        return _page(request, campaign, form, status=400)
    email = form.cleaned_data["email"]
    check_rate(request, "sign", campaign.slug, subject=email.lower() if email else None)
    try:
        signed = actions.sign_petition(
            campaign,
            name=form.cleaned_data["name"],
            show_name=form.cleaned_data["show_name"],
            country=form.cleaned_data["country"],
            email=form.cleaned_data["email"],
            channel="web",
            language=get_language(),
        )
    except actions.SignatureInvalid as exc:
        add_registry_errors(form, exc.errors)
        return _page(request, campaign, form, status=503 if exc.code == "mail_failed" else 400)
    return _signed_page(request, signed)


def sign_again(request: HttpRequest, slug: str, *, status: int) -> HttpResponse:
    """The petition's page with its signing form filled in with what ``request`` POSTed
    and a note saying it was not sent yet: the page of a failed CSRF check
    (``tallylog.web.csrf``). Nothing is validated or saved."""
    initial: dict[str, str | bool] = {name: request.POST.get(name, "") for name in ("name", "country", "email")}
    initial["show_name"] = bool(request.POST.get("show_name"))
    response = _page(request, _petition(slug), SignatureForm(initial=initial), status, not_sent=True)
    response["Cache-Control"] = "no-store, private"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; POST counts the signature. A GET never changes anything, so a
    mail scanner that follows the link neither confirms nor sees the receipt code."""
    if request.method != "POST":
        return render(request, "petitions/confirm.html", {"token": token})
    try:
        signed = actions.confirm_signature(token)
    except actions.ConfirmationInvalid as exc:
        status = 409 if exc.code == "replayed" else 410 if exc.code in ("expired", "unknown", "closed") else 400
        return render(request, "petitions/confirm.html", {"error": str(exc), "code": exc.code}, status=status)
    return _signed_page(request, signed)


def _signed_page(request: HttpRequest, signed: actions.Signed) -> HttpResponse:
    campaign = signed.signature.campaign
    response = render(request, "petitions/signed.html", {
        "campaign": campaign, "title": campaign.localized("title", get_language()),
        "receipt_code": signed.receipt_code, "signature": signed.signature,
    })
    response["Cache-Control"] = "no-store"  # the receipt code is shown once
    return response


@staff_member_required
def signatures_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """The counted signatures as CSV, for operators delivering the petition."""
    campaign = _petition(slug)
    response = StreamingHttpResponse(actions.signatures_csv(campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{campaign.slug}-signatures.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


app_name = "petitions"
urlpatterns = [
    path("", petition_list, name="list"),
    path("confirm/<str:token>/", confirm, name="confirm"),
    path("<slug:slug>/", petition_detail, name="detail"),
    path("<slug:slug>/signatures.csv", signatures_csv, name="csv"),
]
