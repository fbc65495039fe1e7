"""Login throttling for the console, without storing any IP address.

Failed logins are counted in the cache under a key made of the username and the
request's keyed source hash (``tallylog.safety.ratelimit.hide_client_address``: an HMAC
of the client address under a daily random key that lives only in the cache). No address
— nor a stable pseudonym of one — is ever written to the database, a log or a file.
After ``MAX_FAILURES`` failures within ``WINDOW`` seconds that username is refused from
that source until the window ends, whatever the password. (The safety middleware also
bounds all login attempts per source, ``DEFAULT_LIMITS["login"]``.)
"""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest

from tallylog.registry.keyed import keyed_hash
from tallylog.safety.ratelimit import hide_client_address

MAX_FAILURES = 5
WINDOW = 15 * 60


def _counter(request: HttpRequest, username: str) -> str:
    source = hide_client_address(request)
    return "volunteers:login-failures:" + keyed_hash("console-login", username.casefold(), source)


def is_throttled(request: HttpRequest, username: str) -> bool:
    """True when ``username`` has failed ``MAX_FAILURES`` times from this source lately."""
    return int(cache.get(_counter(request, username), 0)) >= MAX_FAILURES


def note_failure(request: HttpRequest, username: str) -> None:
    """Count one failed login; the window starts with the first failure."""
    key = _counter(request, username)
    if not cache.add(key, 1, WINDOW):
        try:
            cache.incr(key)
        except ValueError:  # expired in between
            cache.add(key, 1, WINDOW)


def clear(request: HttpRequest, username: str) -> None:
    """Forget the failures after a successful login."""
    cache.delete(_counter(request, username))
