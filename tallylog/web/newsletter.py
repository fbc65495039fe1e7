"""Newsletter pages: sign up, confirm (a button), unsubscribe (a button, and RFC 8058).

Mounted at /newsletter/ by tallylog/urls.py; URL names in the ``subscribers`` namespace
(the registry app's label).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tallylog.registry.subscribers import actions
from tallylog.registry.subscribers.models import ConsentStatement
from tallylog.safety.ratelimit import check_rate
from tallylog.web.forms import SignupForm, add_registry_errors


def _signup_page(request: HttpRequest, form: SignupForm, status: int = 200) -> HttpResponse:
    statement = ConsentStatement.objects.current()
    return render(request, "subscribers/signup.html", {
        "form": form, "statement": statement, "statement_text": statement.localized("text", get_language()),
    }, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _signup_page(request, SignupForm())
    form = SignupForm(request.POST)
    form.is_valid()
    email = form.cleaned_data.get("email", "")
    check_rate(request, "subscribe", subject=email.lower() if email else None)
    try:
        actions.subscribe(
            form.cleaned_data.get("email", ""),
            consent_version=form.cleaned_data.get("consent", ""),
            language=get_language(),
        )
    except actions.SubscriptionInvalid as exc:
        add_registry_errors(form, exc.errors)
        return _signup_page(request, form, status=503 if exc.code == "mail_failed" else 400)
    return render(request, "subscribers/message.html", {"kind": "check_email"})


def _link_status(exc: actions.LinkInvalid) -> int:
    return {"replayed": 409, "expired": 410, "unknown": 410}.get(exc.code, 400)


@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button, POST confirms: a mail scanner following the link subscribes nobody."""
    if request.method != "POST":
        return render(request, "subscribers/button.html", {"kind": "confirm", "token": token})
    try:
        actions.confirm_subscription(token)
    except actions.LinkInvalid as exc:
        return render(request, "subscribers/message.html", {"kind": "error", "error": str(exc)}, status=_link_status(exc))
    return render(request, "subscribers/message.html", {"kind": "confirmed"})


@csrf_exempt  # RFC 8058: mail clients POST here without cookies; the signed token is the authority
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the one button (and says at once if the link is stale); POST — from that
    button or a mail client's RFC 8058 one-click ``List-Unsubscribe=One-Click`` — unsubscribes."""
    try:
        if request.method != "POST":
            actions.check_unsubscribe_token(token)
            return render(request, "subscribers/button.html", {"kind": "unsubscribe", "token": token})
        actions.unsubscribe(token)
    except actions.LinkInvalid as exc:
        return render(request, "subscribers/message.html", {"kind": "error", "error": str(exc)}, status=_link_status(exc))
    return render(request, "subscribers/message.html", {"kind": "unsubscribed"})


app_name = "subscribers"
urlpatterns = [
    path("", signup, name="signup"),
    path("confirm/<str:token>/", confirm, name="confirm"),
    path("unsubscribe/<str:token>/", unsubscribe, name="unsubscribe"),
]
