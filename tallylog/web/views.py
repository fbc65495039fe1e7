"""The public read-only pages: home (the tally), declarations list, one declaration,
transparency; plus the stylesheet and the language switch.

Views stay thin: campaign lookups come from ``tallylog.web.public``, proofs from
``tallylog.registry.entries.published``, counts from ``tallylog.registry.entries.tally``,
lists from the declaration queryset methods.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_safe

from tallylog import leaf
from tallylog.composition import get_log
from tallylog.config import config
from tallylog.registry.declarations.models import (
    Channel,
    Declaration,
    RedactedBy,
    RedactionReason,
)
from tallylog.registry.entries.cosigning import witness_report
from tallylog.registry.entries.published import CheckpointInfo, entry_proof
from tallylog.registry.entries.schedule import next_batch_at, publish_interval
from tallylog.registry.entries.tally import sequencing_lag, tally
from tallylog.web import assets, charts
from tallylog.web.forms import ListFilterForm
from tallylog.web.public import campaign_or_404, page_checkpoint, region_name
from tallylog.web.tools import TOOLS_DIR, tool_wheel

CHART_DAYS = 30
# How commands on a static copy name the log: the copy's own address is not known.
MIRROR_LOG_URL = "MIRROR/log/"


def log_url(request: HttpRequest) -> str:
    """The log's address for the commands a page shows (the Host header is checked
    against ALLOWED_HOSTS); a placeholder in a static export."""
    if getattr(request, "tallylog_export", None) is not None:
        return MIRROR_LOG_URL
    return request.build_absolute_uri("/log/")
PAGE_SIZE = 50


def channel_name(code: str) -> str:
    """How an entry arrived, in the reader's language (``web``, ``phone``, ``email`` …)."""
    try:
        return str(Channel(code).label)
    except ValueError:
        return code


def channel_counts(by_channel: dict[str, int]) -> list[tuple[str, int]]:
    """Every channel, each counted apart, in the reader's language: the most entries first,
    then ``Channel``'s order; none yet shows 0 (so a reader sees the channel exists and
    brought nothing); a code the site does not know (an imported row's) by its name."""
    order = {code: position for position, code in enumerate(Channel.values)}
    counts = {code: 0 for code in Channel.values} | by_channel
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)), kv[0]))
    return [(channel_name(code), n) for code, n in ranked]


def _org_names(campaign: Any) -> tuple[list[Any], dict[str, str]]:
    lang = translation.get_language()
    organisations = list(campaign.organisations.all())
    return organisations, {o.code: o.localized("name", lang) for o in organisations}


def daily_points(by_day: list[tuple[datetime.date, int]], today: datetime.date, days: int = CHART_DAYS) -> list[tuple[str, int]]:
    """The last ``days`` UTC days up to ``today`` as ``("MM-DD", count)``, zero-filled."""
    counts = dict(by_day)
    first = today - datetime.timedelta(days=days - 1)
    return [
        ((first + datetime.timedelta(days=i)).strftime("%m-%d"), counts.get(first + datetime.timedelta(days=i), 0))
        for i in range(days)
    ]


@require_safe
def home(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    campaign = campaign_or_404(slug)
    lang = translation.get_language()
    today = timezone.now().date()
    counts = tally(campaign, today=today)
    organisations, names = _org_names(campaign)
    chart = charts.bar_chart(
        daily_points(counts.by_day, today),
        label=_("Declarations per day, last %(n)d days (UTC)") % {"n": CHART_DAYS},
    )
    return render(
        request,
        "web/home.html",
        {
            "campaign": campaign,
            "title": campaign.localized("title", lang),
            "text": campaign.localized("text", lang),
            "tally": counts,
            "org_rows": [(o.code, names[o.code], counts.by_org.get(o.code, 0)) for o in organisations],
            "chart": chart,
        },
    )


@require_safe
def declarations(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """Newest first, keyset-paginated on the log index (``?before=N`` / ``?after=N``),
    filtered by UTC day and organisation. Three queries whatever the page."""
    campaign = campaign_or_404(slug)
    organisations, names = _org_names(campaign)
    form = ListFilterForm(organisations, request.GET or None)
    rows = Declaration.objects.listed(campaign)
    filters: dict[str, str] = {}
    day: datetime.date | None = None
    if form.is_bound and not form.is_valid():
        rows = rows.none()
    elif form.is_bound:
        if form.cleaned_data["day"]:
            day = form.cleaned_data["day"]
            filters["day"] = day.isoformat()
        if form.cleaned_data["org"]:
            rows = rows.with_org(form.cleaned_data["org"])
            filters["org"] = form.cleaned_data["org"]
    before = _cursor(request.GET.get("before"))
    after = _cursor(request.GET.get("after"))
    rows = rows.in_index_range(day, before=before if after is None else None, after=after)
    if after is not None:
        page = list(rows.order_by("entry__log_index").values_list(*LIST_FIELDS)[: PAGE_SIZE + 1])
        has_newer = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE][::-1]
        has_older = bool(page)  # we came from an older page
    else:
        page = list(rows.values_list(*LIST_FIELDS)[: PAGE_SIZE + 1])
        has_older = len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
        has_newer = before is not None and bool(page)
    lang = translation.get_language()
    detail = reverse("web:declaration", args=[0])[: -len("0/")]  # one reverse, not one per row
    items = [_list_item(row, names, lang, f"{detail}{row[-1]}/") for row in page]
    return render(
        request,
        "web/declarations.html",
        {
            "campaign": campaign,
            "form": form,
            "items": items,
            "labels": entry_labels(),
            "filters": filters,
            "older": page[-1][-1] if has_older and page else None,
            "newer": page[0][-1] if has_newer and page else None,
        },
    )


# What a list row shows, read as tuples (no model instances: a third of the page's CPU).
LIST_FIELDS = (
    "pk", "alias", "statement", "region", "orgs", "redacted_at", "redacted_by", "redaction_reason",
    "entry__day", "entry__log_index",
)
ListRow = tuple[int, str, str, str, list[str], Any, str, str, Any, Any]


def _cursor(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


# How a language joins the names of a list: 中共、共青团 but "the Party, the League".
LIST_SEPARATOR = {"zh-hans": "、", "zh-hant": "、"}


def _list_item(row: ListRow, names: dict[str, str], lang: str, url: str = "") -> dict[str, Any]:
    """One entry (a ``LIST_FIELDS`` tuple) as the templates show it, formatted here once
    (the day as ``YYYY-MM-DD``), not per row by template filters."""
    pk, alias, statement, region, orgs, redacted_at, redacted_by, reason, day, index = row
    return {
        "id": pk,
        "url": url,
        "alias": alias,
        "statement": statement,
        "region": region_name(region, lang) if region else "",
        # In the campaign's order of organisations, not the leaf's alphabetical one.
        "orgs": [name for code, name in names.items() if code in orgs],
        "orgs_text": LIST_SEPARATOR.get(lang, ", ").join(name for code, name in names.items() if code in orgs),
        "day": day.isoformat() if day else "",
        "index": index,
        "redacted": redacted_at is not None,
        # Who removed the content, and a moderator's reason category (a key of the labels).
        "removed": ("moderator:" + reason) if redacted_by == RedactedBy.MODERATOR else "withdrawn",
    }


def _row(d: Declaration) -> ListRow:
    """A declaration as the ``LIST_FIELDS`` tuple a list reads."""
    entry = d.entry
    return (d.pk, d.alias, d.statement, d.region, d.orgs, d.redacted_at, d.redacted_by, d.redaction_reason,
            entry.day if entry else None, entry.log_index if entry else None)


def entry_labels() -> dict[str, str]:
    """The fixed words of an entry (``web/_entry.html``), translated once per page rather
    than once per row of a list."""
    return {
        "withdrawn": _(
            "Withdrawn by request: the declarant removed the alias and statement. "
            "The entry stays in the log and in the count."
        ),
        **{
            f"moderator:{reason}": _(
                "Removed by a moderator (%(reason)s): the alias and statement are no longer shown. "
                "The entry stays in the log and in the count."
            )
            % {"reason": label}
            for reason, label in [("", _("other")), *RedactionReason.choices]
        },
        # A full-width colon carries its own space; an ASCII one needs one after it.
        "withdraws_from": withdraws if (withdraws := _("Withdraws from:")).endswith("：") else withdraws + " ",
        # The word before an entry's public number (its log index), as in "Declaration %(n)s".
        "declaration": pgettext("before the number of a declaration", "Declaration"),
    }


@require_safe
def declaration(request: HttpRequest, index: int) -> HttpResponse:
    """One published declaration, by its log index (its public id: the database id follows
    the order of submission, the index only that of the batch), its leaf and salt, and its
    inclusion proof."""
    d = Declaration.objects.visible().select_related("campaign", "entry").filter(entry__log_index=index).first()
    if d is None:
        raise Http404("no such published declaration")
    context = declaration_context(d, page_checkpoint(request))
    context["log_url"] = log_url(request)
    return render(request, "web/declaration.html", context)


@require_safe
def legacy_declaration(request: HttpRequest, pk: int) -> HttpResponse:
    """The old URL of a declaration made before issue 15 (by database id): a permanent
    redirect to its log-index URL. Later declarations have no URL by id (404)."""
    index = (
        Declaration.objects.visible().filter(pk=pk, legacy_url=True).values_list("entry__log_index", flat=True).first()
    )
    if index is None:
        raise Http404("no such published declaration")
    return redirect("web:declaration", index, permanent=True)


def declaration_context(d: Declaration, checkpoint: CheckpointInfo | None) -> dict[str, Any]:
    """What a declaration page shows (also used for a receipt that was found)."""
    lang = translation.get_language()
    _, names = _org_names(d.campaign)
    content = None
    if not d.is_redacted and d.salt is not None:
        content = leaf.canonical_json(d.public_content()).decode("utf-8")
    log = get_log()
    return {
        "verifier_key": log.verifier_key,
        "d": d,
        "item": _list_item(_row(d), names, lang),
        "labels": entry_labels(),
        "campaign_title": d.campaign.localized("title", lang),
        "proof": entry_proof(d.entry, checkpoint),
        "salt": bytes(d.salt).hex() if d.salt is not None and not d.is_redacted else "",
        "content": content,
        # Not yet logged: when the next batch is published (None: no schedule).
        "next_batch": next_batch_at() if publish_interval() and d.log_index is None else None,
        "batch_minutes": max(1, publish_interval() // 60),
    }


@require_safe
def transparency(request: HttpRequest) -> HttpResponse:
    log = get_log()
    campaign = campaign_or_404(None)
    counts = tally(campaign)
    channels = channel_counts(counts.by_channel)
    lag = sequencing_lag()
    checkpoint = page_checkpoint(request)
    witnesses = witness_report(checkpoint.text.encode("utf-8") if checkpoint else None, log.verifier_key)
    tools = tool_wheel()
    return render(
        request,
        "web/transparency.html",
        {
            "log_url": log_url(request),
            # The auditor's tools, served by this site (and written into mirrors) at /log/tools/.
            "tools": tools,
            "tools_path": f"{TOOLS_DIR}/{tools.name}",
            "tools_url": f"{log_url(request)}{TOOLS_DIR}/{tools.name}",
            "origin": log.origin,
            "verifier_key": log.verifier_key,
            "checkpoint": checkpoint,
            "witnesses": witnesses,
            "quorum": min(config().witness_quorum, len(witnesses)) if witnesses else 0,
            "campaign": campaign,
            "tally": counts,
            "channels": channels,
            "lag": lag,
            "lag_seconds": int(lag.oldest_waiting.total_seconds()) if lag.oldest_waiting else 0,
            # Batches: neither how many entries wait nor since when (they follow submissions).
            "next_batch": next_batch_at() if publish_interval() else None,
            "batch_minutes": max(1, publish_interval() // 60),
        },
    )


@require_safe
def stylesheet(request: HttpRequest) -> HttpResponse:
    """The site's one stylesheet; immutable when asked for by its versioned URL."""
    data, digest = assets.stylesheet()
    response = HttpResponse(data, content_type="text/css; charset=utf-8")
    if request.GET.get("v") == digest:
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response["Cache-Control"] = "public, max-age=300"
    return response


@require_safe
def script(request: HttpRequest, name: str) -> HttpResponse:
    """A first-party script (``assets.SCRIPTS``); immutable when asked for by its versioned URL."""
    try:
        data, digest = assets.script(name)
    except KeyError:
        raise Http404("no such script") from None
    response = HttpResponse(data, content_type="text/javascript; charset=utf-8")
    immutable = request.GET.get("v") == digest
    response["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "public, max-age=300"
    return response


@require_safe
def verify(request: HttpRequest) -> HttpResponse:
    """Check a receipt in the browser (issue 14 §3): the page carries the log's address
    (``data-log``, made relative by the static export), its verifier key and the witness
    policy; ``verify.js`` does the rest without sending the code anywhere."""
    return verify_page(request, get_log().verifier_key)


def verify_page(request: HttpRequest, verifier_key: str) -> HttpResponse:
    """The /verify/ page for the log signed by ``verifier_key``."""
    witnesses, quorum = witness_policy()
    context = {"verifier_key": verifier_key, "witnesses": json.dumps(witnesses), "quorum": quorum}
    return render(request, "web/verify.html", context)


def witness_policy() -> tuple[list[str], int]:
    """The witnesses' verifier keys (``name+hexid+base64(0x04‖key)``) whose cosignatures the
    browser check requires, and how many of them (the quorum). None yet: the sequencer's
    witnesses (issue 14 §1, branch witnessint) fill this in."""
    return [], 0


@require_safe
def set_language(request: HttpRequest, code: str) -> HttpResponse:
    """Remember the reader's language in a cookie and go back to ``?next=`` (a link, so it
    works without JavaScript and sets no cookie until a reader asks for it)."""
    if code not in dict(settings.LANGUAGES):
        raise Http404("unknown language")
    target = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=None, require_https=False) or not target.startswith("/"):
        target = "/"
    response = HttpResponseRedirect(target)
    response.set_cookie(  # until the browser closes (no max_age): a seized phone keeps no trace
        settings.LANGUAGE_COOKIE_NAME,
        code,
        samesite="Lax",
        httponly=True,
        secure=request.is_secure(),
    )
    response["Cache-Control"] = "no-store"
    return response
