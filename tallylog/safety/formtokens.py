"""One-time form tokens: a form sent twice acts once, and a form sent again soon after
its first sending can answer as the first one did.

Each form that records something (the public declare form, the console's intake) carries
a random token (``new_token``). Its first sending ``claim``s it in the cache (``cache.add``:
one winner, also between processes when the cache is shared) for ``CLAIM_SECONDS``;
nothing else is kept about it (the cache key is a SHA-256 of the token, the value the
time of the first sending). A sending that finds its token claimed calls ``await_first``:
it waits (at most ``WAIT_SECONDS``) for the first sending to finish, then answers with
what the first one made (the caller finds it again: a receipt code derived from the
token, ``tallylog.registry.declarations.actions.receipt_code_for_token``), or takes over
the token when the first sending gave up and ``release``d it.

``send_once`` is the whole protocol for the interfaces (the declare form, the console's
intake, the API's ``Idempotency-Key``): claim, wait for or find the first sending, make,
release on failure, and find the first sending's result when the database refuses a second
one (a first sending that reached another worker whose cache this one does not share: the
receipt code's keyed hash is unique).

The window: a form sent again up to ``REPLAY_SECONDS`` (30 minutes) after its first
sending gets the first answer again; later ones get "already sent" and nothing else. Long
enough for a reload after a dropped connection or a VPN that reconnects, short enough that
a browser tab left open (or a seized phone) stops yielding the receipt code soon.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db import IntegrityError

CLAIM_SECONDS = 24 * 3600  # a token counts once for a day
REPLAY_SECONDS = 30 * 60  # … and answers again, as the first time, for half an hour
WAIT_SECONDS = 10.0  # how long a second sending waits for the first one to finish
TOKEN_MAX = 64  # longer "tokens" are not ours: treated as none
_POLL_SECONDS = 0.05
_PREFIX = "tallylog:safety:form-token:"

T = TypeVar("T")


_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{1,{TOKEN_MAX}}}")


def ours(token: str) -> bool:
    """Whether ``token`` has the shape of ``new_token``'s (URL-safe base64, at most
    ``TOKEN_MAX``): anything else a form sends is no token of ours (it gets no check and a
    fresh code), and never a message of another scope's (``Idempotency-Key``'s carry a NUL)."""
    return _TOKEN.fullmatch(token) is not None


def new_token() -> str:
    """A fresh one-time token for a form (144 random bits, URL-safe base64)."""
    return secrets.token_urlsafe(18)


def _key(scope: str, token: str) -> str:
    return f"{_PREFIX}{scope}:{hashlib.sha256(token.encode('utf-8', 'surrogatepass')).hexdigest()}"


def claim(scope: str, token: str) -> float | None:
    """Claim ``token`` of a form of ``scope``: None when this sending is the first (the
    token is now used; ``release`` it if nothing was saved after all), else how many
    seconds ago the first sending claimed it."""
    now = time.time()
    key = _key(scope, token)
    if cache.add(key, now, timeout=CLAIM_SECONDS):
        return None
    first = cache.get(key)
    return max(0.0, now - first) if isinstance(first, float) else float(CLAIM_SECONDS)


def release(scope: str, token: str) -> None:
    """Give up a claimed ``token`` (nothing was saved): the same form may be sent again.
    Inverse of ``claim``."""
    cache.delete(_key(scope, token))


@dataclass(frozen=True)
class Again(Generic[T]):
    """What ``await_first`` learnt: the first sending's result (``found``), or that this
    sending now holds the token (``claimed``: the first gave up), or neither (the first
    is still running, or the window is over)."""

    found: T | None = None
    claimed: bool = False


def _pause() -> None:
    time.sleep(_POLL_SECONDS)


def await_first(scope: str, token: str, age: float, find: Callable[[], T | None]) -> Again[T]:
    """For a sending whose ``token`` was claimed ``age`` seconds ago (``claim``'s answer):
    within ``REPLAY_SECONDS``, wait up to ``WAIT_SECONDS`` until ``find()`` returns the
    first sending's result, or until the first sending released the token, which this one
    then claims. Outside the window: ``Again()`` at once."""
    if age > REPLAY_SECONDS:
        return Again()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = find()
        if found is not None:
            return Again(found=found)
        if claim(scope, token) is None:
            return Again(claimed=True)
        if time.monotonic() >= deadline:
            return Again()
        _pause()


class Outcome(enum.Enum):
    NEW = "new"  # this sending made it
    AGAIN = "again"  # the first sending made it: here it is again
    IN_FLIGHT = "in_flight"  # the first sending is still at work (after WAIT_SECONDS)
    TOO_LATE = "too_late"  # sent again after REPLAY_SECONDS, or a token not ours: nothing shown


@dataclass(frozen=True)
class Sent(Generic[T]):
    """``send_once``'s answer: what happened, and the result (NEW, AGAIN) or None."""

    outcome: Outcome
    result: T | None = None


def send_once(
    scope: str,
    token: str,
    *,
    make: Callable[[], T],
    find: Callable[[], T | None],
    recent: Callable[[T], bool],
    issued: bool = True,
) -> Sent[T]:
    """Make what the form of ``scope`` sent with ``token`` makes, once.

    ``make()`` saves (its result derived from the token, e.g. receipt codes made from it);
    ``find()`` finds what a sending with this token made, or None. No ``token`` (a form
    without one): ``make()`` each time. ``issued`` False (a token this session was never
    given): TOO_LATE, nothing made. An exception from ``make()`` releases the token (nothing
    was saved: the same form may be sent again) and propagates. An ``IntegrityError`` means
    a sending with this token was recorded although this cache holds no claim: by a worker
    whose cache this one does not share, or before the claim was lost (a day later, a
    restarted cache). Then only a result that ``recent`` says was made within
    ``REPLAY_SECONDS`` is shown (AGAIN); an older one is TOO_LATE, as with a claim.
    """
    if token:
        age = claim(scope, token) if issued else float("inf")
        if age is not None:
            first = await_first(scope, token, age, find)
            if first.found is not None:
                return Sent(Outcome.AGAIN, first.found)
            if not first.claimed:
                return Sent(Outcome.IN_FLIGHT if age <= REPLAY_SECONDS else Outcome.TOO_LATE)
    try:
        return Sent(Outcome.NEW, make())
    except IntegrityError:
        found = find() if token else None
        if found is None:
            if token:
                release(scope, token)
            raise
        return Sent(Outcome.AGAIN, found) if recent(found) else Sent(Outcome.TOO_LATE)
    except BaseException:
        if token:
            release(scope, token)
        raise
