"""Staff sign-in limits (``/admin/login/``, ``/console/login/``): failed attempts only.

Two counters, both in the shared cache under keyed hashes (``tallylog.registry.keyed``),
counted when Django's ``authenticate`` fails (its ``user_login_failed`` signal) and never
for a success, so a service centre behind one address does not lock itself out at shift
change:

- ``login``: failures per source (a keyed hash of the client address);
- ``login-account``: failures per account across every source, keyed by the username as
  Django's login form reads it (``normalise_username``: NFKC, surrounding space removed)
  and case-folded, so a leading space or full-width letters are the same account.

While either is at its limit, the middleware answers every sign-in post from that source,
or for that account, with a 429 saying how long to wait (``check_login``), before any
password is checked. The limits are ``DEFAULT_LIMITS["login"]`` and
``["login-account"]`` (``TALLYLOG_RATE_LIMITS`` overrides them).
"""

from __future__ import annotations

import re
import time
import unicodedata
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

from tallylog.config import config
from tallylog.registry.keyed import count_in_window, keyed_hash, peek_window
from tallylog.safety.ratelimit import (
    Limit,
    RateLimited,
    hide_client_address,
    note_refusal,
    parse_limits,
)

LOGIN_PATH = re.compile(r"^/(?:[a-z-]+/)?(?:admin|console)/login/?$")
USERNAME_MAX = 150


def normalise_username(username: str) -> str:
    """The account a typed name means: NFKC and stripped as ``UsernameField`` does
    (django.contrib.auth.forms), then case-folded (counting "Alice" and "alice" together
    only makes the limit stricter)."""
    return unicodedata.normalize("NFKC", username[: USERNAME_MAX * 2]).strip().casefold()


def _buckets(request: HttpRequest, username: str) -> list[tuple[str, str]]:
    source = hide_client_address(request)
    return [
        ("login", f"login-failed:src:{source}"),
        ("login-account", f"login-failed:acct:{keyed_hash('account', normalise_username(username))}"),
    ]


def _limits() -> dict[str, Limit] | None:
    return parse_limits(config().rate_limits)


def check_login(request: HttpRequest, username: str) -> None:
    """Raise ``RateLimited`` when this source or this account is at its failure limit
    (counts nothing)."""
    limits = _limits()
    if limits is None:
        return
    now = time.time()
    for scope, bucket in _buckets(request, username):
        limit = limits.get(scope)
        if limit is None or limit.count == 0:
            continue
        if peek_window(bucket, limit.seconds, now) >= limit.count:
            window_end = (int(now // limit.seconds) + 1) * limit.seconds
            note_refusal(scope)
            raise RateLimited(scope, max(1, int(window_end - now + 0.999)))


def note_failure(request: HttpRequest, username: str) -> None:
    """Count one failed sign-in for this source and this account."""
    limits = _limits()
    if limits is None:
        return
    now = time.time()
    for scope, bucket in _buckets(request, username):
        limit = limits.get(scope)
        if limit is not None and limit.count:
            count_in_window(bucket, limit.seconds, now)


def _on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None:
        note_failure(request, str(credentials.get("username") or ""))


def connect() -> None:
    """Count failures from Django's ``authenticate`` (called from ``SafetyConfig.ready``)."""
    user_login_failed.connect(_on_login_failed, dispatch_uid="tallylog.safety.logins")
