"""Keyed hashes under a daily key that lives only in the cache, and windowed counters.

What lets the site count and link requests for a day without storing who sent them:
``keyed_hash`` is HMAC-SHA256 under ``daily_key``, a random 32-byte key made for each UTC
day that lives only in the Django cache (never in the database, a log or a file) and is
forgotten a day later; ``count_in_window`` counts in the cache, per fixed window
(``count_in_windows``: several counters at once).

Used by the flood screen (``tallylog.registry.declarations.flood``), and by the HTTP rate
limits, the client-address hiding and the staff sign-in limits above the registry
(``tallylog.safety.ratelimit``, ``tallylog.safety.logins``).

Within ``one_key_per_request`` (the safety middleware wraps every request in it) the key is
read from the cache once per day and request instead of at each hash: a request hashes its
source, its rate-limit subjects and its flood-screen keys under the one key it first read.
Nothing outlives the request, so workers still agree with the cache at the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from django.core.cache import cache

KEY_BYTES = 32
_KEY_CACHE_PREFIX = "tallylog:safety:key:"
_COUNT_CACHE_PREFIX = "tallylog:safety:n:"
# The keys a request has read (cache name -> key), or None outside a request.
_REQUEST_KEYS: ContextVar[dict[str, bytes] | None] = ContextVar("tallylog_request_keys", default=None)


@contextmanager
def one_key_per_request() -> Iterator[None]:
    """Within: ``daily_key`` reads each day's key from the cache once (one request)."""
    token = _REQUEST_KEYS.set({})
    try:
        yield
    finally:
        _REQUEST_KEYS.reset(token)


def daily_key(now: float | None = None) -> bytes:
    """Today's (UTC) random hashing key, made on first use; it lives only in the cache.

    Two processes racing to make it agree through ``cache.add`` (first writer wins).
    The key expires a day after its day ends, and with it any way to link or test hashes.
    """
    day = datetime.fromtimestamp(time.time() if now is None else now, UTC).date()
    name = _KEY_CACHE_PREFIX + day.isoformat()
    seen = _REQUEST_KEYS.get()
    if seen is not None and name in seen:
        return seen[name]
    key = cache.get(name)
    if key is None:
        cache.add(name, secrets.token_bytes(KEY_BYTES), timeout=2 * 86400)
        key = cache.get(name)
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise AssertionError("daily_key: the cache did not keep the key")
    if seen is not None:
        seen[name] = key
    return key


def keyed_hash(*parts: str) -> str:
    """Hex HMAC-SHA256 under today's key of ``parts`` joined by NUL (first 128 bits)."""
    message = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(daily_key(), message, hashlib.sha256).hexdigest()[:32]


def _window_key(name: str, seconds: int, now: float) -> str:
    return f"{_COUNT_CACHE_PREFIX}{name}:{seconds}:{int(now // seconds)}"


def peek_window(name: str, seconds: int, now: float) -> int:
    """The cache counter ``name``'s count in the current ``seconds``-long window (no count added)."""
    return int(cache.get(_window_key(name, seconds, now), 0))


def count_in_window(name: str, seconds: int, now: float) -> int:
    """Add one to the cache counter ``name`` for the current ``seconds``-long window; the new count.

    One write where the cache can count in one (the shared tmpfs cache's ``count_many``),
    else an ``add`` and an ``incr``."""
    key = _window_key(name, seconds, now)
    count_many = getattr(cache, "count_many", None)
    if count_many is not None:
        return int(count_many([key], timeout=seconds + 1)[0])
    cache.add(key, 0, timeout=seconds + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: start the window again
        cache.set(key, 1, timeout=seconds + 1)
        return 1


def count_in_windows(names: list[str], seconds: int, now: float) -> list[int]:
    """``count_in_window`` for each of ``names`` (one window length); the new counts, in
    order. In one write when the cache can (the shared tmpfs cache's ``count_many``); else
    one ``count_in_window`` after the other."""
    count_many = getattr(cache, "count_many", None)
    if count_many is None:
        return [count_in_window(name, seconds, now) for name in names]
    counts: list[int] = count_many([_window_key(name, seconds, now) for name in names], timeout=seconds + 1)
    return counts
