"""Rate limits keyed on a keyed hash of the client address, never on the address itself.

The client address is turned, at the door (``SecurityHeadersMiddleware``), into
``HMAC-SHA256(K_day, address)`` (``tallylog.registry.keyed``), where ``K_day`` is a random
32-byte key made for each UTC day that lives only in the Django cache (never in the
database, a log or a file) and is forgotten a day later. Yesterday's hashes cannot be linked to today's, and nobody, the
operator included, can test a guessed address against a hash once the key has expired.
IPv6 addresses are keyed on their /64 prefix, which one host usually controls whole.

Limits are fixed windows counted in the cache, per keyed source and, when a campaign is
named, per campaign across all sources. A request over a limit raises ``RateLimited``;
the middleware answers it with a 429 (an HTML page, or ``{"error": {"code":
"rate_limited", "message"}}`` under ``/api/``) and a ``Retry-After`` header.

Settings (read when a limit is checked, never at import time):

``TALLYLOG_RATE_LIMITS``
    ``"off"`` to disable every limit (benchmarks), or overrides of ``DEFAULT_LIMITS`` as a
    dict ``{"declare": "60/600", "campaign:declare": "3000/60"}`` or the same as a string
    ``"declare=60/600,campaign:declare=3000/60"``; ``0/…`` disables one limit.
``TALLYLOG_TRUSTED_PROXIES``
    how many reverse proxies in front of the site append to ``X-Forwarded-For`` (default
    0: the socket's peer address is the client).

The cache must keep its data in memory (local memory, memcached, Redis): the system check
``tallylog.safety.E001`` fails on a file or database cache, which would write the key to
disk. With several worker processes and the default local-memory cache, each process
counts on its own; use a shared cache in production.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from django.core.cache import cache
from django.http import HttpRequest

from tallylog.config import config
from tallylog.registry.keyed import count_in_window, keyed_hash

# scope -> (requests, seconds). "campaign:<scope>" limits the whole campaign.
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    # Declarations (web form and API). Many declarants reach the site through the same few
    # circumvention proxies, so the per-source limit is generous; floods of identical
    # content are caught by ``tallylog.registry.declarations.flood`` instead.
    "declare": (60, 600),
    "campaign:declare": (3000, 60),
    # Receipt lookups (web page and API): a receipt code has 83 bits, guessing is hopeless;
    # this only bounds the load one source can cause.
    "receipt": (120, 600),
    # Staff sign-in (admin, volunteer console): failed attempts only (tallylog.safety.logins),
    # per source and per account across all sources (password guessing from many sources).
    "login": (10, 900),
    "login-account": (20, 900),
    # Petition signatures and newsletter sign-ups each send a confirmation mail: bounded
    # per source, and per address ("subject", a keyed hash of the email) so that nobody
    # can use the forms to flood someone else's mailbox.
    "sign": (30, 600),
    "subscribe": (10, 3600),
    # Any other write through the API, e.g. a service centre's volunteers behind one address.
    "api-write": (600, 600),
}

_ADDRESS_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED", "HTTP_CLIENT_IP")


# Refusals counted per scope, for /metrics and `tallylog status` (``note_refusal``).
_REFUSED_PREFIX = "tallylog:safety:refused:"


class RateLimited(Exception):
    """A request over a limit; ``retry_after`` is the number of seconds until it resets."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"rate limit {scope!r} exceeded; retry after {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


def parse_limits(value: object) -> dict[str, Limit] | None:
    """The limits in force: ``DEFAULT_LIMITS`` with the overrides in ``value``.

    ``value`` is ``TALLYLOG_RATE_LIMITS``: empty/None (defaults), ``"off"`` (returns None:
    no limits), a mapping ``{scope: "N/SECONDS" or (N, SECONDS)}`` or a string
    ``"scope=N/SECONDS,…"``. Raises ``ValueError`` for anything malformed.
    """
    limits = {scope: Limit(*pair) for scope, pair in DEFAULT_LIMITS.items()}
    if value is None or value == "":
        return limits
    if isinstance(value, str):
        if value.strip().lower() == "off":
            return None
        items: list[tuple[str, Any]] = []
        for part in value.split(","):
            if not part.strip():
                continue
            scope, sep, text = part.partition("=")
            if not sep:
                raise ValueError(f"TALLYLOG_RATE_LIMITS: {part!r} is not scope=N/SECONDS")
            items.append((scope.strip(), text.strip()))
    elif isinstance(value, Mapping):
        items = list(value.items())
    else:
        raise ValueError("TALLYLOG_RATE_LIMITS: expected 'off', a string or a dict")
    for scope, rate in items:
        if isinstance(rate, str):
            count_text, sep, seconds_text = rate.partition("/")
            if not sep or not count_text.isdigit() or not seconds_text.isdigit():
                raise ValueError(f"TALLYLOG_RATE_LIMITS: {scope}: {rate!r} is not N/SECONDS")
            rate = (int(count_text), int(seconds_text))
        count, seconds = rate
        if type(count) is not int or type(seconds) is not int or count < 0 or seconds <= 0:
            raise ValueError(f"TALLYLOG_RATE_LIMITS: {scope}: bad limit {rate!r}")
        limits[str(scope)] = Limit(count, seconds)
    return limits


def note_refusal(scope: str) -> None:
    """Count one refusal under limit ``scope`` (``refusals``' other end): a counter in the
    shared cache, so that every worker process adds to the same one (per process with the
    local-memory cache). The scope alone: nothing about who was refused."""
    key = _REFUSED_PREFIX + scope
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # deleted (cache cleared) between add and incr
        cache.add(key, 1, timeout=None)


def refusals() -> dict[str, int]:
    """Refusals counted by ``note_refusal`` since the cache started, for every scope with
    a limit (default or configured), 0 for those never refused."""
    scopes = sorted(set(DEFAULT_LIMITS) | set(_limits() or {}))
    counted = cache.get_many([_REFUSED_PREFIX + s for s in scopes])
    return {s: int(counted.get(_REFUSED_PREFIX + s, 0)) for s in scopes}


def client_address(meta: Mapping[str, Any], trusted_proxies: int = 0) -> str:
    """The client's address from a WSGI environ; IPv6 reduced to its /64 network.

    With ``trusted_proxies`` = N > 0, the N-th address from the right of
    ``X-Forwarded-For`` (the one the outermost trusted proxy saw) is the client.
    """
    address = str(meta.get("REMOTE_ADDR") or "")
    if trusted_proxies > 0:
        hops = [h.strip() for h in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            address = hops[-trusted_proxies]
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False).network_address) + "/64"
    return str(ip)


def hide_client_address(request: HttpRequest) -> str:
    """Replace the client address in ``request.META`` by its keyed hash, and return it.

    Called first thing for every request by the middleware, so that no view, form, log
    record or error report downstream can see or store the address: ``REMOTE_ADDR``
    becomes ``"0.0.0.0"`` and the forwarding headers are removed. The hash is kept as
    ``request.tallylog_source``. Idempotent.
    """
    source = getattr(request, "tallylog_source", None)
    if source is None:
        trusted = config().trusted_proxies
        source = keyed_hash("source", client_address(request.META, trusted))
        request.tallylog_source = source  # type: ignore[attr-defined]
    request.META["REMOTE_ADDR"] = "0.0.0.0"
    request.META.pop("REMOTE_PORT", None)
    for name in _ADDRESS_HEADERS:
        request.META.pop(name, None)
    return source


def _limits() -> dict[str, Limit] | None:
    return parse_limits(config().rate_limits)


def _hit(bucket: str, limit: Limit, now: float) -> int:
    """Count one request in ``bucket``'s current window; 0 if allowed, else seconds to wait."""
    if limit.count == 0:
        return 0
    window = int(now // limit.seconds)
    count = count_in_window(bucket, limit.seconds, now)
    if count <= limit.count:
        return 0
    return max(1, int((window + 1) * limit.seconds - now + 0.999))


def check_rate(
    request: HttpRequest,
    scope: str,
    campaign: str | None = None,
    *,
    subject: str | None = None,
) -> None:
    """Count this request against ``scope``'s limits; raise ``RateLimited`` when over one.

    Limits checked, in order (a request refused by one is not counted by the next):
    ``scope`` per keyed source; ``scope`` per keyed ``subject`` (e.g. a sign-in name), if
    given; ``campaign:<scope>`` for the whole ``campaign`` (a slug), if given. Scopes with
    no configured limit are not limited. Raise it from a view (the middleware turns it into
    a 429) or catch it to answer differently.
    """
    limits = _limits()
    if limits is None:
        return
    now = time.time()
    source = hide_client_address(request)
    checks: list[tuple[str, str]] = [(scope, f"{scope}:src:{source}")]
    if subject is not None:
        checks.append((scope, f"{scope}:sub:{keyed_hash('subject', subject)}"))
    if campaign is not None:
        checks.append((f"campaign:{scope}", f"{scope}:camp:{keyed_hash('campaign', campaign)}"))
    for limit_name, bucket in checks:
        limit = limits.get(limit_name)
        if limit is None:
            continue
        wait = _hit(bucket, limit, now)
        if wait:
            note_refusal(limit_name)
            raise RateLimited(limit_name, wait)


View = TypeVar("View", bound=Callable[..., Any])


def rate_limit(scope: str, *, campaign_kwarg: str | None = None, methods: tuple[str, ...] = ("POST",)) -> Callable[[View], View]:
    """View decorator: ``check_rate(request, scope, kwargs[campaign_kwarg])`` on ``methods``."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method in methods:
                campaign = kwargs.get(campaign_kwarg) if campaign_kwarg else None
                check_rate(request, scope, campaign)
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
