"""The page a failed CSRF check shows (``CSRF_FAILURE_VIEW``), instead of Django's raw 403.

Behind a censor, Django's "禁止访问" (Forbidden) page in English markup reads as a
firewall block, and what the reader typed is gone. A CSRF check fails when the form
outlived its token (a page left open, a browser restored from a saved session) or when
the browser blocks cookies. This page says so in the reader's language
(``LocaleMiddleware`` ran before the check) and, for the two forms a member of the public
fills in — declare and sign a petition — shows the form again, filled in with what was
sent and carrying a fresh token, so that one more click sends it. Nothing was saved.
Everywhere else (the console, the admin, other forms) it explains, and links back.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from tallylog.web import flows, petitions

STATUS = 403


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: the form again with what was typed (declare, sign a
    petition), else a plain explanation; both in the reader's language, status 403,
    never cached. ``reason`` (Django's, in English) is not shown."""
    if request.method == "POST":
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        if match is not None and match.view_name in ("web:declare", "web:campaign_declare"):
            return flows.declare_again(request, match.kwargs.get("slug"), status=STATUS)
        if match is not None and match.view_name == "petitions:detail":
            return petitions.sign_again(request, match.kwargs["slug"], status=STATUS)
    response = render(
        request,
        "error_page.html",
        {"title": _("The form could not be sent"), "message": explanation()},
        status=STATUS,
    )
    return flows.private(response)


def explanation() -> str:
    """Why the check failed, and what to do: in the active language."""
    return _(
        "Nothing was saved. The page had been open too long, or your browser blocks "
        "cookies for this site, so the site could not tell that the form came from this "
        "page. Go back, reload the page and send it again. If it happens again, allow "
        "cookies for this site: they last only until you close the browser."
    )
