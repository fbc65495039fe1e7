"""The safety middleware: client address hidden at the door, rate limits, security headers.

For every request, before any view runs:

1. the client address is replaced by its keyed hash (``hide_client_address``), so no view,
   log record or error report can store it; a request whose target (path and query) is
   over ``MAX_TARGET`` gets a 414 at once;
2. a same-origin form post whose ``Origin`` the browser blanked to ``null`` gets its
   real origin back (``repair_null_origin``), so Django's CSRF check can pass;
3. requests matching ``RATE_RULES`` (API writes and receipt lookups, staff sign-in) are
   counted by ``check_rate``; views call ``check_rate`` themselves for the rest (the web
   declare form, the receipt page). ``RateLimited`` raised by any view becomes a 429.

Every response then gets the headers of ``security_headers``: a strict
Content-Security-Policy (no inline script or style, nothing from another origin, no
framing), ``Referrer-Policy: no-referrer`` (``same-origin`` on pages with a form, see
``referrer_policy``), ``Permissions-Policy`` with every feature off,
``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, COOP, CORP, and HSTS when
the request came over HTTPS (``TALLYLOG_HSTS_SECONDS``, default one year; 0 disables).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tallylog.config import config
from tallylog.registry.keyed import one_key_per_request
from tallylog.safety.errors import error_response as json_error_response
from tallylog.safety.logins import LOGIN_PATH, check_login
from tallylog.safety.ratelimit import RateLimited, check_rate, hide_client_address

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

# Every powerful feature a page could ask for, all denied (W3C Permissions Policy).
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "ambient-light-sensor",
        "autoplay",
        "bluetooth",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "identity-credentials-get",
        "idle-detection",
        "interest-cohort",
        "local-fonts",
        "magnetometer",
        "microphone",
        "midi",
        "otp-credentials",
        "payment",
        "picture-in-picture",
        "publickey-credentials-create",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "storage-access",
        "usb",
        "web-share",
        "window-management",
        "xr-spatial-tracking",
    )
)

# (methods, path pattern, scope, campaign group): requests the middleware itself limits.
RATE_RULES: tuple[tuple[frozenset[str], re.Pattern[str], str, str | None], ...] = (
    (frozenset({"POST"}), re.compile(r"^/api/v1/campaigns/(?P<campaign>[^/]+)/declarations/?$"), "declare", "campaign"),
    (frozenset({"GET", "POST"}), re.compile(r"^/api/v1/receipts(?:/|$)"), "receipt", None),
    (frozenset({"POST", "PUT", "PATCH", "DELETE"}), re.compile(r"^/api/"), "api-write", None),
)


def referrer_policy(response: HttpResponse) -> str:
    """``no-referrer``, except ``same-origin`` on a page that holds a CSRF-protected form.

    Under ``no-referrer`` a browser sends ``Origin: null`` (and no ``Referer``) when such a
    form is submitted (Fetch, "serializing a request origin"), which Django's CSRF check
    must refuse. ``same-origin`` sends the page's origin to this site only and nothing to
    any other: no other site learns more. A page holds a form when it used Django's CSRF
    token while rendering, which makes Django send the CSRF cookie with it.
    """
    if settings.CSRF_COOKIE_NAME in response.cookies:
        return "same-origin"
    return "no-referrer"


def repair_null_origin(request: HttpRequest) -> None:
    """Restore the real ``Origin`` of a same-origin form post that arrived as ``null``.

    A page whose own markup asks for ``no-referrer`` (``<meta name="referrer">``) still
    makes the browser send ``Origin: null``. When the browser also says, in the
    ``Sec-Fetch-Site`` header that no page script can set, that the request comes from
    this very origin, the ``Origin`` is set to this site's so that Django's CSRF check
    (the token check included) proceeds as for any same-origin post. Cross-site posts keep
    their ``Origin`` and are refused as before.
    """
    if request.META.get("HTTP_ORIGIN") == "null" and request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin":
        request.META["HTTP_ORIGIN"] = f"{request.scheme}://{request.get_host()}"


def security_headers(request: HttpRequest, response: HttpResponse) -> None:
    """Set the security headers on ``response`` (existing CSP and Permissions-Policy kept)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    response.headers["Referrer-Policy"] = referrer_policy(response)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    # The log is meant to be fetched from anywhere (auditors, mirrors); pages are not.
    corp = "cross-origin" if request.path.startswith("/log/") else "same-origin"
    response.headers.setdefault("Cross-Origin-Resource-Policy", corp)
    hsts = config().hsts_seconds
    if request.is_secure() and hsts > 0:
        response.headers["Strict-Transport-Security"] = f"max-age={hsts}; includeSubDomains"


# The longest request target (path, then "?" and the query) the application reads, in
# bytes: the path as the server decoded it, which is never longer than it was sent. Any
# real address of the site is far shorter (a receipt code is 29 characters).
MAX_TARGET = 4096


def target_length(request: HttpRequest) -> int:
    """The length of the request's target (``MAX_TARGET``): decoded path, ``?`` and query."""
    query = request.META.get("QUERY_STRING", "")
    return len(request.META.get("PATH_INFO", "")) + (len(query) + 1 if query else 0)


def error_response(request: HttpRequest, status: int, code: str, title: str, message: str) -> HttpResponse:
    """An error the middleware answers itself, in the active language: the API's JSON error
    under /api/, else the site's error page (``error_page.html``). Never cached."""
    if request.path.startswith("/api/"):
        return json_error_response(status, code, message)
    page = render_to_string("error_page.html", {"title": title, "message": message})
    response = HttpResponse(page, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def rate_limited_response(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    """The 429 answer: JSON ``{"error": {"code": "rate_limited", "message"}}`` under /api/, else HTML."""
    with translation.override(translation.get_language_from_request(request)):
        if exc.scope == "login-account":
            minutes = -(-exc.retry_after // 60)
            message = ngettext(
                "Too many failed sign-ins to this account. Please wait %(minutes)s minute and try again.",
                "Too many failed sign-ins to this account. Please wait %(minutes)s minutes and try again.",
                minutes,
            ) % {"minutes": minutes}
        elif exc.scope == "login":
            minutes = -(-exc.retry_after // 60)
            message = ngettext(
                "Too many failed sign-ins from your connection. Please wait %(minutes)s minute and try again.",
                "Too many failed sign-ins from your connection. Please wait %(minutes)s minutes and try again.",
                minutes,
            ) % {"minutes": minutes}
        else:
            message = ngettext(
                "Too many requests from your connection. Please wait %(seconds)s second and try again.",
                "Too many requests from your connection. Please wait %(seconds)s seconds and try again.",
                exc.retry_after,
            ) % {"seconds": exc.retry_after}
        response = error_response(request, 429, "rate_limited", _("Too many requests"), message)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def target_too_long_response(request: HttpRequest) -> HttpResponse:
    """The 414 answer to a request whose target is over ``MAX_TARGET``."""
    with translation.override(translation.get_language_from_request(request)):
        message = _("This address is too long: at most %(limit)s characters.") % {"limit": MAX_TARGET}
        return error_response(request, 414, "uri_too_long", _("Address too long"), message)


class SecurityHeadersMiddleware:
    """Hides the client address, applies ``RATE_RULES``, answers ``RateLimited``, sets headers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with one_key_per_request():  # the daily key read once, not at each hash
            hide_client_address(request)
            if target_length(request) > MAX_TARGET:
                response = target_too_long_response(request)
            else:
                response = self._respond(request)
        security_headers(request, response)
        return response

    def _respond(self, request: HttpRequest) -> HttpResponse:
        try:
            repair_null_origin(request)
        except DisallowedHost:
            pass  # get_host() refuses it; CommonMiddleware answers 400 below
        try:
            self._apply_rules(request)
        except RateLimited as exc:
            return rate_limited_response(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RateLimited):
            return rate_limited_response(request, exception)
        return None

    @staticmethod
    def _apply_rules(request: HttpRequest) -> None:
        if request.method == "POST" and LOGIN_PATH.match(request.path_info):
            check_login(request, str(request.POST.get("username", "")))
            return
        for methods, pattern, scope, group in RATE_RULES:
            match = pattern.match(request.path_info)
            if match and request.method in methods:
                campaign: Any = match.group(group) if group else None
                check_rate(request, scope, campaign)
                return
