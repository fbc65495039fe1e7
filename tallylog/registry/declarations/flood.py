"""Flood detection: many near-identical declarations are held for review, not published.

A flood is the same alias and statement, give or take spacing, punctuation, letter case,
character width and digits, and one more character (``flood_keys``), submitted to one
campaign many times within a window: a script filling the tally. ``flood_suspected`` counts each submission's normalised content
under a keyed hash (``tallylog.registry.keyed.keyed_hash``, today's cache-only key) and
answers True from the ``TALLYLOG_FLOOD_THRESHOLD``-th copy on within
``TALLYLOG_FLOOD_WINDOW`` seconds; the registry then saves the declaration pending review
instead of publishing it (``submit_declaration(..., hold_for_review=True)``). Nothing is
refused: a moderator publishes the genuine ones.

Defaults: 20 copies within 3,600 seconds. Common aliases with no statement (匿名,
"anonymous") are frequent among real declarants, hence a threshold well above one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import unicodedata

from tallylog.config import config
from tallylog.registry.keyed import count_in_windows, daily_key


def normalise_content(text: str) -> str:
    """``text`` reduced for comparison: NFKC, case-folded, keeping letters only.

    Spaces, punctuation, symbols, digits and control characters are dropped, so
    "张三 1", "张三２!" and "张三" compare equal.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch).startswith(("L", "M")))


# Near-duplicates (docs/safety.md, "flood screen"): besides the exact copy, a submission is
# counted under the keys a one-character change leaves unchanged.
ALIAS_VARIANTS_MIN = 3  # aliases this long (normalised) or longer: one key per deleted character
ALIAS_VARIANTS_MAX = 32  # (longer aliases: their first ALIAS_VARIANTS_MAX characters' variants)
SKETCH_MIN = 8  # statements this long (normalised) or longer: a MinHash sketch
SKETCH_BINS = 8  # one-permutation MinHash bins over the statement's character pairs
SKETCH_TEXT_MAX = 400  # characters of the statement the sketch reads


def _keyed(key: bytes, *parts: str) -> str:
    message = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _sketch(key: bytes, statement: str) -> list[str]:
    """Pairs of MinHash bins of ``statement``'s character pairs under the daily ``key`` (so
    nobody can pick the characters that move a minimum): one character changed alters at
    most two pairs, so most bins, and bands of two, stay the same. Empty bins make no band."""
    text = statement[:SKETCH_TEXT_MAX]
    bins: list[int | None] = [None] * SKETCH_BINS
    for shingle in {text[i : i + 2] for i in range(len(text) - 1)}:
        h = int.from_bytes(hashlib.blake2b(shingle.encode("utf-8", "surrogatepass"), digest_size=8, key=key).digest(), "big")
        b = h % SKETCH_BINS
        current = bins[b]
        if current is None or h < current:
            bins[b] = h
    bands = []
    for n in range(0, SKETCH_BINS, 2):
        first, second = bins[n], bins[n + 1]
        if first is not None and second is not None:
            bands.append(f"{n}:{first:x}:{second:x}")
    return bands


def flood_keys(campaign: str, alias: str, statement: str, key: bytes) -> list[str]:
    """The keyed counters one submission counts in: its exact normalised content; with the
    same statement, each alias with one character deleted (a changed, added or removed
    character in a name of 3 or more leaves one of them unchanged); with the same alias,
    each band of the statement's sketch (a character changed in a statement of 8 or more)."""
    a, st = normalise_content(alias), normalise_content(statement)
    keys = [_keyed(key, "flood", campaign, a, st)]
    if len(a) >= ALIAS_VARIANTS_MIN:
        head = a[:ALIAS_VARIANTS_MAX]
        keys += [_keyed(key, "flood-alias", campaign, v, st) for v in sorted({head[:i] + head[i + 1 :] for i in range(len(head))})]
    if len(st) >= SKETCH_MIN:
        keys += [_keyed(key, "flood-statement", campaign, a, band) for band in _sketch(key, st)]
    return keys


def flood_suspected(campaign: str, alias: str, statement: str, *, now: float | None = None) -> bool:
    """Count one submission of this content to ``campaign``; True when it looks like a flood.

    Call it once per accepted submission, after validation (``submit_declaration``): it
    has a side effect (the counts). True from the ``TALLYLOG_FLOOD_THRESHOLD``-th
    submission of the same normalised alias and statement, or of near-duplicates of them
    (``flood_keys``), within the current window.
    """
    threshold = config().flood_threshold
    window = config().flood_window
    if threshold <= 0:
        return False
    at = time.time() if now is None else now
    counts = count_in_windows([f"flood:{k}" for k in flood_keys(campaign, alias, statement, daily_key(at))], window, at)
    return max(counts) >= threshold
